"""Start-up before the App: the settings, the log, SIP and the first REGISTER.

`python -m firmware` calls `begin()` with nothing imported but what SIP needs, so the first
REGISTER leaves before asyncio, the App, the features, drawing and the web are imported
(`make bench`, start -> REGISTERED); the App then takes the running engine over
(`App(early=...)`). An App that nobody started early calls `begin()` itself (tests/inproc.py).

In this order:
1. the data dir made the owner's; settings.toml read once (a bad value falls back to its
   last good one: SettingsStore.load); the log set up as log.* says; "deskphone ... starting";
2. the board file read and checked (a bad one stops the phone here, before anything runs).
   Only its [audio] is used now: pjsua2's sound card, or pjsua2's null device; the App
   builds the drivers;
3. the SIP thread started, with each registering line's first step queued: the boot
   unregister chained to the REGISTER on the SIP thread (SipEngine.connect), or the
   REGISTER. Until the Phone exists (it sets the incoming policy the settings give) a new
   call is answered 480 Temporarily Unavailable, as a phone that is not up yet; trust is
   in force from the start (the lines' servers may notify, sip.trusted_only holds);
4. what the SIP thread reports is held (Held) until the App's bus exists, Registration has
   taken up the lines and the call features are set up, then delivered in order: every
   part sees every answer (an MWI NOTIFY that came with the first REGISTER too).

`python -m firmware` then waits until every line's first REGISTER has its answer (at most
FIRST_ANSWERS seconds after SIP started) before it imports the rest: the SIP thread needs
Python (the GIL) between the round trips, and an import holds it for milliseconds at a time.
The App's own wait for those answers (the call features, drawing and the web start after
them) ends by the same deadline.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import board as boards
from firmware.events import Event, RegistrationChanged, Unregistered
from firmware.record import Record
from firmware.settings import ACCOUNTS, DIR_MODE, Settings, SettingsStore
from firmware.settings_service import setup_logs
from firmware.sip.accounts import line_spec
from firmware.sip.engine import VERSION, SipConfig, SipEngine
from firmware.sip.policy import IncomingPolicy
from firmware.sip.trust import own_address, trust_for

log = logging.getLogger("deskphone")

FIRST_ANSWERS = 1.0     # s after SIP started: the longest the rest waits for the REGISTERs
NOT_YET = 480           # a new call before the Phone exists: Temporarily Unavailable


class Held:
    """Events posted before the bus exists: kept in order, handed over at once, and from
    then on passed straight through. Any thread may post. `answered` is set once every
    line in `lines` has the answer to its first REGISTER (or to its boot unregister, when
    no REGISTER followed it at once: then Registration decides what comes next)."""

    def __init__(self, lines: frozenset[int] = frozenset()) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._post: Callable[[Event], None] | None = None
        self._waiting = set(lines)
        self.answered = threading.Event()
        if not lines:
            self.answered.set()

    def post(self, ev: Event) -> None:
        with self._lock:
            if self._waiting and (isinstance(ev, RegistrationChanged) or
                                  isinstance(ev, Unregistered) and not ev.registering):
                self._waiting.discard(ev.account)
                if not self._waiting:
                    self.answered.set()
            if self._post is None:
                self._events.append(ev)
            else:
                self._post(ev)

    def deliver(self, post: Callable[[Event], None]) -> None:
        """Everything held to `post`, in order; then every later event."""
        with self._lock:
            for ev in self._events:
                post(ev)
            self._events.clear()
            self._post = post


class Early(Record):
    """What begin() started, for the App to take over."""

    store: SettingsStore
    settings: Settings
    sip: SipEngine
    started: concurrent.futures.Future   # SIP is up (or failed: SipError)
    held: Held                   # the SIP thread's events until the bus exists
    sent: frozenset[int]         # lines whose first step the SIP thread has queued
    deadline: float              # time.monotonic(): the first answers are waited for until
    board: tuple[dict, Path]     # the board file as read and checked (boards.read)

    def wait_first_answers(self) -> None:
        """Until every line's first REGISTER has its answer, SIP failed, or the deadline."""
        self.held.answered.wait(max(0.0, self.deadline - time.monotonic()))


def begin(*, board: str, data_dir: Path, console: bool = True) -> Early:
    """Steps 1-4 of the module doc. Raises BoardError (nothing started then)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    store = SettingsStore(data_dir)
    settings = store.load(keep_good_later=True)   # App.run keeps the good copy later
    setup_logs(data_dir, settings, console=console)
    log.info("deskphone %s starting: board %s, data %s", VERSION, board, data_dir)
    board_file = boards.read(board)
    sound = boards.sound_device(board_file[0])
    sent = frozenset(i for i in range(1, ACCOUNTS + 1) if settings.account[i].enable and
                     settings.account[i].user and settings.account[i].server)
    held = Held(sent)
    sip = SipEngine(config=sip_config(settings, sound), post=held.post)
    sip.policy = IncomingPolicy(dnd=NOT_YET, trust=trust_for(
        settings, {}, own_address(settings.sip.bind)))
    for i in sorted(sent):       # what Registration._begin and _connect send first
        a = settings.account[i]
        sip.set_account(i, line_spec(a, a.server, a.expires))
        sip.connect(i, unregister_first=settings.sip.unregister_on_boot)
    started = sip.start()      # runs what is queued as soon as SIP is up
    started.add_done_callback(lambda f: f.exception() is None or held.answered.set())
    return Early(store=store, settings=settings, sip=sip, started=started, board=board_file,
                 held=held, sent=sent, deadline=time.monotonic() + FIRST_ANSWERS)


def sip_config(settings: Settings, sound: str | None) -> SipConfig:
    """The SIP engine's configuration: the settings, and the board's sound card (None:
    pjsua2's null device)."""
    s = settings.sip
    return SipConfig(
        port=s.port, bind=s.bind, rtp_port=s.rtp_port, rtp_ports=s.rtp_ports,
        user_agent=s.user_agent, trace=settings.log.sip_trace, prack=s.prack,
        session_timers=s.session_timers, session_expires=s.session_expires,
        dtmf_payload=settings.phone.dtmf_payload, null_audio=sound is None,
        sound_device=sound or "", codecs=s.codecs, qos_sip=s.qos_sip, qos_voice=s.qos_voice)
