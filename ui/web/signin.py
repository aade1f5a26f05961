"""Sign-in: the guard every request passes (Host, Origin, session or HTTP Basic, CSRF,
the factory password), the security headers of every answer, and the sign-in, sign-out and
password routes. The rules are listed in ui/web/__init__.py and README "Security"."""
from __future__ import annotations

import base64
import ipaddress
import logging
from urllib.parse import urlsplit

from aiohttp import web

from firmware.errors import SettingsInvalid
from firmware.settings import hash_password, password_problem
from ui.web.auth import CSRF_COOKIE, CSRF_HEADER, SESSION, Auth, Refused
from ui.web.common import API, AUTH, STATIC, error, json_body, settings_refused

log = logging.getLogger("deskphone.web")

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# what a session signed in with the factory password may do
FACTORY_ONLY = {("GET", "/password"), ("POST", "/api/password"), ("POST", "/logout")}
FACTORY_ERROR = ('change the factory password first: POST /api/password {"old": "root", '
                 '"new": "..."} (at least 8 characters), or sign in on the web page')
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}

routes = web.RouteTableDef()


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, pw = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return ("", "")               # a malformed header is a wrong password
    return user, pw


def _same_origin(request: web.Request) -> bool:
    """Whether a request comes from the phone's own pages (or from no page at all: curl).
    Browsers send Origin on every cross-origin POST and WebSocket handshake."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
    u = urlsplit(origin)
    return u.scheme in ("http", "https") and u.netloc.lower() == request.host.lower()


def _browser_navigation(request: web.Request) -> bool:
    return request.method == "GET" and not request.path.startswith("/api/") and \
        request.path != "/ws"


def _host_ok(host: str) -> bool:
    """The Host a browser asked for names the phone by address (or localhost). A name
    served by someone's DNS could be rebound to the phone: that page's Origin would then
    match its Host, and the same-origin check would pass (DNS rebinding)."""
    try:
        name = urlsplit("//" + host).hostname or ""
    except ValueError:
        return False
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@web.middleware
async def guard(request: web.Request, handler):
    """Host, Origin, sign-in, CSRF and the factory password, in that order, before any
    handler."""
    path = request.path
    if not _host_ok(request.host):
        log.warning("refused %s %s for Host %r from %s", request.method, path,
                    request.host, request.remote)
        return error(421, "use the phone's address (http://IP:PORT/): the page is not "
                          "served under other names")
    unsafe = request.method in UNSAFE or path == "/ws"
    if unsafe and not _same_origin(request):
        log.warning("refused %s %s from another site (Origin %r) from %s", request.method,
                    path, request.headers.get("Origin") or request.headers.get("Referer"),
                    request.remote)
        return error(403, "refused: the request comes from another site; use the phone's "
                          "own page (or a script without a browser's Origin header)")
    if path in ("/login", "/favicon.ico") or path.startswith("/static/"):
        return await handler(request)
    auth: Auth = request.app[AUTH]
    auth.credentials_from_disk()
    sess = auth.session(request)
    if sess is not None:
        if unsafe and not await auth.csrf_ok(request, sess):
            return error(403, "missing or wrong CSRF token: reload the page (scripts: send "
                              f"the {CSRF_COOKIE} cookie's value as {CSRF_HEADER}, or use "
                              "HTTP Basic)")
    else:
        given = _basic(request)
        if given is None:
            if _browser_navigation(request):
                raise web.HTTPFound("/login")
            # No Basic challenge for the panel's own scripts (fetch sends Sec-Fetch-Mode
            # other than "navigate"): the browser would pop up a password dialog instead of
            # the page sending the person to /login.
            script = request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate"
            return web.json_response(
                {"error": "login required: use HTTP Basic with the web user and password "
                          "(factory root/root, which must be changed first)"}, status=401,
                headers={} if script else {"WWW-Authenticate": 'Basic realm="deskphone"'})
        try:
            if not await auth.check(request, *given):
                return error(401, "wrong user name or password")
        except Refused as r:
            return r.response()
    if auth.factory() and (request.method, path) not in FACTORY_ONLY:
        if _browser_navigation(request):
            raise web.HTTPFound("/password")
        return error(403, FACTORY_ERROR)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@routes.get("/login")
async def login_page(request):
    return web.FileResponse(STATIC / "login.html")


@routes.get("/password")
async def password_page(request):
    return web.FileResponse(STATIC / "password.html")


@routes.post("/login")
async def login(request):
    auth: Auth = request.app[AUTH]
    form = await request.post()
    try:
        ok = await auth.check(request, str(form.get("user", "")),
                              str(form.get("password", "")))
    except Refused as r:
        raise web.HTTPSeeOther(f"/login?wait={r.retry_after}",
                               headers={"Retry-After": str(r.retry_after)})
    if not ok:
        raise web.HTTPSeeOther("/login?failed=1")
    resp = web.HTTPSeeOther("/password" if auth.factory() else "/")
    auth.signed_in(resp, *auth.new_session())
    return resp


@routes.post("/logout")
async def logout(request):
    request.app[AUTH].sessions.pop(request.cookies.get(SESSION, ""), None)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION, path="/")
    resp.del_cookie(CSRF_COOKIE, path="/")
    return resp


@routes.post("/api/password")
async def password(request):
    auth: Auth = request.app[AUTH]
    api = request.app[API]
    body = await json_body(request, '{"old": "root", "new": "a better one"}')
    old, new = body.get("old"), body.get("new")
    user = body.get("user", api.web.user)
    if not isinstance(old, str) or not isinstance(new, str) or not isinstance(user, str):
        return error(400, 'give "old" and "new" passwords (and "user" for a new name)')
    problem = password_problem(new, user) or (
        "the new password must differ from the old one" if new == old else None)
    if problem:
        return error(400, f"{problem}; nothing changed")
    try:
        right = await auth.check(request, api.web.user, old)
    except Refused as r:
        return r.response()
    if not right:
        return error(403, "the old password is wrong; nothing changed")
    try:
        digest = await auth.hasher.run(hash_password, new)
        api.update_settings({"web.user": user, "web.password_hash": digest})
    except Refused as r:
        return r.response()
    except SettingsInvalid as e:
        return settings_refused(e, "; nothing changed")
    log.info("web password changed from %s", request.remote)
    # every other session signed in with the old password; this one just proved it
    mine = request.cookies.get(SESSION, "")
    auth.sessions = {t: s for t, s in auth.sessions.items() if t == mine}
    resp = web.json_response({"ok": True})
    if mine in auth.sessions:
        auth.signed_in(resp, mine, auth.sessions[mine])   # a new device cookie
    return resp
