"""The Dial Plan page's rules as the manual's table (§7 "Dial Plan": prefix, IP, called
insert number and position, called delete length and position): a row per rule of
dialplan.rules, two empty rows to add one, a Delete box per row. Plain form fields; the
rows become the rule strings the schema checks ("prefix=9 delete=1@0", firmware/call/
dialplan.py), so a bad row is refused with the dial plan's own reason."""
from __future__ import annotations

import re

from firmware.call.dialplan import parse_rule
from firmware.settings import MAX_ITEMS
from ui.web.html import esc

KEY = "dialplan.rules"
COLUMNS = (("prefix", "Prefix"), ("ip", "IP"), ("insert", "Insert Number"),
           ("insert_at", "Insert Position"), ("delete", "Delete Length"),
           ("delete_at", "Delete Position"))
BLANK_ROWS = 2


def saved_rows(rules) -> list[dict]:
    """The table's rows for the saved rules."""
    rows = []
    for text in rules or ():
        try:
            r = parse_rule(text)
        except ValueError:
            rows.append({"prefix": text})        # not from a save: shown as it is
            continue
        rows.append({"prefix": r.prefix, "ip": r.ip or "",
                     "insert": r.insert[0] if r.insert else "",
                     "insert_at": str(r.insert[1]) if r.insert else "",
                     "delete": str(r.delete[0]) if r.delete else "",
                     "delete_at": str(r.delete[1]) if r.delete else ""})
    return rows


def typed_rows(form) -> list[dict]:
    """The rows a posted form holds, without the blank and the deleted ones."""
    try:
        count = min(int(form.get(KEY + ":rows", 0)), MAX_ITEMS + BLANK_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        row = {col: str(form.get(f"{KEY}.{i}.{col}", "")).strip() for col, _ in COLUMNS}
        if form.get(f"{KEY}.{i}.remove") is None and any(row.values()):
            rows.append(row)
    return rows


def rule_text(row: dict) -> str:
    """A row as the rule the schema checks ("prefix=9 insert=00@0 delete=1@0 ip=host")."""
    words = [f"prefix={row['prefix']}"] if row.get("prefix") else []
    if row.get("insert") or row.get("insert_at"):
        words.append(f"insert={row.get('insert', '')}@{row.get('insert_at') or 0}")
    if row.get("delete") or row.get("delete_at"):
        words.append(f"delete={row.get('delete', '')}@{row.get('delete_at') or 0}")
    if row.get("ip"):
        words.append(f"ip={row['ip']}")
    return " ".join(words)


_WORDS = {"prefix": "Prefix", "insert": "Insert", "delete": "Delete", "ip": "IP"}


def explain(reason: str, rows: list[dict]) -> str:
    """The dial plan's reason for a refused rule in the table's words: which row, and
    its columns instead of the rule string's keys ("'prefix=9': a rule needs insert=,
    delete= or ip= besides prefix=" -> "Rule 1: a rule needs Insert, Delete or IP besides
    Prefix")."""
    said = re.match(r"'([^']*)': (.*)", reason, re.S)
    if not said:
        return reason
    text, why = said.groups()
    n = next((i + 1 for i, r in enumerate(rows) if rule_text(r) == text), None)
    why = re.sub(r"\b(prefix|insert|delete|ip)=([^\s,:]*)",
                 lambda w: _WORDS[w[1]] + (f" '{w[2]}'" if w[2] else ""), why)
    return f"Rule {n}: {why}" if n else why


def table(rows: list[dict], described_by: str) -> str:
    """The rules table: `rows`, then the empty rows to add one."""
    rows = rows + [{}] * BLANK_ROWS
    head = "".join(f"<th scope=\"col\">{esc(label)}</th>" for _, label in COLUMNS)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f'<td><input type="text" name="{KEY}.{i}.{col}" value="{esc(row.get(col, ""))}" '
            f'aria-label="Rule {i + 1} {esc(label)}" size="8"></td>' for col, label in COLUMNS)
        remove = (f'<td><input type="checkbox" name="{KEY}.{i}.remove" '
                  f'aria-label="Delete rule {i + 1}"></td>' if i < len(rows) - BLANK_ROWS
                  else "<td>new</td>")
        body.append(f"<tr><th scope=\"row\">{i + 1}</th>{cells}{remove}</tr>")
    return ('<p class="help">A number that starts with Prefix: first Insert Number is put '
            'in after the first Insert Position digits (0 = in front), then Delete Length '
            'digits are removed after the first Delete Position digits (0 = from the first); '
            'IP calls that address directly. Tick Delete to remove a rule.</p>'
            f'<div class="rules" aria-describedby="{described_by}"><table><thead><tr>'
            f'<th scope="col">ID</th>{head}<th scope="col">Delete</th></tr></thead><tbody>'
            + "".join(body) + f'</tbody></table><input type="hidden" name="{KEY}:rows" '
            f'value="{len(rows)}"></div>')
