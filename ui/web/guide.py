"""The config guide (manual §7 "Config Guide"): the first set-up step by step — the network,
then SIP account 1, then Finish — offered to the administrator right after the factory
password is changed, and at each of their sign-ins until it is finished or skipped.

Plain HTML forms (no script needed). Each step saves through the same path as PATCH
/api/settings (Api.update_settings: the schema's checks, the atomic file, the running phone
applies it: a saved account registers at once); a refused value is shown beside its field
and nothing of that step is saved. Where the guide stands is kept in DATA/web-guide
("pending", "finished" or "skipped"): a phone whose password was set another way
(`python -m firmware passwd`, provisioning) never sees the guide.
"""
from __future__ import annotations

import logging
from html import escape

from aiohttp import web

from firmware.errors import SettingsInvalid
from firmware.menus import help_text
from firmware.settings import FIELDS
from ui.web.common import API, csrf_field, form_field, html_page

log = logging.getLogger("deskphone.web")

STATE_FILE = "web-guide"
ACCOUNT = "account.1."

# the steps in order: (name, title, [(setting, the manual's field name)])
STEPS = (
    ("network", "Network", [
        ("network.mode", "IP Setting (DHCP / Static IP)"), ("network.ip", "IP Address"),
        ("network.mask", "Netmask"), ("network.gateway", "Gateway"),
        ("network.dns1", "Primary DNS"), ("network.dns2", "Secondary DNS")]),
    ("account", "SIP Account 1", [
        (ACCOUNT + "enable", "Enable"), (ACCOUNT + "display_name", "Display Name"),
        (ACCOUNT + "user", "Username"), (ACCOUNT + "auth_user", "Authenticate Name"),
        (ACCOUNT + "password", "Password"), (ACCOUNT + "label", "Label"),
        (ACCOUNT + "server", "SIP Server")]),
)
NEXT = {"network": "/guide/account", "account": "/guide/finish"}

routes = web.RouteTableDef()


# -- where the guide stands -------------------------------------------------------------------

def _state(api) -> str:
    try:
        return (api.data_dir / STATE_FILE).read_text().strip()
    except OSError:
        return ""


def _set_state(api, state: str) -> None:
    from firmware.settings import atomic_write
    try:
        atomic_write(api.data_dir / STATE_FILE, state.encode() + b"\n")
    except OSError as e:              # the guide then shows again: no harm
        log.warning("cannot keep the config guide's state in %s: %s", api.data_dir, e)


def pending(api) -> bool:
    """Whether the administrator's sign-in goes to the guide."""
    return _state(api) == "pending"


def begin(api) -> None:
    """The factory password was just changed: the guide comes next (unless it ended)."""
    if _state(api) not in ("finished", "skipped"):
        _set_state(api, "pending")


# -- the pages --------------------------------------------------------------------------------

def _frame(request, title: str, step: int, inner: str, *, status: int = 200) -> web.Response:
    trail = " › ".join(f'<b>{t}</b>' if i == step else t for i, t in
                       enumerate(("Start", "Network", "SIP Account", "Finish")))
    skip = ('<form method="post" action="/guide/skip" class="skip">' + csrf_field(request)
            + '<button type="submit" class="quiet" name="skip">Skip the guide</button></form>')
    return html_page(f"config guide: {title}",
                     f'<main class="box guide"><h1>Config Guide</h1><p class="trail">{trail}'
                     f'</p><h2>{escape(title)}</h2>{inner}{skip}</main>', status=status)


@routes.get("/guide")
async def start(request):
    return _frame(request, "Start", 0, (
        '<p>Finish the base configuration step by step: the network, then the SIP account, '
        'then Finish. Everything here can be changed later.</p>'
        '<p><a class="button" href="/guide/network">Next</a></p>'))


def _control(key: str, label: str, value, problem: str) -> str:
    f = FIELDS[key]
    m = f.metadata
    if m["choices"]:
        opts = "".join(f'<option value="{escape(str(c))}"{" selected" if c == value else ""}>'
                       f'{escape(str(c))}</option>' for c in m["choices"])
        return form_field(key, label, kind="select", attrs=opts, problem=problem,
                          help=help_text(key))
    if isinstance(f.default, bool):
        return form_field(key, label, value, kind="checkbox", problem=problem,
                          help=help_text(key))
    if m["secret"]:                    # never shown: empty keeps the one set
        hint = "set; leave empty to keep it" if value else "not set"
        return form_field(key, label, kind="password", problem=problem,
                          help=f"{help_text(key)} ({hint})", attrs='autocomplete="off"')
    return form_field(key, label, str(value), problem=problem, help=help_text(key))


def _step_page(request, name: str, problems: dict | None = None, typed: dict | None = None,
               *, status: int = 200) -> web.Response:
    index = [s[0] for s in STEPS].index(name)
    _, title, fields = STEPS[index]
    now = request.app[API].settings_json()["settings"]     # secrets masked
    values = {k: now[k] for k, _ in fields} | (typed or {})
    problems = problems or {}
    rows = "".join(_control(k, label, values[k], problems.get(k, "")) for k, label in fields)
    note = ""
    if problems:
        note = ('<p class="problem" role="alert">Nothing of this step was saved: see the '
                'fields marked below.</p>')
    if name == "network" and request.app[API].simulated:
        note += ('<p class="hint">The sim board keeps these settings but leaves the PC\'s '
                 'network alone.</p>')
    return _frame(request, title, index + 1, (
        f'{note}<form method="post" action="/guide/{name}">{csrf_field(request)}{rows}'
        '<button type="submit" name="next">Next</button></form>'), status=status)


@routes.get("/guide/{step:network|account}")
async def step_page(request):
    return _step_page(request, request.match_info["step"])


def _form_values(form, fields) -> dict:
    """The step's settings from the form: a checkbox is true/false, an empty secret keeps
    the one set, numbers and choices go to the schema as typed (it converts and checks)."""
    out = {}
    for key, _ in fields:
        f = FIELDS[key]
        got = form.getall(key, [])
        if isinstance(f.default, bool):
            out[key] = bool(got) and got[-1] == "true"
        elif f.metadata["secret"]:
            if got and got[-1]:
                out[key] = str(got[-1])
        elif got:
            out[key] = str(got[-1]).strip()
    return out


@routes.post("/guide/{step:network|account}")
async def save_step(request):
    name = request.match_info["step"]
    fields = dict((s[0], s[2]) for s in STEPS)[name]
    values = _form_values(await request.post(), fields)
    try:
        request.app[API].update_settings(values)
    except SettingsInvalid as e:
        problems = {p.key: p.reason for p in e.problems}
        shown = {k: v for k, v in values.items() if not FIELDS[k].metadata["secret"]}
        return _step_page(request, name, problems, shown, status=400)
    await request.app[API].settings_flushed()       # the next step starts from the file
    raise web.HTTPSeeOther(NEXT[name])


@routes.get("/guide/finish")
async def finish_page(request):
    api = request.app[API]
    lines = [ln for ln in api.status_lines("status.lines") if ln.startswith("L1")]
    return _frame(request, "Finish", 3, (
        '<p>Press Finish: the base configuration of the phone is complete, and the phone '
        'calls with SIP.</p>'
        + "".join(f'<p class="status">{escape(ln)}</p>' for ln in lines)
        + f'<form method="post" action="/guide/finish">{csrf_field(request)}'
        '<button type="submit" name="finish">Finish</button></form>'))


@routes.post("/guide/finish")
async def finish(request):
    _set_state(request.app[API], "finished")
    raise web.HTTPSeeOther("/")


@routes.post("/guide/skip")
async def skip(request):
    _set_state(request.app[API], "skipped")
    raise web.HTTPSeeOther("/")
