"""Management: the /manage page and what an administrator changes — settings, auto
provisioning, firmware upgrade, programmable keys, settings backup and restore, the call
log and the phone book."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from firmware.errors import SettingsInvalid
from firmware.api import CREDENTIALS, LOGS
from firmware.roles import USER, may_change
from ui.web.common import (API, STATIC, error, html_page, json_body, read_body, role_of,
                           settings_refused)

RESTORE_MAX = 1 << 20  # bytes of a settings backup

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()


@routes.get("/manage")
async def manage_page(request):
    return web.FileResponse(STATIC / "manage.html")


# -- settings ---------------------------------------------------------------------------------

@routes.get("/api/settings")
async def get_settings(request):
    doc = request.app[API].settings_json()
    if role_of(request) == USER:     # the user sees what they may change (firmware/roles.py)
        doc["settings"] = {k: v for k, v in doc["settings"].items() if may_change(USER, k)}
        # and only those settings' problems: a reason repeats the value the file holds
        doc["errors"] = [e for e in doc["errors"] if may_change(USER, e["key"])]
        doc["restart_pending"] = [k for k in doc.get("restart_pending", ())
                                  if may_change(USER, k)]
    return web.json_response(doc)


@routes.patch("/api/settings")
async def patch_settings(request):
    body = await json_body(request, '{"account.1.expires": 600}')
    if any(k in CREDENTIALS for k in body):
        return error(400, "the web user and password change only with the current "
                          'password: POST /api/password {"old": ..., "new": ..., '
                          '"user": ...}; nothing changed')
    try:
        changed, restart = request.app[API].update_settings(body)
    except SettingsInvalid as e:
        return settings_refused(e)
    # 200 means on disk: the writer thread's fsync is awaited, the loop draws keys meanwhile
    unsaved = await request.app[API].settings_flushed()
    if unsaved:
        return error(507, f"in use but not saved: settings.toml cannot be written "
                          f"({unsaved}); the next save tries again", changed=changed)
    return web.json_response({"changed": changed, "restart_needed": restart,
                              "restart_pending": request.app[API].pending_restart()})


@routes.post("/api/restart")
async def restart(request):
    """Restart the phone now, as the LCD's Reboot (MENU > System setting > Advanced
    setting > Reboot) does: what GET /api/settings lists under restart_pending applies
    then; calls end. The answer is sent before the phone stops: JSON, or for a web page's
    Restart button (a plain form post) a page saying where to go once it is back."""
    api = request.app[API]
    pending = api.pending_restart()
    if request.content_type == "application/x-www-form-urlencoded":
        resp = html_page("Restarting", '<main class="box"><h1>Restarting</h1><p>The phone '
                         'restarts now; it answers again in a few seconds: <a href="/settings">'
                         'back to the settings</a>.</p></main>', status=202)
    else:
        resp = web.json_response({"restarting": True, "restart_pending": pending}, status=202)
    await resp.prepare(request)
    await resp.write_eof()
    log.warning("restart requested from the web by %s (waiting for it: %s)", request.remote,
                ", ".join(pending) or "nothing")
    api.restart()
    return resp


@routes.get("/api/backup")
async def backup(request):
    fmt = request.query.get("format", "xml")
    secrets_too = request.query.get("secrets", "") in ("1", "true", "yes")
    made = request.app[API].backup(fmt, secrets=secrets_too)
    if made is None:
        return error(400, "format must be xml (Escene) or toml")
    data, name, ctype = made
    return web.Response(body=data, content_type=ctype, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


@routes.post("/api/restore")
async def restore(request):
    name = request.query.get("name", "backup")[:100]
    data = await read_body(request, RESTORE_MAX)
    if data is None:
        return error(413, f"a backup is at most {RESTORE_MAX // 1024} KiB")
    try:
        return web.json_response(restore_backup(request.app[API], data, name))
    except RestoreRefused as e:
        return web.json_response({"error": e.message, **e.details}, status=400)


class RestoreRefused(Exception):
    """A backup not applied (nothing changed): `message`, and `details` as the JSON reply
    lists them ("problems": the file's bad values, "errors": the settings refused)."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message, self.details = message, details


def restore_backup(api, data: bytes, name: str) -> dict:
    """Apply a backup file, all of it or nothing (POST /api/restore, the Configuration
    Backup page): what changed, what needs a restart, what the file had that is not used,
    the credentials kept. Raises RestoreRefused."""
    from provisioning import escene
    from provisioning.errors import ProvisionError
    try:
        parsed = escene.import_backup(data, name)
    except ProvisionError as e:
        raise RestoreRefused(f"{e}; nothing changed")
    if parsed.problems:
        raise RestoreRefused("the file has bad values; nothing changed",
                             problems=parsed.problems)
    try:
        changed, restart, kept = api.restore(parsed.values, parsed.kind)
    except SettingsInvalid as e:
        raise RestoreRefused(f"{e}; nothing changed", errors=[
            {"key": p.key, "reason": p.reason} for p in e.problems])
    out = {"changed": changed, "restart_needed": restart, "ignored": parsed.ignored}
    if kept:
        out["kept"] = kept
        out["note"] = ("the web user and password were kept as they are: a backup never "
                       "changes them; use POST /api/password (or the Password page)")
    return out


# -- provisioning and firmware ------------------------------------------------------------------

@routes.get("/api/provision")
async def provision_status(request):
    return web.json_response(request.app[API].provision_status())


@routes.post("/api/provision")
async def provision_now(request):
    api = request.app[API]
    api.provision_now()
    return web.json_response({"ok": True, "status": api.provision_status()}, status=202)


@routes.post("/api/firmware")
async def firmware(request):
    from provisioning.errors import ProvisionError
    api = request.app[API]
    if request.content_type == "application/json":
        body = await json_body(request, '{"url": "tftp://10.0.0.5/fw/S2_DP330_version1.2.0"}')
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            return error(400, 'give "url": the image on a TFTP/FTP/HTTP(S) server')
        job = dict(url=url.strip())
    else:
        name = Path(request.query.get("name", "") or "upload").name[:120]
        md5 = request.query.get("md5", "").strip().lower() or None
        from provisioning.image import MAX_IMAGE    # (cryptography loads only now)
        data = await read_body(request, MAX_IMAGE)
        if data is None:
            return error(413, f"an image is at most {MAX_IMAGE >> 20} MiB")
        job = dict(name=name, data=data, md5=md5)
    try:
        message = await (install_upload(api, **job) if "data" in job else api.upgrade(**job))
    except ProvisionError as e:
        return error(400, f"{e}; the phone keeps its firmware")
    return web.json_response({"ok": True, "message": message}, status=202)


async def install_upload(api, name: str, data: bytes, md5: str | None) -> str:
    """An uploaded image kept and installed (POST /api/firmware, the Firmware Upgrade page):
    what happened; raises ProvisionError (the upload is removed, the firmware stays)."""
    from provisioning.errors import ProvisionError
    path = api.upload_path(Path(name).name[:120] or "upload")
    await asyncio.to_thread(path.write_bytes, data)
    try:
        return await api.upgrade(path=path, md5=md5)
    except ProvisionError:
        path.unlink(missing_ok=True)
        raise


# -- programmable keys ---------------------------------------------------------------------------

@routes.get("/api/keys/layout")
async def key_layout(request):
    return web.json_response(request.app[API].key_layout())


@routes.put("/api/keys/layout")
async def put_key_layout(request):
    body = await json_body(request, '{"memory": [{"key": "p1", "type": "blf", '
                                    '"number": "1002", "label": "Bob"}]}')
    try:
        count, problems = request.app[API].set_key_layout(body)
    except OSError as e:
        return error(500, f"key layout not saved: {e}; the old keys stay")
    if problems:
        return error(400, "key layout not saved: " + "; ".join(problems[:10]),
                     problems=problems)
    return web.json_response({"ok": True, "keys": count})


@routes.get("/api/keys/state")
async def key_state(request):
    return web.json_response(request.app[API].key_state(
        stats=bool(request.query.get("stats"))))


# -- call log and phone book -----------------------------------------------------------------------

@routes.get("/api/calllog")
async def get_calllog(request):
    return web.json_response(request.app[API].calllog())


@routes.delete("/api/calllog")
async def clear_calllog(request):
    which = request.query.get("list", "")
    try:
        request.app[API].clear_calllog(which or None)
    except ValueError:
        return error(400, f"unknown list {which!r}: use missed, received or dialled "
                          "(or no list to clear them all)")
    return web.json_response({"ok": True})


@routes.get("/api/phonebook")
async def phonebook(request):
    return web.json_response(request.app[API].phonebook(request.query.get("q", "")))


# -- logs (manual §7 Phone Maintenance > Log) ----------------------------------------------------

LOG_CHUNK = 64 * 1024     # bytes read at a time: a log is streamed, never held whole


@routes.get("/api/logs")
async def logs_index(request):
    """What the Log page links to: each log, its files and size."""
    api = request.app[API]
    out = []
    for name in LOGS:
        files = api.log_files(name)
        out.append({"name": name, "url": f"/api/logs/{name}", "files": len(files),
                    "bytes": sum(_size(p) for p in files)})
    return web.json_response({"logs": out})


@routes.get("/api/logs/{name}")
async def download_log(request):
    """DIR/logs/phone.log or sip.log as one file to save (an attachment): the rotated
    files, oldest first, then the current one — up to log.keep + 1 files of log.max_kb."""
    name = request.match_info["name"]
    files = request.app[API].log_files(name)
    if files is None:
        return error(404, f"no log {name!r}: the logs are {', '.join(LOGS)}")
    if not files:
        return error(404, f"no {name} yet" + (": turn SIP Trace on (log.sip_trace, the Log "
                                              "page), make the call, then download it"
                                              if name == "sip.log" else ""))
    resp = web.StreamResponse(headers={
        "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{name}"'})
    await resp.prepare(request)
    for path in files:
        try:
            f = await asyncio.to_thread(open, path, "rb")
        except OSError:
            continue               # rotated away since it was listed
        try:
            while chunk := await asyncio.to_thread(f.read, LOG_CHUNK):
                await resp.write(chunk)
        finally:
            f.close()
    await resp.write_eof()
    return resp


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
