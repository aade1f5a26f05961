"""LDAP search from the web (manual §5 "LDAP"; issue 14 item 5): the page Phone Book > LDAP
Search, /phonebook/ldap, and its JSON twin GET /api/ldap. The administrator and the desk
user both search (@for_user: a directory is read, nothing changes).

The page is a plain GET form (a name or a number, which kind) that works without
JavaScript; its answer is the same page with the hits (name and numbers) in a table, "No
match", or why a server gave nothing ("LDAP 10.0.0.5:389: wrong bind user or password"),
beside the hits when the other server answered. Both servers are searched, [ldap] first,
as the LCD's DIR > LDAP does (firmware/features/ldapsearch.py). The search blocks on the
servers (firmware/directory/ldap.py, ldap3), so it runs in a thread of the web's searches
(Api.ldap_search, ldap.search_off_loop: two at most, never the loop's default executor)
with the servers' timeouts: a dead server never freezes the web server or the phone, nor
holds up provisioning. When both threads still wait for a server, the page says "A search
is still running: try again in a moment" and GET /api/ldap answers 503 with it, at once.
At most ldap.KEPT hits (500) are listed, and ldap.max_hits of each server; "First 5 shown"
when the servers had more (type more to narrow). With no server set, the administrator
is pointed to Phone Book > LDAP, the desk user (who cannot open it) to the administrator.

Each number of a hit has a Dial button: a one-button POST form (the session's CSRF
field, as every form of these pages) to /phonebook/ldap/dial, which dials it on the phone
on the default line (Api.dial, as the LCD's Dial on a hit: an LDAP entry names no line)
and answers 303 back to the search with the result line "Dialling 1001 on line 1." The
desk user dials too: it is their phone (POST /api/dial is theirs as well).
"""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from firmware.directory import ldap
from firmware.roles import ADMIN
from ui.web import pages
from ui.web.common import API, error, for_user
from ui.web.html import csrf_field, esc, notice

routes = web.RouteTableDef()

PAGE = "/phonebook/ldap"
DIAL = PAGE + "/dial"
TITLE = "LDAP Search"
KINDS = {"name": "Name", "number": "Number"}
NO_SERVER_USER = "No LDAP server is set: ask your administrator to set an LDAP server"
NUMBER_MAX = 256                      # as POST /api/dial: a number, an address or a sip: URI


def _query(request) -> tuple[str, str]:
    """What was typed (trimmed, at most ldap.MAX_TYPED) and the kind of search."""
    q = request.query
    return q.get("q", "").strip()[:ldap.MAX_TYPED], q.get("kind", "name")


@routes.get("/api/ldap")
@for_user
async def api_search(request):
    """{"hits": [{"name": ..., "numbers": [...]}], "reason": "...", "more": false}:
    `reason` says why a server gave nothing ("" when every server answered), `more` that
    the servers had more than the first ldap.KEPT hits listed; 503 while the web's
    searches are all still running."""
    typed, kind = _query(request)
    if kind not in KINDS:
        return error(400, "kind must be name or number")
    if not typed:
        return error(400, "q: type a name or a number to search for")
    try:
        answer = await request.app[API].ldap_search(typed, kind)
    except ldap.Busy as e:
        return error(503, str(e))
    return web.json_response({"hits": [{"name": h.name, "numbers": list(h.numbers)}
                                       for h in answer.hits], "reason": _reason(request, answer),
                              "more": answer.more})


@routes.get(PAGE)
@for_user
async def page(request):
    typed, kind = _query(request)
    q = request.query
    top = ""
    if q.get("dialled") and q.get("line", "").isdigit():
        top = notice(f"Dialling {q['dialled']} on line {q['line']}.")
    return await _page(request, typed, kind, top)


@routes.post(DIAL)
@for_user
async def dial(request):
    """A hit's number dialled on the phone's default line; 303 back to the search."""
    form = await request.post()
    typed = str(form.get("q", "")).strip()[:ldap.MAX_TYPED]
    kind = str(form.get("kind", "name"))
    number = ldap.digits(str(form.get("number", "")))
    if not number or len(number) > NUMBER_MAX or not number.isprintable():
        return await _page(request, typed, kind, notice(
            "Not dialled: give a number (the Dial button of a hit sends it).", "error"),
            status=400)
    api = request.app[API]
    line = api.settings_json()["settings"]["phone.default_account"]
    api.dial(number, line)
    back = {"q": typed, "kind": kind, "dialled": number, "line": line}
    raise web.HTTPSeeOther(f"{PAGE}?{urlencode(back)}")


async def _page(request, typed: str, kind: str, top: str = "", status: int = 200):
    """The search form with `typed` in it, `top` (a result line) over it, and the hits
    for `typed` under it."""
    if kind not in KINDS:
        kind = "name"
    result = ""
    if typed:
        try:
            answer = await request.app[API].ldap_search(typed, kind)
            result = _result(request, typed, kind, answer)
        except ldap.Busy as e:
            result, status = notice(str(e), "error"), 503
    options = "".join(f'<option value="{k}"{" selected" if k == kind else ""}>{v}</option>'
                      for k, v in KINDS.items())
    body = (f'<form method="get" action="{PAGE}" class="settings ldap-search">'
            '<div class="field"><label for="ldap-q">Name or number</label><div class="input">'
            f'<input type="search" id="ldap-q" name="q" value="{esc(typed)}" '
            f'maxlength="{ldap.MAX_TYPED}" autocapitalize="off" spellcheck="false">'
            '<p class="help">The start of a name (or of a number): both LDAP servers are '
            'searched with their filters.</p></div></div>'
            '<div class="field"><label for="ldap-kind">Search by</label><div class="input">'
            f'<select id="ldap-kind" name="kind">{options}</select></div></div>'
            '<div class="actions"><button type="submit">Search</button></div></form>'
            + result)
    return pages._respond(request, "", TITLE, top + body, pages.role_of(request),
                          status=status)


def _result(request, typed: str, kind: str, answer: ldap.Answer) -> str:
    """The hits as a table (name, numbers each with its Dial button), "No match", and a
    server's trouble."""
    out = notice(_reason(request, answer), "error") if answer.reason else ""
    if not answer.hits:
        return out + ("" if answer.reason else notice(f"No match for “{typed}”."))
    back = {"q": typed, "kind": kind}
    rows = "".join(
        f"<tr><td>{esc(h.name)}</td><td>"
        + "<br>".join(f"{esc(n)} " + _dial_button(request, n, h.name, back) for n in h.numbers)
        + "</td></tr>" for h in answer.hits)
    caption = (f"First {len(answer.hits)} shown of those found for “{esc(typed)}”: the "
               "servers have more, type more to narrow the search" if answer.more
               else f"{len(answer.hits)} found for “{esc(typed)}”")
    return (out + f'<table class="ldap-hits"><caption>{caption}</caption><thead><tr>'
            '<th scope="col">Name</th><th scope="col">Numbers</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def _reason(request, answer: ldap.Answer) -> str:
    """Why a server gave nothing, for who asks: the desk user cannot open Phone Book >
    LDAP, where the administrator sets a server, so is told to ask for one."""
    if ldap.NO_SERVER in answer.reason and pages.role_of(request) != ADMIN:
        return NO_SERVER_USER
    return answer.reason


def _dial_button(request, number: str, name: str, back: dict) -> str:
    """The one-button form that dials `number` (and comes back to this search)."""
    fields = "".join(f'<input type="hidden" name="{k}" value="{esc(v)}">'
                     for k, v in {**back, "number": number}.items())
    return (f'<form method="post" action="{DIAL}" class="inline">'
            f'{csrf_field(pages._csrf(request))}{fields}<button type="submit" '
            f'aria-label="Dial {esc(number)}{f" ({esc(name)})" if name else ""}">Dial</button>'
            '</form>')
