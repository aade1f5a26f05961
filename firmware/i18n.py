"""The one translation layer of what the LCD shows (issue 12 item 7; the manual's phone
"supports Chinese display").

The code and the menu model speak English; a language is a gettext catalog,
``firmware/locale/<code>.po``: adding a language is adding that file (no build step, it
is read as text). ``languages()`` lists English and every catalog, and is the choice list
of the setting ``phone.language``.

Lookups are made where the LCD draws text (ui/faces.py `fold`), so screens, menus,
features and notices keep their English strings and nothing else has to ask. A text is
looked up:
  1. exactly ("Incoming call", "Call history", "Save");
  2. against the catalog's format messages, msgids with ``{name}`` fields
     ("{n} Missed", "Transfer failed: {why} ({code})"), the most specific (most literal
     text) first, whatever the catalog's order: the fields are translated in
     turn, so "Account 2 saved" reads through "{page} saved" and "Account {n}";
  3. as "<head>: <rest>" (a status line "IP: 10.0.0.5", a title before a reason), as
     "<help>; <more>" (a help line with its range) and as a numbered entry "3 Call
     history", each part on its own;
  4. else it stays as it came (a number, a SIP reason phrase from the far end).

Data is never looked up: a contact named "Back" or a caller whose display name is "Missed
calls" is not the action or the list of that name. A name, a group, a caller, what a person
typed is drawn as a `Verbatim` text (the LCD code and the phone book pages mark it), and a
format message's fields named {who} or {number} are kept as they came ("Delete {who}?",
"{who} is in use"); what the LCD drew once is a Verbatim too, so a piece of it (a wrapped
line, a fitted row) is not looked up again.

A catalog's header may name the LCD font its script needs ("X-LCD-Font: wqy", ui/faces.py).
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE = "en"                       # the language of the code: no catalog


class Verbatim(str):
    """A text shown as it is, never looked up in a catalog (see the module's docstring)."""

    __slots__ = ()


DATA_FIELDS = frozenset({"who", "number"})      # format fields that hold a name or a number


class Catalog:
    """One .po file: exact messages, format messages and the header's fields."""

    def __init__(self, messages: dict[str, str], header: dict[str, str]) -> None:
        self.header = header
        self.exact = {k: v for k, v in messages.items() if v and "{" not in k}
        # the most specific first: "Line {n} ended by far end" before "Line {n}" (whose
        # field would swallow " ended by far end"), whatever order the catalog has them in
        self.formats = [(_pattern(k), v) for k, v in sorted(
            ((k, v) for k, v in messages.items() if v and "{" in k), key=_specificity)]

    @property
    def font(self) -> str:
        return self.header.get("X-LCD-Font", "")


def _specificity(message: tuple[str, str]) -> int:
    """Sort key of a format message: more literal text (outside the fields) first."""
    return -len(re.sub(r"\{\w+\}", "", message[0]))


def _pattern(msgid: str) -> re.Pattern:
    """"{n} Missed" -> a regex whose named groups are the fields."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", msgid):
        out.append(re.escape(msgid[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.*?)")
        pos = m.end()
    out.append(re.escape(msgid[pos:]))
    return re.compile("".join(out) + r"\Z", re.S)


def read_po(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(msgid -> msgstr, header fields) of a .po file's text; fuzzy and empty entries are
    kept out by `Catalog` (an empty msgstr is "not translated yet")."""
    messages: dict[str, str] = {}
    msgid = msgstr = None
    field = ""

    def done() -> None:
        if msgid is not None and msgstr is not None:
            messages[msgid] = msgstr

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            done()
            msgid, msgstr, field = _string(line[6:]), None, "id"
        elif line.startswith("msgstr "):
            msgstr, field = _string(line[7:]), "str"
        elif line.startswith('"'):
            if field == "id" and msgid is not None:
                msgid += _string(line)
            elif field == "str" and msgstr is not None:
                msgstr += _string(line)
    done()
    header = {}
    for row in messages.pop("", "").splitlines():
        name, sep, value = row.partition(":")
        if sep:
            header[name.strip()] = value.strip()
    return messages, header


def _string(quoted: str) -> str:
    import ast          # catalogs are read when first drawn: ast stays off the start-up path
    value = ast.literal_eval(quoted.strip())
    if not isinstance(value, str):
        raise ValueError(f"not a string: {quoted!r}")
    return value


def languages() -> tuple[str, ...]:
    """English and every language that has a catalog, e.g. ("en", "zh")."""
    return (SOURCE, *sorted(p.stem for p in LOCALE_DIR.glob("*.po")))


@functools.lru_cache(maxsize=None)
def catalog(lang: str) -> Catalog | None:
    """The language's catalog (None for English, or a language without one)."""
    if lang == SOURCE or not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", lang or ""):
        return None
    path = LOCALE_DIR / f"{lang}.po"
    try:
        return Catalog(*read_po(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def tr(text: str, lang: str) -> str:
    """`text` in `lang` (see the module's docstring for how it is looked up)."""
    cat = catalog(lang)
    if cat is None or not text or isinstance(text, Verbatim):
        return text
    return _tr(text, lang)


@functools.lru_cache(maxsize=4096)
def _tr(text: str, lang: str) -> str:
    cat = catalog(lang)
    found = cat.exact.get(text)
    if found is not None:
        return found
    for pattern, msgstr in cat.formats:
        m = pattern.match(text)
        if m:
            return msgstr.format(**{k: v if k in DATA_FIELDS else _tr(v, lang)
                                    for k, v in m.groupdict().items()})
    head, sep, rest = text.partition(": ")
    if sep and head in cat.exact:
        return f"{cat.exact[head]}: {_tr(rest, lang)}"
    at = text.find("; ")                  # a help line: its text; a range; "applies after..."
    while at > 0:
        if text[:at] in cat.exact:
            return f"{cat.exact[text[:at]]}; {_tr(text[at + 2:], lang)}"
        at = text.find("; ", at + 2)
    number, sep, rest = text.partition(" ")
    if sep and number.isdigit():          # a numbered entry: "2 Office: 2001", "3 Line 2"
        said = _tr(rest, lang)
        if said != rest:
            return f"{number} {said}"
    return text


def name(lang: str) -> str:
    """How a language names itself in the language list ("中文")."""
    cat = catalog(lang)
    return cat.header.get("X-Language-Name", lang) if cat else "English"
