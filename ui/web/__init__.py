"""Web server: the front panel page, the remote control API (action URIs), management,
sign-in. The routes are split by who uses them: ui/web/signin.py (the guard in front of
every request, sign-in, sessions, password), ui/web/panel.py (the front panel and remote
control), ui/web/manage.py (settings, provisioning, firmware, keys, backup, call log,
phone book), ui/web/pages.py (the manual's §7 web pages: /settings, /settings/<page>,
plain HTML forms rendered from firmware/menus.py WEB), ui/web/keyspage.py (the key tables
of Programmable Keys and Expansion Module), ui/web/maintenance.py (Auto Provision Now,
Firmware Upgrade, Configuration Backup as plain forms), ui/web/phonebook.py (Phone Book >
Group and Contact: the personal phone book as plain forms), ui/web/banlist.py (Phone Book >
BanList), ui/web/bookfiles.py (phone book upload and download, Phone Book > Enterprise
Phonebook), ui/web/bookremote.py (a phone book from or to a TFTP/FTP/HTTP server),
ui/web/forms.py (what the Phone Book pages' forms share), ui/web/ldapsearch.py (Phone
Book > LDAP Search). Every route talks to the phone through one object, firmware.api.Api.

Everything except the login page and static files needs a login: HTTP Basic (API
clients, tests) or the session cookie the login form sets (the browser panel). The
password is checked against a salted PBKDF2 hash (settings web.password_hash; empty =
the factory password 'root', as in the manual) in one worker thread, never on the event
loop. What a security reviewer asks of the sign-in (README "Security"):
- the factory password opens only the page that changes it (/password, POST
  /api/password); everything else answers 403 (API) or sends the browser there; the
  administrator's browser then goes through the config guide (ui/web/guide.py);
- two roles (firmware/roles.py): the administrator (web.user) everything; the user
  (web.user_name, off until the administrator sets a password, which the user changes at
  the first sign-in) the routes ui/web/common.py opens to them (USER_ROUTES, @for_user)
  and the user's settings; anything else answers the user 403 saying why;
- credentials change only with the current password: POST /api/password, the Password
  page, or `python -m firmware passwd [--role user]` as the box's owner (read at the next
  sign-in check); PATCH /api/settings and restoring a backup never touch web.*;
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
  GET  /api/settings   PATCH /api/settings {"account.1.expires": 600, ...}; both list
                      under "restart_pending" the saved settings waiting for a restart
  POST /api/restart   restarts the phone as the LCD's Reboot does (administrator; 202)
  POST /api/password  {"old": "...", "new": "..."[, "user": "..."][, "role": "user"]}
                      (>= 8 characters; "role": "user": the administrator sets the user's)
  GET  /api/session   {"user": ..., "role": "admin"|"user", "must_change": false}
  GET  /password  POST /password   the Password page (a plain form; each role its own)
  GET  /guide  /guide/network  /guide/account  /guide/finish  POST each, POST /guide/skip:
                      the config guide (administrator; plain forms)
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
  GET  /api/phonebook[?q=TEXT]  {"enterprise": [...], "personal": [...]} contacts by
                      name; "own": true for the user's own, false for provisioned ones
  GET  /api/ldap?q=TEXT[&kind=name|number]  {"hits": [{"name", "numbers"}], "reason",
                      "more"}: both LDAP servers searched (in one of the web's two LDAP
                      threads, with their timeouts; 503 while both are busy; at most 500
                      hits, "more": true when the servers had more)
  GET  /api/logs       the logs the Log page links to: name, url, files, bytes
  GET  /api/logs/phone.log  /api/logs/sip.log  the log as an attachment: its rotated files
                      (oldest first) then the current one (administrator)
  GET  /api/keys/layout  programmable keys (from <account>_Extern.xml or PUT)
  PUT  /api/keys/layout  {"memory": [{"key": "p1", "type": "blf", "number": "1002",
                      "label": "Bob", "account": 1}]}  replaces the programmable keys
  GET  /api/keys/state   {"modules": [1], "keys": {"p1": {"lamp": "idle", "why": ...}}}
  GET  /ws[?csrf=TOKEN]  pushes {"state": ..., "leds": ..., "png": base64} on every change
  GET  /settings  /settings/<page>  the manual's §7 pages (HTML); POST a page's form
                      (a `csrf` field): saved as PATCH /api/settings saves, 303 back to the
                      page, or 400 with each refused field's reason beside it
  GET  /keys  /keys/module/<1-6>  the memory keys and an expansion module's keys (HTML);
                      POST the table: saved as PUT /api/keys/layout saves, 303 back, or
                      400 with each refused key's reason beside its row
  POST /maintenance/provision  Auto Provision Now from /settings/provision (303 back)
  GET  /phonebook/banlist  Phone Book > BanList (HTML, ui/web/banlist.py): the ban list's
                      entries; /new and /<n> their forms (POST: add, save; 303 back or 400
                      with the reason beside its field), POST /<n>/delete, /delete-all,
                      /dismiss (the notice of a damaged banlist.json)
  GET  /maintenance/firmware  POST (multipart: image[, md5] or url): Firmware Upgrade
  GET  /maintenance/backup    POST (multipart: backup): Configuration Backup and restore
  POST /maintenance/phonebook  (multipart: book=personal|enterprise, phonebook=FILE) the
                      Phone Book upload on /maintenance/firmware (ui/web/bookfiles.py)
  GET  /phonebook/enterprise  Phone Book > Enterprise Phonebook: its contacts, download,
                      and for the administrator the upload (HTML; both roles)
  GET  /api/phonebook/export?book=personal|enterprise&format=escene|yealink  the book as
                      an XML file (Escene's <all> or YealinkIPPhoneBook; both roles)
  POST /api/phonebook/import?book=personal|enterprise[&name=FILE]  body: Escene or Yealink
                      XML (told by its root); the personal book's own contacts or the
                      enterprise book replaced: {"contacts", "groups", "format", "notes"},
                      or 400 {"error", "problems": ["line 12: <book> ..."]}, nothing changed
  POST /maintenance/phonebook/server  (form: action=update|backup, url, book, format) the
                      Phone Book "From or to a server" form (ui/web/bookremote.py): the file
                      at a tftp/ftp/http(s) URL imported as an upload is, or the book sent
                      there (TFTP write, FTP STOR, HTTP PUT); the result on the page
  POST /api/phonebook/remote  {"action": "update"|"backup", "book", "url"[, "format"]}:
                      what the import says plus "url", or for a backup {"book", "format",
                      "url", "contacts", "bytes"}; 400 {"error", "problems"}, nothing changed
  GET  /phonebook/groups  Phone Book > Group (HTML; both roles): GET/POST
                      /phonebook/groups/new (Add Group), /phonebook/groups/edit?name=G,
                      POST /phonebook/groups/delete {name}, /phonebook/groups/delete-all
                      (asked first: again with confirm=yes); 303 back, or 400 with
                      the phone book's reason beside the field
  GET  /phonebook/contacts[?q=TEXT&page=N]  Phone Book > Contact (HTML; both roles; 50 a
                      page, q filters): GET/POST /phonebook/contacts/new,
                      /phonebook/contacts/<n> (n: its place among the user's own; `was`
                      names the contact the page showed), POST /phonebook/contacts/<n>/delete,
                      /phonebook/contacts/delete-all (asked first, as groups'),
                      /phonebook/contacts/dismiss (the notice of a damaged own.json)
  GET  /phonebook/ldap[?q=TEXT&kind=name|number]  Phone Book > LDAP Search (HTML; both
                      roles; a plain GET form, the hits in a table: ui/web/ldapsearch.py)
  POST /phonebook/ldap/dial  (form: number, q, kind) a hit's Dial button: dials it on the
                      default line, 303 back to the search saying "Dialling N on line L." (both)
  sim board only:
  POST /api/sim/mic   {"tone": 1000} or {"tone": null}: a tone stands in for a voice
  GET  /api/sim/listen?seconds=1  WAV of what the person hears
"""
from __future__ import annotations

import logging
import sys

from aiohttp import web

from ui.web import (bookfiles, guide, keyspage, ldapsearch, maintenance, manage, pages, panel,
                    phonebook, signin)
from ui.web import banlist          # Phone Book > BanList
from ui.web import bookremote       # Phone Book update/backup from/to a server
from ui.web.auth import Auth
from ui.web.common import API, AUTH, SOCKETS, STATIC

log = logging.getLogger("deskphone.web")


def build(api) -> web.Application:
    """The aiohttp application for `api` (a firmware.api.Api)."""
    wa = web.Application(middlewares=[signin.guard], client_max_size=256 * 1024)
    wa[API] = api
    wa[AUTH] = Auth(api)
    wa[SOCKETS] = set()
    wa.on_response_prepare.append(signin.security_headers)
    wa.on_shutdown.append(panel.close_sockets)
    wa.on_cleanup.append(_stop_hasher)
    for table in (signin.routes, panel.routes, manage.routes, pages.routes, guide.routes,
                  keyspage.routes, maintenance.routes, phonebook.routes, ldapsearch.routes,
                  bookfiles.routes):
        wa.add_routes(table)
    wa.add_routes(banlist.routes)
    wa.add_routes(bookremote.routes)
    if api.simulated:
        wa.add_routes(panel.sim_routes)
    wa.router.add_static("/static/", STATIC)
    return wa


async def _stop_hasher(wa: web.Application) -> None:
    wa[AUTH].hasher.close()


async def start(api, listen: str) -> web.AppRunner:
    """Serve the page and the API on `listen` (host:port); the App's one call."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(build(api), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), reuse_address=True)
    await site.start()
    w = api.web
    from firmware.system.weblisten import urls
    line = (f"web page and API on {' '.join(urls(listen))} (sign in as {w.user}"
            + (" with the factory password 'root': it must be changed at the first sign-in)"
               if not w.password_hash else ")") + f"; listening on {listen}")
    log.info("%s", line)
    if api.console_log:
        print(f"deskphone: {line}", file=sys.stderr, flush=True)   # what `make run` shows
    return runner
