"""Web server: the front panel page, the remote control API (action URIs), login.

Everything except the login page and static files needs a login: HTTP Basic (API
clients, tests) or the session cookie the login form sets (the browser panel). The
password is checked against a salted PBKDF2 hash (settings web.password_hash; empty =
the factory password 'root', as in the manual). Repeated wrong passwords from one
address are slowed down.

API (JSON unless said otherwise):
  POST /api/keys      {"key": "5"} or {"key": "5", "action": "down"|"up"|"press"}
  POST /api/hook      {"offhook": true}
  POST /api/dial      {"number": "1002", "line": 1}
  POST /api/page      {"number": "1002"} an intercom call (answered by itself, README
                      "Paging and intercom"); {"multicast": "239.1.1.1:5000"} starts or
                      stops a multicast page of the microphone (like a Paging key)
  GET  /api/screen.png  /api/screen.txt  /api/leds  /api/state
  GET  /api/settings   PATCH /api/settings {"account.1.expires": 600, ...}
  POST /api/password  {"old": "...", "new": "..."}
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
  GET  /ws            pushes {"state": ..., "leds": ..., "png": base64} on every change
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
import json
import logging
import secrets
import tempfile
import time
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web

from firmware import calllog
from firmware.errors import SettingsInvalid
from firmware.keys import EXPANSION, KEYS
from firmware.settings import (FIELDS, factory_values, hash_password, public,
                               settings_file, verify_password)

log = logging.getLogger("deskphone.web")

STATIC = Path(__file__).parent / "static"
SESSION = "deskphone_session"
MAX_FAILS = 5          # wrong passwords per address before slowing down
FAIL_WINDOW = 60.0
RESTORE_MAX = 1 << 20  # bytes of a settings backup


class Auth:
    def __init__(self, app):
        self.app = app
        self.sessions: dict[str, float] = {}
        self.fails: dict[str, list[float]] = {}
        self._key = secrets.token_bytes(32)
        self._ok_cache: set[bytes] = set()   # verified (user, password, hash) digests

    def check(self, user: str, password: str) -> bool:
        w = self.app.settings.web
        tag = hmac.new(self._key, f"{user}\0{password}\0{w.password_hash}".encode(),
                       hashlib.sha256).digest()
        if tag in self._ok_cache:
            return True
        ok = hmac.compare_digest(user.encode(), w.user.encode()) and \
            verify_password(password, w.password_hash)
        if ok:
            self._ok_cache.add(tag)
        return ok

    def throttled(self, ip: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self.fails.get(ip, []) if now - t < FAIL_WINDOW]
        self.fails[ip] = recent
        return len(recent) >= MAX_FAILS

    def failed(self, ip: str) -> None:
        self.fails.setdefault(ip, []).append(time.monotonic())
        log.warning("wrong user name or password from %s", ip)

    def new_session(self) -> str:
        token = secrets.token_urlsafe(32)
        self.sessions[token] = time.monotonic()
        return token

    def user_of(self, request: web.Request) -> str | None:
        token = request.cookies.get(SESSION)
        if token and token in self.sessions:
            return self.app.settings.web.user
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if self.check(user, pw):
                return user
            self.failed(request.remote or "?")
        return None


def _error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def _auth_middleware(request: web.Request, handler):
    path = request.path
    if path in ("/login", "/favicon.ico") or path.startswith("/static/"):
        return await handler(request)
    auth: Auth = request.app["auth"]
    ip = request.remote or "?"
    if auth.throttled(ip):
        return _error(429, "too many wrong passwords: wait a minute and try again")
    if auth.user_of(request) is None:
        if path.startswith("/api/") or path == "/ws":
            # No Basic challenge for the panel's own scripts (fetch sends Sec-Fetch-Mode
            # other than "navigate"): the browser would pop up a password dialog instead of
            # the page sending the person to /login.
            script = request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate"
            return web.json_response(
                {"error": "login required: use HTTP Basic with the web user and password "
                          "(factory default root/root)"}, status=401,
                headers={} if script else {"WWW-Authenticate": 'Basic realm="deskphone"'})
        raise web.HTTPFound("/login")
    return await handler(request)


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
    wa = web.Application(middlewares=[_auth_middleware], client_max_size=256 * 1024)
    wa["auth"] = Auth(app)
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

    @routes.post("/login")
    async def login(request):
        auth: Auth = request.app["auth"]
        ip = request.remote or "?"
        if auth.throttled(ip):
            return _error(429, "too many wrong passwords: wait a minute and try again")
        form = await request.post()
        if auth.check(str(form.get("user", "")), str(form.get("password", ""))):
            resp = web.HTTPFound("/")
            resp.set_cookie(SESSION, auth.new_session(), httponly=True, samesite="Strict")
            return resp
        auth.failed(ip)
        raise web.HTTPFound("/login?failed=1")

    @routes.post("/logout")
    async def logout(request):
        request.app["auth"].sessions.pop(request.cookies.get(SESSION, ""), None)
        resp = web.HTTPFound("/login")
        resp.del_cookie(SESSION)
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
        if not values.get("web.password_hash"):
            values.pop("web.password_hash", None)     # never back to the factory password
        if parsed.kind == "toml":
            # settings.toml lists what differs from the factory: the rest goes back to it,
            # except secrets a backup without them leaves out
            values = {k: v for k, v in factory_values().items()
                      if not FIELDS[k].metadata["secret"]} | values
        try:
            changed, restart = app.update_settings(values)
        except SettingsInvalid as e:
            return web.json_response({"error": f"{e}; nothing changed", "errors": [
                {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)
        return web.json_response({"changed": changed, "restart_needed": restart,
                                  "ignored": parsed.ignored})

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
            data = await _body(request, LIMITS["image"])
            if data is None:
                return _error(413, f"an image is at most {LIMITS['image'] >> 20} MiB")
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
        from firmware.memkeys import check_layout
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
        if any(k.endswith("password_hash") for k in body):
            return _error(400, "set the web password with POST /api/password")
        try:
            changed, restart = app.update_settings(body)
        except SettingsInvalid as e:
            return web.json_response({"error": str(e), "errors": [
                {"key": p.key, "reason": p.reason} for p in e.problems]}, status=400)
        return web.json_response({"changed": changed, "restart_needed": restart})

    @routes.post("/api/password")
    async def password(request):
        body = await _json(request, '{"old": "root", "new": "a better one"}')
        old, new = body.get("old"), body.get("new")
        if not isinstance(old, str) or not isinstance(new, str):
            return _error(400, 'give "old" and "new" passwords')
        if not verify_password(old, app.settings.web.password_hash):
            request.app["auth"].failed(request.remote or "?")
            return _error(403, "the old password is wrong")
        if len(new) < 4:
            return _error(400, "the new password must have at least 4 characters")
        app.update_settings({"web.password_hash": hash_password(new)})
        request.app["auth"].sessions.clear()
        return web.json_response({"ok": True})

    sockets: set[web.WebSocketResponse] = set()

    async def close_sockets(_wa):
        # An open panel would otherwise hold the phone's shutdown for aiohttp's
        # shutdown timeout (about a minute).
        for sock in list(sockets):
            await sock.close(code=WSCloseCode.GOING_AWAY, message=b"phone stopping")

    wa.on_shutdown.append(close_sockets)

    @routes.get("/ws")
    async def ws(request):
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
    log.info("web page and API on http://%s/", listen)
    return runner
