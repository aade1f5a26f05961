"""Kamailio as a real registrar + proxy for tests.

Why a real one: the phone's registration logic (digest auth, 423 Interval Too Brief,
re-registration timing) and call routing must be tested against a server that behaves like
production ones, not against a mock written by the same people as the phone.

The cfg is tests/peers/kamailio.cfg rendered per instance (port, users, 423 behaviour).
Everything runs in memory: usrloc db_mode 0, passwords in an htable; a restart forgets
registrations and the 423 counters, as a real registrar reboot would.
"""

from __future__ import annotations

import glob
import re
import shutil
import socket
import string
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Mapping

from ._process import Peer, PeerError, wait_for
from .ports import HOST, free_port

CFG_TEMPLATE = Path(__file__).with_name("kamailio.cfg")
DEFAULT_USERS: Mapping[str, str] = {"1001": "secret1001", "1002": "secret1002",
                                    "1003": "secret1003", "1004": "secret1004"}
DBTEXT_TABLES = "/usr/share/kamailio/dbtext/kamailio"   # Debian kamailio-presence-modules


class _CfgTemplate(string.Template):
    """`%%{NAME}` placeholders: `$` is everywhere in Kamailio's own syntax."""
    delimiter = "%%"


def kamailio_binary() -> str:
    path = shutil.which("kamailio") or "/usr/sbin/kamailio"
    if not Path(path).exists():
        raise PeerError("kamailio not installed (apt-get install kamailio)")
    return path


def kamcmd_binary() -> str:
    return shutil.which("kamcmd") or "/usr/sbin/kamcmd"


def module_dir() -> Path:
    """Kamailio's module dir for this architecture (x86_64 and arm64 Debian alike)."""
    candidates: list[str] = []
    try:
        arch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
                              capture_output=True, text=True, timeout=5).stdout.strip()
        if arch:
            candidates.append(f"/usr/lib/{arch}/kamailio/modules")
    except (OSError, subprocess.TimeoutExpired):
        pass
    candidates += sorted(glob.glob("/usr/lib/*/kamailio/modules"))
    candidates += ["/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"]
    for cand in candidates:
        if Path(cand, "tm.so").exists():
            return Path(cand)
    raise PeerError(f"no Kamailio module dir with tm.so among {candidates}")


class Kamailio(Peer):
    """One Kamailio instance on 127.0.0.1:port (UDP and TCP) with its files in `workdir`.

    reply_423=N: the first N REGISTERs per user with non-zero expires get
    "423 Interval Too Brief" with Min-Expires min_expires_423, doubling each time unless
    min_expires_423_constant; after that save() as usual.  min_expires/min_expires_mode are
    the registrar's own parameters (mode 1 = answer 423 below min_expires, 0 = raise silently);
    max_expires caps what a UA asks for (the 200's Contact carries the granted expires).
    """

    name = "kamailio"

    def __init__(self, workdir: Path, *, port: int | None = None,
                 users: Mapping[str, str] | None = None, min_expires: int = 0,
                 max_expires: int = 86400, min_expires_mode: bool = False, reply_423: int = 0,
                 min_expires_423: int = 60, min_expires_423_constant: bool = False,
                 auth: bool = True, start_timeout: float = 5.0, presence: bool = False,
                 presence_max_expires: int = 3600):
        self.workdir = Path(workdir)
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port("both")
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.min_expires_mode = min_expires_mode
        self.reply_423 = reply_423
        self.min_expires_423 = min_expires_423
        self.min_expires_423_constant = min_expires_423_constant
        self.auth = auth
        # BLF server: dialog states of calls it proxies, to dialog-event subscribers; its
        # db_text tables are fresh at every start (a restart forgets subscriptions)
        self.presence = presence
        self.presence_max_expires = presence_max_expires
        self.start_timeout = start_timeout
        self.cfg_path = self.workdir / "kamailio.cfg"
        self.log_path = self.workdir / "kamailio.log"
        self._short_dir: Path | None = None
        self.ctl_socket = self._ctl_socket_path()
        self._proc = None

    # ----- lifecycle -----

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> "Kamailio":
        """Start and return once it answers an OPTIONS probe; raise PeerError otherwise."""
        if self.alive():
            raise PeerError(f"kamailio already running on {self.addr}")
        self.workdir.mkdir(parents=True, exist_ok=True)

        def argv() -> list:
            self._write_cfg()
            return [kamailio_binary(), "-DD", "-E", "-f", self.cfg_path,
                    "-P", self.workdir / "kamailio.pid", "-Y", self.ctl_socket.parent,
                    "-w", self.workdir, "-m", "32", "-M", "8"]

        def repick() -> None:
            self.port = free_port("both")

        return self.launch(argv, ready=self._probe, what=f"kamailio start on {self.addr}",
                           cwd=self.workdir,
                           clashed=lambda logged: "Address already in use" in logged,
                           repick=None if self._fixed_port else repick)

    def stop(self) -> None:
        """Stop by PID (SIGTERM, then SIGKILL to the process group)."""
        if self._proc:
            self._proc.stop(timeout=3.0)
        self.ctl_socket.unlink(missing_ok=True)

    def restart(self) -> "Kamailio":
        """Stop and start again on the same port (registrations and 423 counters are lost)."""
        self.stop()
        self._fixed_port = True
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._short_dir:
            shutil.rmtree(self._short_dir, ignore_errors=True)
            self._short_dir = None

    # ----- logs -----

    def wait_log(self, regex: str, timeout: float = 5.0, *, since: int = 0) -> re.Match:
        """Wait (bounded) until `regex` matches the log after char offset `since`."""
        rx = re.compile(regex, re.MULTILINE)

        def found():
            return rx.search(self.log_text(), since)

        return wait_for(found, timeout=timeout, what=f"kamailio log /{regex}/",
                        log=self.log_path, proc=self._proc)

    def events(self) -> list[dict]:
        """All SIPREQ/SIPRPL/SIPOUT xlog lines as dicts (kind, t, m, code, fu, tu, ct, ...)."""
        out = []
        for line in self.log_text().splitlines():
            m = re.search(r"\b(SIPREQ|SIPRPL|SIPOUT)\|(.*)$", line)
            if not m:
                continue
            ev = {"kind": m.group(1)}
            for field in m.group(2).split("|"):
                key, _, value = field.partition("=")
                ev[key] = None if value == "<null>" else value
            out.append(ev)
        return out

    def registers(self, user: str) -> list[dict]:
        """REGISTERs for AOR `user` in arrival order, each joined with the reply we sent.

        Keys: time (float, wall clock), expires (int|None: Contact param or Expires header),
        contact, src, call_id, cseq, code (int|None if no reply yet), reply_time,
        min_expires (from a 423), reply_expires (Expires header, else the Contact's
        expires param: Kamailio answers 200 with the latter), reply_contact.
        """
        evs = self.events()
        regs = []
        for ev in evs:
            if ev["kind"] == "SIPREQ" and ev.get("m") == "REGISTER" and ev.get("tu") == user:
                regs.append({"time": float(ev["t"]), "expires": _int(ev.get("exp")),
                             "contact": ev.get("ct"), "src": ev.get("src"),
                             "call_id": ev.get("ci"), "cseq": _int(ev.get("cs")),
                             "code": None, "reply_time": None, "min_expires": None,
                             "reply_expires": None, "reply_contact": None})
        for reg in regs:
            for ev in evs:
                if (ev["kind"] == "SIPOUT" and ev.get("m") == "REGISTER"
                        and ev.get("ci") == reg["call_id"] and _int(ev.get("cs")) == reg["cseq"]
                        and float(ev["t"]) >= reg["time"]):
                    contact = ev.get("ct")
                    param = re.search(r";\s*expires=(\d+)", contact or "")
                    reply_expires = _int(ev.get("exp")) or (int(param.group(1)) if param else None)
                    reg.update(code=_int(ev.get("code")), reply_time=float(ev["t"]),
                               min_expires=_int(ev.get("mexp")),
                               reply_expires=reply_expires, reply_contact=contact)
                    break
        return regs

    def wait_register(self, user: str, code: int = 200, timeout: float = 5.0, *,
                      count: int = 1, where: Callable[[dict], bool] | None = None) -> dict:
        """Wait until `count` REGISTERs of `user` answered with `code` (and for which
        `where(register)` holds, if given) are in the log; return the last of them.

        Use this rather than registers() right after a UA saw its reply: Kamailio logs its
        reply just after sending it, so the UA can be a hair faster than the log.
        """
        def found():
            hits = [r for r in self.registers(user)
                    if r["code"] == code and (where is None or where(r))]
            return hits[count - 1] if len(hits) >= count else None

        return wait_for(found, timeout=timeout, what=f"REGISTER {user} -> {code} in log",
                        log=self.log_path, proc=self._proc)

    # ----- state from Kamailio itself -----

    def rpc(self, *args: str, timeout: float = 5.0) -> subprocess.CompletedProcess:
        """Run `kamcmd -s unix:<ctl socket> ARGS...` against this instance."""
        return subprocess.run([kamcmd_binary(), "-s", f"unix:{self.ctl_socket}", *args],
                              capture_output=True, text=True, timeout=timeout)

    def registered_contacts(self, user: str) -> list[str]:
        """Contact URIs usrloc holds for `user` now (kamcmd ul.lookup over the ctl socket)."""
        # "s:" makes kamcmd send the AOR as a string (it would send "1001" as an int).
        res = self.rpc("ul.lookup", "location", f"s:{user}")
        if "not found" in res.stdout.lower():  # "error: 500 - AOR not found ..." (5.6)
            return []
        if res.returncode != 0 or res.stdout.startswith("error"):
            raise PeerError(f"kamcmd ul.lookup failed ({res.returncode}): "
                            f"{res.stdout}{res.stderr}\n{self.log_tail()}")
        return re.findall(r"^\s*Address:\s*(\S+)\s*$", res.stdout, re.MULTILINE)

    # ----- internals -----

    def _ctl_socket_path(self) -> Path:
        """Unix socket paths are limited to ~107 bytes: fall back to a short temp dir."""
        path = self.workdir / "kamailio_ctl"
        if len(str(path)) <= 100:
            return path
        self._short_dir = Path(tempfile.mkdtemp(prefix="kam-"))
        return self._short_dir / "kamailio_ctl"

    def _write_cfg(self) -> None:
        defines = [f"#!define MIN_EXPIRES {int(self.min_expires)}",
                   f"#!define MAX_EXPIRES {int(self.max_expires)}",
                   f"#!define MIN_EXPIRES_MODE {1 if self.min_expires_mode else 0}",
                   f"#!define REPLY_423 {int(self.reply_423)}",
                   f"#!define MIN_EXPIRES_423 {int(self.min_expires_423)}"]
        if self.auth:
            defines.append("#!define WITH_AUTH")
        if self.reply_423 > 0:
            defines.append("#!define WITH_REPLY_423")
        if not self.min_expires_423_constant:
            defines.append("#!define WITH_423_DOUBLING")
        if self.presence:
            db = self.workdir / "dbtext"
            shutil.rmtree(db, ignore_errors=True)
            db.mkdir(parents=True)
            for table in ("version", "presentity", "active_watchers", "watchers", "xcap",
                          "pua"):
                shutil.copy(Path(DBTEXT_TABLES, table), db / table)
            defines += ["#!define WITH_PRESENCE", f'#!define DBURL "text://{db}"',
                        f'#!define SERVER_ADDRESS "sip:{HOST}:{self.port}"',
                        f"#!define PRESENCE_MAX_EXPIRES {int(self.presence_max_expires)}"]
        for user, password in self.users.items():
            for value in (user, password):
                if not re.fullmatch(r"[A-Za-z0-9_.+-]+", value):
                    raise ValueError(f"user/password {value!r}: use [A-Za-z0-9_.+-] only")
        passwords = "\n".join(f'\t$sht(pw=>{u}) = "{p}";' for u, p in self.users.items())
        text = _CfgTemplate(CFG_TEMPLATE.read_text()).substitute(
            DEFINES="\n".join(defines), PORT=self.port, MPATH=f"{module_dir()}/",
            CTL_SOCKET=self.ctl_socket, PASSWORDS=passwords or "\tnop;")
        self.cfg_path.write_text(text)

    def _probe(self) -> bool:
        """One OPTIONS over UDP to the server itself; True if any reply comes back."""
        call_id = uuid.uuid4().hex
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            sock.settimeout(0.05)
            lport = sock.getsockname()[1]
            msg = (f"OPTIONS sip:{self.addr} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bK{call_id[:12]};rport\r\n"
                   f"From: <sip:probe@{HOST}:{lport}>;tag={call_id[:8]}\r\n"
                   f"To: <sip:{self.addr}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
                   f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
            try:
                sock.sendto(msg.encode(), (HOST, self.port))
                data = sock.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return False
            return data.startswith(b"SIP/2.0 ")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
