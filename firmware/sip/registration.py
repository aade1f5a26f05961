"""Registration of each account: boot unregister, retries, 423, failover and failback.

pjsip sends the REGISTERs and refreshes them before they expire; this module decides
what happens around them:
- at start, each server first gets REGISTER Contact: * Expires: 0 (LP-388 item 7);
- a failure is retried after `sip.retry_interval` seconds (manual: 32 s), whatever the
  code, so registration never stops for good;
- 423 Interval Too Brief: pjsip retries with a larger Min-Expires itself; when it gives
  up (no Min-Expires, or not larger), we raise the expiry and try again, every time
  (the LP-388 stopped after four 423s; we do not);
- a registrar silent for `sip.failover_timeout` seconds -> the secondary server; while
  there, the primary is probed with OPTIONS every `sip.failback_interval` seconds and
  used again as soon as it answers;
- while registered, a keep-alive every `sip.keepalive_interval` seconds, so the line
  never says "registered" long after the server forgot it or went away (see Keep-alive).

Keep-alive: an OPTIONS to the line's own address (sip:user@domain) through its server,
as a call to us would travel. A registrar that keeps our binding forwards it to us and we
answer 200; one that restarted without it answers 404/480 (410, 408: nowhere to send it)
-> REGISTER at once, the line showing "not registered" until the server says 200.
No final answer within `sip.failover_timeout` -> the server is silent: the secondary (or
"No answer" and retries), as when a REGISTER goes unanswered. Bounds, from the moment the
server changed: binding lost -> noticed within keepalive_interval (+ one round trip);
server silent -> failover within keepalive_interval + failover_timeout. Servers that
answer such an OPTIONS themselves (PBXs that check their dial plan, not the bindings) and
say 404 again right after a fresh REGISTER get the OPTIONS addressed to the server
instead: it still proves the server alive; a lost binding then shows at the next refresh.
It owns the `accounts` part of the phone state (line status and reason).
"""
from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import random
import socket
from dataclasses import dataclass
from typing import Collection

from firmware.bus import Bus, Timers
from firmware.events import (KeepAliveAnswered, PrimaryServerBack, RegistrationChanged,
                             RegistrationStarted, SettingsChanged, TimerFired, Unregistered)
from firmware.settings import ACCOUNTS, AccountSettings, Settings
from firmware.sip.accounts import NO_ANSWER, AccountSpec, line_spec, refresh_after
from firmware.sip.engine import SipEngine
from firmware.sip.text import host_of, split_host_port
from firmware.call.state import Account, LineStatus, PhoneState

log = logging.getLogger("deskphone.registration")

# a keep-alive answered so: the server has no binding of ours (any more) to send it to
BINDING_LOST = (404, 408, 410, 480)


@dataclass
class _Line:
    index: int
    settings: AccountSettings
    on_secondary: bool = False
    expires: int = 3600
    phase: str = "idle"          # idle | unregistering | registering | registered | waiting
    cleared: set = None          # servers already sent the boot unregister
    failures: int = 0
    pending: bool = False        # a REGISTER went out and is not answered yet
    status: LineStatus = LineStatus.DISABLED   # before DND is taken into account
    keepalive_seq: int = 0       # the keep-alive whose answer counts; older ones are late
    keepalive_own: bool = True   # to our own address (binding check) or to the server
    relost: bool = False         # registered again because a keep-alive said 404 & co

    def __post_init__(self):
        self.cleared = set()
        self.expires = self.settings.expires

    @property
    def server(self) -> str:
        s = self.settings
        return s.secondary_server if self.on_secondary and s.secondary_server else s.server


def explain(code: int, reason: str, server: str, index: int) -> str:
    """A failure as a person reads it, with what to do next — the fields named as the
    account's LCD and web pages name them, not by their keys in settings.toml."""
    acc = f"Account {index}'s"
    if code in (401, 407):
        return (f"Wrong user or password ({code}): check {acc} user name, authentication "
                f"name and password")
    if code == 403:
        return f"Refused by the server (403): check {acc} user name and password"
    if code == 404:
        return f"Unknown user (404): check {acc} user name and SIP server"
    if code in NO_ANSWER:
        extra = f" ({reason})" if reason and code not in (408,) and reason != "Request Timeout" \
            else ""
        return f"No answer from {server}{extra}: check {acc} SIP server and the network"
    if code == 423:
        return "Interval too brief (423): registering again with a longer expiry"
    return f"{reason or 'Registration failed'} ({code})"


def route_exists(server: str) -> bool:
    """False when the OS has no route to the server (no network). Names are not resolved."""
    host, port = split_host_port(host_of(server))
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True
    fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, int(port or 5060)))
        except OSError:
            return False
    return True


class _OptionsProbe(asyncio.DatagramProtocol):
    def __init__(self, answered: asyncio.Future):
        self.answered = answered

    def datagram_received(self, data, addr):
        if data.startswith(b"SIP/2.0 ") and not self.answered.done():
            self.answered.set_result(True)

    def error_received(self, exc):
        pass


async def probe(server: str, *, bind: str = "", timeout: float = 2.0) -> bool:
    """Does anything answer a SIP OPTIONS at `server` (UDP)? Any response counts."""
    host, p = split_host_port(host_of(server))
    port = int(p or 5060)
    h = f"[{host}]" if ":" in host else host         # as it goes in a URI
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _OptionsProbe(answered), remote_addr=(host, port),
            local_addr=(bind, 0) if bind not in ("", "0.0.0.0") else None)
    except OSError:
        return False
    try:
        laddr = transport.get_extra_info("sockname")
        branch = f"z9hG4bK{random.getrandbits(64):x}"
        tag = f"{random.getrandbits(32):x}"
        msg = (f"OPTIONS sip:{h}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {laddr[0]}:{laddr[1]};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:probe@{laddr[0]}>;tag={tag}\r\n"
               f"To: <sip:{h}:{port}>\r\n"
               f"Call-ID: {random.getrandbits(96):x}@deskphone\r\n"
               f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        transport.sendto(msg.encode())
        await asyncio.wait_for(answered, timeout)
        return True
    except (asyncio.TimeoutError, OSError):
        return False
    finally:
        transport.close()


class Registration:
    """One per phone; subscribes to the bus. See module doc."""

    def __init__(self, *, bus: Bus, timers: Timers, sip: SipEngine, state: PhoneState,
                 settings: Settings):
        self.bus, self.timers, self.sip, self.state = bus, timers, sip, state
        self.settings = settings
        self.lines: dict[int, _Line] = {}
        self._probes: dict[int, asyncio.Task] = {}
        self._keepalive_seqs = itertools.count(1)
        # set once every line's first REGISTER has an answer (or gave up): the web stack
        # is started after it, so nothing of ours sits in front of the first REGISTER
        self.first_answers = asyncio.Event()
        if not state.accounts:
            state.accounts = [Account(index=i) for i in range(1, ACCOUNTS + 1)]
        bus.on(RegistrationStarted, self._started)
        bus.on(RegistrationChanged, self._changed)
        bus.on(Unregistered, self._unregistered)
        bus.on(TimerFired, self._timer)
        bus.on(PrimaryServerBack, self._primary_back)
        bus.on(KeepAliveAnswered, self._keepalive_answered)
        bus.on(SettingsChanged, self._settings_changed)
        for ev_type in (RegistrationChanged, Unregistered, TimerFired):
            bus.on(ev_type, lambda ev: self._check_first_answers())

    # -- start / settings ------------------------------------------------------------------

    def start(self, *, sent: Collection[int] = ()) -> None:
        """Every line's first step. sent: lines whose first step firmware/startup.py gave
        the SIP thread before the App existed; their state is taken up as that step left
        it, nothing is sent twice (the answers come after this, in order, on the bus)."""
        for i in range(1, ACCOUNTS + 1):
            self._begin(i, sent=i in sent)
        self._check_first_answers()

    def _check_first_answers(self) -> None:
        if not self.first_answers.is_set() and not any(
                line.phase in ("unregistering", "registering") for line in self.lines.values()):
            self.first_answers.set()

    def close(self) -> None:
        for t in self._probes.values():
            t.cancel()

    def _settings_changed(self, ev: SettingsChanged) -> None:
        for i in range(1, ACCOUNTS + 1):
            prefix = f"account.{i}."
            if any(k.startswith(prefix) and not k.endswith((".dnd", ".voicemail"))
                   for k in ev.keys):
                self._begin(i)
            elif "sip.keepalive_interval" in ev.keys and i in self.lines:
                self.timers.cancel(f"reg.{i}.keepalive")
                if not self.timers.active(f"reg.{i}.kawait"):
                    self._keepalive_later(self.lines[i])
        self._refresh_status()

    def _spec(self, line: _Line) -> AccountSpec:
        return line_spec(line.settings, line.server, line.expires)

    def _begin(self, i: int, sent: bool = False) -> None:
        s = self.settings.account[i]
        for name in ("failover", "retry", "probe", "keepalive", "kawait"):
            self.timers.cancel(f"reg.{i}.{name}")
        old = self.lines.get(i)
        line = _Line(index=i, settings=s)
        if old is not None and old.settings.server == s.server:
            line.cleared = old.cleared
        self.lines[i] = line
        acc = self.state.accounts[i - 1]
        acc.enabled, acc.user = s.enable, s.user
        acc.label = s.label or s.user or f"Line {i}"
        acc.server, acc.on_secondary, acc.code, acc.reason, acc.expires = s.server, False, 0, "", 0
        if not s.enable or not s.user:
            self._set(line, LineStatus.DISABLED,
                      "" if not s.enable else f"set account.{i}.user to use this line")
            self.sip.set_account(i, None)
            return
        if not sent:
            self.sip.set_account(i, self._spec(line))
        if not s.server:
            self._set(line, LineStatus.P2P)
            return
        self._set(line, LineStatus.NOT_REGISTERED, "Registering")
        self._connect(line, sent=sent)

    def _connect(self, line: _Line, sent: bool = False) -> None:
        """(Re)point the account at line.server and start the sequence there: the boot
        unregister (once per server) chained to the REGISTER on the SIP thread, or the
        REGISTER. sent: firmware/startup.py did both already."""
        i = line.index
        acc = self.state.accounts[i - 1]
        if line.status is not LineStatus.REGISTERED:   # else: still there until the new one
            acc.server, acc.on_secondary = line.server, line.on_secondary
        unregister = self.settings.sip.unregister_on_boot and line.server not in line.cleared
        if not sent:
            self.sip.set_account(i, self._spec(line))
            self.sip.connect(i, unregister_first=unregister, fresh=line.pending)
        if unregister:
            line.phase = "unregistering"
            self.timers.start(f"reg.{i}.failover", self.settings.sip.failover_timeout)
        else:
            line.phase, line.pending = "registering", False

    def _register(self, line: _Line) -> None:
        line.phase = "registering"
        self.sip.register(line.index, fresh=line.pending)
        line.pending = False

    # -- events ------------------------------------------------------------------------------

    def _unregistered(self, ev: Unregistered) -> None:
        line = self.lines.get(ev.account)
        if line is None:
            return
        if line.phase != "unregistering":
            # A boot unregister we gave up on was answered after all (pjsip kept
            # retransmitting it): it may have removed our new binding. Register again
            # (the SIP thread did when the line's account is still the one it was for).
            if 200 <= ev.code < 300 and line.phase in ("registering", "registered"):
                log.warning("account %d: a late unregister went through at %s; registering "
                            "again", ev.account, line.server)
                if not ev.registering:
                    self._register(line)
            return
        self.timers.cancel(f"reg.{ev.account}.failover")
        line.cleared.add(line.server)
        if 200 <= ev.code < 300:
            log.info("account %d: unregistered all bindings at %s", ev.account, line.server)
        elif ev.code >= 0:
            log.info("account %d: unregister at %s: %d %s", ev.account, line.server, ev.code,
                     ev.reason)
        if ev.code in NO_ANSWER and ev.code >= 0:
            self._no_answer(line, ev.code, ev.reason)
        elif ev.registering:                 # sent by the SIP thread at the answer
            line.phase, line.pending = "registering", False
        else:
            self._register(line)

    def _started(self, ev: RegistrationStarted) -> None:
        line = self.lines.get(ev.account)
        if line is not None and ev.renew:
            line.pending = True
            self.timers.start(f"reg.{ev.account}.failover", self.settings.sip.failover_timeout)

    def _changed(self, ev: RegistrationChanged) -> None:
        line = self.lines.get(ev.account)
        if line is None or line.phase in ("idle", "unregistering"):
            return
        i = ev.account
        line.pending = False
        self.timers.cancel(f"reg.{i}.failover")
        acc = self.state.accounts[i - 1]
        acc.code = ev.code
        if 200 <= ev.code < 300 and ev.active:
            line.phase, line.failures = "registered", 0
            acc.expires = ev.expires
            acc.server, acc.on_secondary = line.server, line.on_secondary
            self._set(line, LineStatus.REGISTERED)
            self.timers.cancel(f"reg.{i}.retry")
            # pjsip refreshes by itself and says nothing until the answer (or its own
            # 32 s timeout): watch for that answer failover_timeout s after the refresh
            self.timers.start(f"reg.{i}.failover", refresh_after(ev.expires, line.expires)
                              + self.settings.sip.failover_timeout)
            if line.on_secondary:
                self.timers.start(f"reg.{i}.probe", self.settings.sip.failback_interval)
            self._keepalive_later(line)
            log.info("account %d registered at %s for %d s", i, line.server, ev.expires)
            return
        if 200 <= ev.code < 300:
            return  # an unregister went through
        line.failures += 1
        line.relost = False      # the next 404 to a keep-alive is news again
        acc.expires = 0
        if ev.code == 423:
            line.expires = min(86400, max(ev.min_expires, line.expires * 2))
            self._set(line, LineStatus.NOT_REGISTERED, explain(423, "", line.server, i))
            log.warning("account %d: 423 from %s, registering again with expires %d", i,
                        line.server, line.expires)
            self.sip.set_account(i, self._spec(line))
            line.phase = "waiting"
            self.timers.start(f"reg.{i}.retry", 1.0)
            return
        if ev.code in NO_ANSWER or not ev.network:
            self._no_answer(line, ev.code, ev.reason)
            return
        self._set(line, LineStatus.NOT_REGISTERED, explain(ev.code, ev.reason, line.server, i))
        (log.warning if line.failures == 1 else log.debug)("account %d: %s", i, acc.reason)
        self._retry_later(line)

    def _no_answer(self, line: _Line, code: int = 0, reason: str = "") -> None:
        i = line.index
        acc = self.state.accounts[i - 1]
        silent = line.server
        if route_exists(silent):
            self._set(line, LineStatus.NOT_REGISTERED, explain(code or 408, reason, silent, i))
        else:
            self._set(line, LineStatus.NO_NETWORK, f"No network: no route to {silent}")
        (log.warning if line.failures <= 1 else log.debug)("account %d: %s", i, acc.reason)
        secondary = line.settings.secondary_server
        if secondary and not line.on_secondary:
            line.on_secondary = True
            log.warning("account %d: %s does not answer, using the secondary server %s", i,
                        silent, secondary)
            self._connect(line)
            return
        if line.on_secondary:
            line.on_secondary = False   # both silent: next attempt goes to the primary again
        self._retry_later(line)

    def _retry_later(self, line: _Line) -> None:
        line.phase = "waiting"
        self.timers.start(f"reg.{line.index}.retry", self.settings.sip.retry_interval)

    def _timer(self, ev: TimerFired) -> None:
        if not ev.name.startswith("reg."):
            return
        _, idx, what = ev.name.split(".")
        line = self.lines.get(int(idx))
        if line is None:
            return
        if what == "failover":
            line.failures += 1
            if line.phase == "unregistering":
                line.cleared.add(line.server)
            elif line.phase == "registered":
                line.pending = True          # the refresh pjsip sent is unanswered
                line.phase = "waiting"
            elif line.phase == "registering":
                line.pending = True          # so is our REGISTER: pjsip holds it 32 s
                                             # (PJSIP_EBUSY) unless we start over
            self._no_answer(line)
        elif what == "retry":
            self._connect(line)
        elif what == "probe":
            self._start_probe(line)
        elif what == "keepalive":
            self._send_keepalive(line)
        elif what == "kawait":
            if ev.data == line.keepalive_seq and line.phase == "registered":
                self._server_silent(line)

    # -- keep-alive (see module doc) ------------------------------------------------------

    def _keepalive_later(self, line: _Line) -> None:
        interval = self.settings.sip.keepalive_interval
        if interval > 0:
            self.timers.start(f"reg.{line.index}.keepalive", interval)

    def _send_keepalive(self, line: _Line) -> None:
        if line.phase != "registered" or self.lines.get(line.index) is not line:
            return
        i = line.index
        line.keepalive_seq = seq = next(self._keepalive_seqs)
        fut = self.sip.keepalive(i, lambda code: self.sip.post(KeepAliveAnswered(i, seq, code)),
                                 own_address=line.keepalive_own)
        fut.add_done_callback(lambda f: f.exception() is None and f.result() or
                              self.sip.post(KeepAliveAnswered(i, seq, -1)))
        self.timers.start(f"reg.{i}.kawait", self.settings.sip.failover_timeout, seq)

    def _keepalive_answered(self, ev: KeepAliveAnswered) -> None:
        line = self.lines.get(ev.account)
        if line is None or ev.seq != line.keepalive_seq or line.phase != "registered":
            return                       # late: the line has moved on since
        i = ev.account
        if ev.code < 0:                  # not sent (no pjsip C API, account gone)
            self.timers.cancel(f"reg.{i}.kawait")
            log.debug("account %d: keep-alive not sent", i)
            self._keepalive_later(line)
            return
        if ev.code == 0:
            return                       # nothing heard: the kawait timer says so
        self.timers.cancel(f"reg.{i}.kawait")
        if ev.code in BINDING_LOST and line.keepalive_own:
            if line.relost:
                line.keepalive_own = line.relost = False
                log.info("account %d: %s answers OPTIONS to %s %d even right after "
                         "registering: keep-alives go to the server itself from now on",
                         i, line.server, line.settings.user, ev.code)
                self._keepalive_later(line)
                return
            line.relost = True
            log.warning("account %d: %s has lost our registration (keep-alive: %d); "
                        "registering again", i, line.server, ev.code)
            self.state.accounts[i - 1].expires = 0
            self._set(line, LineStatus.NOT_REGISTERED,
                      f"Registration lost at {line.server} ({ev.code}): registering again")
            self._register(line)
            return
        line.relost = False
        self._keepalive_later(line)

    def _server_silent(self, line: _Line) -> None:
        """No answer to a keep-alive within failover_timeout."""
        line.failures += 1
        line.phase = "waiting"
        self.timers.cancel(f"reg.{line.index}.failover")
        log.warning("account %d: %s did not answer a keep-alive in %d s", line.index,
                    line.server, self.settings.sip.failover_timeout)
        self._no_answer(line)

    def _start_probe(self, line: _Line) -> None:
        i = line.index
        if not line.on_secondary or i in self._probes:
            return

        async def run():
            try:
                if await probe(line.settings.server, bind=self.settings.sip.bind):
                    self.bus.post(PrimaryServerBack(i))
                else:
                    self.timers.start(f"reg.{i}.probe", self.settings.sip.failback_interval)
            finally:
                self._probes.pop(i, None)
        self._probes[i] = asyncio.get_running_loop().create_task(run(), name=f"probe-{i}")

    def _primary_back(self, ev: PrimaryServerBack) -> None:
        line = self.lines.get(ev.account)
        if line is None or not line.on_secondary:
            return
        log.info("account %d: primary server %s answers again, moving back", ev.account,
                 line.settings.server)
        line.on_secondary = False
        line.expires = line.settings.expires
        self._connect(line)

    # -- status --------------------------------------------------------------------------

    def _set(self, line: _Line, status: LineStatus, reason: str = "") -> None:
        line.status = status
        self.state.accounts[line.index - 1].reason = reason
        self._refresh_status()

    def _refresh_status(self) -> None:
        """DND shows instead of 'registered' (manual's icon table)."""
        for acc in self.state.accounts:
            line = self.lines.get(acc.index)
            if line is None:
                continue
            acc.dnd = self.settings.account[acc.index].dnd or self.settings.phone.dnd
            base = line.status
            acc.status = (LineStatus.DND if acc.dnd and base in (LineStatus.REGISTERED,
                                                                 LineStatus.P2P) else base)
