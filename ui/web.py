"""Web server: the front panel page, the remote control API (action URIs), login.

Everything except the login page and static files needs a login: HTTP Basic (API
clients, tests) or the session cookie the login form sets (the browser panel). The
password is checked against a salted PBKDF2 hash (settings web.password_hash; empty =
the factory password 'root', as in the manual) in one worker thread, never on the event
loop. What a security reviewer asks of the sign-in (README "Security"):
- the factory password opens only the page that changes it (/password, POST
  /api/password); everything else answers 403 (API) or sends the browser there;
- credentials change only with the current password: POST /api/password, or
  `python -m firmware passwd` as the box's owner (read at the next sign-in check);
  PATCH /api/settings and restoring a backup never touch web.user / web.password_hash;
- wrong passwords are counted per source address, for the account and overall; past a
  free allowance every further failure doubles the wait (429 + Retry-After, capped). A
  signed-in session is never throttled, and a browser that signed in before (a device
  cookie) is exempt from the account and overall counts, so an attack from many
  addresses cannot lock the owner out;
- every state-changing request and the WebSocket must come from the phone's own origin
  (Origin, else Referer, else Sec-Fetch-Site), and cookie sessions must send the CSRF
  token of their session (X-CSRF-Token header, a `csrf` form field, or ?csrf= on /ws;
  the page reads it from the deskphone_csrf cookie). HTTP Basic clients (curl, scripts)
  need no token: a browser never sends Basic credentials cross-origin without an Origin;
- every answer carries CSP (no inline script, no framing), nosniff, Referrer-Policy and
  X-Frame-Options; the session cookie is HttpOnly and SameSite=Strict.

API (JSON unless said otherwise):
  POST /api/keys      {"key": "5"} or {"key": "5", "action": "down"|"up"|"press"}
  POST /api/hook      {"offhook": true}
  POST /api/dial      {"number": "1002", "line": 1}
  POST /api/page      {"number": "1002"} an intercom call (answered by itself, README
                      "Paging and intercom"); {"multicast": "239.1.1.1:5000"} starts or
                      stops a multicast page of the microphone (like a Paging key)
  GET  /api/screen.png  /api/screen.txt  /api/leds  /api/state
  GET  /api/settings   PATCH /api/settings {"account.1.expires": 600, ...}
  POST /api/password  {"old": "...", "new": "..."[, "user": "..."]} (>= 8 characters)
  POST /api/diagnose  {"test": "keys"|"lcd"|"lights"|"sound"|""}  (manual §6 Diagnose)
  GET  /api/calllog   {"missed": [...], "received": [...], "dialled": [...]}, newest first
  DELETE /api/calllog[?list=missed|received|dialled]  clear the call log (or one list)
  GET  /api/provision  auto provisioning status: last run with a result per file, next
                      run, progress, the log, firmware slots
  POST /api/provision  run auto provisioning now (202; watch GET /api/provision)
  GET  /api/backup?format=xml|toml[&secrets=1]  the settings as a file (Escene XML or
                      settings.toml; passwords only with secrets=1)
  POST /api/restore?name=FILE  body: such a file; all of it is applied or nothing
  POST /api/firmware?name=IMAGE[&md5=HEX]  body: a firmware image (S2_DP330_version...);
                      or JSON {"url": "tftp://host/dir/IMAGE"}: checked, installed into the
                      other slot, the phone restarts when idle (docs/upgrade.md)
  GET  /api/phonebook[?q=TEXT]  {"enterprise": [...], "personal": [...]} contacts
  GET  /api/keys/layout  programmable keys (from <account>_Extern.xml or PUT)
  PUT  /api/keys/layout  {"memory": [{"key": "p1", "type": "blf", "number": "1002",
                      "label": "Bob", "account": 1}]}  replaces the programmable keys
  GET  /api/keys/state   {"modules": [1], "keys": {"p1": {"lamp": "idle", "why": ...}}}
  GET  /ws[?csrf=TOKEN]  pushes {"state": ..., "leds": ..., "png": base64} on every change
  sim board only:
  POST /api/sim/mic   {"tone": 1000} or {"tone": null}: a tone stands in for a voice
  GET  /api/sim/listen?seconds=1  WAV of what the person hears
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import secrets
import sys
import tempfile
import time
import tomllib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from firmware.features import calllog
from firmware.errors import SettingError, SettingsInvalid
from firmware.keys import EXPANSION, KEYS
from firmware.settings import (FIELDS, atomic_write, check, factory_values, hash_password,
                               password_problem, public, settings_file, verify_password)

log = logging.getLogger("deskphone.web")

STATIC = Path(__file__).parent / "static"
SESSION = "deskphone_session"
CSRF_COOKIE = "deskphone_csrf"      # not HttpOnly: the page sends it back as X-CSRF-Token
DEVICE_COOKIE = "deskphone_device"  # a browser that signed in before (see Throttle)
CSRF_HEADER = "X-CSRF-Token"
RESTORE_MAX = 1 << 20  # bytes of a settings backup
CREDENTIALS = ("web.user", "web.password_hash")
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
MAX_SESSIONS = 64
DEVICE_AGE = 365 * 86400


class Refused(Exception):
    """A sign-in not checked at all: throttled (429) or the checker is busy (503)."""

    def __init__(self, status: int, message: str, retry_after: float):
        super().__init__(message)
        self.status, self.message = status, message
        self.retry_after = max(1, math.ceil(retry_after))

    def response(self) -> web.Response:
        return web.json_response({"error": self.message, "retry_after": self.retry_after},
                                 status=self.status,
                                 headers={"Retry-After": str(self.retry_after)})


class Throttle:
    """Failed sign-ins, counted per source address, for the account and overall.

    Each count has a free allowance within WINDOW; every failure past it makes that key
    wait BASE * 2^(failures - free) seconds, capped at CAP. The overall count is what
    stops an attacker with many addresses (100 addresses x 1 guess); the per-source count
    keeps one noisy address from using up the overall allowance alone.
    """
    FREE = {"source": 5, "account": 10, "overall": 20}
    WINDOW = 3600.0
    BASE = 5.0
    CAP = 900.0
    MAX_SOURCES = 4096

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.fails: dict[tuple[str, str], deque[float]] = {}
        self.until: dict[tuple[str, str], float] = {}

    @staticmethod
    def keys(source: str, account: str | None, *, known_device: bool) -> list[tuple[str, str]]:
        """The counts a sign-in from `source` answers to. A browser that signed in to this
        account before answers to its source's count only: a flood from elsewhere cannot
        keep the owner out."""
        keys = [("source", source)]
        if not known_device:
            keys += [("overall", "")] + ([("account", account)] if account else [])
        return keys

    def wait(self, keys: list[tuple[str, str]]) -> float:
        now = self.clock()
        return max((self.until.get(k, 0.0) - now for k in keys), default=0.0)

    def failed(self, keys: list[tuple[str, str]]) -> None:
        now = self.clock()
        for k in keys:
            times = self.fails.setdefault(k, deque())
            times.append(now)
            while times and now - times[0] > self.WINDOW:
                times.popleft()
            over = len(times) - self.FREE[k[0]]
            if over >= 0:
                self.until[k] = now + min(self.CAP, self.BASE * 2 ** min(over, 20))
        if len(self.fails) > self.MAX_SOURCES:
            self._forget(now)

    def succeeded(self, source: str) -> None:
        self.fails.pop(("source", source), None)
        self.until.pop(("source", source), None)

    def _forget(self, now: float) -> None:
        """Bounded memory under a flood of addresses: the quiet ones first, then the oldest."""
        for k in [k for k, t in self.fails.items()
                  if (not t or now - t[-1] > self.WINDOW) and self.until.get(k, 0) < now]:
            self.fails.pop(k)
            self.until.pop(k, None)
        for k in list(self.fails)[:max(0, len(self.fails) - self.MAX_SOURCES)]:
            if k[0] == "source":
                self.fails.pop(k)
                self.until.pop(k, None)


class Hasher:
    """PBKDF2 in one worker thread (hashlib lets go of the GIL), at most DEPTH sign-ins
    waiting: the event loop (web, LCD, calls) never hashes, and a flood of sign-ins is
    answered 503 at once instead of piling up work."""
    DEPTH = 4

    def __init__(self):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pbkdf2")
        self.pending = 0

    async def run(self, fn, *args):
        if self.pending >= self.DEPTH:
            raise Refused(503, "the phone is busy checking other sign-ins: try again in a "
                               "second", 1)
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            self.pending -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


@dataclasses.dataclass
class Session:
    csrf: str
    started: float


class Auth:
    def __init__(self, app):
        self.app = app
        self.sessions: dict[str, Session] = {}
        self.throttle = Throttle()
        self.hasher = Hasher()
        self._key = secrets.token_bytes(32)
        self._ok_cache: set[bytes] = set()   # verified (user, password, hash) digests
        self._device_key = _device_key(getattr(app, "data_dir", None))
        self._seen_file: tuple | None = None

    # -- credentials ----------------------------------------------------------------------

    def factory(self) -> bool:
        """Signed in with the factory password, which must be changed before anything else."""
        return not self.app.settings.web.password_hash

    def credentials_from_disk(self) -> None:
        """`python -m firmware passwd` writes settings.toml while the phone runs: take the
        web user and hash from it when the file changed (its stat), before checking a
        password. Only these two keys; the rest waits for a HUP or a restart as before."""
        path = self.app.store.path
        try:
            st = path.stat()
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._seen_file:
            return
        self._seen_file = seen
        try:
            if st.st_size > RESTORE_MAX:
                return
            text = path.read_text("utf-8")
            if not text.strip():
                return                # empty: not the factory password (the store warns)
            doc = tomllib.loads(text)
        except (OSError, ValueError, RecursionError):
            return                    # the store reports a broken file at its next load
        section = doc.get("web") if isinstance(doc.get("web"), dict) else {}
        w = self.app.settings.web
        factory = factory_values()
        for key in CREDENTIALS:
            name = key.split(".")[1]
            try:
                value = check(key, section.get(name, factory[key]))
            except SettingError as e:
                log.warning("settings.toml: %s; keeping the one in use", e)
                continue
            if value != getattr(w, name):
                setattr(w, name, value)
                self.sessions.clear()         # signed in with the old credentials
                log.info("%s changed in settings.toml: in use from now on; every web "
                         "session signs in again", key)

    async def check(self, request: web.Request, user: str, password: str) -> bool:
        """True for the right user and password. Raises Refused (nothing checked) while a
        count this sign-in answers to is waiting, or when the checker is busy."""
        self.credentials_from_disk()      # the middleware did too; /login comes here first
        w = self.app.settings.web
        source = request.remote or "?"
        keys = Throttle.keys(source, user if user == w.user else None,
                             known_device=self.known_device(request))
        wait = self.throttle.wait(keys)
        if wait > 0:
            raise Refused(429, f"too many wrong passwords: try again in {math.ceil(wait)} s "
                               "(a page that is signed in already keeps working)", wait)
        stored = w.password_hash
        tag = hmac.new(self._key, f"{user}\0{password}\0{stored}".encode(
            "utf-8", "surrogatepass"), hashlib.sha256).digest()
        if tag in self._ok_cache:
            return True
        right = await self.hasher.run(verify_password, password, stored)
        if right and hmac.compare_digest(user.encode("utf-8", "surrogatepass"),
                                         w.user.encode()):
            if len(self._ok_cache) > 32:
                self._ok_cache.clear()
            self._ok_cache.add(tag)
            self.throttle.succeeded(source)
            return True
        self.throttle.failed(Throttle.keys(source, user if user == w.user else None,
                                           known_device=False))
        log.warning("wrong user name or password from %s", source)
        return False

    # -- sessions, devices, CSRF ----------------------------------------------------------

    def new_session(self) -> tuple[str, Session]:
        while len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(secrets.token_urlsafe(32), time.monotonic())
        return token, self.sessions[token]

    def session(self, request: web.Request) -> Session | None:
        token = request.cookies.get(SESSION)
        return self.sessions.get(token) if token else None

    def signed_in(self, resp: web.StreamResponse, token: str, sess: Session) -> None:
        """The cookies of a new session: the session (HttpOnly), its CSRF token (for the
        page's script) and the device cookie that exempts this browser from the account
        and overall throttle later."""
        resp.set_cookie(SESSION, token, httponly=True, samesite="Strict", path="/")
        resp.set_cookie(CSRF_COOKIE, sess.csrf, samesite="Strict", path="/")
        resp.set_cookie(DEVICE_COOKIE, self._device_token(), httponly=True,
                        samesite="Strict", path="/", max_age=DEVICE_AGE)

    def _device_token(self) -> str:
        w = self.app.settings.web
        mac = hmac.new(self._device_key, f"device\0{w.user}\0{w.password_hash}".encode(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def known_device(self, request: web.Request) -> bool:
        """A browser that signed in with the current password before (a password change
        makes every device unknown again)."""
        given = request.cookies.get(DEVICE_COOKIE, "")
        return bool(given) and hmac.compare_digest(given.encode(),
                                                   self._device_token().encode())

    async def csrf_ok(self, request: web.Request, sess: Session) -> bool:
        given = request.headers.get(CSRF_HEADER) or request.query.get("csrf", "")
        if not given and request.content_type in ("application/x-www-form-urlencoded",
                                                  "multipart/form-data"):
            given = str((await request.post()).get("csrf", ""))
        return bool(given) and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                   sess.csrf.encode())


def _device_key(data_dir) -> bytes:
    """The key of the device cookies, kept in DIR/web.key (0600) so that a restart does
    not make the owner's browser a stranger; in memory only when it cannot be written."""
    if data_dir is None:
        return secrets.token_bytes(32)
    path = Path(data_dir) / "web.key"
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(32)
    try:
        atomic_write(path, key)
    except OSError as e:
        log.warning("cannot keep %s (%s): browsers are strangers again after a restart",
                    path, e)
    return key


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


def _error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


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
async def _guard(request: web.Request, handler):
    """Host, Origin, sign-in, CSRF and the factory password, in that order, before any
    handler."""
    path = request.path
    if not _host_ok(request.host):
        log.warning("refused %s %s for Host %r from %s", request.method, path,
                    request.host, request.remote)
        return _error(421, "use the phone's address (http://IP:PORT/): the page is not "
                           "served under other names")
    unsafe = request.method in UNSAFE or path == "/ws"
    if unsafe and not _same_origin(request):
        log.warning("refused %s %s from another site (Origin %r) from %s", request.method,
                    path, request.headers.get("Origin") or request.headers.get("Referer"),
                    request.remote)
        return _error(403, "refused: the request comes from another site; use the phone's "
                           "own page (or a script without a browser's Origin header)")
    if path in ("/login", "/favicon.ico") or path.startswith("/static/"):
        return await handler(request)
    auth: Auth = request.app["auth"]
    auth.credentials_from_disk()
    sess = auth.session(request)
    if sess is not None:
        if unsafe and not await auth.csrf_ok(request, sess):
            return _error(403, "missing or wrong CSRF token: reload the page (scripts: send "
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
                return _error(401, "wrong user name or password")
        except Refused as r:
            return r.response()
    if auth.factory() and (request.method, path) not in FACTORY_ONLY:
        if _browser_navigation(request):
            raise web.HTTPFound("/password")
        return _error(403, FACTORY_ERROR)
    return await handler(request)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def _json(request: web.Request, example: str) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps(
            {"error": f"body must be JSON like {example}"}), content_type="application/json")
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps(
            {"error": f"body must be a JSON object like {example}"}),
            content_type="application/json")
    return body


async def _body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` (not read further)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build(app) -> web.Application:
    """The aiohttp application for `app` (a firmware.app.App)."""
    wa = web.Application(middlewares=[_guard], client_max_size=256 * 1024)
    wa["auth"] = Auth(app)
    wa.on_response_prepare.append(_security_headers)

    async def stop_hasher(_wa):
        wa["auth"].hasher.close()
    wa.on_cleanup.append(stop_hasher)
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request):
        return web.FileResponse(STATIC / "panel.html")

    @routes.get("/manage")
    async def manage_page(request):
        return web.FileResponse(STATIC / "manage.html")

    @routes.get("/login")
    async def login_page(request):
        return web.FileResponse(STATIC / "login.html")

    @routes.get("/password")
    async def password_page(request):
        return web.FileResponse(STATIC / "password.html")

    @routes.post("/login")
    async def login(request):
        auth: Auth = request.app["auth"]
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
        request.app["auth"].sessions.pop(request.cookies.get(SESSION, ""), None)
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(SESSION, path="/")
        resp.del_cookie(CSRF_COOKIE, path="/")
        return resp

    @routes.post("/api/keys")
    async def keys(request):
        body = await _json(request, '{"key": "5"}')
        key = body.get("key")
        action = body.get("action", "press")
        if key not in KEYS and key not in EXPANSION:
            return _error(400, f"unknown key {key!r}", keys=list(KEYS))
        if action not in ("press", "down", "up"):
            return _error(400, f"unknown action {action!r}: use press, down or up")
        app.press(key, action, source=str(body.get("source", "api"))[:8])
        return web.json_response({"ok": True})

    @routes.post("/api/hook")
    async def hook(request):
        body = await _json(request, '{"offhook": true}')
        if not isinstance(body.get("offhook"), bool):
            return _error(400, 'give "offhook": true (lift the handset) or false (replace it)')
        if getattr(app.board.hook, "physical", True):
            return _error(409, "this board has a real hook switch; use the speaker key "
                               "({\"key\": \"speaker\"}) to go off-hook remotely")
        app.board.hook.set(body["offhook"])
        return web.json_response({"ok": True})

    @routes.post("/api/dial")
    async def dial(request):
        body = await _json(request, '{"number": "1002"}')
        number = body.get("number")
        line = body.get("line", 0)
        if not isinstance(number, str) or not number.strip() or len(number) > 256:
            return _error(400, 'give "number": a number, an IP address or a sip: URI')
        if not isinstance(line, int) or not 0 <= line <= 3:
            return _error(400, '"line" must be 1, 2 or 3')
        app.dial(number.strip(), line)
        return web.json_response({"ok": True})

    @routes.post("/api/page")
    async def page(request):
        from firmware.events import IntercomRequested, MulticastPageRequested
        from firmware.settings import _multicast_group
        body = await _json(request, '{"number": "1002"} or {"multicast": "239.1.1.1:5000"}')
        number, group = body.get("number"), body.get("multicast")
        if isinstance(group, str):
            try:
                _multicast_group(group)
            except ValueError as e:
                return _error(400, str(e))
            app.bus.post_threadsafe(MulticastPageRequested(group))
            return web.json_response({"ok": True})
        if not isinstance(number, str) or not number.strip() or len(number) > 256:
            return _error(400, 'give "number" (an intercom call) or "multicast" '
                               '(address:port of a group)')
        app.bus.post_threadsafe(IntercomRequested(number.strip(), 0,
                                                  bool(body.get("paging", False))))
        return web.json_response({"ok": True})

    @routes.post("/api/diagnose")
    async def diagnose(request):
        body = await _json(request, '{"test": "lcd"}')
        test = body.get("test")
        if test not in ("keys", "lcd", "lights", "sound", ""):
            return _error(400, 'give "test": keys, lcd, lights or sound ("" stops it)')
        app.run_diagnose(test)
        return web.json_response({"ok": True})

    @routes.get("/api/calllog")
    async def get_calllog(request):
        return web.json_response(app.calllog.document())

    @routes.delete("/api/calllog")
    async def clear_calllog(request):
        which = request.query.get("list", "")
        if which and which not in calllog.LISTS:
            return _error(400, f"unknown list {which!r}: use missed, received or dialled "
                               "(or no list to clear them all)")
        app.calllog.clear(which or None)
        app.present()
        return web.json_response({"ok": True})

    @routes.get("/api/provision")
    async def provision_status(request):
        return web.json_response(app.provisioner.status())

    @routes.post("/api/provision")
    async def provision_now(request):
        app.provision_now()
        return web.json_response({"ok": True, "status": app.provisioner.status()},
                                 status=202)

    @routes.get("/api/backup")
    async def backup(request):
        fmt = request.query.get("format", "xml")
        secrets_too = request.query.get("secrets", "") in ("1", "true", "yes")
        stamp = time.strftime("%Y%m%d")
        if fmt == "xml":
            from provisioning import escene
            data = escene.export_config(app.settings, include_secrets=secrets_too)
            name, ctype = f"{app.mac.replace(':', '')}-{stamp}.xml", "application/xml"
        elif fmt == "toml":
            data = settings_file(app.settings, include_secrets=secrets_too)
            name, ctype = f"settings-{stamp}.toml", "application/toml"
        else:
            return _error(400, "format must be xml (Escene) or toml")
        return web.Response(body=data, content_type=ctype, headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store"})

    @routes.post("/api/restore")
    async def restore(request):
        from provisioning import escene
        from provisioning.errors import ProvisionError
        name = request.query.get("name", "backup")[:100]
        data = await _body(request, RESTORE_MAX)
        if data is None:
            return _error(413, f"a backup is at most {RESTORE_MAX // 1024} KiB")
        try:
            parsed = escene.import_backup(data, name)
        except ProvisionError as e:
            return _error(400, f"{e}; nothing changed")
        if parsed.problems:
            return _error(400, "the file has bad values; nothing changed",
                          problems=parsed.problems)
        values = dict(parsed.values)
        if parsed.kind == "toml":
            # settings.toml lists what differs from the factory: the rest goes back to it,
            # except secrets a backup without them leaves out
            values = {k: v for k, v in factory_values().items()
                      if not FIELDS[k].metadata["secret"]} | values
        # A backup never changes who may sign in: that takes the current password
        # (POST /api/password), and a file is no proof of knowing it.
        kept = [k for k in CREDENTIALS if k in parsed.values]
        for k in CREDENTIALS:
            values.pop(k, None)
        try:
            changed, restart = app.update_settings(values)
        except SettingsInvalid as e:
            return web.json_response({"error": f"{e}; nothing changed", "errors": [
                {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)
        out = {"changed": changed, "restart_needed": restart, "ignored": parsed.ignored}
        if kept:
            out["kept"] = kept
            out["note"] = ("the web user and password were kept as they are: a backup never "
                           "changes them; use POST /api/password (or the Password page)")
        return web.json_response(out)

    @routes.post("/api/firmware")
    async def firmware(request):
        from provisioning.engine import LIMITS
        from provisioning.errors import ProvisionError
        if request.content_type == "application/json":
            body = await _json(request, '{"url": "tftp://10.0.0.5/fw/S2_DP330_version1.2.0"}')
            url = body.get("url")
            if not isinstance(url, str) or not url.strip():
                return _error(400, 'give "url": the image on a TFTP/FTP/HTTP(S) server')
            job = dict(url=url.strip())
        else:
            name = Path(request.query.get("name", "") or "upload").name[:120]
            md5 = request.query.get("md5", "").strip().lower() or None
            from provisioning.image import MAX_IMAGE    # (cryptography loads only now)
            data = await _body(request, MAX_IMAGE)
            if data is None:
                return _error(413, f"an image is at most {MAX_IMAGE >> 20} MiB")
            up = app.data_dir / "provisioning" / "upload"
            up.mkdir(parents=True, exist_ok=True)
            path = up / name
            await asyncio.to_thread(path.write_bytes, data)
            job = dict(path=path, md5=md5)
        try:
            message = await app.provisioner.upgrade(**job)
        except ProvisionError as e:
            if "path" in job:
                job["path"].unlink(missing_ok=True)
            return _error(400, f"{e}; the phone keeps its firmware")
        return web.json_response({"ok": True, "message": message}, status=202)

    @routes.get("/api/phonebook")
    async def phonebook(request):
        from provisioning.phonebook import Phonebook
        q = request.query.get("q", "")
        out = {}
        for which in ("enterprise", "personal"):
            path = app.data_dir / "phonebook" / f"{which}.json"
            try:
                book = Phonebook.load(path)
            except (OSError, ValueError, TypeError):
                out[which] = []
                continue
            contacts = book.search(q) if q else book.entries
            out[which] = [dataclasses.asdict(c) for c in contacts]
        return web.json_response(out)

    @routes.get("/api/keys/layout")
    async def key_layout(request):
        from provisioning.keys import KeyLayout
        try:
            return web.json_response(KeyLayout.load(app.data_dir / "keys.json").to_json())
        except (OSError, ValueError, TypeError):
            return web.json_response({"memory": [], "program": []})

    @routes.put("/api/keys/layout")
    async def put_key_layout(request):
        from firmware.features.memkeys import check_layout
        body = await _json(request, '{"memory": [{"key": "p1", "type": "blf", '
                                    '"number": "1002", "label": "Bob"}]}')
        layout, problems = check_layout(body)
        if problems:
            return _error(400, "key layout not saved: " + "; ".join(problems[:10]),
                          problems=problems)
        try:
            app.set_key_layout(layout)
        except OSError as e:
            return _error(500, f"key layout not saved: {e}; the old keys stay")
        return web.json_response({"ok": True, "keys": len(layout.memory)})

    @routes.get("/api/keys/state")
    async def key_state(request):
        out = {"modules": app.memkeys.modules(), "keys": app.memkeys.describe()}
        if request.query.get("stats"):        # make bench: NOTIFY -> lamp, in the phone
            blf = app.memkeys.blf
            out["stats"] = {"notifies": blf.notifies,
                            "latency_ms": [round(x * 1000, 3) for x in blf.latencies]}
        return web.json_response(out)

    @routes.get("/api/screen.png")
    async def screen_png(request):
        return web.Response(body=app.frame.png(), content_type="image/png",
                            headers={"Cache-Control": "no-store"})

    @routes.get("/api/screen.txt")
    async def screen_txt(request):
        return web.Response(text="\n".join(app.frame.lines) + "\n",
                            headers={"Cache-Control": "no-store"})

    @routes.get("/api/leds")
    async def leds(request):
        return web.json_response(app.leds_json())

    @routes.get("/api/state")
    async def state(request):
        return web.json_response(app.state_json())

    @routes.get("/api/settings")
    async def get_settings(request):
        return web.json_response({"settings": public(app.settings),
                                  "errors": [{"key": p.key, "reason": p.reason}
                                             for p in app.store.problems]})

    @routes.patch("/api/settings")
    async def patch_settings(request):
        body = await _json(request, '{"account.1.expires": 600}')
        if any(k in CREDENTIALS for k in body):
            return _error(400, "the web user and password change only with the current "
                               'password: POST /api/password {"old": ..., "new": ..., '
                               '"user": ...}; nothing changed')
        try:
            changed, restart = app.update_settings(body)
        except SettingsInvalid as e:
            return web.json_response({"error": str(e), "errors": [
                {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)
        return web.json_response({"changed": changed, "restart_needed": restart})

    @routes.post("/api/password")
    async def password(request):
        auth: Auth = request.app["auth"]
        body = await _json(request, '{"old": "root", "new": "a better one"}')
        old, new = body.get("old"), body.get("new")
        user = body.get("user", app.settings.web.user)
        if not isinstance(old, str) or not isinstance(new, str) or not isinstance(user, str):
            return _error(400, 'give "old" and "new" passwords (and "user" for a new name)')
        problem = password_problem(new, user) or (
            "the new password must differ from the old one" if new == old else None)
        if problem:
            return _error(400, f"{problem}; nothing changed")
        try:
            right = await auth.check(request, app.settings.web.user, old)
        except Refused as r:
            return r.response()
        if not right:
            return _error(403, "the old password is wrong; nothing changed")
        try:
            digest = await auth.hasher.run(hash_password, new)
            app.update_settings({"web.user": user, "web.password_hash": digest})
        except Refused as r:
            return r.response()
        except SettingsInvalid as e:
            return web.json_response({"error": f"{e}; nothing changed", "errors": [
                {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)
        log.info("web password changed from %s", request.remote)
        # every other session signed in with the old password; this one just proved it
        mine = request.cookies.get(SESSION, "")
        auth.sessions = {t: s for t, s in auth.sessions.items() if t == mine}
        resp = web.json_response({"ok": True})
        if mine in auth.sessions:
            auth.signed_in(resp, mine, auth.sessions[mine])   # a new device cookie
        return resp

    sockets: set[web.WebSocketResponse] = set()

    async def close_sockets(_wa):
        # An open panel would otherwise hold the phone's shutdown for aiohttp's
        # shutdown timeout (about a minute).
        for sock in list(sockets):
            await sock.close(code=WSCloseCode.GOING_AWAY, message=b"phone stopping")

    wa.on_shutdown.append(close_sockets)

    @routes.get("/ws")
    async def ws(request):
        auth: Auth = request.app["auth"]
        token = request.cookies.get(SESSION, "")
        by_cookie = token in auth.sessions
        w = app.settings.web
        signed_as = (w.user, w.password_hash)

        def still_signed_in() -> bool:
            """Sign-out and a password change end the stream too, not only new requests."""
            auth.credentials_from_disk()
            if by_cookie:
                return token in auth.sessions
            return (w.user, w.password_hash) == signed_as

        sock = web.WebSocketResponse(heartbeat=30)
        await sock.prepare(request)
        q = app.subscribe()
        sockets.add(sock)
        try:
            await sock.send_json(_message(app, {"state": app.state_json(),
                                                "leds": app.leds_json()}))
            reader = asyncio.ensure_future(sock.receive())
            while not sock.closed:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    if not still_signed_in():
                        await sock.close(code=WSCloseCode.POLICY_VIOLATION,
                                         message=b"signed out")
                        break
                    await sock.send_json(_message(app, getter.result()))
                else:
                    getter.cancel()
                if reader in done:
                    msg = reader.result()
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                    WSMsgType.ERROR):
                        break
                    reader = asyncio.ensure_future(sock.receive())
            reader.cancel()
        finally:
            sockets.discard(sock)
            app.unsubscribe(q)
        return sock

    if app.board.simulated:
        @routes.post("/api/sim/mic")
        async def sim_mic(request):
            body = await _json(request, '{"tone": 1000}')
            tone = body.get("tone")
            if tone is not None and (not isinstance(tone, int) or not 50 <= tone <= 7000):
                return _error(400, '"tone" must be a frequency 50-7000 Hz, or null')
            await asyncio.wrap_future(app.sip.sim_mic(tone))
            return web.json_response({"ok": True})

        @routes.get("/api/sim/listen")
        async def sim_listen(request):
            try:
                seconds = float(request.query.get("seconds", "1"))
            except ValueError:
                return _error(400, "seconds must be a number")
            if not 0.1 <= seconds <= 10:
                return _error(400, "seconds must be 0.1-10")
            with tempfile.TemporaryDirectory() as d:
                path = str(Path(d) / "listen.wav")
                handle = await asyncio.wrap_future(app.sip.record_start(path))
                await asyncio.sleep(seconds)
                await asyncio.wrap_future(app.sip.record_stop(handle))
                data = _wav_sizes(Path(path).read_bytes())
            return web.Response(body=data, content_type="audio/wav")

    wa.add_routes(routes)
    wa.router.add_static("/static/", STATIC)
    return wa


def _wav_sizes(data: bytes) -> bytes:
    """pjmedia writes the RIFF/data sizes when the writer is destroyed, which may not have
    happened yet: fill them in from the file length (44-byte PCM header)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[36:40] != b"data":
        return data
    n = len(data) - 44
    return (data[:4] + (n + 36).to_bytes(4, "little") + data[8:40] + n.to_bytes(4, "little")
            + data[44:])


def _message(app, msg: dict) -> dict:
    out = dict(msg)
    out["png"] = base64.b64encode(app.frame.png()).decode() if app.frame else ""
    out["lines"] = app.frame.lines if app.frame else []
    return out


async def start(app, listen: str) -> web.AppRunner:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(build(app), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), reuse_address=True)
    await site.start()
    w = app.settings.web
    line = (f"web page and API on http://{listen}/ (sign in as {w.user}"
            + (" with the factory password 'root': it must be changed at the first sign-in)"
               if not w.password_hash else ")"))
    log.info("%s", line)
    if getattr(app, "console_log", False):
        print(f"deskphone: {line}", file=sys.stderr, flush=True)   # what `make run` shows
    return runner
