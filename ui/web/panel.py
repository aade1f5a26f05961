"""The front panel: the page, the /ws stream of state and LCD frames, and the remote
control a person (or a script) works the phone with — keys, hook, dial, page, diagnose,
screen, LEDs, state; on the sim board, a tone for the microphone and a recording of what
is heard."""
from __future__ import annotations

import asyncio
import base64

from aiohttp import WSCloseCode, WSMsgType, web

from ui.web.auth import SESSION, Auth
from ui.web.common import API, AUTH, SOCKETS, STATIC, error, json_body

routes = web.RouteTableDef()
sim_routes = web.RouteTableDef()      # the sim board only


@routes.get("/")
async def index(request):
    return web.FileResponse(STATIC / "panel.html")


@routes.post("/api/keys")
async def keys(request):
    api = request.app[API]
    body = await json_body(request, '{"key": "5"}')
    key = body.get("key")
    action = body.get("action", "press")
    if not api.known_key(key):
        return error(400, f"unknown key {key!r}", keys=api.key_names)
    if action not in ("press", "down", "up"):
        return error(400, f"unknown action {action!r}: use press, down or up")
    api.press(key, action, source=str(body.get("source", "api"))[:8])
    return web.json_response({"ok": True})


@routes.post("/api/hook")
async def hook(request):
    body = await json_body(request, '{"offhook": true}')
    if not isinstance(body.get("offhook"), bool):
        return error(400, 'give "offhook": true (lift the handset) or false (replace it)')
    if not request.app[API].set_hook(body["offhook"]):
        return error(409, "this board has a real hook switch; use the speaker key "
                          "({\"key\": \"speaker\"}) to go off-hook remotely")
    return web.json_response({"ok": True})


@routes.post("/api/dial")
async def dial(request):
    body = await json_body(request, '{"number": "1002"}')
    number = body.get("number")
    line = body.get("line", 0)
    if not isinstance(number, str) or not number.strip() or len(number) > 256:
        return error(400, 'give "number": a number, an IP address or a sip: URI')
    if not isinstance(line, int) or not 0 <= line <= 3:
        return error(400, '"line" must be 1, 2 or 3')
    request.app[API].dial(number.strip(), line)
    return web.json_response({"ok": True})


@routes.post("/api/page")
async def page(request):
    api = request.app[API]
    body = await json_body(request, '{"number": "1002"} or {"multicast": "239.1.1.1:5000"}')
    number, group = body.get("number"), body.get("multicast")
    if isinstance(group, str):
        try:
            api.page_multicast(group)
        except ValueError as e:
            return error(400, str(e))
        return web.json_response({"ok": True})
    if not isinstance(number, str) or not number.strip() or len(number) > 256:
        return error(400, 'give "number" (an intercom call) or "multicast" '
                          '(address:port of a group)')
    api.page(number.strip(), bool(body.get("paging", False)))
    return web.json_response({"ok": True})


@routes.post("/api/diagnose")
async def diagnose(request):
    body = await json_body(request, '{"test": "lcd"}')
    test = body.get("test")
    if test not in ("keys", "lcd", "lights", "sound", ""):
        return error(400, 'give "test": keys, lcd, lights or sound ("" stops it)')
    request.app[API].run_diagnose(test)
    return web.json_response({"ok": True})


@routes.get("/api/screen.png")
async def screen_png(request):
    return web.Response(body=request.app[API].screen_png(), content_type="image/png",
                        headers={"Cache-Control": "no-store"})


@routes.get("/api/screen.txt")
async def screen_txt(request):
    return web.Response(text="\n".join(request.app[API].screen_lines()) + "\n",
                        headers={"Cache-Control": "no-store"})


@routes.get("/api/leds")
async def leds(request):
    return web.json_response(request.app[API].leds_json())


@routes.get("/api/state")
async def state(request):
    return web.json_response(request.app[API].state_json())


@routes.get("/ws")
async def ws(request):
    """State, LEDs and the LCD frame on every change, while the sign-in holds."""
    api = request.app[API]
    still_signed_in = _sign_in_watch(request)
    sock = web.WebSocketResponse(heartbeat=30)
    await sock.prepare(request)
    q = api.subscribe()
    sockets = request.app[SOCKETS]
    sockets.add(sock)
    reader: asyncio.Future | None = None
    try:
        await sock.send_json(_message(api, {"state": api.state_json(),
                                            "leds": api.leds_json()}))
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
                await sock.send_json(_message(api, getter.result()))
            else:
                getter.cancel()
            if reader in done:
                msg = reader.result()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                    break
                reader = asyncio.ensure_future(sock.receive())
    except ConnectionResetError:
        pass                   # the browser went away while we sent (a tab closed): done
    finally:
        if reader is not None:
            reader.cancel()
        sockets.discard(sock)
        api.unsubscribe(q)
    return sock


def _sign_in_watch(request: web.Request):
    """Whether the stream's sign-in still holds: sign-out and a password change end the
    stream too, not only new requests."""
    auth: Auth = request.app[AUTH]
    token = request.cookies.get(SESSION, "")
    by_cookie = token in auth.sessions
    w = request.app[API].web
    signed_as = (w.user, w.password_hash)

    def still_signed_in() -> bool:
        auth.credentials_from_disk()
        if by_cookie:
            return auth.live(token)
        return (w.user, w.password_hash) == signed_as
    return still_signed_in


def _message(api, msg: dict) -> dict:
    out = dict(msg)
    out["png"] = base64.b64encode(api.screen_png()).decode()
    out["lines"] = api.screen_lines()
    return out


async def close_sockets(wa: web.Application) -> None:
    """An open panel would otherwise hold the phone's shutdown for aiohttp's shutdown
    timeout (about a minute)."""
    for sock in list(wa[SOCKETS]):
        await sock.close(code=WSCloseCode.GOING_AWAY, message=b"phone stopping")


@sim_routes.post("/api/sim/mic")
async def sim_mic(request):
    body = await json_body(request, '{"tone": 1000}')
    tone = body.get("tone")
    if tone is not None and (not isinstance(tone, int) or not 50 <= tone <= 7000):
        return error(400, '"tone" must be a frequency 50-7000 Hz, or null')
    await request.app[API].sim_mic(tone)
    return web.json_response({"ok": True})


@sim_routes.get("/api/sim/listen")
async def sim_listen(request):
    try:
        seconds = float(request.query.get("seconds", "1"))
    except ValueError:
        return error(400, "seconds must be a number")
    if not 0.1 <= seconds <= 10:
        return error(400, "seconds must be 0.1-10")
    return web.Response(body=await request.app[API].sim_listen(seconds),
                        content_type="audio/wav")
