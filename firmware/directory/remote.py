"""Phone book files from and to a server: the manual's FTP Upgrade and TFTPUpgrade pages,
"Phone Book: update/backup the phonebook of the phone" (the web: the Phone Book section of
Firmware Upgrade, ui/web/bookfiles.py; the API: POST /api/phonebook/remote).

The URL names the file: `tftp://10.0.0.5/books/Personal_Phonebook.xml`,
`ftp://user:password@10.0.0.5/Personal_Phonebook.xml`, `https://pbx/phonebook.xml`. An
http(s) URL may carry a query, as the remote phone book URLs PBXs hand out do
(`https://pbx/0.1/directories/input/default/yealink?xivo_user_uuid=…`,
`https://pbx/app/provision/?file=directory.xml`): it is sent as typed, and shown as "?…"
in messages and the log (it may hold a token).
- update: the file is fetched (provisioning/fetch.py's Fetcher, the client auto
  provisioning uses: the 2 MiB limit before it arrives, provisioning.timeout for any
  silence, https checked against provisioning.ca_file) and imported as an upload is
  (Api.import_phonebook: the format told by the file, the same checks and messages, a bad
  file names its line and changes nothing);
- backup: the export (formats.export_file, Escene or Yealink XML) is sent with
  Fetcher.put: TFTP write, FTP STOR, HTTP(S) PUT. A URL ending in "/" gets the
  download's file name (Personal_Phonebook.xml, ...).

Both block: firmware/api.py runs them in a worker thread (asyncio.to_thread), so a server
that never answers holds no key press and no LCD frame (the backup reads the books there:
Books is whole from any thread). The user and password come from the
URL only (never provisioning's) and never appear in a message or the log.
"""
from __future__ import annotations

import dataclasses
import re
import urllib.parse

from firmware.directory import formats

SCHEMES = ("tftp", "ftp", "http", "https")
QUERY = re.compile(r"[!-~]+")          # printable ASCII, no space (%-encoded as typed)
EXAMPLE = ("tftp://10.0.0.5/Personal_Phonebook.xml, "
           "ftp://user:password@10.0.0.5/books/Personal_Phonebook.xml or "
           "https://pbx.example.com/phonebook.xml")
# Fetcher's words are auto provisioning's (its settings); here the URL typed holds them.
_OURS = (("provisioning.username/password", "the user and password in the URL "
          "(ftp://user:password@host/...)"), ("provisioning.url", "the URL"))


class RemoteError(ValueError):
    """The server part did not happen (a bad URL, a server that refused or did not
    answer); `str` is the reason for people, nothing was changed."""


def target(url: str) -> tuple[object, str]:
    """The URL typed -> (provisioning.fetch.Source of its directory, the file's name, ""
    when it ends in "/"). RemoteError saying the form when it is not one."""
    from provisioning.errors import ProvisionError
    from provisioning.fetch import check_name, parse_server
    text = (url or "").strip()
    if not text:
        raise RemoteError(f"enter the URL of the phone book file, e.g. {EXAMPLE}")
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)(/.*)?", text, re.DOTALL)
    if not m or m.group(1).lower() not in SCHEMES:
        said = f"'{m.group(1)}://'" if m else "no protocol"
        raise RemoteError(f"{said}: the URL starts with tftp://, ftp://, http:// or "
                          f"https://, e.g. {EXAMPLE}")
    scheme = m.group(1).lower()
    if "#" in text:
        raise RemoteError("no '#' in the URL (in a password, write it as %23)")
    if "@" in m.group(2).partition("?")[2]:           # a '?' before the login's end
        raise RemoteError("in a password, write '?' as %3F and '#' as %23")
    rest, asks, query = (m.group(2) + (m.group(3) or "")).partition("?")
    if asks and scheme not in ("http", "https"):
        raise RemoteError(f"{'an' if scheme == 'ftp' else 'a'} {scheme}:// URL names a "
                          f"file: no '?' (only an http:// or "
                          f"https:// URL may carry a query)")
    if asks and (not query or not QUERY.fullmatch(query)):
        raise RemoteError("the query after '?' is empty or holds spaces, control or "
                          "non-ASCII characters: write them %-encoded (a space as %20)")
    host, slash, path = rest.partition("/")
    login, _, host = host.rpartition("@")           # a password may hold "@"
    user, _, password = login.partition(":")
    folder, _, name = (slash + path).rpartition("/")
    try:
        source = parse_server(f"{scheme}://{host}{folder}",
                              username=urllib.parse.unquote(user),
                              password=urllib.parse.unquote(password))
        if name:
            check_name(urllib.parse.unquote(name))
    except ProvisionError as e:
        raise RemoteError(_ours(str(e))) from None
    return dataclasses.replace(source, query=query), urllib.parse.unquote(name)


def fetch(url: str, *, settings, user_agent: str) -> tuple[bytes, str, str]:
    """The file at `url`: (its bytes, its name, where it was for people: the URL without
    the password). At most formats.MAX_BYTES; RemoteError. Api.update_phonebook imports
    it as an upload is imported."""
    source, name = target(url)
    if not name and not source.query:
        raise RemoteError("the URL ends in '/': add the phone book file's name, e.g. "
                          "tftp://10.0.0.5/books/Personal_Phonebook.xml")
    data = _transfer(lambda f: f.get(name, max_bytes=formats.MAX_BYTES), source, settings,
                     user_agent)
    # ".../provision/?file=directory.xml": the query names it; people read "provision"
    return data, name or source.path.rpartition("/")[2] or source.host, source.url(name)


def backup(books, which: str, fmt: str, url: str, *, settings, user_agent: str) -> dict:
    """Send `which` book in `fmt` to `url` (a directory ending in "/" gets the
    download's name): {"book", "format", "url", "contacts", "bytes"}. RemoteError or
    ValueError; the books are only read."""
    source, name = target(url)
    data, default = formats.export_file(books, which, fmt)
    name = name or default
    _transfer(lambda f: f.put(name, data), source, settings, user_agent)
    return {"book": which, "format": fmt, "url": source.url(name),
            "contacts": books.count(which), "bytes": len(data)}


def _transfer(how, source, settings, user_agent: str):
    """`how(fetcher)` with auto provisioning's bounds; its errors as RemoteError."""
    from provisioning.errors import ProvisionError
    from provisioning.fetch import Fetcher
    p = settings.provisioning
    try:
        return how(Fetcher(source, user_agent=user_agent, timeout=p.timeout,
                           ca_file=p.ca_file))
    except ProvisionError as e:
        raise RemoteError(_ours(str(e))) from None


def _ours(text: str) -> str:
    for theirs, ours in _OURS:
        text = text.replace(theirs, ours)
    return text
