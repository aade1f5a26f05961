"""OpenLDAP's slapd on 127.0.0.1 with a small directory, for the LDAP phone book's tests.

A config database made with slapadd -n0 in the workdir (back_mdb, the core, cosine and
inetOrgPerson schemas), slapd in the foreground (`-d 0`: without it slapd forks and the PID
we started is gone) and killed by PID with the test run (tests/peers/_process.py). The
entries are loaded with slapadd before the start: no bind, no ldapadd round trips.

`tls=(cert, key)` adds ldaps:// on a second port and StartTLS on the plain one.
Debian 12: apt-get install slapd ldap-utils (the Makefile's apt list); missing = PeerError.
"""
from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from .ports import HOST, free_port
from ._process import Peer, PeerError

BASE = "dc=example,dc=com"
ADMIN = f"cn=admin,{BASE}"
PASSWORD = "secret"

# (cn, sn, telephoneNumber, mobile): names with the characters a filter must escape
PEOPLE = [
    ("John Smith", "Smith", ["1001"], ["0170 555 1001"]),
    ("Mary Jones", "Jones", ["1002"], []),
    ("Star*Man", "Man", ["1003"], []),
    ("Paren (Sales)", "Sales", ["1004"], []),
    ("Back\\Slash", "Slash", ["1005"], []),
    ("张三", "张", ["1006"], []),
    ("Johanna Berg", "Berg", ["1007", "1008"], ["0170 555 1007"]),
    ("Jo Adams", "Adams", ["1009"], []),
]


def _ldif_value(name: str, value: str) -> str:
    """name: value, or name:: base64 when LDIF needs it (non-ASCII, a leading space...)."""
    if value.isascii() and not value.startswith((" ", ":", "<")):
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def directory_ldif(people=PEOPLE) -> str:
    out = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\n"
           f"dc: example\no: Example\n",
           f"dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n"]
    for n, (cn, sn, phones, mobiles) in enumerate(people, 1):
        dn = f"dn: uid=p{n},ou=people,{BASE}"     # a uid: no DN escaping of the names
        lines = [dn, "objectClass: inetOrgPerson", f"uid: p{n}", _ldif_value("cn", cn),
                 _ldif_value("sn", sn)]
        lines += [f"telephoneNumber: {p}" for p in phones] + [f"mobile: {m}" for m in mobiles]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _config_ldif(db: Path, password_hash: str, tls: tuple[Path, Path] | None) -> str:
    tls_lines = (f"olcTLSCertificateFile: {tls[0]}\nolcTLSCertificateKeyFile: {tls[1]}\n"
                 if tls else "")
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {db}
olcSuffix: {BASE}
olcRootDN: {ADMIN}
olcRootPW: {password_hash}
olcDbMaxSize: 104857600
olcAccess: {{0}}to * by * read
"""


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                  else None)
    if path is None:
        raise PeerError(f"{name} is not installed: apt-get install slapd ldap-utils "
                        "(make test installs them)")
    return path


class Slapd(Peer):
    name = "slapd"

    def __init__(self, workdir: Path, *, tls: tuple[Path, Path] | None = None,
                 people=PEOPLE, start_timeout: float = 10.0):
        self.workdir = Path(workdir)
        self.tls = tls
        self.people = people
        self.port = free_port("tcp")
        self.tls_port = free_port("tcp") if tls else None
        self.start_timeout = start_timeout
        self.log_path = self.workdir / "slapd.log"
        self._proc = None

    def start(self) -> "Slapd":
        slapd, slapadd, slappasswd = _tool("slapd"), _tool("slapadd"), _tool("slappasswd")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf, db = self.workdir / "slapd.d", self.workdir / "db"
        for d in (conf, db):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
        digest = subprocess.run([slappasswd, "-s", PASSWORD], capture_output=True, text=True,
                                timeout=30, check=True).stdout.strip()
        (self.workdir / "config.ldif").write_text(_config_ldif(db, digest, self.tls))
        (self.workdir / "data.ldif").write_text(directory_ldif(self.people), encoding="utf-8")
        for argv in ([slapadd, "-n0", "-F", conf, "-l", self.workdir / "config.ldif"],
                     [slapadd, "-F", conf, "-b", BASE, "-l", self.workdir / "data.ldif"]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            if done.returncode:
                raise PeerError(f"{argv[0]} failed ({done.returncode}): {done.stderr}")

        def argv() -> list:
            urls = f"ldap://{HOST}:{self.port}/"
            if self.tls:
                urls += f" ldaps://{HOST}:{self.tls_port}/"
            return [slapd, "-h", urls, "-F", conf, "-d", "0"]

        def repick() -> None:
            self.port = free_port("tcp")
            self.tls_port = free_port("tcp") if self.tls else None

        return self.launch(argv, ready=self._probe, what=f"slapd start on {HOST}:{self.port}",
                           cwd=self.workdir,
                           clashed=lambda logged: "Address already in use" in logged,
                           repick=repick)

    def _probe(self) -> bool:
        for port in filter(None, (self.port, self.tls_port)):
            try:
                socket.create_connection((HOST, port), timeout=0.2).close()
            except OSError:
                return False
        return True


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte: an LDAP
    server that hangs (the lookup waits out its timeout). `accepted`: set at the first."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.count = 0
        self._held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.count += 1
            self.accepted.set()

    def close(self) -> None:
        """Stop listening for good: shutdown() wakes the thread blocked in accept() (a
        plain close() does not, and the kernel kept taking connections on the port while
        that call held the socket), then the thread is joined (bounded) and closed."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass                                    # not listening any more
        self.thread.join(timeout=5)
        self.sock.close()
        for c in self._held:
            c.close()
