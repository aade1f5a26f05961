"""Fetch provisioning files from a TFTP, HTTP, HTTPS or FTP server (and send one back).

The server setting is a directory, never a file (manual appendix 3.2: `tftp://192.168.0.201/abc`
and the phone asks for `abc/001122334455.xml`); `parse_server` turns it into a `Source`, and a
`Fetcher` gets one named file from there at a time:

    src = parse_server("HTTP://10.0.0.5/prov", username="alice", password="...")
    f = Fetcher(src, user_agent=identity.user_agent(mac), timeout=10)
    cfg = f.get("001122334455.xml", max_bytes=1 << 20)
    f.get_file("image.bin", Path("/data/fw.part"), max_bytes=64 << 20, progress=cb)
    f.put("Personal_Phonebook.xml", data)       # the other way: a phone book backup

It blocks: the engine runs it in a worker thread. Every transfer has two bounds: `timeout`
for any single wait on the network, and `deadline` for the whole file (unless given: 10 x
timeout plus max_bytes at 128 KiB/s), so a server that trickles a byte a second cannot hold
the phone. Errors are those of
provisioning.errors and their text names the URL (never the password) and what to do.
"""
from __future__ import annotations

import contextlib
import dataclasses
import ftplib
import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from firmware.files import atomic_file
from provisioning import tftp
from provisioning.errors import (AuthFailed, BadServer, FetchError, FetchTimeout, NotFound,
                                 ProvisionError, TooLarge)

DEFAULT_PORTS = {"tftp": 69, "http": 80, "https": 443, "ftp": 21}
PROTOCOL_NAMES = {"tftp": "TFTP", "http": "HTTP", "https": "HTTPS", "ftp": "FTP"}
EXAMPLE = "e.g. tftp://192.168.0.201/abc, http://10.0.0.5:8080/prov or ftp://user:pw@host/dir"
CHUNK = 64 * 1024
MAX_REDIRECTS = 5
# Without an explicit deadline a file may take 10 x timeout, plus the time its size limit
# needs at this slowest acceptable rate (128 KiB/s: a 256 MiB image gets 34 more minutes).
SLOWEST_RATE = 128 * 1024

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Source:
    """Where the files are: `path` is the directory ("" for the server's root, no trailing
    slash). username/password are used by HTTP(S) and FTP; TFTP has no login."""

    scheme: str
    host: str
    port: int
    path: str = ""
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    # HTTP(S) only: a query sent with every file asked for, as typed (a PBX's remote phone
    # book URL, "...?user=1001"); it may carry a token: people see "?…"
    query: str = dataclasses.field(default="", repr=False)

    def url(self, name: str = "") -> str:
        """The URL for people (logs, status page): with the user, never the password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{urllib.parse.quote(self.username, safe='')}@" if self.username else ""
        tail = f"{self.path}/{name}" if name or self.query else self.path   # as asked
        return f"{self.scheme}://{user}{host}:{self.port}{tail}" + ("?…" if self.query else "")

    def __str__(self) -> str:
        return self.url()


def parse_server(url: str, protocol: str = "tftp", username: str = "",
                 password: str = "") -> Source:
    """`TFTP://10.0.0.1/abc`, `http://h:8080/prov/`, `ftp://u:p@host/dir` or `10.0.0.1/abc`
    (then `protocol` says which) -> Source. Credentials in the URL win over the arguments.
    Raises BadServer saying what is wrong and what the form is."""
    text = (url or "").strip()
    if not text:
        raise BadServer("no provisioning server is set: put one in provisioning.url "
                        f"({EXAMPLE}) or turn on DHCP option 66")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise BadServer(f"provisioning.url {url!r} contains spaces or control characters: "
                        f"use a URL, {EXAMPLE}")
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", text, re.DOTALL)
    if m:
        scheme, rest = m.group(1).lower(), m.group(2)
    else:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/", text):
            raise BadServer(f"provisioning.url {url!r}: write the protocol as "
                            f"'tftp://', 'http://', 'https://' or 'ftp://', {EXAMPLE}")
        scheme, rest = (protocol or "tftp").strip().lower(), text
    if scheme not in DEFAULT_PORTS:
        raise BadServer(f"'{scheme}' in {url!r} is not a provisioning protocol: use tftp, "
                        f"http, https or ftp, {EXAMPLE}")
    if "?" in rest or "#" in rest:
        raise BadServer(f"provisioning.url {url!r}: no '?' or '#': the URL is the directory "
                        f"of the files, the phone adds their names ({EXAMPLE})")
    try:
        parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
    except ValueError:                     # e.g. a bad [IPv6] address
        raise BadServer(f"provisioning.url {url!r} has no valid server name or address: "
                        f"{EXAMPLE}") from None
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadServer(f"provisioning.url {url!r}: the port must be a number from 1 to "
                        f"65535, {EXAMPLE}") from None
    if not host or not _valid_host(host):
        raise BadServer(f"provisioning.url {url!r} has no valid server name or address: "
                        f"{EXAMPLE}")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    elif not 1 <= port <= 65535:
        raise BadServer(f"provisioning.url {url!r}: the port must be from 1 to 65535")
    if parts.username is not None:
        username = urllib.parse.unquote(parts.username)
    if parts.password is not None:
        password = urllib.parse.unquote(parts.password)
    if scheme == "tftp":
        username = password = ""        # manual 3.2: no login with TFTP
    path = urllib.parse.unquote(parts.path).rstrip("/")
    if "\0" in path:
        raise BadServer(f"provisioning.url {url!r}: the path contains a NUL character")
    return Source(scheme=scheme, host=host, port=port, path=path, username=username,
                  password=password)


def _valid_host(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
            return True
        except ValueError:
            return False
    return re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?", host) is not None


def check_name(name: str) -> None:
    """A file name the phone asks for is one plain name: it may come from a file on the
    server (the firmware name in F0DP330.cfg), so it must never reach outside the path."""
    bad = (not name or name in (".", "..") or ".." in name or "/" in name or "\\" in name
           or len(name) > 255
           or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in name))
    if bad:
        raise FetchError(f"refusing the file name {name!r}: a provisioning file name is one "
                         f"plain name, without '/', '..', spaces or control characters")


class Fetcher:
    """Gets files from one Source. Blocking; safe to use from one thread at a time.

    timeout: seconds any single network wait may take (connect, a reply, the next block).
    deadline: seconds one whole file may take; None = 10 x timeout + max_bytes / 128 KiB/s
    (a 1 MiB config: 108 s with timeout 10; a 256 MiB image: 34 min).
    ca_file: PEM of the CAs an https server's certificate must chain to ("" = system CAs).
    """

    def __init__(self, source: Source, *, user_agent: str, timeout: float = 10.0,
                 ca_file: str = "", deadline: float | None = None,
                 tftp_blksize: int = tftp.BLKSIZE):
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.source = source
        self.user_agent = user_agent
        self.timeout = float(timeout)
        self.deadline = float(deadline) if deadline is not None else None
        self.ca_file = ca_file
        self.tftp_blksize = tftp_blksize
        self._ssl: ssl.SSLContext | None = None

    def url(self, name: str = "") -> str:
        return self.source.url(name)

    def get(self, name: str, *, max_bytes: int) -> bytes:
        """The whole file in memory (configuration files, phone books)."""
        chunks: list[bytes] = []
        sink = _Sink(self.url(name), max_bytes, chunks.append, None)
        self._fetch(name, sink)
        return b"".join(chunks)

    def get_file(self, name: str, dest: Path, *, max_bytes: int,
                 progress: Progress | None = None) -> int:
        """Stream the file to `dest` (via dest.part, renamed when complete, so `dest` is
        never half a file); return its size. progress(done, total or None) after each
        block; it may raise to cancel."""
        dest = Path(dest)
        with atomic_file(dest, mode=0o644, tmp=dest.with_name(dest.name + ".part")) as out:
            sink = _Sink(self.url(name), max_bytes, out.write, progress)
            self._fetch(name, sink)
        return sink.count

    # ----- dispatch and errors -----

    def deadline_for(self, max_bytes: int) -> float:
        """Seconds a file of at most max_bytes may take as a whole."""
        if self.deadline is not None:
            return self.deadline
        return 10 * self.timeout + max_bytes / SLOWEST_RATE

    def _fetch(self, name: str, sink: "_Sink") -> None:
        how = {"tftp": self._tftp, "ftp": self._ftp}.get(self.source.scheme, self._http)
        self._guarded(name, sink.max_bytes, lambda watch: how(name, sink, watch), sink)

    def put(self, name: str, data: bytes) -> None:
        """Send `data` as the file `name` in the source's directory (a phone book backup):
        TFTP write (WRQ), FTP STOR, HTTP(S) PUT. The same bounds and error wording as a
        read; the server must allow the write (tftpd-hpa: --create and a writable
        directory; vsftpd: write_enable; a web server: PUT)."""
        how = {"tftp": self._tftp_put, "ftp": self._ftp_put}.get(self.source.scheme,
                                                                  self._http_put)
        self._guarded(name, len(data), lambda watch: how(name, data, watch))

    def _guarded(self, name: str, size: int, transfer: Callable[["_Watchdog"], None],
                 sink: "_Sink | None" = None) -> None:
        """One transfer of a file of at most `size` bytes under the watchdog, its failures
        as ProvisionErrors for people. With a query (HTTP) the name may be "": the query
        says what is asked for (".../provision/?file=directory.xml")."""
        if name or not self.source.query:
            check_name(name)
        watch = _Watchdog(self.deadline_for(size))
        try:
            transfer(watch)
        except ProvisionError:
            raise
        except Exception as e:
            if sink is not None and e is sink.raised:   # the caller's progress callback
                raise
            if watch.expired or isinstance(e, tftp.TftpDeadline):
                raise self._too_slow(name, watch) from e
            raise self._network_error(name, e) from e
        finally:
            watch.cancel()

    def _proto(self) -> str:
        return PROTOCOL_NAMES[self.source.scheme]

    def _too_slow(self, name: str, watch: "_Watchdog") -> FetchTimeout:
        return FetchTimeout(f"{self.url(name)}: not complete after {watch.seconds:g} s (the "
                            f"limit for this file) — the server or the network is too slow")

    def _no_answer(self, name: str) -> FetchTimeout:
        return FetchTimeout(f"{self.url(name)}: no answer in {self.timeout:g} s — is the "
                            f"{self._proto()} server running and reachable?")

    def _network_error(self, name: str, e: BaseException) -> FetchError:
        """Connection-level failures, the same for every protocol."""
        where, src = self.url(name), self.source
        if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
            if isinstance(e.reason, BaseException):
                return self._network_error(name, e.reason)
            return FetchError(f"{where}: {e.reason}")
        if isinstance(e, (socket.timeout, TimeoutError, tftp.TftpTimeout)):
            return self._no_answer(name)
        if isinstance(e, socket.gaierror):
            return FetchError(f"{where}: cannot find the server '{src.host}' "
                              f"({e.strerror or e}) — check the name in provisioning.url and "
                              f"the phone's DNS servers")
        if isinstance(e, ConnectionRefusedError):
            what = "UDP port unreachable" if src.scheme == "tftp" else "connection refused"
            return FetchError(f"{where}: {what} at {src.host}:{src.port} — is the "
                              f"{self._proto()} server running on that port?")
        if isinstance(e, ssl.SSLCertVerificationError):
            reason = e.verify_message or e.reason or str(e)
            if self.ca_file:
                hint = (f"it must be signed by a CA in provisioning.ca_file ({self.ca_file}) "
                        f"and name '{src.host}'")
            else:
                hint = ("set provisioning.ca_file to the PEM of the CA that signed it, or "
                        "use a certificate from a public CA")
            return FetchError(f"{where}: the server's certificate is not trusted "
                              f"({reason}) — {hint}")
        if isinstance(e, ssl.SSLError):
            return FetchError(f"{where}: TLS failed ({e.reason or e}) — is it an HTTPS server?")
        if isinstance(e, (http.client.IncompleteRead, http.client.RemoteDisconnected,
                          ConnectionResetError, BrokenPipeError)):
            return FetchError(f"{where}: the server closed the connection during the "
                              f"transfer — try again; if it persists, check the server's log")
        if isinstance(e, tftp.TftpProtocolError):
            return FetchError(f"{where}: the TFTP server broke the protocol ({e})")
        if isinstance(e, (ftplib.Error, EOFError)):
            return FetchError(f"{where}: FTP failed ({e or 'connection closed'})")
        if isinstance(e, http.client.HTTPException):
            return FetchError(f"{where}: bad HTTP answer ({type(e).__name__}: {e})")
        if isinstance(e, OSError):
            return FetchError(f"{where}: {e.strerror or e}")
        return FetchError(f"{where}: {type(e).__name__}: {e}")

    # ----- TFTP -----

    def _tftp(self, name: str, sink: "_Sink", watch: "_Watchdog") -> None:
        try:
            tftp.download(self.source.host, self.source.port, self._remote(name),
                          write=sink.write,
                          on_size=sink.expect, timeout=self.timeout, deadline=watch.end,
                          blksize=self.tftp_blksize)
        except tftp.TftpError as e:
            where = self.url(name)
            if e.code == 1:
                raise NotFound(f"{where}: not on the server (TFTP: {e.message}) — check "
                               f"the file name and the path in provisioning.url") from None
            if e.code == 2 or (e.code == 0 and "permission denied" in e.message.lower()):
                # tftpd-hpa says "error 0: Permission denied" for a file it may not read.
                raise AuthFailed(f"{where}: the TFTP server refused access ({e.message}) — "
                                 f"make the file readable for everyone on the server") from None
            raise FetchError(f"{where}: the TFTP server answered error {e.code}: "
                             f"{e.message or '(no text)'}") from None

    def _tftp_put(self, name: str, data: bytes, watch: "_Watchdog") -> None:
        try:
            tftp.upload(self.source.host, self.source.port, self._remote(name), data,
                        timeout=self.timeout, deadline=watch.end, blksize=self.tftp_blksize)
        except tftp.TftpError as e:
            where, text = self.url(name), e.message or "(no text)"
            if e.code in (1, 2) or "permission denied" in text.lower():
                # tftpd-hpa: 1 "File not found" when it creates no files (or there is no
                # such directory), 0 "Permission denied" for a directory it may not write.
                raise AuthFailed(f"{where}: the TFTP server refused to write it (error "
                                 f"{e.code}: {text}) — the server must accept new files "
                                 f"(tftpd-hpa: --create) in a directory it may write "
                                 f"to") from None
            raise FetchError(f"{where}: the TFTP server answered error {e.code}: "
                             f"{text}") from None

    def _remote(self, name: str) -> str:
        """The file's path on a TFTP or FTP server: RFC 3617 and RFC 1738 both take the
        URL's path without its "/" (FTP: relative to the login directory)."""
        path = self.source.path.lstrip("/")
        return f"{path}/{name}" if path else name

    # ----- HTTP(S) -----

    def _http_url(self, name: str) -> str:
        src = self.source
        host = f"[{src.host}]" if ":" in src.host else src.host
        path = urllib.parse.quote(src.path, safe="/")
        return f"{src.scheme}://{host}:{src.port}{path}/{urllib.parse.quote(name, safe='')}" \
            + (f"?{src.query}" if src.query else "")

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                ctx = ssl.create_default_context(cafile=self.ca_file or None)
            except (OSError, ssl.SSLError) as e:
                raise BadServer(f"provisioning.ca_file {self.ca_file!r} cannot be used "
                                f"({getattr(e, 'strerror', None) or e}) — it must be a "
                                f"readable PEM file of CA certificates") from None
            self._ssl = ctx
        return self._ssl

    def _opener(self, watch: "_Watchdog") -> urllib.request.OpenerDirector:
        src = self.source
        handlers: list[urllib.request.BaseHandler] = [
            _HTTPHandler(watch), _RedirectHandler(src.scheme),
            urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.UnknownHandler()]
        if src.scheme == "https":
            handlers.append(_HTTPSHandler(watch, context=self._ssl_context()))
        if src.username:
            # Sent only when the server asks (401), only to this server; Basic or Digest.
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            host = f"[{src.host}]" if ":" in src.host else src.host
            passwords.add_password(None, f"{src.scheme}://{host}:{src.port}/",
                                   src.username, src.password)
            handlers += [urllib.request.HTTPDigestAuthHandler(passwords),
                         urllib.request.HTTPBasicAuthHandler(passwords)]
        opener = urllib.request.OpenerDirector()
        for h in handlers:
            opener.add_handler(h)
        return opener

    def _http(self, name: str, sink: "_Sink", watch: "_Watchdog") -> None:
        req = urllib.request.Request(self._http_url(name), headers={
            "User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"})
        try:
            resp = self._opener(watch).open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            e.close()
            raise self._http_status(name, e.code, e.reason) from None
        except ValueError as e:      # urllib: a 401 challenge of a scheme it cannot answer
            if "does not support" not in str(e):
                raise
            raise AuthFailed(f"{self.url(name)}: the server wants a kind of login the phone "
                             f"does not support ({e}) — use Basic or Digest auth") from None
        with resp:
            length = resp.headers.get("Content-Length", "").strip()
            total = int(length) if length.isdigit() else None
            sink.expect(total)
            while True:
                chunk = resp.read1(min(CHUNK, sink.room()))
                if not chunk:
                    break
                sink.write(chunk)
            if watch.expired:
                raise self._too_slow(name, watch)
            if total is not None and sink.count < total:
                raise FetchError(f"{self.url(name)}: the server sent {sink.count} of "
                                 f"{total} bytes — try again; if it persists, check the "
                                 f"server's log")

    def _http_status(self, name: str, code: int, reason: str) -> FetchError:
        where = self.url(name)
        if code in (404, 410):
            return NotFound(f"{where}: not on the server (HTTP {code}) — check the file "
                            f"name and the path in provisioning.url")
        if code == 401:
            if not self.source.username:
                return AuthFailed(f"{where}: the server wants a login (HTTP 401) — set "
                                  f"provisioning.username/password")
            return AuthFailed(f"{where}: login refused (HTTP 401) — check "
                              f"provisioning.username/password")
        if code == 403:
            return AuthFailed(f"{where}: access forbidden (HTTP 403) — check "
                              f"provisioning.username/password and the file's permissions "
                              f"on the server")
        if 300 <= code < 400:
            return FetchError(f"{where}: too many or looping redirects (HTTP {code}) — check "
                              f"the server's redirect rules or put the real URL in "
                              f"provisioning.url")
        return FetchError(f"{where}: the server answered HTTP {code} {reason}".rstrip())

    def _http_put(self, name: str, data: bytes, watch: "_Watchdog") -> None:
        req = urllib.request.Request(self._http_url(name), data=data, method="PUT", headers={
            "User-Agent": self.user_agent, "Content-Type": "application/xml"})
        try:
            with self._opener(watch).open(req, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            e.close()
            if e.code in (405, 501):
                raise FetchError(f"{self.url(name)}: the server takes no files there (HTTP "
                                 f"{e.code}) — allow PUT on that path (nginx: dav_methods "
                                 f"PUT)") from None
            if e.code in (404, 409):
                raise NotFound(f"{self.url(name)}: no such directory on the server (HTTP "
                               f"{e.code}) — check the path") from None
            raise self._http_status(name, e.code, e.reason) from None

    # ----- FTP -----

    def _ftp_login(self, watch: "_Watchdog") -> "_FTP":
        """Connected, logged in (anonymous without a user), binary mode; ftplib's errors
        raised as they are (the caller's words for them)."""
        src = self.source
        ftp = _FTP(watch)
        try:
            ftp.connect(src.host, src.port, self.timeout)
            if src.username:
                ftp.login(src.username, src.password)
            else:
                ftp.login("anonymous", "anonymous@")
            ftp.voidcmd("TYPE I")
        except BaseException:
            ftp.close()
            raise
        return ftp

    def _ftp(self, name: str, sink: "_Sink", watch: "_Watchdog") -> None:
        remote = self._remote(name)
        ftp = None
        try:
            with self._ftp_answers(name):
                ftp = self._ftp_login(watch)
                try:
                    total = ftp.size(remote)
                except ftplib.error_perm:
                    total = None          # no SIZE, or 550: RETR tells which
                sink.expect(total)
                conn = ftp.transfercmd(f"RETR {remote}")
            with conn:
                while True:
                    chunk = conn.recv(min(CHUNK, sink.room()))
                    if not chunk:
                        break
                    sink.write(chunk)
            if watch.expired:
                raise self._too_slow(name, watch)
            self._ftp_done(ftp, name)
            if total is not None and sink.count != total:
                raise FetchError(f"{self.url(name)}: got {sink.count} of {total} bytes")
        finally:
            if ftp is not None:
                ftp.close()

    def _ftp_put(self, name: str, data: bytes, watch: "_Watchdog") -> None:
        ftp = None
        try:
            with self._ftp_answers(name, writing=True):
                ftp = self._ftp_login(watch)
                conn = ftp.transfercmd(f"STOR {self._remote(name)}")
            with conn:
                conn.sendall(data)
            self._ftp_done(ftp, name)
        finally:
            if ftp is not None:
                ftp.close()

    @contextlib.contextmanager
    def _ftp_answers(self, name: str, *, writing: bool = False):
        """The FTP server's refusals (5xx) and troubles (4xx) as errors for people."""
        try:
            yield
        except ftplib.error_perm as e:
            raise self._ftp_refused(name, str(e), writing=writing) from None
        except ftplib.error_temp as e:
            raise FetchError(f"{self.url(name)}: the FTP server is busy or failing "
                             f"({e}) — try again later") from None

    def _ftp_done(self, ftp: "_FTP", name: str) -> None:
        """The server's word on the transfer just made (226), then goodbye."""
        try:
            ftp.voidresp()
        except ftplib.Error as e:
            raise FetchError(f"{self.url(name)}: the transfer did not complete ({e}) — "
                             f"try again; if it persists, check the server's log") from None
        try:
            ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            pass        # a server that hangs up first has done no harm

    def _ftp_refused(self, name: str, reply: str, *, writing: bool = False) -> FetchError:
        where, code = self.url(name), reply[:3]
        if code == "530":
            if self.source.username:
                return AuthFailed(f"{where}: login refused ({reply}) — check "
                                  f"provisioning.username/password")
            return AuthFailed(f"{where}: anonymous login refused ({reply}) — set "
                              f"provisioning.username/password")
        if writing and code in ("550", "553", "452", "552"):
            return AuthFailed(f"{where}: the FTP server refused to store it ({reply}) — "
                              f"the user must be allowed to write in that directory "
                              f"(vsftpd: write_enable=YES)")
        if code == "550":
            return NotFound(f"{where}: not on the server ({reply}) — check the file name "
                            f"and the path in provisioning.url")
        return FetchError(f"{where}: the FTP server refused ({reply})")


class _Sink:
    """Counts bytes against max_bytes (TooLarge as soon as a size or a byte is over)."""

    def __init__(self, where: str, max_bytes: int, write: Callable[[bytes], object],
                 progress: Progress | None):
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.where, self.max_bytes = where, max_bytes
        self._write, self._progress = write, progress
        self.count = 0
        self.total: int | None = None
        self.raised: BaseException | None = None

    def expect(self, total: int | None) -> None:
        if total is not None and total > self.max_bytes:
            raise TooLarge(f"{self.where}: {total} bytes, more than the {self.max_bytes} "
                           f"allowed for this file — check that it is the right file")
        self.total = total
        self._report()

    def room(self) -> int:
        """Bytes to read at most: one past the limit is enough to know it is too large."""
        return self.max_bytes + 1 - self.count

    def write(self, data: bytes) -> None:
        if self.count + len(data) > self.max_bytes:
            raise TooLarge(f"{self.where}: more than the {self.max_bytes} bytes allowed for "
                           f"this file; stopped — check that it is the right file")
        try:
            self._write(data)
        except OSError as e:
            raise ProvisionError(f"{self.where}: cannot store it on the phone "
                                 f"({e.strerror or e}) — free some space") from e
        self.count += len(data)
        self._report()

    def _report(self) -> None:
        if self._progress is None:
            return
        try:
            self._progress(self.count, self.total)
        except BaseException as e:
            self.raised = e
            raise


class _Watchdog:
    """The overall deadline: when it passes, every socket of the transfer is shut down, so
    whatever read is blocked returns at once (an error or EOF) and the fetch reports it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _shutdown(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for s in self._socks:
                _shutdown(s)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, also for an SSLSocket: it must not touch TLS state
        # that the reading thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, watch: _Watchdog, **kw):
        super().__init__(*args, **kw)
        create = self._create_connection
        self._create_connection = lambda *a, **k: watch.watch(create(*a, **k))


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, watch: _Watchdog, **kw):
        super().__init__(*args, **kw)
        self._watch = watch
        create = self._create_connection
        self._create_connection = lambda *a, **k: watch.watch(create(*a, **k))

    def connect(self) -> None:
        super().connect()
        self._watch.watch(self.sock)            # the TLS socket that replaced the raw one


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watchdog):
        super().__init__()
        self._watch = watch

    def http_open(self, req):
        return self.do_open(functools.partial(_WatchedHTTPConnection, watch=self._watch), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watchdog, *, context: ssl.SSLContext):
        super().__init__(context=context)
        self._watch = watch
        self._ctx = context

    def https_open(self, req):
        return self.do_open(functools.partial(_WatchedHTTPSConnection, watch=self._watch),
                            req, context=self._ctx)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS; never from https down to http."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, scheme: str):
        super().__init__()
        self._allowed = ("https",) if scheme == "https" else ("http", "https")

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme and scheme not in self._allowed:
            raise FetchError(f"{_shown(req.full_url)}: the server redirects to "
                             f"{_shown(newurl)}; refusing to leave https — put the right "
                             f"https URL in provisioning.url")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _shown(url: str) -> str:
    """A URL for people: its query as "?…" (it may hold a token, as Source.url says)."""
    head, asks, _ = url.partition("?")
    return head + ("?…" if asks else "")


class _FTP(ftplib.FTP):
    """ftplib with its control and data sockets under the watchdog."""

    def __init__(self, watch: _Watchdog):
        super().__init__()
        self._watch = watch

    def connect(self, host: str = "", port: int = 0, timeout: float = -999,
                source_address=None) -> str:
        # As ftplib.FTP.connect, but the socket is watched before the greeting is read.
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = self._watch.watch(socket.create_connection((host, port), timeout))
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(self, cmd, rest=None):
        conn, size = super().ntransfercmd(cmd, rest)
        self._watch.watch(conn)
        return conn, size


__all__ = ["Source", "parse_server", "Fetcher", "check_name", "DEFAULT_PORTS"]
