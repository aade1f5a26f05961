"""The web management pages (manual §7 "Web Settings"): /settings and /settings/<page>.

Rendered on the server from the one menu model (firmware/menus.py WEB: the manual's web
pages as Page/Entry over the settings schema), as plain HTML forms that work without
JavaScript. A form is saved through the same path as PATCH /api/settings (Api.
update_settings -> SettingsService.update): the schema checks every value, and when any
is refused nothing is saved and each reason is shown beside its field. A secret is never
sent to the browser: its field is empty, and empty means unchanged.

Who sees which page: `can_see(role, page)` with the page's role from the model ("admin"
pages need the administrator), for the role of the sign-in (`role_of`).
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from firmware import menus, roles
from firmware.errors import SettingsInvalid
from firmware.menus import WEB, Page
from firmware.settings import FIELDS, factory_values
from firmware.settings_service import CREDENTIALS
from ui.web import common, dialtable, html
from ui.web.common import API, AUTH

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

CLEAR = ":clear"        # a secret's "remove it" box: <key>:clear

# what a page shows above its form besides the settings, by page name: a function of the
# request giving HTML (ui/web/maintenance.py: Auto Provision Now and the last run's result)
PANELS: dict = {}


def role_of(request: web.Request) -> str:
    """The signed-in role, session or HTTP Basic (ui/web/signin.py's guard sets it)."""
    return common.role_of(request)


def can_see(role: str, page: Page) -> bool:
    """Whether `role` may see and change `page`: the one rule of firmware/roles.py (the
    administrator every page, the user the pages reached through user pages only)."""
    return roles.can_see(role, page)


def kind(key: str) -> str:
    """How the web edits a setting: menus.kind, "list" for a list (one per line), "rules"
    for the dial plan's rules (a table: ui/web/dialtable.py)."""
    if key == dialtable.KEY:
        return "rules"
    return "list" if isinstance(FIELDS[key].default, tuple) else menus.kind(key)


def _csrf(request: web.Request) -> str:
    sess = request.app[AUTH].session(request)
    return sess.csrf if sess is not None else ""


def _nav(role: str, here: str) -> str:
    items = []
    for e in WEB["index"].entries:
        if e.page:
            if can_see(role, WEB[e.page]):
                items.append((e.label, f"/settings/{e.page}", e.page == here))
        elif e.action == "group":
            items.append((e.label, "", False))
        elif e.action.startswith("link:"):
            url = e.action[5:]
            if role == "admin" or url == "/password":     # a user changes only their own
                items.append((e.label, url, False))
    return html.nav_list(items)


def _page(request: web.Request, name: str) -> tuple[Page, str]:
    page = WEB.get(name)
    if page is None or name == "index":
        raise web.HTTPNotFound(text=f"no page {name!r}: the list is at /settings")
    role = role_of(request)
    if not can_see(role, page):
        raise web.HTTPForbidden(text="this page is the administrator's")
    return page, role


def _respond(request, name: str, title: str, body: str, role: str,
             status: int = 200) -> web.Response:
    live = "status.js" if WEB.get(name, WEB["index"]).text else ""    # live status only
    text = html.document(title, body, nav=_nav(role, name), csrf=_csrf(request), script=live,
                         admin=role == "admin")
    return web.Response(text=text, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store"})


# -- the pages ---------------------------------------------------------------------------------

@routes.get("/settings")
@common.for_user                # the user sees the user's pages (can_see), 403 for the rest
async def index(request):
    role = role_of(request)
    body = ('<p>The phone\'s settings as the manual\'s web pages group them (§7). Each '
            'field says what it does; a field marked <span class="badge">needs a restart'
            '</span> acts after the phone restarts.</p>')
    return _respond(request, "index", WEB["index"].title, body, role)


@routes.get("/settings/{name}")
@common.for_user
async def show(request):
    name = request.match_info["name"]
    page, role = _page(request, name)
    q = request.query
    top = ""
    if "saved" in q:
        top = html.notice("Saved." if q["saved"] != "0" else "Nothing changed.")
    pending = request.app[API].pending_restart()
    if pending and not page.text:
        top += html.restart_form(pending, _csrf(request))
    if name in PANELS:
        top += PANELS[name](request)
    return _respond(request, name, page.title, top + _body(request, name, page), role)


@routes.post("/settings/{name}")
@common.for_user
async def save(request):
    name = request.match_info["name"]
    page, role = _page(request, name)
    form = await request.post()
    api = request.app[API]
    if name == "defaults":
        answer = _defaults(request, page, role, form)
        await api.settings_flushed()                # "Factory settings saved": on disk
        return answer
    if not page_keys(page):
        raise web.HTTPMethodNotAllowed("POST", ["GET"])
    values = form_values(page, form, role)
    try:
        changed, restart = api.update_settings(values)
    except SettingsInvalid as e:
        errors = {p.key: p.reason for p in e.problems}
        log.info("web page %s: refused %s", name, ", ".join(errors))
        top = html.notice(f"Nothing was saved: {len(errors)} field(s) refused; see beside "
                          "each.", "error")
        return _respond(request, name, page.title,
                        top + _body(request, name, page, form=form, errors=errors),
                        role, status=400)
    log.info("web page %s: saved %s", name, ", ".join(changed) or "nothing changed")
    # "Saved." means on disk, as PATCH's 200 does: the writer thread's write is awaited
    unsaved = await api.settings_flushed()
    if unsaved:
        top = html.notice(f"In use but not saved: settings.toml cannot be written "
                          f"({unsaved}); the next save tries again.", "error")
        return _respond(request, name, page.title, top + _body(request, name, page), role,
                        status=507)
    raise web.HTTPSeeOther(f"/settings/{name}?{urlencode({'saved': len(changed)})}")


def _defaults(request, page: Page, role: str, form) -> web.Response:
    """Default Setting > Reset to Factory Setting (confirmed by its box): every setting
    back to the factory's, as the LCD's Load default settings does, except who signs in to
    the web (that changes only with the current password); then a restart uses them."""
    if form.get("confirm") != "yes":
        top = html.notice("Nothing was reset: tick the box to confirm.", "error")
        return _respond(request, "defaults", page.title,
                        top + _body(request, "defaults", page), role, status=400)
    values = {k: v for k, v in factory_values().items() if k not in CREDENTIALS}
    changed, restart = request.app[API].update_settings(values)
    log.warning("web: reset to factory settings (%d changed)", len(changed))
    top = html.notice(f"Factory settings saved ({len(changed)} changed); the web sign-in "
                      "is kept.")
    top += html.restart_form(request.app[API].pending_restart() or ["every setting"],
                             _csrf(request))
    return _respond(request, "defaults", page.title, top, role)


# -- what a page holds -----------------------------------------------------------------------------

def page_keys(page: Page, role: str = roles.ADMIN) -> list[str]:
    """The settings a page's form edits for `role` (never the web sign-in: POST
    /api/password; for the user, only what roles.may_change lets them)."""
    return [e.setting for e in page.entries if e.setting and e.setting not in CREDENTIALS
            and roles.may_change(role, e.setting)]


def form_values(page: Page, form, role: str = roles.ADMIN) -> dict:
    """The settings a posted form asks for, as the schema takes them: a checkbox that is
    not sent is off, a choice is matched to its typed value (anything else goes to the
    schema as typed, to be refused with its reason), a list is one entry per line, an
    empty secret is unchanged. Fields of other pages are ignored."""
    values = {}
    for key in page_keys(page, role):
        k = kind(key)
        raw = form.get(key)
        if k == "rules":
            if form.get(key + ":rows") is not None:
                values[key] = [dialtable.rule_text(r) for r in dialtable.typed_rows(form)]
        elif k == "bool":
            values[key] = raw is not None
        elif k == "secret":
            if form.get(key + CLEAR) is not None:
                values[key] = ""
            elif raw:
                values[key] = str(raw)
        elif raw is None:
            continue                      # not on the form as sent: unchanged
        elif k == "choice":
            by_text = {str(c): c for c in menus.choices(key)}
            values[key] = by_text.get(str(raw), str(raw))
        elif k == "list":
            values[key] = [line.strip() for line in str(raw).splitlines() if line.strip()]
        else:
            values[key] = str(raw)
    return values


def _body(request, name: str, page: Page, *, form=None, errors: dict | None = None) -> str:
    api = request.app[API]
    if page.text:
        return _status(api, page)
    if name == "defaults":
        return _confirm(request, "defaults", "/settings/defaults",
                        '<label class="inline"><input type="checkbox" name="confirm" '
                        'value="yes" required> Yes, reset every setting</label>')
    if name == "reboot":
        return _confirm(request, "reboot", "/api/restart", "")
    shown = api.settings_json()
    current = shown["settings"]
    # a bad value in settings.toml (the phone uses the last good one, shown) is said
    # beside its field; what this form's save refused comes first
    errors = {p["key"]: f"In settings.toml: {p['reason']} (the value shown)"
              for p in shown["errors"]} | (errors or {})
    role = role_of(request)
    rows, fieldset = [], False
    for e in page.entries:
        if e.action == "group":
            rows.append(("</fieldset>" if fieldset else "")
                        + f"<fieldset><legend>{html.esc(e.label)}</legend>")
            fieldset = True
        elif e.action.startswith("later:"):
            rows.append(html.later_row(e.label, e.action[6:]))
        elif e.action.startswith("link:"):
            rows.append(f'<p class="link-row"><a href="{html.esc(e.action[5:])}">'
                        f'{html.esc(e.label)}</a></p>')
        elif e.setting and e.setting not in CREDENTIALS and not roles.may_change(role, e.setting):
            rows.append(html.locked_row(e.label, current.get(e.setting),
                                        "Only the administrator changes this."))
        elif e.setting and e.setting not in CREDENTIALS:
            rows.append(_row(e.label, e.setting, current, form, errors))
    if fieldset:
        rows.append("</fieldset>")
    return (f'<form method="post" action="/settings/{html.esc(name)}" class="settings">'
            + html.csrf_field(_csrf(request)) + "".join(rows)
            + '<div class="actions"><button type="submit">Save</button></div></form>')


def _row(label: str, key: str, current: dict, form, errors: dict) -> str:
    k = kind(key)
    if form is None:
        value, typed = current.get(key), False
    elif k == "bool":
        value, typed = form.get(key) is not None, True
    elif k == "secret":
        value, typed = "", True           # never echoed, not even what was typed
    elif k == "rules":
        value, typed = dialtable.typed_rows(form), True
    else:
        value, typed = form.get(key, ""), True
    error = errors.get(key, "")
    if k == "rules" and error:
        error = dialtable.explain(error, value)
    return html.field_row(label, key, k, value, error=error, typed=typed)


def _confirm(request, action: str, url: str, extra: str) -> str:
    """Default Setting, Reboot: what it does (the LCD's confirm text) and its button."""
    title, text = menus.CONFIRM[action]
    return (f'<form method="post" action="{url}" class="settings confirm">'
            f'{html.csrf_field(_csrf(request))}<p>{html.esc(text)}</p>{extra}'
            f'<div class="actions"><button type="submit" class="danger">{html.esc(title)}'
            '</button></div></form>')


def _line_panel(n: int):
    """Above SIP Account n's form: the line as Phone Status shows it (state, server, why
    not registered), so the administrator who saved an account sees whether it took
    without going to another page."""
    def panel(request) -> str:
        lines, mine = [], False
        for ln in request.app[API].status_lines("status.lines"):
            if not ln.startswith(" "):
                mine = ln.startswith(f"L{n} ")
            if mine:
                lines.append(ln)
        if lines == [f"L{n} off"]:          # typed, saved, and nothing happens: say why
            lines.append("  Enable is not ticked: the line is not used")
        return (f'<section class="status line-state"><h2>Line {n}</h2>'
                f'<pre>{html.esc(chr(10).join(lines))}</pre><p><a href="">Refresh</a> · '
                '<a href="/settings/status">Phone Status</a></p></section>')
    return panel


PANELS.update({name: _line_panel(int(name.split(".")[1])) for name in WEB
               if name.startswith("account.")})


def _status(api, page: Page) -> str:
    """Phone Status: the View status pages of the LCD, each as the phone says it."""
    out = []
    for e in page.entries:
        lines = api.status_lines(e.page)
        out.append(f'<section class="status"><h2>{html.esc(e.label)}</h2>'
                   f'<pre>{html.esc(chr(10).join(lines))}</pre></section>')
    out.append('<p><a href="">Refresh</a></p>')
    return "".join(out)
