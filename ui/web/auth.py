"""Who is signed in, and as which role: sessions (each with its role and CSRF token), the
two accounts (the administrator: web.user / web.password_hash; the user: web.user_name /
web.user_password_hash, off while that is empty), the throttle on wrong passwords and the
worker thread that checks them (the rules: ui/web/__init__.py and README "Security"; what
each role may do: firmware/roles.py)."""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from firmware.roles import ADMIN, USER
from firmware.settings import atomic_write, verify_password

log = logging.getLogger("deskphone.web")

SESSION = "deskphone_session"
CSRF_COOKIE = "deskphone_csrf"      # not HttpOnly: the page sends it back as X-CSRF-Token
DEVICE_COOKIE = "deskphone_device"  # a browser that signed in before (see Throttle)
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSIONS = 64
SESSION_IDLE = 8 * 3600             # a sign-in unused this long ends (a working day)
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
    role: str = ADMIN
    seen: float = 0.0               # monotonic time of its last request (SESSION_IDLE)

    def __post_init__(self):
        self.seen = self.seen or self.started


def account(w, role: str) -> tuple[str, str]:
    """(login name, stored hash) of a role's account in the web.* settings `w`."""
    return (w.user, w.password_hash) if role == ADMIN else (w.user_name, w.user_password_hash)


def role_named(w, user: str) -> str | None:
    """The role whose login name is `user`; the user role only while it has a password."""
    if user == w.user:
        return ADMIN
    if w.user_password_hash and user == w.user_name:
        return USER
    return None


class Auth:
    def __init__(self, api):
        self.api = api              # firmware.api.Api
        self.sessions: dict[str, Session] = {}
        self.throttle = Throttle()
        self.hasher = Hasher()
        self._key = secrets.token_bytes(32)
        self._ok_cache: set[bytes] = set()   # verified (user, password, hash) digests
        self._device_key = _device_key(api.data_dir)

    # -- credentials ----------------------------------------------------------------------

    def must_change(self, role: str) -> bool:
        """The role's password must be changed before anything else: the administrator's
        factory password, or a user password the administrator set."""
        w = self.api.web
        return not w.password_hash if role == ADMIN else bool(w.user_must_change)

    def drop_sessions(self, role: str, keep: str = "") -> None:
        """Sign out every session of `role` but `keep` (after its password changed)."""
        self.sessions = {t: s for t, s in self.sessions.items()
                         if s.role != role or t == keep}

    def credentials_from_disk(self) -> None:
        """`python -m firmware passwd` may have changed the web user or password while the
        phone runs: in use before any password is checked, and every session signed in
        with the old ones signs in again."""
        if self.api.credentials_from_disk():
            self.sessions.clear()

    async def check(self, request: web.Request, user: str, password: str) -> str | None:
        """The role of the right user name and password, None for a wrong one. Raises
        Refused (nothing checked) while a count this sign-in answers to is waiting, or when
        the checker is busy."""
        self.credentials_from_disk()      # the middleware did too; /login comes here first
        w = self.api.web
        source = request.remote or "?"
        role = role_named(w, user)
        keys = Throttle.keys(source, user if role else None,
                             known_device=role is not None and self.known_device(request, role))
        wait = self.throttle.wait(keys)
        if wait > 0:
            raise Refused(429, f"too many wrong passwords: try again in {math.ceil(wait)} s "
                               "(a page that is signed in already keeps working)", wait)
        name, stored = account(w, role or ADMIN)   # an unknown name costs the same check
        tag = hmac.new(self._key, f"{user}\0{password}\0{stored}".encode(
            "utf-8", "surrogatepass"), hashlib.sha256).digest()
        if role and tag in self._ok_cache:
            return role
        right = await self.hasher.run(verify_password, password, stored)
        if right and role and hmac.compare_digest(user.encode("utf-8", "surrogatepass"),
                                                  name.encode()):
            if len(self._ok_cache) > 32:
                self._ok_cache.clear()
            self._ok_cache.add(tag)
            self.throttle.succeeded(source)
            return role
        self.throttle.failed(Throttle.keys(source, user if role else None,
                                           known_device=False))
        log.warning("wrong user name or password from %s", source)
        return None

    # -- sessions, devices, CSRF ----------------------------------------------------------

    def new_session(self, role: str = ADMIN) -> tuple[str, Session]:
        while len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))
        token = secrets.token_urlsafe(32)
        self.sessions[token] = Session(secrets.token_urlsafe(32), time.monotonic(), role)
        return token, self.sessions[token]

    def session(self, request: web.Request) -> Session | None:
        """The request's session, if it holds: one unused for SESSION_IDLE has ended (a
        browser left signed in on a shared desk does not stay an open door)."""
        token = request.cookies.get(SESSION)
        if not self.live(token or ""):
            return None
        sess = self.sessions[token]
        sess.seen = time.monotonic()
        return sess

    def live(self, token: str) -> bool:
        """Whether the session `token` still holds (the front panel's stream asks before
        every frame; only a request counts as use)."""
        sess = self.sessions.get(token)
        if sess is not None and time.monotonic() - sess.seen > SESSION_IDLE:
            del self.sessions[token]
            log.info("a %s session ended after %d hours unused", sess.role,
                     SESSION_IDLE // 3600)
            return False
        return sess is not None

    def signed_in(self, resp: web.StreamResponse, token: str, sess: Session) -> None:
        """The cookies of a new session: the session (HttpOnly), its CSRF token (for the
        page's script) and the device cookie that exempts this browser from the account
        and overall throttle later."""
        resp.set_cookie(SESSION, token, httponly=True, samesite="Strict", path="/")
        resp.set_cookie(CSRF_COOKIE, sess.csrf, samesite="Strict", path="/")
        resp.set_cookie(DEVICE_COOKIE, self._device_token(sess.role), httponly=True,
                        samesite="Strict", path="/", max_age=DEVICE_AGE)

    def _device_token(self, role: str) -> str:
        name, stored = account(self.api.web, role)
        mac = hmac.new(self._device_key, f"device\0{role}\0{name}\0{stored}".encode(),
                       hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def known_device(self, request: web.Request, role: str) -> bool:
        """A browser that signed in to `role`'s account with its current password before (a
        password change makes every device unknown again)."""
        given = request.cookies.get(DEVICE_COOKIE, "")
        return bool(given) and hmac.compare_digest(given.encode(),
                                                   self._device_token(role).encode())

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


