"""baresip as a second, independent softphone for tests.

Why baresip: small, starts in milliseconds, fully scriptable over ctrl_tcp, and not built on
pjsip, so it catches interop mistakes the phone and a pjsua2-based peer would share.

Config is generated per instance: SIP on 127.0.0.1 only (UDP+TCP on port P, TLS on P+1, so
ports are picked with span 2), no sound card: a sine tone (ausine, tone_hz) as microphone
and aubridge as a sink, so real RTP flows both ways; ctrl_tcp on its own port; one account,
registered or direct.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ._process import Peer, PeerError
from .ctrl_tcp import CtrlTcpClient
from .ports import HOST, free_port, free_port_block

MODULE_DIRS = ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules")


def baresip_binary() -> str:
    path = shutil.which("baresip")
    if not path:
        raise PeerError("baresip not installed (apt-get install baresip)")
    return path


def _module_dir() -> str:
    for cand in MODULE_DIRS:
        if Path(cand, "ctrl_tcp.so").exists():
            return cand
    raise PeerError(f"no baresip module dir with ctrl_tcp.so among {MODULE_DIRS}")


class Baresip(Peer):
    """One baresip process with config in `workdir`.

    registrar: "127.0.0.1:PORT" to register there as `user` with `password`; None for a
    direct (unregistered) account whose AOR is sip:user@127.0.0.1:sip_port.
    answermode: "auto" (answer at once) or "manual" (ring; answer with accept()).
    tone_hz: the sine baresip sends as its microphone (a test can look for it in the phone's
    received audio).
    outbound: "127.0.0.1:PORT" of a proxy every request goes through (e.g. Kamailio, to call a
    sipp callee via the proxy); default: requests go straight to the request URI.
    """

    name = "baresip"

    def __init__(self, workdir: Path, *, user: str = "1002", password: str | None = None,
                 registrar: str | None = None, regint: int = 300, answermode: str = "auto",
                 outbound: str | None = None,
                 sip_port: int | None = None, ctrl_port: int | None = None,
                 tone_hz: int = 440, sip_trace: bool = True, start_timeout: float = 5.0):
        if answermode not in ("auto", "manual", "early"):
            raise ValueError(f"answermode must be auto, manual or early, not {answermode!r}")
        self.workdir = Path(workdir)
        self.user = user
        self.password = password
        self.registrar = registrar
        self.regint = regint
        self.answermode = answermode
        self.outbound = outbound
        self._fixed_ports = sip_port is not None
        self.sip_port = sip_port if sip_port is not None else free_port("both", span=2)
        self.ctrl_port = ctrl_port if ctrl_port is not None else free_port("tcp")
        self.rtp_ports = free_port_block(4)
        self.tone_hz = tone_hz
        self.sip_trace = sip_trace
        self.start_timeout = start_timeout
        self.log_path = self.workdir / "baresip.log"
        self._proc = None
        self.ctrl: CtrlTcpClient | None = None

    # ----- addresses -----

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.sip_port}"

    @property
    def uri(self) -> str:
        """Where to send calls for this phone directly (bypassing any registrar)."""
        return f"sip:{self.user}@{self.addr}"

    @property
    def aor(self) -> str:
        domain = self.registrar or self.addr
        return f"sip:{self.user}@{domain}"

    # ----- lifecycle -----

    def start(self) -> "Baresip":
        """Start, connect ctrl_tcp, then create the account over ctrl_tcp ("uanew").

        The accounts file stays empty on purpose: baresip registers ~10 ms after start,
        before a client could connect, so REGISTER_OK would be lost; created afterwards,
        every event of the account reaches wait_event().  Returns once the account exists
        (registration may still be in progress: see wait_registered()).
        """
        if self.alive():
            raise PeerError(f"baresip already running on {self.addr}")
        self.workdir.mkdir(parents=True, exist_ok=True)

        def argv() -> list:
            self._write_config()
            argv = [baresip_binary(), "-f", self.workdir]
            if self.sip_trace:
                argv.append("-s")
            # stdbuf: baresip logs with stdio; line buffering keeps the log current.
            if shutil.which("stdbuf"):
                argv = ["stdbuf", "-oL", "-eL", *argv]
            return argv

        def repick() -> None:
            self.sip_port = free_port("both", span=2)
            self.ctrl_port = free_port("tcp")
            self.rtp_ports = free_port_block(4)

        self.launch(argv, ready=self._connect, cwd=self.workdir,
                    what=f"baresip ctrl_tcp on {HOST}:{self.ctrl_port}",
                    clashed=lambda logged: "in use" in logged.lower(),
                    repick=None if self._fixed_ports else repick)
        try:
            self._ok("uanew", self._account_line())
        except PeerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM by PID (baresip un-REGISTERs and ends calls), a second SIGTERM after
        0.5 s if it still waits on a transaction (it then exits at once), SIGKILL last."""
        if self.ctrl:
            self.ctrl.close()
            self.ctrl = None
        if self._proc:
            self._proc.stop(timeout=2.0, repeat_after=0.5)

    # ----- control -----

    def command(self, cmd: str, params: str = "", *, timeout: float = 5.0) -> dict:
        if not self.ctrl:
            raise PeerError("baresip not started")
        return self.ctrl.command(cmd, params, timeout=timeout)

    def _ok(self, cmd: str, params: str = "") -> dict:
        res = self.command(cmd, params)
        if not res.get("ok"):
            raise PeerError(f"baresip {cmd} {params!r} failed: {res}\n{self.log_tail()}")
        return res

    def dial(self, uri: str) -> dict:
        return self._ok("dial", uri)

    def hangup(self) -> dict:
        return self._ok("hangup")

    def accept(self) -> dict:
        return self._ok("accept")

    def listcalls(self) -> str:
        return str(self.command("listcalls").get("data", ""))

    def wait_event(self, type: str | tuple[str, ...], timeout: float = 5.0, **kw) -> dict:
        if not self.ctrl:
            raise PeerError("baresip not started")
        return self.ctrl.wait_event(type, timeout, **kw)

    def events(self) -> list[dict]:
        return self.ctrl.events() if self.ctrl else []

    def reginfo(self) -> str:
        """baresip's registration table, ANSI colours stripped."""
        return re.sub(r"\x1b\[[0-9;]*m", "", str(self.command("reginfo").get("data", "")))

    def registered(self) -> bool:
        return bool(re.search(rf"sip:{re.escape(self.user)}@\S+\s+OK\b", self.reginfo()))

    def wait_registered(self, timeout: float = 5.0) -> dict:
        """Wait for REGISTER_OK and return the event; PeerError at once on REGISTER_FAIL."""
        if not self.registrar:
            raise PeerError("baresip has no registrar configured")
        ev = self.wait_event(("REGISTER_OK", "REGISTER_FAIL"), timeout)
        if ev["type"] == "REGISTER_FAIL":
            raise PeerError(f"baresip {self.aor} registration failed: {ev.get('param')}\n"
                            f"{self.log_tail()}")
        return ev

    # ----- internals -----

    def _connect(self) -> bool:
        try:
            self.ctrl = CtrlTcpClient(HOST, self.ctrl_port, connect_timeout=0.2,
                                      describe=self.log_tail)
            return True
        except OSError:
            return False

    def _account_line(self) -> str:
        params = [f"answermode={self.answermode}"]
        if self.registrar:
            aor = f"<sip:{self.user}@{self.registrar};transport=udp>"
            params.append(f"regint={self.regint}")
            if self.password is not None:
                params.append(f"auth_pass={self.password}")
        else:
            aor = f"<sip:{self.user}@{self.addr};transport=udp>"
            params.append("regint=0")
        if self.outbound:
            params.append(f'outbound="sip:{self.outbound};transport=udp"')
        return aor + ";" + ";".join(params)

    def _write_config(self) -> None:
        lo, hi = self.rtp_ports[0], self.rtp_ports[-1] + 1
        config = f"""\
# generated by tests/peers/baresip.py
poll_method		epoll
sip_listen		{HOST}:{self.sip_port}
net_interface		{HOST}
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,nil
# ausine only does 48 kHz stereo; baresip resamples to the codec (PCMU 8 kHz mono).
# With aubridge as the source too, only one side of a call sent RTP.
audio_source		ausine,{self.tone_hz}
ausrc_srate		48000
ausrc_channels		2
audio_alert		aubridge,nil
rtp_ports		{lo}-{hi}
rtcp_mux		no
module_path		{_module_dir()}
module			g711.so
module			aubridge.so
module			ausine.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{HOST}:{self.ctrl_port}
"""
        (self.workdir / "config").write_text(config)
        # No account here on purpose: start() creates it over ctrl_tcp ("uanew").
        (self.workdir / "accounts").write_text(
            f"# created over ctrl_tcp by tests/peers/baresip.py:\n# {self._account_line()}\n")
        (self.workdir / "contacts").write_text("")
