"""Real provisioning servers for tests: in.tftpd (tftpd-hpa), nginx (http + https), vsftpd.

Why real ones: a provisioning client is only as good as the servers it was tried against, and
each of these has habits a hand-written fake would not have (tftpd-hpa's new TID port and
tsize, nginx's 401 challenge and chunked replies, vsftpd's 530/550 and SIZE).

Each server lives in its own directory, listens on 127.0.0.1 on ports from free_port(), runs
in its own process group (PeerProcess) and is stopped by PID; `put(name, data)` places a file
it serves, `put_sparse(name, size)` a large file that costs no disk (truncate), `url(path)`
says where it is. Facts behind the configs: /work/shared/notes/test-peers.md.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from ._process import Peer, PeerError, wait_for
from .ports import HOST, free_port



def _binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if not path:
        raise PeerError(f"{name} not installed (apt-get install {package})")
    return path


def _place(root: Path, name: str, data: bytes | None = None, *, size: int | None = None,
           mode: int = 0o644) -> Path:
    """Write root/name (subdirs 0755, file `mode`); size= makes a sparse file instead."""
    rel = Path(name.lstrip("/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"file name must stay inside the server root: {name!r}")
    path = root / rel
    parent = root
    for part in rel.parts[:-1]:
        parent = parent / part
        parent.mkdir(mode=0o755, exist_ok=True)
        parent.chmod(0o755)
    if size is not None:
        with open(path, "wb") as f:
            f.truncate(size)
    else:
        path.write_bytes(data or b"")
    path.chmod(mode)
    return path


def _bindable(port: int, kind: str) -> bool:
    sock = socket.socket(socket.AF_INET,
                         socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _is_nginx(port: int, *, tls: bool) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as raw:
            sock = raw
            if tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                sock = ctx.wrap_socket(raw)
            sock.sendall(b"HEAD /.ready-probe HTTP/1.0\r\n\r\n")
            return b"Server: nginx" in sock.recv(4096)
    except OSError:
        return False


class _Server(Peer):
    """A server's start: a config for its ports, retried on a port clash; its stop() is
    safe to call twice."""

    name = "server"

    def __init__(self, workdir: Path, *, start_timeout: float = 5.0):
        self.workdir = Path(workdir)
        self.start_timeout = start_timeout
        self.log_path = self.workdir / f"{self.name}.log"
        self._proc = None

    def _pick_ports(self) -> None:
        raise NotImplementedError

    def _ports(self) -> list[tuple[int, str]]:
        """(port, "tcp"/"udp") the server binds."""
        raise NotImplementedError

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files for the current ports."""

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self):
        if self.alive():
            raise PeerError(f"{self.name} already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            return self._start()
        except BaseException:
            self.stop()      # __exit__ does not run when __enter__ raised
            raise

    def _start(self):
        def argv() -> list[str]:
            self._prepare()
            return self._argv()

        def clashed(logged: str) -> bool:
            # vsftpd says nothing and exits 2: look at the ports themselves too.
            return "in use" in logged or not all(_bindable(p, kind) for p, kind in self._ports())

        return self.launch(argv, ready=self._ready, what=f"{self.name} start",
                           cwd=self.workdir, clashed=clashed, repick=self._pick_ports)

    def stop(self) -> None:
        if self._proc:
            # Children that made sessions of their own (vsftpd: one per client) are not in
            # the process group stop() kills: find them before the parent goes.
            pid = self._proc.pid
            strays = _descendants(pid) if pid and self._proc.alive() else []
            self._proc.stop(timeout=3.0)
            for child, cmdline in strays:
                _kill_if_same(child, cmdline)



class Tftpd(_Server):
    """tftpd-hpa serving workdir/root (0755; chrooted, files must be world-readable).

    refuse=("blksize", "tsize"): options it ignores, like an old RFC 1350-only server.
    writable=True: it takes writes (WRQ) and creates files (--create) in a root of 0777 (it
    writes as the user `tftp`), as a server receiving phone book backups is set up.
    """

    name = "tftpd"

    def __init__(self, workdir: Path, *, refuse: tuple[str, ...] = (), writable: bool = False,
                 **kw):
        super().__init__(workdir, **kw)
        self.root = self.workdir / "root"
        self.refuse = tuple(refuse)
        self.writable = writable
        self.port = free_port("udp")

    def _pick_ports(self) -> None:
        self.port = free_port("udp")

    def _ports(self) -> list[tuple[int, str]]:
        return [(self.port, "udp")]

    def _prepare(self) -> None:
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.root.chmod(0o777 if self.writable else 0o755)

    def _argv(self) -> list[str]:
        refuse = [arg for opt in self.refuse for arg in ("--refuse", opt)]
        create = ["--create"] if self.writable else []
        return [_binary("in.tftpd", "tftpd-hpa"), "--foreground", "--listen",
                "--address", f"{HOST}:{self.port}", "--secure", "--verbose", *refuse,
                *create, str(self.root)]

    def _ready(self) -> bool:
        # An RRQ for a missing file must come back as an ERROR packet. IP_RECVERR: "port
        # unreachable" ends the wait at once while the server is not bound yet.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVERR", 11), 1)
            s.settimeout(0.5)
            try:
                s.sendto(b"\x00\x01.probe-missing\x00octet\x00", (HOST, self.port))
                data, _ = s.recvfrom(516)
            except OSError:
                return False
            return data[:2] == b"\x00\x05"

    def url(self, path: str = "", *, scheme: str = "tftp") -> str:
        return f"{scheme}://{HOST}:{self.port}/{path.strip('/')}".rstrip("/")

    def put(self, name: str, data: bytes, *, mode: int = 0o644) -> Path:
        self._prepare()
        return _place(self.root, name, data, mode=mode)

    def put_sparse(self, name: str, size: int) -> Path:
        self._prepare()
        return _place(self.root, name, size=size)


NGINX_CONF = """\
daemon off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format ua '$remote_addr "$request" $status $body_bytes_sent "$http_user_agent" '
                  'user=$remote_user';
    access_log {d}/access.log ua;
    client_body_temp_path {d}/body;  proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;  uwsgi_temp_path {d}/uwsgi;  scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    server {{
        listen {host}:{http_port};
        listen {host}:{https_port} ssl;
        ssl_certificate {d}/cert.pem;  ssl_certificate_key {d}/key.pem;
        root {d}/www;
        # Basic auth over the same files.
        location /private/ {{ alias {d}/www/; auth_basic "provisioning";
                              auth_basic_user_file {d}/htpasswd; }}
        # 401 for everyone, with no challenge to answer.
        location /deny/ {{ return 401; }}
        # Headers at once, then about {rate} bytes a second: alive but far too slow.
        location /slow/ {{ alias {d}/www/; limit_rate {rate}; limit_rate_after 1k;
                           sendfile off; output_buffers 1 64; }}
        # No Content-Length: SSI processing makes nginx send the body chunked.
        location /chunked/ {{ alias {d}/www/; ssi on; ssi_types *; }}
        # Redirects, bounded and endless.
        location = /moved {{ return 302 /private/; }}
        location /loop/ {{ return 302 /loop/; }}
        location /redir/ {{ rewrite ^/redir/(.*)$ /$1 redirect; }}
        # From https down to plain http, the query kept (a phone refuses to follow).
        location /down/ {{ return 302 http://{host}:{http_port}$request_uri; }}
        # Files sent with PUT (a phone book backup) land in www/put/.
        location /put/ {{ dav_methods PUT; create_full_put_path on; dav_access all:r; }}
    }}
}}
"""


class Nginx(_Server):
    """nginx with http and https (self-signed cert for IP:127.0.0.1) on free ports.

    Locations: / (files in www), /private/ (Basic auth, user/password below), /deny/ (401
    always), /slow/ (files at `rate` bytes/s), /chunked/ (files without Content-Length),
    /redir/X (302 to /X), /loop/ (302 to itself), /put/ (takes files sent with PUT, into
    www/put/).
    """

    name = "nginx"

    def __init__(self, workdir: Path, *, user: str = "alice", password: str = "wonderland",
                 rate: int = 20, **kw):
        super().__init__(workdir, **kw)
        self.user, self.password, self.rate = user, password, rate
        self.www = self.workdir / "www"
        self.cert = self.workdir / "cert.pem"
        self.key = self.workdir / "key.pem"
        self.access_log = self.workdir / "access.log"
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.http_port = free_port("tcp")
        self.https_port = free_port("tcp")
        while self.https_port == self.http_port:
            self.https_port = free_port("tcp")

    def _ports(self) -> list[tuple[int, str]]:
        return [(self.http_port, "tcp"), (self.https_port, "tcp")]

    def _prepare(self) -> None:
        d = self.workdir
        self.www.mkdir(parents=True, exist_ok=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / sub).mkdir(exist_ok=True)
        if not self.cert.exists():
            _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                  "-subj", "/CN=deskphone-test", "-addext", f"subjectAltName=IP:{HOST}",
                  "-keyout", str(self.key), "-out", str(self.cert)], what="openssl req")
        hashed = _run(["openssl", "passwd", "-apr1", self.password],
                      what="openssl passwd").stdout.strip()
        (d / "htpasswd").write_text(f"{self.user}:{hashed}\n")
        (d / "nginx.conf").write_text(NGINX_CONF.format(
            d=d, host=HOST, http_port=self.http_port, https_port=self.https_port,
            rate=self.rate))

    def _argv(self) -> list[str]:
        return [_binary("nginx", "nginx"), "-p", str(self.workdir),
                "-c", str(self.workdir / "nginx.conf")]

    def log_text(self) -> str:
        text = super().log_text()
        try:
            text += (self.workdir / "error.log").read_text(errors="replace")
        except OSError:
            pass
        return text

    def _ready(self) -> bool:
        # nginx retries a busy port for seconds: ask it, not whoever holds the port.
        return _is_nginx(self.http_port, tls=False) and _is_nginx(self.https_port, tls=True)

    def url(self, path: str = "", *, https: bool = False, scheme: str = "") -> str:
        scheme = scheme or ("https" if https else "http")
        port = self.https_port if scheme.lower() == "https" else self.http_port
        return f"{scheme}://{HOST}:{port}/{path.strip('/')}".rstrip("/")

    def put(self, name: str, data: bytes, *, mode: int = 0o644) -> Path:
        self.www.mkdir(parents=True, exist_ok=True)
        return _place(self.www, name, data, mode=mode)

    def put_sparse(self, name: str, size: int) -> Path:
        self.www.mkdir(parents=True, exist_ok=True)
        return _place(self.www, name, size=size)

    def requests(self) -> list[str]:
        """Access log lines: addr "GET /path HTTP/1.1" status bytes "user agent" user=...
        (without the start-up and settle probes).

        nginx writes a line after it has sent the reply, so a client can have its answer
        before the line is there. This first sends a probe of its own through the same
        (single) worker and waits for the probe's line: what was answered before is logged by
        then. A request in a lingering close may still come later; to count lines, use
        wait_requests()."""
        self._settle_seq = getattr(self, "_settle_seq", 0) + 1
        probe = f"/.settle-probe/{os.getpid()}-{self._settle_seq}"
        try:
            with socket.create_connection((HOST, self.http_port), timeout=2) as sock:
                sock.sendall(f"HEAD {probe} HTTP/1.0\r\n\r\n".encode())
                sock.recv(4096)
        except OSError:
            pass       # a stopped server: its log is all there is
        else:
            wait_for(lambda: any(probe + " " in line for line in self._lines()), timeout=3.0,
                     what=f"nginx access log line of its settle probe {probe}",
                     log=self.access_log)
        return [line for line in self._lines()
                if "/.ready-probe " not in line and "/.settle-probe/" not in line]

    def _lines(self) -> list[str]:
        try:
            return self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def wait_requests(self, fragment: str, count: int, timeout: float = 3.0) -> list[str]:
        """The access log lines containing `fragment`, once there are at least `count`."""
        def enough():
            lines = [line for line in self._lines() if fragment in line]
            return lines if len(lines) >= count else None
        return wait_for(enough, timeout=timeout,
                        what=f"{count} nginx access log lines with {fragment!r}",
                        log=self.access_log)

    def wait_request(self, fragment: str, timeout: float = 3.0) -> str:
        """The first access log line containing `fragment` (nginx logs after the reply)."""
        return self.wait_requests(fragment, 1, timeout)[0]


VSFTPD_CONF = """\
listen=YES
listen_address={host}
listen_port={port}
anonymous_enable=YES
anon_root={root}
no_anon_password=YES
local_enable=YES
local_root={root}
chroot_local_user=YES
write_enable={write}
local_umask=022
secure_chroot_dir={d}/empty
pasv_enable=YES
pasv_address={host}
pasv_min_port={pasv_min}
pasv_max_port={pasv_max}
xferlog_enable=YES
vsftpd_log_file={d}/vsftpd.log
pam_service_name=vsftpd
seccomp_sandbox=NO
delay_failed_login=0
anon_max_rate={max_rate}
local_max_rate={max_rate}
"""


class Vsftpd(_Server):
    """vsftpd: anonymous login and one local user, both see the same root.

    max_rate: bytes a second per transfer (0 = no limit), for a server that is too slow.
    writable=True: the local user may store files (write_enable) where the directory lets
    them: root/ stays root's (vsftpd refuses a writable chroot), `writable_dir(name)`
    makes one they may write in.

    The user is a real account with a name unique to this run (created at start, deleted at
    stop). Everything lives in a 0755 directory under the system temp dir, because vsftpd
    changes into it as that user or as `ftp` (a 0700 pytest dir would refuse them).
    """

    name = "vsftpd"

    def __init__(self, workdir: Path, *, password: str = "s3cret-ftp", max_rate: int = 0,
                 writable: bool = False, **kw):
        super().__init__(workdir, **kw)
        self.password = password
        self.max_rate = max_rate          # bytes/s per transfer, 0 = unlimited
        self.writable = writable
        self.user = f"dpftp{os.getpid() % 100000}{random.randrange(1000):03d}"
        self._home: Path | None = None
        self._user_made = False
        self._pick_ports()

    @property
    def root(self) -> Path:
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="dp-ftp-"))
            self._home.chmod(0o755)
            (self._home / "root").mkdir(mode=0o755)
            (self._home / "empty").mkdir(mode=0o755)
        return self._home / "root"

    def _pick_ports(self) -> None:
        self.port = free_port("tcp")
        self.pasv_min = free_port("tcp", span=8)
        self.pasv_max = self.pasv_min + 7

    def _ports(self) -> list[tuple[int, str]]:
        return [(self.port, "tcp")]

    def _prepare(self) -> None:
        root = self.root
        d = root.parent
        if not self._user_made:
            _run(["useradd", "-M", "-d", str(root), "-s", "/bin/bash", self.user],
                 what="useradd")
            self._user_made = True
            _run(["chpasswd"], what="chpasswd", input=f"{self.user}:{self.password}\n")
        (self.workdir / "vsftpd.conf").write_text(VSFTPD_CONF.format(
            host=HOST, port=self.port, root=root, d=d, pasv_min=self.pasv_min,
            pasv_max=self.pasv_max, max_rate=self.max_rate,
            write="YES" if self.writable else "NO"))

    def _argv(self) -> list[str]:
        return [_binary("vsftpd", "vsftpd"), str(self.workdir / "vsftpd.conf")]

    def log_text(self) -> str:
        text = super().log_text()
        if self._home is not None:
            try:
                text += (self._home / "vsftpd.log").read_text(errors="replace")
            except OSError:
                pass
        return text

    def _ready(self) -> bool:
        # It listens even when every session would end in "500 OOPS": probe with a login.
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as s:
                f = s.makefile("rb")
                if not f.readline().startswith(b"220"):
                    return False
                s.sendall(b"USER anonymous\r\n")
                if not f.readline().startswith(b"230"):
                    return False
                s.sendall(b"QUIT\r\n")
                return True
        except OSError:
            return False

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._user_made:
                # Sessions are children in the same process group: gone after stop().
                for _ in range(20):
                    res = subprocess.run(["userdel", self.user], capture_output=True,
                                         text=True, timeout=10)
                    if res.returncode in (0, 6):  # 6: no such user
                        break
                    time.sleep(0.1)               # 8: user still logged in
                self._user_made = False
            if self._home is not None:
                shutil.rmtree(self._home, ignore_errors=True)
                self._home = None

    def transfers(self) -> list[str]:
        """vsftpd's own log: logins and 'OK DOWNLOAD: ... "/path", N bytes' lines."""
        if self._home is None:
            return []
        try:
            return (self._home / "vsftpd.log").read_text(errors="replace").splitlines()
        except OSError:
            return []

    def wait_transfer(self, *fragments: str, timeout: float = 3.0) -> str:
        """The first log line holding every fragment: vsftpd logs a transfer after its 226
        reply, so a client can be done before the line is there."""
        return wait_for(lambda: next((line for line in self.transfers()
                                      if all(f in line for f in fragments)), None),
                        timeout=timeout, what=f"vsftpd log line with {fragments!r}",
                        log=self._home / "vsftpd.log" if self._home else None)

    def url(self, path: str = "", *, scheme: str = "ftp", user: bool = False) -> str:
        cred = f"{self.user}:{self.password}@" if user else ""
        return f"{scheme}://{cred}{HOST}:{self.port}/{path.strip('/')}".rstrip("/")

    def put(self, name: str, data: bytes, *, mode: int = 0o644) -> Path:
        return _place(self.root, name, data, mode=mode)

    def put_sparse(self, name: str, size: int) -> Path:
        return _place(self.root, name, size=size)

    def writable_dir(self, name: str) -> Path:
        """root/name, world-writable (0777): the local user stores files there."""
        path = self.root / name.strip("/")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)
        return path


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _descendants(pid: int) -> list[tuple[int, bytes]]:
    """(pid, cmdline) of every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append((child, _cmdline(child)))
            todo.append(child)
    return out


def _kill_if_same(pid: int, cmdline: bytes) -> None:
    """SIGKILL pid's process group if pid is still the process we saw (same cmdline)."""
    if not cmdline or _cmdline(pid) != cmdline:
        return
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run(argv: list[str], *, what: str, input: str | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=30)
    if res.returncode != 0:
        raise PeerError(f"{what} failed ({res.returncode}): {res.stderr.strip()}")
    return res
