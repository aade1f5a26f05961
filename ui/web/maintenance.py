"""Phone Maintenance pages of the manual's §7 that are more than a form of settings, as plain
HTML that works without JavaScript (the administrator's: no @for_user):

- Auto Provision: its settings are the model's page /settings/provision (firmware/menus.py
  WEB); this module adds above the form "Auto Provision Now" (POST /maintenance/provision,
  Api.provision_now as POST /api/provision) and the last run's result, file by file;
- Firmware Upgrade (/maintenance/firmware): an image uploaded in a multipart form, or a URL,
  installed by ui/web/manage.py's install_upload / Api.upgrade, the functions of POST
  /api/firmware; the result is a page;
- Configuration Backup (/maintenance/backup): the download is GET /api/backup (a plain GET
  form); a restore is a file uploaded here, applied by manage.restore_backup, POST
  /api/restore's function (all or nothing), its result a page;
- the manual's HTTPUpgrade page also has "Phone Book: upload/download": its forms are below
  Firmware Upgrade's, made and answered by ui/web/bookfiles.py (`section`).
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from ui.web import forms, manage, pages
from ui.web.common import API
from ui.web.html import csrf_field, esc, notice, restart_form

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

FIRMWARE, BACKUP = "/maintenance/firmware", "/maintenance/backup"
LOG_LINES = 20           # of the provisioning log, under the last result
RESULT = {"ok": "OK", "nothing": "No files", "failed": "Failed", "skipped": "Skipped",
          "running": "Running"}


def _respond(request, title: str, body: str, status: int = 200) -> web.Response:
    """A page in the settings pages' frame and page list."""
    return pages._respond(request, "", title, body, pages.role_of(request), status=status)


def _form(action: str, inner: str, button: str, request, *, files: bool = False) -> str:
    """A form posting to `action`. A file form (multipart) gives the session's CSRF token
    in its URL (?csrf=, as /ws does): a token in the body would make the sign-in guard
    read the whole body for it (auth.csrf_ok), an image included."""
    token = pages._csrf(request)
    if files:
        action += f"?{urlencode({'csrf': token})}" if token else ""
        return (f'<form method="post" action="{esc(action)}" class="settings" '
                f'enctype="multipart/form-data">{inner}<div class="actions">'
                f'<button type="submit">{esc(button)}</button></div></form>')
    return (f'<form method="post" action="{action}" class="settings">'
            f'{csrf_field(token)}{inner}<div class="actions">'
            f'<button type="submit">{esc(button)}</button></div></form>')


async def _upload(request, limit: int) -> tuple[dict[str, str], str, bytes | None]:
    """A multipart form's text fields, its file's name and its bytes (None: more than
    `limit`, not read further; b"" when no file was chosen). Read part by part: a file is
    never held twice and the application's small body limit does not apply."""
    fields, name, data = {}, "", b""
    try:
        reader = await request.multipart()
        part = await reader.next()
    except (ValueError, KeyError, AssertionError):  # the guard read it (csrf) or no form
        try:
            form = await request.post()
        except ValueError:
            return fields, name, data
        for key, value in form.items():
            if isinstance(value, web.FileField):
                name, data = value.filename, value.file.read()
            else:
                fields[key] = value
        return fields, name, data
    while part is not None:
        if part.filename is None:
            fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
        else:
            name, chunks, size = part.filename, [], 0
            while chunk := await part.read_chunk():
                size += len(chunk)
                if size > limit:
                    return fields, name, None
                chunks.append(chunk)
            data = b"".join(chunks)
        part = await reader.next()
    return fields, name, data


def _fields(**named) -> str:
    """Labelled inputs: name=(label, input HTML, help)."""
    return "".join(forms.field(n, label, control, help=help)
                   for n, (label, control, help) in named.items())


# -- Auto Provision ------------------------------------------------------------------------------

def provision_panel(request) -> str:
    """Above the Auto Provision form: Auto Provision Now, then the last run file by file,
    the next run and the log's last lines (GET /api/provision's facts)."""
    st = request.app[API].provision_status()
    out = []
    if "now" in request.query:
        out.append(notice("Auto provisioning started; Refresh shows how it went."))
    # a form of its own: what is typed below and not saved is not sent (nor kept)
    out.append(_form("/maintenance/provision", '<p class="help">Checks the server with the '
                     'saved settings: Save changes below first.</p>', "Auto Provision Now",
                     request))
    if st.get("running"):
        out.append(notice(f"Running: {st.get('progress') or 'starting'}"))
    last = st.get("last")
    if last:
        files = "".join(f"<tr><td>{esc(f['name'])}</td><td>{esc(f['status'])}</td>"
                        f"<td>{esc(f['detail'])}</td></tr>" for f in last.get("files", []))
        out.append(f'<section class="status provision-last"><h2>Last result</h2>'
                   f'<p class="result" data-result="{esc(last["result"])}">'
                   f'{esc(last["started"].replace("T", " "))} ({esc(last["trigger"])}): '
                   f'<strong>{esc(RESULT.get(last["result"], last["result"]))}</strong> — '
                   f'{esc(last["summary"])}</p>'
                   + (f'<table><thead><tr><th scope="col">File</th><th scope="col">Result'
                      f'</th><th scope="col">Detail</th></tr></thead><tbody>{files}</tbody>'
                      '</table>' if files else "") + "</section>")
    else:
        out.append('<section class="status provision-last"><h2>Last result</h2>'
                   '<p class="result">Never run yet.</p></section>')
    out.append(f'<p>Next: {esc(st.get("next_text", ""))} · MAC {esc(st.get("mac", ""))} · '
               '<a href="/settings/provision">Refresh</a></p>')
    if st.get("log"):
        out.append(f'<details><summary>Log</summary><pre>'
                   f'{esc(chr(10).join(st["log"][-LOG_LINES:]))}</pre></details>')
    return "".join(out)


pages.PANELS["provision"] = provision_panel


@routes.post("/maintenance/provision")
async def provision_now(request):
    """Auto Provision Now, as POST /api/provision (the run goes on after the answer)."""
    await request.post()                 # (the guard has checked its csrf field)
    request.app[API].provision_now()
    log.info("web: auto provisioning started from the Auto Provision page")
    raise web.HTTPSeeOther("/settings/provision?now=1")


# -- Firmware Upgrade ----------------------------------------------------------------------------

def _firmware_facts(api) -> str:
    st = api.provision_status()
    fw = st.get("firmware") or {}
    other, last = fw.get("other"), fw.get("last")
    facts = [("Running", st.get("version", "")),
             ("Other slot", f"{other['version']} (slot {other['slot']})" if other else "—"),
             ("Last upgrade", f"{last['at'].replace('T', ' ')}: {last['result']} "
                              f"{last['version']} — {last['reason']}" if last
              else fw.get("error", "—"))]
    if fw.get("trial"):
        facts.append(("On trial", fw["trial"].get("version", "")))
    return "<dl class=\"facts\">" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                                            for k, v in facts) + "</dl>"


@routes.get(FIRMWARE)
async def firmware_page(request, top: str = "", status: int = 200):
    from ui.web import bookfiles       # it builds on this module's forms: imported late
    api = request.app[API]
    upload = _fields(
        image=("Image file", '<input type="file" name="image" id="f-image" required>',
               "A firmware image of this phone (S2_DP330_version...), signed by the maker"),
        md5=("MD5 (optional)", '<input type="text" name="md5" id="f-md5" maxlength="32" '
             'size="34" autocapitalize="off" spellcheck="false">',
             "Checked too when given (Phone Setting > Check When Upgrade Software)"))
    by_url = _fields(url=("Image URL", '<input type="text" name="url" id="f-url" required '
                          'placeholder="tftp://10.0.0.5/fw/S2_DP330_version1.2.0" size="40">',
                          "Fetched from a TFTP, FTP or HTTP(S) server, then checked"))
    body = (top + _firmware_facts(api)
            + "<h2>Upload an image</h2>" + _form(FIRMWARE, upload, "Upgrade", request,
                                                 files=True)
            + "<h2>From a server</h2>" + _form(FIRMWARE, by_url, "Upgrade", request,
                                               files=True)
            + "<p class=\"help\">The image is checked (signature, model, version) and "
              "installed into the other slot; the phone restarts when idle and goes back "
              "to this firmware if the new one does not come up healthy.</p>"
            + bookfiles.section(request))
    return _respond(request, "Firmware Upgrade", body, status)


@routes.post(FIRMWARE)
async def firmware_upgrade(request):
    from provisioning.errors import ProvisionError
    from provisioning.image import MAX_IMAGE    # (cryptography loads only now)
    api = request.app[API]
    fields, name, data = await _upload(request, MAX_IMAGE)
    url, md5 = fields.get("url", "").strip(), fields.get("md5", "").strip().lower() or None
    if data is None:
        return await _firmware_result(request, f"an image is at most {MAX_IMAGE >> 20} MiB")
    if not data and not url:
        return await _firmware_result(request, "choose an image file, or give its URL")
    try:
        message = await (api.upgrade(url=url) if url else
                         manage.install_upload(api, name, data, md5))
    except ProvisionError as e:
        return await _firmware_result(request, str(e))
    log.warning("web: firmware upgrade from the Firmware Upgrade page: %s", message)
    return _respond(request, "Firmware Upgrade",
                    notice(f"Installed: {message}.") + _firmware_facts(api), status=202)


async def _firmware_result(request, why: str) -> web.Response:
    log.info("web: firmware upgrade refused: %s", why)
    return await firmware_page(request, notice(
        f"Not installed: {why}; the phone keeps its firmware.", "error"), status=400)


# -- Configuration Backup ------------------------------------------------------------------------

@routes.get(BACKUP)
async def backup_page(request, top: str = "", status: int = 200):
    download = ('<form method="get" action="/api/backup" class="settings">' + _fields(
        format=("Format", '<select name="format" id="f-format"><option value="xml">Escene '
                'XML (provisioning file)</option><option value="toml">settings.toml'
                '</option></select>', "XML restores on this phone and Escene's; settings."
                "toml is this phone's own file"),
        secrets=("With passwords", '<input type="checkbox" name="secrets" id="f-secrets" '
                 'value="1">', "The SIP accounts', provisioning's, LCD and keyboard lock "
                 "passwords and the AES key too; keep the file safe. The web sign-in is "
                 "never in a backup")) +
        '<div class="actions"><button type="submit">Download</button></div></form>')
    restore = _fields(backup=("Backup file", '<input type="file" name="backup" id="f-backup" '
                              'required accept=".xml,.toml,.cfg,.txt">',
                              "A backup from this page (or an Escene configuration file): "
                              "all of it is applied or nothing; the web sign-in stays"))
    body = (top + "<h2>Backup</h2>" + download + "<h2>Restore</h2>"
            + _form(BACKUP, restore, "Restore", request, files=True))
    return _respond(request, "Configuration Backup", body, status)


@routes.post(BACKUP)
async def restore(request):
    api = request.app[API]
    _, name, data = await _upload(request, manage.RESTORE_MAX)
    if data is None:
        return await _refused(request, f"a backup is at most {manage.RESTORE_MAX // 1024} KiB;"
                                       " nothing changed")
    if not name:
        return await _refused(request, "choose a backup file; nothing changed")
    try:
        out = manage.restore_backup(api, data, name[:100])
    except manage.RestoreRefused as e:
        reasons = [*e.details.get("problems", ()),
                   *(f"{p['key']}: {p['reason']}" for p in e.details.get("errors", ()))]
        return await _refused(request, e.message, reasons)
    log.warning("web: restored %s (%d settings changed)", name, len(out["changed"]))
    top = notice(f"Restored from {name}: {len(out['changed'])} settings changed.")
    if out.get("kept"):
        top += notice("The web sign-in was kept as it is: a backup never changes it.")
    if out["ignored"]:
        top += f'<details><summary>Not used from the file ({len(out["ignored"])})</summary>' \
               f'<pre>{esc(chr(10).join(map(str, out["ignored"])))}</pre></details>'
    pending = api.pending_restart()
    if pending:
        top += restart_form(pending, pages._csrf(request))
    return await backup_page(request, top)


async def _refused(request, why: str, reasons=()) -> web.Response:
    log.info("web: restore refused: %s", why)
    top = notice(f"Not restored: {why}", "error") + (
        '<ul class="errors" role="alert">' + "".join(f"<li>{esc(r)}</li>" for r in reasons)
        + "</ul>" if reasons else "")
    return await backup_page(request, top, status=400)
