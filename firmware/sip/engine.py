"""The SIP thread: the only place pjsua2 is touched.

One Python thread creates the pjsua2 Endpoint (which makes it pjsua's "main thread"),
then loops on `libHandleEvents` and runs queued commands. Every pjsua2 callback arrives
on this thread and is turned into an event for the asyncio loop (`post`). Other threads
never call pjsua2: they call the command methods below, which queue a closure and wake
the loop by sending a CRLF keep-alive to our own SIP port (pjsip drops it silently).
See notes/pjsua2.md for why it is built this way.

Incoming INVITEs are answered 180 (or refused) right here, from a policy the Phone
keeps up to date, so nothing of ours sits between the INVITE and the 180.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import os
import queue
import re
import socket
import threading
import time
from typing import Callable

import pjsua2 as pj

from firmware import logs
from firmware.errors import SipError
from firmware.events import CheckSyncReceived, Event
from firmware.record import Record
from firmware.sip import codecs as pjcodecs, gate as pjgate, native
from firmware.sip.accounts import AccountCommands, _Account, mark
from firmware.sip.calls import CallCommands, _Call
from firmware.sip.media import MediaCommands, _Media
from firmware.sip.policy import IncomingPolicy
from firmware.sip.taps import Taps
from firmware.system.identity import VERSION

log = logging.getLogger("deskphone.sip")
trace = logging.getLogger("deskphone.sip.trace")


# --- what the Phone tells us ------------------------------------------------------------


class SipConfig(Record, frozen=True):
    port: int = 5060
    bind: str = "0.0.0.0"
    rtp_port: int = 11000
    rtp_ports: int = 200
    user_agent: str = ""
    trace: bool = False
    null_audio: bool = True     # no sound device (sim board, x86 wheel)
    prack: str = "supported"    # supported | required (RFC 3262)
    dtmf_payload: int = 101     # RTP payload type of RFC 2833 events
    session_timers: bool = False
    session_expires: int = 1800
    sound_device: str = ""      # ALSA device name (board [audio] device); "" = default
    codecs: tuple = pjcodecs.FACTORY    # enabled codecs, preferred first (sip.codecs)
    qos_sip: int = 0            # DSCP of SIP packets (sip.qos_sip; 0 = unmarked)
    qos_voice: int = 0          # DSCP of RTP packets (sip.qos_voice)



# --- pjsua2 subclasses (they live and die on the SIP thread) ------------------------------

class _LogWriter(pj.LogWriter):
    _MSG = re.compile(r"[ .](TX|RX) \d+ bytes")

    def __init__(self):
        super().__init__()
        self.limited = logs.Limited(log, per_minute=20)
        self.expected = ""      # an error the SIP thread knows is coming: debug, not warning

    def write(self, entry):
        msg = entry.msg.rstrip()
        if self._MSG.search(msg[:80]):
            trace.debug("%s", msg)
        elif entry.level <= 2 and not (self.expected and self.expected in msg):
            # pjsip's "errors" are things it reports and goes on from (a busy REGISTER,
            # an unreachable host, a garbage packet); ours say what they mean to the phone.
            self.limited.warning("%s", msg)
        else:
            log.debug("%s", msg)



# --- the engine ---------------------------------------------------------------------------

class SipEngine(AccountCommands, CallCommands, MediaCommands):
    """Owns pjsua2 on its own thread. Command methods are safe to call from any thread."""

    WAIT_MS = 5000   # libHandleEvents timeout; pjsip wakes for its timers, commands wake it

    def __init__(self, *, config: SipConfig, post: Callable[[Event], None]):
        self.config = config
        self._post = post
        self._events: list[Event] = []    # SIP thread only; sent when pjsua2 returns
        self._later: list[Callable] = []  # work a callback put off until pjsua2 returns
        self._gate: pjgate.Gate | None = None
        self.policy = IncomingPolicy()
        self._ids = itertools.count(1)
        self._cmds: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = concurrent.futures.Future()
        self._stopping = False
        self._wake_sock: socket.socket | None = None
        self._wake_addr = ("127.0.0.1" if config.bind in ("0.0.0.0", "") else config.bind,
                           config.port)
        # owned by the SIP thread:
        self.ep: pj.Endpoint | None = None
        self.accounts: dict[int, _Account] = {}
        self.calls: dict[int, _Call] = {}
        self._dead: list = []
        self.media: _Media | None = None
        self._writer = None
        self._recorders: dict[int, pj.AudioMediaRecorder] = {}
        self._own_ports: dict[str, pj.AudioMedia] = {}    # attach_port's (media.py)
        self.local_host = ""
        self.pj_version = ""
        self.started_at = 0.0
        self.taps: Taps | None = None      # our module before pjsip's layers (BLF reads it)
        self.offered: frozenset[str] = frozenset()   # enabled codecs' names (the gate's)
        self._refusals = logs.Limited(log, per_minute=30)
        # run on the SIP thread before anything is torn down (firmware/sip/pjblf.py's buddies)
        self.closers: list[Callable[[], None]] = []
        # who may send NOTIFY check-sync: set from the loop, read on the SIP thread
        self.check_sync_from: frozenset[str] | None = None   # None = not accepted

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> concurrent.futures.Future:
        """Start the thread; the future resolves when SIP is up (or fails with SipError)."""
        self._thread = threading.Thread(target=self._run, name="pjsua", daemon=True)
        self._thread.start()
        return self._started

    def stop(self, timeout: float = 10.0) -> None:
        """Hang up, shut down pjsua2 and join the thread (blocking: call from an executor)."""
        if not self._thread:
            return
        self._stopping = True
        self._wake()
        self._thread.join(timeout)
        if self._wake_sock:
            self._wake_sock.close()

    def post(self, ev: Event) -> None:
        """Queue an event for the loop (SIP thread only). Callbacks run inside libHandleEvents, often before
        pjsip has sent what they asked for (the 180 given in onIncomingCall goes out after
        the callback returns); waking the loop then would make it fight this thread for
        the GIL. So events leave once libHandleEvents has returned (_flush)."""
        self._events.append(ev)

    def _flush(self) -> None:
        while self._later:
            self._guard(self._later.pop(0))
        if self._events:
            events, self._events = self._events, []
            for ev in events:
                self._post(ev)

    @property
    def policy(self) -> IncomingPolicy:
        """Who may ring and how (firmware/sip/policy.py): replaced whole as settings change,
        from any thread; the gate forgets the callers it let in under the old one."""
        return self._policy

    @policy.setter
    def policy(self, policy: IncomingPolicy) -> None:
        self._policy = policy
        if self._gate is not None:
            self._gate.forget_sources()

    def new_call_id(self) -> int:
        return next(self._ids)

    def _run(self) -> None:
        try:
            self._init()
        except Exception as e:  # noqa: BLE001
            reason = e.info() if isinstance(e, pj.Error) else str(e)
            if "Address already in use" in reason or "EADDRINUSE" in reason:
                reason = (f"SIP port {self.config.port} on {self.config.bind} is in use by "
                          f"another program — change sip.port")
            log.error("SIP did not start: %s", reason)
            self._started.set_exception(SipError(reason))
            self._destroy()
            return
        self._started.set_result(self.local_host)
        try:
            self._drain()               # queued before SIP was up (firmware/startup.py)
            self._flush()
            while not self._stopping:
                self.ep.libHandleEvents(self.WAIT_MS)
                self._flush()
                self._drain()
                self._flush()           # what the commands' callbacks said
                self._dead.clear()
                if self._own_ports:
                    self._guard(self._release_idle_ports)
                if self._gate is not None:
                    self._gate.idle_turn()      # the calls are counted: arm fastgate.c
        except Exception:  # noqa: BLE001
            log.exception("SIP thread failed")
        finally:
            self._shutdown()

    def _init(self) -> None:
        c = self.config
        native.quiet()
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = c.user_agent or f"deskphone/{VERSION}"
        self._writer = _LogWriter()
        cfg.logConfig.writer = self._writer
        # the writer is pjsua2's "console": it gets what pjlib's level lets through. The
        # message logger is always on and pjlib's level decides (log.sip_trace, live:
        # sip_trace()); at level 2 pjsua's PJ_LOG(4) of a message returns before formatting
        cfg.logConfig.consoleLevel = 5
        cfg.logConfig.level = self.TRACE if c.trace else self.QUIET
        cfg.logConfig.msgLogging = True
        cfg.medConfig.hasIoqueue = False
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.port = c.port
        mark(tc, c.qos_sip)             # manual: Sip QoS
        if c.bind not in ("", "0.0.0.0"):
            tc.boundAddress = c.bind
        self._transport = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        info = self.ep.transportGetInfo(self._transport)
        self.local_host = info.localName  # host:port used in Contact
        null = c.null_audio or self.ep.audDevManager().getDevCount() == 0
        if null:
            # no clock until something plays (_Media): setNullDev here and setNoDev after
            # would stop the null device's clock thread, ~20 ms before the first REGISTER
            self.ep.audDevManager().setNoDev()
        self.ep.libStart()
        if not null and c.sound_device:
            self._pick_sound_device(c.sound_device)
        self._order_codecs()
        self.media = _Media(self, clock_when_needed=null)
        self.taps = Taps()
        if not self.taps.register():
            self.taps = None
        self._gate = pjgate.Gate(codecs=self.offered, calls_alive=lambda: len(self.calls),
                                 # the Phone replaces the policy as settings change
                                 allows_source=lambda ip: self.policy.allows_source(ip),
                                 allows_notify=lambda ip, ev: self.policy.allows_notify(ip,
                                                                                        ev),
                                 exempt=lambda ip: self.policy.trust.is_server(ip),
                                 flood_limit=lambda: self.policy.flood_limit,
                                 on_check_sync=self._on_check_sync)
        if not self._gate.register():
            log.warning("SIP gate not available: a burst of INVITEs can exhaust the media "
                        "sockets of this pjsip build")
            self._gate = None
        # the local account answers direct IP calls (P2P) and is the default one
        local = _Account(self, 0)
        acfg = self._account_config(None)
        local.create(acfg, True)
        self.accounts[0] = local
        # the wake socket only ever sends to our own SIP port: bound to that address, so
        # it is no listener on every interface (sendto would bind it to 0.0.0.0)
        self._wake_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._wake_sock.bind((self._wake_addr[0], 0))
        self._wake_sock.connect(self._wake_addr)
        if self.taps is not None and native.rx_layout is None:
            # start-up self-check of the C structs we read (firmware/sip/native.py): a probe
            # to our own port, read back by the tap on this thread's next turn, and an
            # OPTIONS to ourselves whose answer is read through pjsip_event
            host, port = self._wake_addr
            src = "%s:%d" % self._wake_sock.getsockname()
            self._wake_sock.send(native.self_check_request(host, port, os.urandom(8).hex(),
                                                           src))
            native.check_event(0, f"sip:deskphone-event-check@{host}:{port}")
        self.started_at = time.monotonic()
        self.pj_version = self.ep.libVersion().full
        log.info("SIP up on %s (pjsua2 %s)", self.local_host, self.pj_version)

    TRACE, QUIET = 5, 2      # pjlib log levels: every SIP message / pjsip's errors only

    def sip_trace(self, on: bool) -> concurrent.futures.Future:
        """log.sip_trace changed: every SIP message to DIR/logs/sip.log from now on, or none
        (firmware/logs.py adds and removes the file's handler)."""
        return self.submit(native.log_level, self.TRACE if on else self.QUIET)

    def _order_codecs(self, names: tuple[str, ...] | None = None) -> None:
        """Enable the listed codecs in their order, disable the rest (firmware/sip/codecs.py;
        manual "Audio"). A list of which this pjsua has none would leave every call
        refused 488: then the factory list is used and the log says why."""
        names = self.config.codecs if names is None else tuple(names)
        ids = [ci.codecId for ci in self.ep.codecEnum2()]
        prio, missing = pjcodecs.priorities(ids, names)
        if missing:
            log.info("codecs not in this pjsua, skipped: %s", ", ".join(missing))
        if not any(prio.values()):
            log.warning("none of the codecs %s is in this pjsua: using %s", ", ".join(names)
                        or "(none)", ", ".join(pjcodecs.FACTORY))
            prio, _ = pjcodecs.priorities(ids, pjcodecs.FACTORY)
        for cid, p in prio.items():
            self.ep.codecSetPriority(cid, p)
        self.offered = pjcodecs.offered(prio)
        if self._gate is not None:
            self._gate.codecs = self.offered      # an offer of disabled codecs only: 488

    def codecs(self, names: tuple[str, ...]) -> concurrent.futures.Future:
        """sip.codecs changed: new calls offer and accept these (calls up keep theirs)."""
        return self.submit(self._order_codecs, tuple(names))

    def _on_check_sync(self, reboot: bool, source: str) -> int:
        """The answer to a PBX's NOTIFY Event: check-sync (firmware/sip/gate.py)."""
        allowed = self.check_sync_from
        if allowed is None:
            log.info("NOTIFY check-sync from %s: not accepted (provisioning.accept_notify)",
                     source)
            return 489           # Bad Event: this package is not taken (RFC 6665)
        if source not in allowed:
            log.warning("NOTIFY check-sync from %s refused (403): not one of the phone's "
                        "servers", source)
            return 403
        log.info("NOTIFY check-sync%s from %s", ";reboot=true" if reboot else "", source)
        self.post(CheckSyncReceived(reboot=reboot, source=source))
        return 200

    def _pick_sound_device(self, wanted: str) -> None:
        """Use the ALSA device the board names (as `aplay -L` prints it)."""
        adm = self.ep.audDevManager()
        devs = list(adm.enumDev2())
        for i, d in enumerate(devs):
            if d.name == wanted or wanted in d.name:
                if d.inputCount:
                    adm.setCaptureDev(i)
                if d.outputCount:
                    adm.setPlaybackDev(i)
                log.info("sound device: %s", d.name)
                return
        log.warning("sound device %r not found, using the default; there are: %s", wanted,
                    ", ".join(d.name for d in devs) or "none")

    def _shutdown(self) -> None:
        try:
            if self.ep is not None:
                self.ep.hangupAllCalls()
                for _ in range(20):      # let BYEs go out
                    if not self.calls:
                        break
                    self.ep.libHandleEvents(20)
                    self._dead.clear()
        except Exception:  # noqa: BLE001
            log.exception("hanging up at shutdown")
        self._destroy()

    def _destroy(self) -> None:
        # no pjsua2 object may outlive libDestroy (it would abort the interpreter)
        for close in self.closers:
            self._guard(close)
        self.closers.clear()
        if self.media is not None:
            self.media.close()
        self.media = None
        self._recorders.clear()
        if self._own_ports and self.ep is not None:
            # the media clock stops first: a Python port must not die while it may be
            # called (firmware/sip/media.py attach_port)
            try:
                self.ep.audDevManager().setNoDev()
            except pj.Error as e:
                log.warning("stopping the media clock: %s", e.info())
        self._own_ports.clear()
        self.calls.clear()
        self._dead.clear()
        for acc in self.accounts.values():
            try:
                acc.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self.accounts.clear()
        if self.taps is not None:
            self.taps.close()
            self.taps = None
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        native.release()
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except Exception:  # noqa: BLE001
                log.exception("libDestroy")
        self.ep = None
        self._writer = None

    # -- plumbing ----------------------------------------------------------------------------

    def _wake(self) -> None:
        sock = self._wake_sock
        if sock is not None:
            try:
                sock.send(b"\r\n\r\n")
            except OSError:
                pass

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        """Run fn(*args) on the SIP thread; the future has its result."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._cmds.put((fn, args, fut))
        if threading.current_thread() is not self._thread:
            self._wake()
        return fut

    def _drain(self) -> None:
        while True:
            try:
                fn, args, fut = self._cmds.get_nowait()
            except queue.Empty:
                return
            if self.ep is None:
                fut.set_exception(SipError("SIP is not running"))
                continue
            try:
                fut.set_result(fn(*args))
            except pj.Error as e:
                log.warning("%s: %s", getattr(fn, "__name__", fn), e.info())
                fut.set_exception(SipError(e.reason or e.info()))
            except Exception as e:  # noqa: BLE001
                log.exception("SIP command %s", getattr(fn, "__name__", fn))
                fut.set_exception(e)

    def _guard(self, fn, *args) -> None:
        """Run a callback body; an exception must never travel back into C++."""
        try:
            fn(*args)
        except pj.Error as e:
            log.warning("callback %s: %s", getattr(fn, "__name__", fn), e.info())
        except Exception:  # noqa: BLE001
            log.exception("callback %s", getattr(fn, "__name__", fn))
