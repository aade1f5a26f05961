"""Programmable Keys and Expansion Module (manual §7) as plain forms: /keys (the memory keys
P1-P12) and /keys/module/<n> (the 32 keys of expansion module n, 1-6). A row per key with
Mode, Account, Name and Number, as the LCD's Function setting > Expansion asks them
(firmware/features/expansion.py: MODES and their names, ACCOUNTS).

Submit saves the whole layout with this page's keys as typed through Api.set_key_layout,
the path of PUT /api/keys/layout (memkeys replace_layout: check_layout, DATA/keys.json
written atomically, the keys and their BLF subscriptions in use at once). The keys of the
other pages, the line keys and the function keys stay as saved. When check_layout refuses
a key, its reason is shown beside its row and nothing is saved. The administrator's pages
(no @for_user: the guard answers the user 403).
"""
from __future__ import annotations

import logging
import re

from aiohttp import web

from firmware.features.expansion import ACCOUNTS, MAX_TEXT, MODES, in_words, key_name
from ui.web import pages
from ui.web.common import API
from ui.web.html import csrf_field, esc, notice

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

MODULES, MODULE_KEYS, MEMORY_KEYS = 6, 32, 12       # provisioning/keys.py
TEXT = ("label", "number")                          # typed; "type", "account" are chosen


def url(module: int) -> str:
    return f"/keys/module/{module}" if module else "/keys"


def title(module: int) -> str:
    return f"Expansion Module {module}" if module else "Programmable Keys: Memory Keys"


def _module(request) -> int:
    """0 on /keys, the module's number on /keys/module/<n>; 404 for another."""
    text = request.match_info.get("module")
    if text is None:
        return 0
    if not text.isdigit() or not 1 <= int(text) <= MODULES:
        raise web.HTTPNotFound(text=f"no module {text!r}: the modules are 1-{MODULES}")
    return int(text)


def saved_keys(layout: dict, module: int) -> dict[str, dict]:
    """The keys of `module` in the saved layout (GET /api/keys/layout's), by name."""
    return {key_name(e["module"], e["index"]): e for e in layout.get("memory", [])
            if e.get("module") == module}


def typed_keys(form, module: int) -> dict[str, dict]:
    """The keys a posted page holds, by name, with a Mode (None: the key unset). An
    account is a line number or Auto; anything else goes to check_layout as sent, to be
    refused with its reason."""
    out = {}
    for i in range(MODULE_KEYS if module else MEMORY_KEYS):
        name = key_name(module, i)
        mode = str(form.get(f"{name}.type", ""))
        if not mode:
            continue
        account = str(form.get(f"{name}.account", ""))
        digits = account.isascii() and account.isdigit()    # "²" is one to isdigit only
        out[name] = {"type": mode, "account": int(account) if digits else (account or None),
                     **{t: str(form.get(f"{name}.{t}", "")).strip() for t in TEXT}}
    return out


def layout_with(layout: dict, module: int, keys: dict[str, dict]) -> dict:
    """The whole layout to save: every saved key not on this page, then this page's."""
    memory = [e for e in layout.get("memory", []) if e.get("module") != module]
    return {"memory": memory + [{"key": name, **k} for name, k in keys.items()],
            "program": layout.get("program", [])}


def problems_by_key(problems: list[str], names) -> tuple[dict[str, str], list[str]]:
    """check_layout's problems beside the row of their key ("memory[3] (p4): ..." and
    "p4: ..." both name p4); the rest (a key of another page) for the top of the page."""
    rows, rest = {}, []
    for p in problems:
        m = re.match(r"(?:memory\[\d+\] \()?(p\d+|e\d\.\d+)\)?: (.*)", p)
        if m and m.group(1) in names:
            rows.setdefault(m.group(1), in_words(m.group(2)))
        else:
            rest.append(p)
    return rows, rest


@routes.get("/keys")
@routes.get("/keys/module/{module}")
async def show(request):
    module = _module(request)
    top = ""
    if "saved" in request.query:
        top = notice(f"Saved: {request.query['saved']} keys set on the phone and its "
                     "modules, in use now.")
    keys = saved_keys(request.app[API].key_layout(), module)
    return _page(request, module, top, keys)


@routes.post("/keys")
@routes.post("/keys/module/{module}")
async def save(request):
    module = _module(request)
    form = await request.post()
    api = request.app[API]
    keys = typed_keys(form, module)
    try:
        count, problems = api.set_key_layout(layout_with(api.key_layout(), module, keys))
    except OSError as e:
        top = notice(f"Not saved: the key file cannot be written ({e.strerror or e}); the "
                     "old keys stay.", "error")
        return _page(request, module, top, keys, status=500)
    if problems:
        beside, rest = problems_by_key(problems, keys)
        log.info("web keys %s: refused %s", url(module), "; ".join(problems[:5]))
        top = notice("Nothing was saved: " + (
            f"{len(beside)} key(s) refused; see beside each." if beside else "")
            + " ".join(rest), "error")
        return _page(request, module, top, keys, errors=beside, status=400)
    log.info("web keys %s: saved (%d keys in all)", url(module), count)
    raise web.HTTPSeeOther(f"{url(module)}?saved={count}")


def _page(request, module: int, top: str, keys: dict, *, errors: dict | None = None,
          status: int = 200) -> web.Response:
    body = top + _modules_nav(module) + _table(request, module, keys, errors or {})
    # the frame and page list of the settings pages, "Programmable Keys" marked as here
    return pages._respond(request, "keys", title(module), body, pages.role_of(request),
                          status=status)


def _modules_nav(here: int) -> str:
    links = []
    for m in range(MODULES + 1):
        name = "Memory keys" if m == 0 else f"Module {m}"
        current = ' aria-current="page"' if m == here else ""
        links.append(f'<a href="{url(m)}"{current}>{name}</a>')
    return ('<nav class="modules" aria-label="Key pages"><p>' + " | ".join(links)
            + ' | <a href="/settings/keys">BLF and park settings</a></p></nav>')


def _options(pairs, current) -> str:
    return "".join(f'<option value="{esc(v)}"{" selected" if v == current else ""}>'
                   f'{esc(shown)}</option>' for v, shown in pairs)


def _table(request, module: int, keys: dict, errors: dict) -> str:
    accounts = [("" if a is None else str(a), f"Line {a}" if a else "Auto") for a in ACCOUNTS]
    rows = []
    for i in range(MODULE_KEYS if module else MEMORY_KEYS):
        name = key_name(module, i)
        k = keys.get(name, {})
        shown = f"Key {i + 1}" if module else f"P{i + 1}"
        account = "" if k.get("account") is None else str(k["account"])
        modes = MODES if k.get("type", "") in dict(MODES) else \
            (*MODES, (k["type"], k["type"]))           # a mode only a file gave it
        cells = [f'<select name="{name}.type" aria-label="{shown} Mode">'
                 f'{_options(modes, k.get("type", ""))}</select>',
                 f'<select name="{name}.account" aria-label="{shown} Account">'
                 f'{_options(accounts, account)}</select>',
                 *(f'<input type="text" name="{name}.{t}" value="{esc(k.get(t, ""))}" '
                   f'maxlength="{MAX_TEXT}" size="12" aria-label="{shown} '
                   f'{"Name" if t == "label" else "Number"}">' for t in TEXT)]
        why = errors.get(name, "")
        rows.append(f'<tr data-key="{name}"{" class=invalid" if why else ""}>'
                    f'<th scope="row">{shown}</th>'
                    + "".join(f"<td>{c}</td>" for c in cells)
                    + (f'<td class="error" role="alert">{esc(why)}</td>' if why else "<td></td>")
                    + "</tr>")
    return (f'<form method="post" action="{url(module)}" class="settings keys">'
            + csrf_field(pages._csrf(request))
            + '<p class="help">Mode None clears a key. A Speed dial, BLF, BLA, DTMF, Paging '
            'or Intercom key needs a Number (Paging: a multicast address as '
            '224.0.1.1:5000).</p><div class="rules"><table><thead><tr><th scope="col">Key'
            '</th><th scope="col">Mode</th><th scope="col">Account</th><th scope="col">Name'
            '</th><th scope="col">Number</th><th scope="col"></th></tr></thead><tbody>'
            + "".join(rows) + '</tbody></table></div><div class="actions">'
            '<button type="submit">Submit</button></div></form>')
