"""Sign-in: the guard every request passes (Host, Origin, session or HTTP Basic, CSRF,
a password that must be changed first, what the signed-in role may use), the security
headers of every answer, and the sign-in, sign-out and password routes (the manual's §7
"Password" page: each role changes its own; the administrator sets the user's). The rules
are listed in ui/web/__init__.py and README "Security"; the roles in firmware/roles.py."""
from __future__ import annotations

import base64
import ipaddress
import logging
from html import escape
from urllib.parse import urlsplit

from aiohttp import web

from firmware import roles
from firmware.errors import SettingsInvalid
from firmware.roles import ADMIN, USER
from firmware.settings import hash_password, password_problem
from ui.web import guide
from ui.web.auth import CSRF_COOKIE, CSRF_HEADER, SESSION, Auth, Refused, account
from ui.web.common import (API, AUTH, ROLE, SESSION_OF, STATIC, csrf_field, error,
                           for_user, form_field, html_page, json_body, role_of,
                           route_open_to_user)

log = logging.getLogger("deskphone.web")

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# what a session whose password must be changed first may do (the factory password, or a
# user password the administrator set)
FACTORY_ONLY = {("GET", "/password"), ("POST", "/password"), ("POST", "/api/password"),
                ("POST", "/logout"), ("GET", "/api/session")}
FACTORY_ERROR = ('change the factory password first: POST /api/password {"old": "root", '
                 '"new": "..."} (at least 8 characters), or sign in on the web page')
SET_BY_ADMIN_ERROR = ('the administrator set this password: change it first (POST '
                      '/api/password {"old": "...", "new": "..."}, or the web page\'s Password)')
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
        role = sess.role
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
            role = await auth.check(request, *given)
        except Refused as r:
            return r.response()
        if role is None:
            return error(401, "wrong user name or password")
    request[ROLE], request[SESSION_OF] = role, sess
    if auth.must_change(role) and (request.method, path) not in FACTORY_ONLY:
        if _browser_navigation(request):
            raise web.HTTPFound("/password")
        return error(403, FACTORY_ERROR if role == ADMIN else SET_BY_ADMIN_ERROR)
    if role == USER:
        refused = await _user_refused(request)
        if refused:
            return refused
    return await handler(request)


async def _user_refused(request: web.Request) -> web.Response | None:
    """403 for what the user role may not do (firmware/roles.py): a route of the
    administrator's, or settings that are not the user's."""
    if not route_open_to_user(request):
        log.info("refused %s %s to the user role from %s", request.method, request.path,
                 request.remote)
        text = (f"{request.path} is the administrator's: the user may use the front panel, "
                "the Password page and the user's settings; sign in as the administrator")
        if _browser_navigation(request):
            return html_page("administrator only", f'<main class="box"><h1>Administrator '
                             f'only</h1><p class="problem">{escape(text)}.</p><p><a href="/">'
                             'Front panel</a> · <a href="/password">Password</a></p></main>',
                             status=403)
        return error(403, text)
    if request.method == "PATCH" and request.path == "/api/settings":
        try:
            body = await request.json()      # read again by the handler (aiohttp keeps it)
        except ValueError:
            return None                      # the handler says what is wrong with it
        refused = roles.refused(USER, body) if isinstance(body, dict) else []
        if refused:
            return error(403, f"the user may not change {', '.join(refused)}: only the "
                              "administrator may (nothing changed)", refused=refused)
    return None


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@routes.get("/login")
async def login_page(request):
    return web.FileResponse(STATIC / "login.html")


@routes.post("/logout")
@for_user
async def logout(request):
    request.app[AUTH].sessions.pop(request.cookies.get(SESSION, ""), None)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION, path="/")
    resp.del_cookie(CSRF_COOKIE, path="/")
    raise resp



@routes.post("/login")
async def login(request):
    auth: Auth = request.app[AUTH]
    form = await request.post()
    try:
        role = await auth.check(request, str(form.get("user", "")),
                                str(form.get("password", "")))
    except Refused as r:
        raise web.HTTPSeeOther(f"/login?wait={r.retry_after}",
                               headers={"Retry-After": str(r.retry_after)})
    if role is None:
        raise web.HTTPSeeOther("/login?failed=1")
    resp = web.HTTPSeeOther("/password" if auth.must_change(role) else _home(request, role))
    auth.signed_in(resp, *auth.new_session(role))
    raise resp


def _home(request: web.Request, role: str) -> str:
    """Where a sign-in lands: the config guide while the administrator has not finished or
    skipped it (ui/web/guide.py), else the front panel."""
    return "/guide" if role == ADMIN and guide.pending(request.app[API]) else "/"


@routes.get("/api/session")
@for_user
async def session_info(request):
    """Who is signed in: {"user", "role", "must_change"} (pages show what the role may use)."""
    role = role_of(request)
    return web.json_response({"user": account(request.app[API].web, role)[0], "role": role,
                              "must_change": request.app[AUTH].must_change(role)})


# -- the Password page (manual §7 Maintenance > Password) ------------------------------------

class PasswordRefused(Exception):
    """A password change refused: the HTTP status, the reason, and the form field it is
    about (shown beside that field)."""

    def __init__(self, status: int, message: str, field: str = "new"):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def change_password(request: web.Request, *, old: str, new: str, name: str | None,
                          target: str) -> str:
    """Change the password (and login name) of `target`'s account, with the signed-in
    role's current password `old`: each role changes its own; the administrator also sets
    the user's, which the user then changes at their next sign-in. Returns the role changed;
    raises PasswordRefused (nothing changed) or Refused (throttled)."""
    auth: Auth = request.app[AUTH]
    api = request.app[API]
    me = role_of(request)
    if target not in roles.ROLES:
        raise PasswordRefused(400, f'"role" must be {" or ".join(roles.ROLES)}', "role")
    if target != me and me != ADMIN:
        raise PasswordRefused(403, "only the administrator sets another role's password",
                              "role")
    w = api.web
    name = account(w, target)[0] if name is None else name
    other = account(w, ADMIN if target == USER else USER)[0]
    if name == other:
        raise PasswordRefused(400, f"'{name}' is the other role's login name: choose another",
                              "user")
    problem = password_problem(new, name) or (
        "the new password must differ from the old one" if new == old and target == me
        else None)
    if problem:
        raise PasswordRefused(400, f"{problem}; nothing changed")
    if await auth.check(request, account(w, me)[0], old) != me:
        raise PasswordRefused(403, "the old password is wrong; nothing changed", "old")
    digest = await auth.hasher.run(hash_password, new)
    factory = target == ADMIN and not w.password_hash
    values = ({"web.user": name, "web.password_hash": digest} if target == ADMIN else
              {"web.user_name": name, "web.user_password_hash": digest,
               "web.user_must_change": target != me})
    try:
        api.update_settings(values)
    except SettingsInvalid as e:
        p = e.problems[0] if e.problems else None
        raise PasswordRefused(400, f"{p.reason if p else e}; nothing changed",
                              "user" if p and p.key.endswith(("user", "user_name")) else "new")
    # on disk before the answer: a restart right after must not bring the old one back (a
    # write that fails is on the idle screen, and the new password is in use meanwhile)
    await api.settings_flushed()
    log.info("web password of the %s role changed by the %s from %s", target, me,
             request.remote)
    if factory:
        guide.begin(api)         # the config guide comes next (ui/web/guide.py)
    # every other session of that role signed in with the old password
    auth.drop_sessions(target, keep=request.cookies.get(SESSION, ""))
    return target


def _signed_in_again(request: web.Request, resp: web.StreamResponse) -> None:
    """After a change of one's own password: signed in still, with a new session (token and
    CSRF) and device cookie. The old token goes: a session that could only change the
    factory password, or one seen before the change, never holds the new rights."""
    auth: Auth = request.app[AUTH]
    old = auth.sessions.pop(request.cookies.get(SESSION, ""), None)
    if old is not None:
        auth.signed_in(resp, *auth.new_session(old.role))


@routes.post("/api/password")
@for_user
async def password(request):
    """{"old", "new"[, "user": a new login name][, "role": "user" (the administrator sets
    the user's password; "old" is the administrator's)]}."""
    body = await json_body(request, '{"old": "root", "new": "a better one"}')
    old, new, name = body.get("old"), body.get("new"), body.get("user")
    target = body.get("role", role_of(request))
    if not isinstance(old, str) or not isinstance(new, str) or \
            not isinstance(name, (str, type(None))):
        return error(400, 'give "old" and "new" passwords (and "user" for a new name)')
    try:
        changed = await change_password(request, old=old, new=new, name=name, target=target)
    except Refused as r:
        return r.response()
    except PasswordRefused as e:
        return error(e.status, e.message, field=e.field)
    resp = web.json_response({"ok": True, "role": changed})
    if changed == role_of(request):
        _signed_in_again(request, resp)
    return resp


@routes.get("/password")
@for_user
async def password_page(request):
    return _password_form(request)


@routes.post("/password")
@for_user
async def password_form(request):
    """The Password page's forms (no script needed): "self" changes one's own password,
    "user" (the administrator) sets the user's."""
    form = await request.post()
    who = str(form.get("who", "self"))
    p = "u_" if who == "user" else ""
    get = lambda k: str(form.get(p + k, ""))      # noqa: E731
    me = role_of(request)
    target = USER if who == "user" else me
    if get("new") != get("again"):
        return _password_form(request, who, {"again": "the two new passwords differ"}, form,
                              status=400)
    try:
        await change_password(request, old=get("old"), new=get("new"),
                              name=get("user") or None, target=target)
    except Refused as r:
        return _password_form(request, who, {"old": r.message}, form, status=r.status)
    except PasswordRefused as e:
        return _password_form(request, who, {e.field: e.message}, form, status=e.status)
    if target != me:
        raise web.HTTPSeeOther("/password?done=user")
    resp = web.HTTPSeeOther(_home(request, me))
    _signed_in_again(request, resp)
    raise resp


def _password_form(request: web.Request, who: str = "", problems: dict | None = None,
                   form=None, *, status: int = 200) -> web.Response:
    """The Password page: one's own password (Username, Old, New, Confirm) and, for the
    administrator, the user's (manual §7: Administrator / User)."""
    api, auth = request.app[API], request.app[AUTH]
    me = role_of(request)
    w = api.web
    problems = problems or {}

    def fields(prefix: str, mine: bool, name: str) -> str:
        bad = problems if who == ("self" if mine else "user") else {}
        typed = (lambda k: str(form.get(prefix + k, ""))) if form is not None and bad \
            else (lambda k: "")
        pw = 'autocomplete="new-password" minlength="8" required'
        return "".join((
            form_field(prefix + "user", "Username", typed("user") or name,
                       problem=bad.get("user", ""), attrs='autocomplete="username" required'),
            # no password typed is ever sent back in a page (as the settings pages' secrets)
            form_field(prefix + "old", "Old Password" if mine else
                       "Your (administrator's) password", kind="password",
                       problem=bad.get("old", ""),
                       attrs='autocomplete="current-password" required'
                             + (" autofocus" if mine else "")),
            form_field(prefix + "new", "New Password", kind="password",
                       problem=bad.get("new", "") or bad.get("role", ""), attrs=pw),
            form_field(prefix + "again", "Confirm Password", kind="password",
                       problem=bad.get("again", ""), attrs=pw)))

    must = auth.must_change(me)
    why = ("Until the factory password is changed, nothing else works." if must and me == ADMIN
           else "The administrator set your password: choose your own before anything else."
           if must else "Change the password you sign in with.")
    said = "; ".join(problems.values())
    body = [f'<main class="box"><h1>Password</h1><p class="hint">{escape(why)} At least 8 '
            'characters; not the user name and not "root".</p>',
            f'<p id="failed" class="problem" role="alert">{escape(said)}</p>' if said else "",
            f'<form method="post" action="/password" id="change"><h2>'
            f'{"Administrator" if me == ADMIN else "User"}</h2>{csrf_field(request)}'
            '<input type="hidden" name="who" value="self">',
            fields("", True, account(w, me)[0]),
            '<button type="submit">Change the password</button></form>']
    if me == ADMIN and not must:
        state = ("the user cannot sign in until you set a password" if not w.user_password_hash
                 else "the user must change it at the next sign-in" if w.user_must_change
                 else "the user has chosen their own")
        done = request.query.get("done") == "user"
        open_lcd = ("" if request.app[API].lcd_locked else
                    '<p class="problem" id="lcd-open">The phone&#39;s Advanced setting '
                    "(accounts, network, load default settings) has no password yet: the "
                    "desk user reaches it at the phone and through the front panel. Set one "
                    'on <a href="/settings/phone">Advance &gt; Phone Setting</a> (Advanced '
                    "Password (LCD)).</p>")
        body += [f'<form method="post" action="/password" id="user"><h2>User</h2>'
                 f'<p class="hint">The desk user: forwarding, DND, ring, volumes, phone book, '
                 f'call settings. {escape(state.capitalize())}.</p>', open_lcd,
                 '<p class="ok" role="status">The user\'s password is set.</p>' if done else "",
                 csrf_field(request), '<input type="hidden" name="who" value="user">',
                 fields("u_", False, w.user_name),
                 '<button type="submit">Set the user\'s password</button></form>']
    body.append(('' if must else '<p><a href="/">Front panel</a></p>')
                + '<form method="post" action="/logout">' + csrf_field(request)
                + '<button type="submit" class="quiet">Log out</button></form></main>')
    resp = html_page("password", "\n".join(body), status=status)
    resp.headers["Cache-Control"] = "no-store"
    return resp
