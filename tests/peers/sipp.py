"""SIPp runner: scripted SIP peers (callers, callees, a 423-happy registrar) for tests.

Why SIPp: its scenarios pin exact SIP message flows and timing (RTD per call for the
INVITE->180 benchmark) that a softphone cannot be made to produce on demand.

Scenarios live in tests/peers/sipp/; the built-in ones ("uac", "uas") work too.  Each run
gets its own free SIP port and media port on 127.0.0.1, a global -timeout with
-timeout_error so a hung peer cannot hang the test, and its traces in `workdir`:
sipp.log (screen/stderr), <stem>_messages.log (-trace_msg), <stem>_errors.log (-trace_err),
and with trace_rtt=True <stem>_<pid>_rtt.csv (one line per call with rtt_freq=1).
"""

from __future__ import annotations

import csv
import itertools
import re
import shutil
import socket
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

from ._process import PORT_RETRIES, Peer, PeerError, PeerProcess, log_tail, wait_for
from .ports import HOST, free_port, free_port_block

SCENARIO_DIR = Path(__file__).with_name("sipp")
BUILTIN = {"uac", "uas", "regexp", "3pcc-C-A", "3pcc-C-B", "3pcc-A", "3pcc-B", "branchc",
           "branchs", "uac_pcap"}
_RC_MEANING = {0: "all calls succeeded", 1: "at least one call failed",
               97: "exit on internal command", 99: "normal exit without calls processed",
               255: "fatal error, or -timeout reached (-timeout_error)",
               254: "fatal error binding a socket"}
_seq = itertools.count(1)


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if not path:
        raise PeerError("sipp not installed (apt-get install sip-tester)")
    return path


def scenario_path(name: str) -> Path:
    """Resolve "uac_call" / "uac_call.xml" / a path to a scenario file in tests/peers/sipp/."""
    cand = Path(name)
    if cand.suffix != ".xml":
        cand = cand.with_suffix(".xml")
    if not cand.is_absolute() and not cand.exists():
        cand = SCENARIO_DIR / cand.name
    if not cand.exists():
        raise PeerError(f"no sipp scenario {name!r} (looked for {cand})")
    return cand.resolve()


def rtt_samples(path: Path) -> list[float]:
    """Response times in ms from a sipp -trace_rtt CSV (Date_ms;response_time_ms;rtd_no).

    sipp measures whole milliseconds: sub-ms peers read 0; see message_rtds for µs.
    """
    samples = []
    with open(path, newline="") as f:
        for row in csv.reader(f, delimiter=";"):
            if len(row) < 2 or not row[0].strip() or not row[0].strip()[0].isdigit():
                continue  # header line or blank
            samples.append(float(row[1]))
    return samples


_TRACE_BLOCK = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
    r"(\w+) message (sent|received)[^\n]*\n\n", re.MULTILINE)


def parse_messages(text: str) -> list[dict]:
    """Split a sipp -trace_msg log into messages, in order.

    Each: time (epoch s, µs resolution), direction ("sent"/"received"), transport,
    first_line, method (request) or code (response), call_id, cseq_method, text.
    """
    out = []
    blocks = list(_TRACE_BLOCK.finditer(text))
    for i, m in enumerate(blocks):
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(text)
        body = text[m.end():end].strip("\n")
        first = body.split("\n", 1)[0].strip()
        code = int(first.split()[1]) if first.startswith("SIP/2.0 ") else None
        call_id = re.search(r"^(?:Call-ID|i):\s*(\S+)", body, re.MULTILINE | re.IGNORECASE)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", body, re.MULTILINE | re.IGNORECASE)
        out.append({
            "time": datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp(),
            "direction": m.group(3), "transport": m.group(2), "first_line": first,
            "method": None if code else first.split()[0], "code": code,
            "call_id": call_id.group(1) if call_id else None,
            "cseq_method": cseq.group(1).upper() if cseq else None, "text": body})
    return out


def message_rtds(text: str, *, request: str = "INVITE", response: int = 180) -> list[float]:
    """Per call, ms from the first `request` sent to the first `response` received for it.

    Microsecond resolution from the -trace_msg timestamps; sipp's own -trace_rtt counts
    whole milliseconds, which reads 0 for a peer that answers in 0.4 ms.
    """
    sent: dict[str, float] = {}
    rtds: dict[str, float] = {}
    for msg in parse_messages(text):
        cid = msg["call_id"]
        if msg["direction"] == "sent" and msg["method"] == request and cid not in sent:
            sent[cid] = msg["time"]
        elif (msg["direction"] == "received" and msg["code"] == response
              and msg["cseq_method"] == request and cid in sent and cid not in rtds):
            rtds[cid] = (msg["time"] - sent[cid]) * 1000.0
    return [rtds[cid] for cid in sent if cid in rtds]


_COUNT_LINE = re.compile(r"^\s*(Successful call|Failed call)\s*\|\s*\d+\s*\|\s*(\d+)")


def answered_calls(text: str) -> int:
    """Calls of a sipp -trace_msg log that were answered (200 to the INVITE) and hung up
    cleanly (200 to our BYE): what a caller counts as a call that went through."""
    answered: set[str] = set()
    done: set[str] = set()
    for msg in parse_messages(text):
        if msg["direction"] == "received" and msg["code"] == 200:
            if msg["cseq_method"] == "INVITE":
                answered.add(msg["call_id"])
            elif msg["cseq_method"] == "BYE":
                done.add(msg["call_id"])
    return len(answered & done)


def _bound(port: int, proto: str = "udp", host: str = HOST) -> bool:
    """True if a socket is bound to host:port or *:port, read from /proc/net/{udp,tcp}
    (a probing bind() could steal the port from sipp at the wrong moment)."""
    wanted = {f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}",
              f"00000000:{port:04X}"}
    try:
        with open(f"/proc/net/{proto}") as table:
            next(table)
            return any(line.split()[1] in wanted for line in table)
    except OSError:
        return False


class Sipp(Peer):
    """One sipp process.

    scenario: file in tests/peers/sipp/ ("uac_call.xml"), a path, or a built-in ("uac").
    remote: "127.0.0.1:PORT" for a caller; None for a callee/registrar (it waits for calls).
    service: the [service] keyword (-s), i.e. the user part a caller dials.
    keys: -key NAME VALUE (keywords [NAME] in messages); variables: -set NAME VALUE (globals).
    credentials: (user, password) for digest challenges ([authentication], -au/-ap).
    host: the address it sends from and listens on; another loopback address (127.0.0.2)
    is another host to the phone (Linux answers the whole 127/8 on lo).
    """

    def __init__(self, workdir: Path, *, scenario: str, remote: str | None = None,
                 service: str | None = None, calls: int = 1, rate: float | None = None,
                 rate_period_ms: int | None = None, limit: int | None = None,
                 keys: Mapping[str, object] | None = None,
                 variables: Mapping[str, object] | None = None,
                 port: int | None = None, media_port: int | None = None,
                 credentials: tuple[str, str] | None = None,
                 transport: str = "u1", timeout: float = 30.0, trace_rtt: bool = False,
                 rtt_freq: int = 1, extra_args: Sequence[str] = (), name: str | None = None,
                 host: str = HOST):
        self.workdir = Path(workdir)
        self.builtin = scenario in BUILTIN
        self.scenario = None if self.builtin else scenario_path(scenario)
        self.stem = scenario if self.builtin else self.scenario.stem
        self.name = name or f"{self.stem}-{next(_seq)}"
        self.remote = remote
        self.host = host
        self.service = service
        self.calls = calls
        self.rate = rate
        self.rate_period_ms = rate_period_ms
        self.limit = limit
        self.keys = dict(keys or {})
        self.variables = dict(variables or {})
        self.credentials = credentials
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port("udp" if transport[0] == "u"
                                                           else "both")
        self.media_port = media_port if media_port is not None else free_port_block(1)[0]
        self.transport = transport
        self.timeout = timeout
        self.trace_rtt = trace_rtt
        self.rtt_freq = rtt_freq
        self.extra_args = list(extra_args)
        self.rundir = self.workdir / self.name
        self.log_path = self.rundir / "sipp.log"
        self.message_path = self.rundir / f"{self.stem}_messages.log"
        self.error_path = self.rundir / f"{self.stem}_errors.log"
        self._proc: PeerProcess | None = None

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def argv(self) -> list[str]:
        args = [sipp_binary()]
        args += ["-sn", self.stem] if self.builtin else ["-sf", str(self.scenario)]
        if self.remote:
            args.append(self.remote)
        if self.service is not None:
            args += ["-s", str(self.service)]
        args += ["-i", self.host, "-p", str(self.port), "-mi", self.host, "-mp",
                 str(self.media_port),
                 "-t", self.transport, "-m", str(self.calls), "-nostdin",
                 "-timeout", f"{self.timeout:g}s", "-timeout_error",
                 "-trace_msg", "-message_file", str(self.message_path),
                 "-trace_err", "-error_file", str(self.error_path)]
        if self.rate is not None:
            args += ["-r", f"{self.rate:g}"]
        if self.rate_period_ms is not None:
            args += ["-rp", str(self.rate_period_ms)]
        if self.limit is not None:
            args += ["-l", str(self.limit)]
        if self.credentials:
            args += ["-au", self.credentials[0], "-ap", self.credentials[1]]
        if self.trace_rtt:
            args += ["-trace_rtt", "-rtt_freq", str(self.rtt_freq)]
        for key, value in self.keys.items():
            args += ["-key", key, str(value)]
        for var, value in self.variables.items():
            args += ["-set", var, str(value)]
        return args + self.extra_args

    # ----- lifecycle -----

    def start(self, *, ready_timeout: float = 3.0) -> "Sipp":
        """Start in the background; return once its SIP socket is bound (so a callee is
        ready to receive).  Retries on another port if that one was taken meanwhile."""
        if self._proc and self._proc.alive():
            raise PeerError(f"sipp {self.name} already running")
        self.rundir.mkdir(parents=True, exist_ok=True)
        proto = "udp" if self.transport[0] == "u" else "tcp"
        for attempt in range(PORT_RETRIES):
            self._proc = PeerProcess(self.argv(), log=self.log_path, cwd=self.rundir,
                                     name=f"sipp {self.name}")
            self._proc.start()
            wait_for(lambda: _bound(self.port, proto, self.host) or not self._proc.alive(),
                     timeout=ready_timeout, what=f"sipp {self.name} binding {self.addr}",
                     log=self.log_path)
            rc = self._proc.returncode
            if rc is None or (rc not in (254, 255) and self.message_path.exists()):
                return self  # bound, or already ran its calls: wait() reports how it went
            self._proc.stop()
            if rc == 254 and not self._fixed_port and attempt + 1 < PORT_RETRIES:
                self.port = free_port("udp" if proto == "udp" else "both")
                self.media_port = free_port_block(1)[0]
                continue
            raise PeerError(self._failure(f"failed to start (exit {rc})"))
        raise AssertionError("unreachable")

    def wait(self, timeout: float | None = None) -> int:
        """Wait for sipp to finish; return its exit code.  PeerError (with logs) if it is
        still running after `timeout` s (default: its own -timeout plus 5 s)."""
        if not self._proc:
            raise PeerError(f"sipp {self.name} not started")
        limit = self.timeout + 5 if timeout is None else timeout
        rc = self._proc.wait(limit)
        if rc is None:
            raise PeerError(self._failure(f"still running after {limit:g} s"))
        return rc

    def stop(self) -> None:
        if self._proc:
            self._proc.stop(timeout=2.0)

    def run(self, timeout: float | None = None, *, check: bool = True) -> int:
        """start() + wait(); with check, raise PeerError (with traces) unless exit code 0."""
        try:
            self.start()
            rc = self.wait(timeout)
        finally:
            self.stop()
        if check and rc != 0:
            raise PeerError(self._failure(f"exit {rc}"))
        return rc

    def check(self, rc: int) -> None:
        """Raise PeerError with traces unless rc == 0 (for start()/wait() users)."""
        if rc != 0:
            raise PeerError(self._failure(f"exit {rc}"))

    # ----- results -----

    def messages(self) -> str:
        """Text of the -trace_msg message log (every SIP message sent and received)."""
        return _read(self.message_path)

    def errors(self) -> str:
        return _read(self.error_path)

    def rtt_path(self) -> Path:
        return self.rundir / f"{self.stem}_{self.pid}_rtt.csv"

    def rtt_samples(self) -> list[float]:
        """Per-call response times (ms) written by trace_rtt=True."""
        path = self.rtt_path()
        if not path.exists():
            raise PeerError(self._failure(f"no RTT file {path} (trace_rtt={self.trace_rtt})"))
        return rtt_samples(path)

    def message_rtds(self, *, request: str = "INVITE", response: int = 180) -> list[float]:
        """Per-call request->response times (ms, µs resolution) from the message trace."""
        return message_rtds(self.messages(), request=request, response=response)

    def answered_calls(self) -> int:
        """Calls answered 200 and ended with a 200 to our BYE (from the message trace)."""
        return answered_calls(self.messages())

    def call_counts(self) -> dict[str, int]:
        """sipp's own cumulative "Successful call" / "Failed call" counts, from the final
        statistics screen it prints on exit (sipp.log); {} if it printed none."""
        out: dict[str, int] = {}
        for line in _read(self.log_path).splitlines():
            m = _COUNT_LINE.match(line)
            if m:
                out[m.group(1).split()[0].lower()] = int(m.group(2))
        return out

    def _failure(self, what: str) -> str:
        rc = self.returncode
        meaning = _RC_MEANING.get(rc, "") if rc is not None else "running"
        return (f"sipp {self.name} ({self.stem} -> {self.remote or 'listening'} on "
                f"{self.addr}): {what} [{meaning}]\n"
                f"cmd: {' '.join(self.argv())}\n"
                f"{log_tail(self.error_path, 30)}\n{log_tail(self.log_path, 30)}\n"
                f"{log_tail(self.message_path, 60)}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
