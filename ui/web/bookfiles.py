"""Phone book files on the web: the manual's HTTPUpgrade "Phone Book: upload/download"
(here the Firmware Upgrade page, /maintenance/firmware) and Phone Book > "Enterprise
Phonebook" (/phonebook/enterprise), as plain HTML forms that work without JavaScript, and
the same as the API (GET /api/phonebook/export, POST /api/phonebook/import).

Upload: a file in either format (Escene's or Yealink's XML, told by its root element) into
the personal book, where it replaces the user's own contacts and groups (the provisioned
ones stay: what a download holds of them is not copied twice), or into the enterprise book,
written as auto provisioning writes it (whose next run, when the server has an
Enterprise_Phonebook.xml, replaces it in turn: the pages say so). A file with a problem
names its line and changes nothing; the page shows why. Download: either book in either
format. Reading and writing the files: firmware/directory/formats.py; the books:
firmware/phonebooks.py through Api.import_phonebook / export_phonebook.

Uploads are the administrator's (they replace the enterprise book and the user's own);
the Enterprise Phonebook page and the downloads are the desk user's too (the books are
theirs to read: GET /api/phonebook gives them as well).
"""
from __future__ import annotations

import logging

from aiohttp import web

from firmware.directory.formats import BOOKS, FORMATS, MAX_BYTES, FileRefused
from firmware.phonebooks import CAPACITY, BookError
from ui.web import common, maintenance, pages
from ui.web.common import API, error, read_body
from ui.web.forms import plural
from ui.web.html import esc, notice

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

UPLOAD, EXPORT, IMPORT = "/maintenance/phonebook", "/api/phonebook/export", \
    "/api/phonebook/import"
ENTERPRISE = "/phonebook/enterprise"
TITLES = {"personal": "Personal phone book", "enterprise": "Enterprise phone book"}
PROVISIONED = ("Auto provisioning replaces the enterprise book with the server's "
               "Enterprise_Phonebook.xml at its next run when Auto Download Enterprise "
               "Phonebook is on (Auto Provision page) and the server has that file: an "
               "upload here lasts until then.")


def imported(which: str, out: dict, source: str) -> str:
    """What an upload or an update from a server did, in one sentence for the page."""
    contacts = plural(out["contacts"], "1 contact", "{n} contacts")
    groups = plural(out["groups"], "1 group", "{n} groups")
    return (f"{TITLES[which]}: {contacts} and {groups} from {source} "
            f"({FORMATS[out['format']]})"
            + (" replace your own contacts." if which == "personal" else "."))


def _select(name: str, ident: str, options: dict[str, str]) -> str:
    """A choice; with one option, that option said and sent as it is. `ident`: the id its
    label names (the page has two forms with a "book")."""
    if len(options) == 1:
        [(value, label)] = options.items()
        return (f'<input type="hidden" name="{name}" value="{esc(value)}">'
                f'<output id="f-{ident}">{esc(label)}</output>')
    return (f'<select name="{name}" id="f-{ident}">' + "".join(
        f'<option value="{esc(v)}">{esc(label)}</option>' for v, label in options.items())
        + "</select>")


def _counts(api) -> str:
    books = api.books
    books.refresh()
    mine = len(books.book("own").contacts)
    return (f'<p class="help">Personal phone book: {books.count("personal")} of '
            f'{CAPACITY["personal"]} contacts ({mine} your own) · Enterprise phone book: '
            f'{books.count("enterprise")} of {CAPACITY["enterprise"]}</p>')


def section(request, only: str = "") -> str:
    """The Phone Book upload and download forms (the desk user: download only), on
    Firmware Upgrade (maintenance.firmware_page) and Enterprise Phonebook; `only`: one
    book ("enterprise" on the Enterprise Phonebook page), else both with a choice."""
    choices = {k: TITLES[k] for k in BOOKS if not only or k == only}
    download = ('<form method="get" action="' + EXPORT + '" class="settings">'
                + maintenance._fields(
                    export_book=("Phone book", _select("book", "export_book", choices),
                                 "Personal: the provisioned contacts and your own; "
                                 "enterprise: all of it"),
                    format=("Format", _select("format", "format", {
                        k: f"{v} (.xml)" for k, v in FORMATS.items()}),
                            "Escene's is what auto provisioning reads, whole: a backup; "
                            "Yealink's (YealinkIPPhoneBook) what PBXs serve as a remote "
                            "phone book: it has no line nor group description, and a "
                            "name comes back split at its last space"))
                + '<div class="actions"><button type="submit">Download</button></div>'
                  '</form>')
    if pages.role_of(request) != "admin":
        return (f'<section class="phonebook-files"><h2>Phone Book</h2>'
                f'{_counts(request.app[API])}<h3>Download</h3>{download}'
                f'<p class="help">The administrator uploads it. {esc(PROVISIONED)}</p>'
                '</section>')
    upload = maintenance._form(UPLOAD, maintenance._fields(
        import_book=("Into", _select("book", "import_book", choices),
              "Personal: the file replaces your own contacts and groups (download them "
              "first to keep a copy; provisioned ones stay). Enterprise: the file replaces "
              "the enterprise phone book"),
        phonebook=("Phone book file", '<input type="file" name="phonebook" id="f-phonebook" '
                   'required accept=".xml">',
                   "Escene XML (<all>: PhoneGroups, PhoneBooks) or Yealink XML "
                   "(<YealinkIPPhoneDirectory> or <YealinkIPPhoneBook>), told by the file; "
                   "a file with a problem changes nothing")) + (
        f'<input type="hidden" name="page" value="{"enterprise" if only else "firmware"}">'),
        "Upload", request, files=True)
    from ui.web import bookremote      # the server form (update/backup): it builds on this
    return (f'<section class="phonebook-files"><h2>Phone Book</h2>{_counts(request.app[API])}'
            f'<h3>Download</h3>{download}<h3>Upload</h3>{upload}'
            f'{bookremote.form(request, only)}'
            f'<p class="help">{esc(PROVISIONED)}</p></section>')


@routes.post(UPLOAD)
async def upload(request):
    """The Phone Book upload form: the result on the page it came from."""
    fields, name, data = await maintenance._upload(request, MAX_BYTES)
    back = enterprise_page if fields.get("page") == "enterprise" else maintenance.firmware_page
    which = fields.get("book", "")
    if data is None:
        return await _refused(back, request, [f"a phone book file is at most "
                                              f"{MAX_BYTES >> 20} MiB"])
    if not name:
        return await _refused(back, request, ["choose a phone book file"])
    try:
        out = await request.app[API].import_phonebook(which, data, name[:100])
    except FileRefused as e:
        return await _refused(back, request, e.problems)
    except (BookError, ValueError) as e:
        return await _refused(back, request, [str(e)])
    log.warning("web: phone book %s uploaded into the %s book: %d contacts", name, which,
                out["contacts"])
    top = notice(imported(which, out, name))
    if out["notes"]:
        top += (f'<details><summary>Not used from the file ({len(out["notes"])})</summary>'
                f'<pre>{esc(chr(10).join(out["notes"]))}</pre></details>')
    return await back(request, top)


async def _refused(back, request, problems: list[str]) -> web.Response:
    log.info("web: phone book upload refused: %s", "; ".join(problems))
    top = notice("Phone book not imported; nothing changed:", "error") + (
        '<ul class="errors" role="alert">' + "".join(f"<li>{esc(p)}</li>" for p in problems)
        + "</ul>")
    return await back(request, top, status=400)


@routes.get(ENTERPRISE)
@common.for_user
async def enterprise_page(request, top: str = "", status: int = 200):
    """Phone Book > Enterprise Phonebook: its contacts (read-only on the phone), download,
    and the administrator's upload."""
    from ui.web.phonebook import filter_form, filtered
    books = request.app[API].books
    books.refresh()
    everyone = books.listed("enterprise")
    q, shown, page, pager = filtered(request, everyone, ENTERPRISE, "Enterprise contact pages")
    rows = "".join(f"<tr><td>{n}</td><td>{esc(x.contact.name)}</td>"
                   f"<td>{esc(x.contact.office)}</td><td>{esc(x.contact.mobile)}</td>"
                   f"<td>{esc(x.contact.other)}</td><td>{esc(x.contact.group)}</td></tr>"
                   for n, x in page)
    table = ('<table class="enterprise"><thead><tr><th scope="col">Serial Number</th>'
             '<th scope="col">Name</th><th scope="col">Office</th><th scope="col">Mobile'
             '</th><th scope="col">Other</th><th scope="col">Group</th></tr></thead>'
             f'<tbody>{rows}</tbody></table>' if rows else
             f"<p>{'No contact matches.' if q else 'The enterprise phone book is empty.'}</p>")
    listing = (filter_form(ENTERPRISE, q) if everyone else "") + \
        (f'<p class="help">{len(everyone)} of {CAPACITY["enterprise"]} contacts'
         + (f'; {len(shown)} match' if q else "") + ".</p>" if everyone else "") + table + pager
    body = top + section(request, only="enterprise") + "<h2>Contacts</h2>" + listing
    return pages._respond(request, "phonebook", "Enterprise Phonebook", body,
                          pages.role_of(request), status=status)


# -- the API ------------------------------------------------------------------------------------

@routes.get(EXPORT)
@common.for_user
async def export(request):
    """A book as a file to save (an attachment): ?book=personal|enterprise&format=escene|
    yealink."""
    which = request.query.get("book", "personal")
    fmt = request.query.get("format", "escene")
    if which not in BOOKS or fmt not in FORMATS:
        return error(400, f"book: {' or '.join(BOOKS)}; format: {' or '.join(FORMATS)}")
    data, name = request.app[API].export_phonebook(which, fmt)
    return web.Response(body=data, content_type="application/xml", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@routes.post(IMPORT)
async def import_(request):
    """A phone book file as the body: ?book=personal|enterprise[&name=FILE]."""
    which = request.query.get("book", "personal")
    if which not in BOOKS:
        return error(400, f"book: {' or '.join(BOOKS)}")
    data = await read_body(request, MAX_BYTES)
    if data is None:
        return error(413, f"a phone book file is at most {MAX_BYTES >> 20} MiB")
    try:
        out = await request.app[API].import_phonebook(
            which, data, request.query.get("name", "")[:100])
    except FileRefused as e:
        return error(400, "phone book not imported; nothing changed", problems=e.problems)
    except (BookError, ValueError) as e:
        return error(400, str(e), problems=[str(e)])
    log.warning("api: phone book imported into the %s book: %d contacts", which,
                out["contacts"])
    return web.json_response(out)
