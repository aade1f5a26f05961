"""Phone book update from and backup to a server on the web: the manual's FTP Upgrade and
TFTPUpgrade pages, "Phone Book: update/backup the phonebook of the phone", as one form in
the Phone Book section of Firmware Upgrade (/maintenance/firmware) and of Enterprise
Phonebook (ui/web/bookfiles.py draws the section and calls `form`), and as the API
(POST /api/phonebook/remote).

The form: the file's URL (tftp://10.0.0.5/Personal_Phonebook.xml, ftp://user:password@host/
dir/file.xml, http(s)://...), the book, the format of a backup, and two buttons: "Update
from server" (the file fetched and imported as an upload is: the same checks, the same
messages, nothing changed by a bad file) and "Back up to server" (the book sent: TFTP
write, FTP STOR, HTTP PUT). The result or the reason is on the page it came from. The
transfers run in a worker thread (firmware/directory/remote.py through Api.update_phonebook
/ backup_phonebook): the phone's loop, which this server shares, never waits for a server.
The URL is not shown again (it may hold a password); the messages name it without one.

The administrator's only (an update replaces a book; a backup sends the books away).
"""
from __future__ import annotations

import logging

from aiohttp import web

from firmware.directory.formats import BOOKS, FORMATS, FileRefused
from ui.web import bookfiles, maintenance, pages
from ui.web.common import API, error, json_body
from ui.web.forms import plural
from ui.web.html import csrf_field, esc, notice

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

SERVER, API_REMOTE = "/maintenance/phonebook/server", "/api/phonebook/remote"
ACTIONS = {"update": "Update from server", "backup": "Back up to server"}


def form(request, only: str = "") -> str:
    """The server form (the administrator's): URL, book, format, the two buttons."""
    choices = {k: bookfiles.TITLES[k] for k in BOOKS if not only or k == only}
    inner = maintenance._fields(
        book_url=("Server URL", '<input type="text" name="url" id="f-book_url" required '
                  'size="40" autocapitalize="off" spellcheck="false" '
                  'placeholder="tftp://10.0.0.5/Personal_Phonebook.xml">',
                  "The phone book file on a TFTP, FTP or HTTP(S) server: tftp://host/path/"
                  "file.xml, ftp://user:password@host/path/file.xml, https://host/file.xml. "
                  "A backup to a URL ending in / gets the download's file name"),
        remote_book=("Phone book", bookfiles._select("book", "remote_book", choices),
                     "Update: the file replaces your own contacts and groups (personal) or "
                     "the enterprise book, as an upload does. Backup: the book as a "
                     "download holds it"),
        remote_format=("Backup format", bookfiles._select("format", "remote_format", {
            k: f"{v} (.xml)" for k, v in FORMATS.items()}),
                       "An update tells the format by the file"))
    page = "enterprise" if only else "firmware"
    buttons = "".join(f'<button type="submit" name="action" value="{a}">{esc(label)}'
                      f'</button>' for a, label in ACTIONS.items())
    return (f'<h3>From or to a server</h3><form method="post" action="{SERVER}" '
            f'class="settings">{csrf_field(pages._csrf(request))}{inner}'
            f'<input type="hidden" name="page" value="{page}">'
            f'<div class="actions">{buttons}</div></form>')


async def _run(api, action: str, which: str, fmt: str, url: str) -> dict:
    """The update or the backup; ValueError (FileRefused with its lines) when not done."""
    if action == "update":
        return await api.update_phonebook(which, url)
    if action == "backup":
        return await api.backup_phonebook(which, fmt, url)
    raise ValueError(f"action: one of {', '.join(ACTIONS)}")


def _said(action: str, out: dict) -> str:
    """What happened, in one sentence for the page."""
    title = bookfiles.TITLES[out["book"]]
    if action == "backup":
        return (f"{title} ({plural(out['contacts'], '1 contact', '{n} contacts')}, "
                f"{FORMATS[out['format']]}, "
                f"{out['bytes']} bytes) sent to {out['url']}.")
    return bookfiles.imported(out["book"], out, out["url"])


@routes.post(SERVER)
async def server(request):
    """The server form: the result, or the reason with nothing changed, on its page."""
    fields = await request.post()
    back = (bookfiles.enterprise_page if fields.get("page") == "enterprise"
            else maintenance.firmware_page)
    action = str(fields.get("action", ""))
    try:
        out = await _run(request.app[API], action, str(fields.get("book", "")),
                         str(fields.get("format", "escene")), str(fields.get("url", "")))
    except ValueError as e:
        problems = e.problems if isinstance(e, FileRefused) else [str(e)]
        log.info("web: phone book %s refused: %s", action, "; ".join(problems))
        head = ("Phone book not sent:" if action == "backup"
                else "Phone book not imported; nothing changed:")
        top = notice(head, "error") + (
            '<ul class="errors" role="alert">' + "".join(f"<li>{esc(p)}</li>"
                                                         for p in problems) + "</ul>")
        return await back(request, top, status=400)
    log.warning("web: phone book %s: %s %s, %d contacts", action, out["book"], out["url"],
                out["contacts"])
    top = notice(_said(action, out))
    if out.get("notes"):
        top += (f'<details><summary>Not used from the file ({len(out["notes"])})</summary>'
                f'<pre>{esc(chr(10).join(out["notes"]))}</pre></details>')
    return await back(request, top)


@routes.post(API_REMOTE)
async def remote(request):
    """{"action": "update"|"backup", "book", "url"[, "format"]}: what the page says as
    JSON, or 400 {"error", "problems"} with nothing changed."""
    body = await json_body(request, '{"action": "update", "book": "personal", "url": '
                                    '"tftp://10.0.0.5/Personal_Phonebook.xml"}')
    action = str(body.get("action", ""))
    try:
        out = await _run(request.app[API], action, str(body.get("book", "personal")),
                         str(body.get("format", "escene")), str(body.get("url", "")))
    except FileRefused as e:
        return error(400, "phone book not imported; nothing changed", problems=e.problems)
    except ValueError as e:
        return error(400, str(e), problems=[str(e)])
    log.warning("api: phone book %s: %s %s, %d contacts", action, out["book"], out["url"],
                out["contacts"])
    return web.json_response(out)
