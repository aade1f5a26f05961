"""LDAP search from the web (manual §5 "LDAP"; issue 14 item 5): the page Phone Book > LDAP
Search, /phonebook/ldap, and its JSON twin GET /api/ldap. The administrator and the desk
user both search (@for_user: a directory is read, nothing changes).

The page is a plain GET form (a name or a number, which kind) that works without
JavaScript; its answer is the same page with the hits (name and numbers) in a table, "No
match", or why a server gave nothing ("LDAP 10.0.0.5:389: wrong bind user or password"),
beside the hits when the other server answered. Both servers are searched, [ldap] first,
as the LCD's DIR > LDAP does (firmware/features/ldapsearch.py). The search blocks on the
servers (firmware/directory/ldap.py, ldap3), so it runs in a thread (Api.ldap_search,
ldap.search_off_loop) with the servers' timeouts: a dead server never freezes the web
server or the phone.
"""
from __future__ import annotations

from aiohttp import web

from firmware.directory import ldap
from ui.web import pages
from ui.web.common import API, error, for_user
from ui.web.html import esc, notice

routes = web.RouteTableDef()

PAGE = "/phonebook/ldap"
TITLE = "LDAP Search"
KINDS = {"name": "Name", "number": "Number"}


def _query(request) -> tuple[str, str]:
    """What was typed (trimmed, at most ldap.MAX_TYPED) and the kind of search."""
    q = request.query
    return q.get("q", "").strip()[:ldap.MAX_TYPED], q.get("kind", "name")


@routes.get("/api/ldap")
@for_user
async def api_search(request):
    """{"hits": [{"name": ..., "numbers": [...]}], "reason": "..."}: `reason` says why a
    server gave nothing ("" when every server answered)."""
    typed, kind = _query(request)
    if kind not in KINDS:
        return error(400, "kind must be name or number")
    if not typed:
        return error(400, "q: type a name or a number to search for")
    answer = await request.app[API].ldap_search(typed, kind)
    return web.json_response({"hits": [{"name": h.name, "numbers": list(h.numbers)}
                                       for h in answer.hits], "reason": answer.reason})


@routes.get(PAGE)
@for_user
async def page(request):
    typed, kind = _query(request)
    if kind not in KINDS:
        kind = "name"
    result = ""
    if typed:
        answer = await request.app[API].ldap_search(typed, kind)
        result = _result(typed, answer)
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
    return pages._respond(request, "", TITLE, body, pages.role_of(request))


def _result(typed: str, answer: ldap.Answer) -> str:
    """The hits as a table (name, numbers), "No match", and a server's trouble."""
    out = notice(answer.reason, "error") if answer.reason else ""
    if not answer.hits:
        return out + ("" if answer.reason else notice(f"No match for “{typed}”."))
    rows = "".join(f"<tr><td>{esc(h.name)}</td><td>{esc(', '.join(h.numbers))}</td></tr>"
                   for h in answer.hits)
    return (out + f'<table class="ldap-hits"><caption>{len(answer.hits)} found for '
            f'“{esc(typed)}”</caption><thead><tr><th scope="col">Name</th>'
            f'<th scope="col">Numbers</th></tr></thead><tbody>{rows}</tbody></table>')
