"""Start-up (firmware/startup.py): SIP and the first REGISTER start before the App exists; the
App takes them over. What the SIP thread reports meanwhile is held and reaches the bus in
order, and Registration takes up the lines where their first step left them, sending nothing
twice. In process, on the fake SIP engine and the fake clock; the real REGISTERs at start-up
are tests/test_registration.py's (unregister first, then register)."""
from __future__ import annotations

import threading

from firmware.bus import Bus, Timers
from firmware.call.state import LineStatus, PhoneState
from firmware.events import (MessagesWaiting, RegistrationChanged, RegistrationStarted,
                             Unregistered)
from firmware.settings import Settings, apply
from firmware.sip.registration import Registration
from firmware.startup import Held
from tests.fakes.clock import FakeClock
from tests.fakes.sip import FakeSip

SERVER = "127.0.0.1:5060"


def test_what_the_sip_thread_posts_before_the_bus_exists_arrives_in_order_then_directly():
    held, got = Held(), []
    early = [RegistrationStarted(1, SERVER, True), Unregistered(1, 200, "OK", registering=True),
             RegistrationChanged(1, SERVER, 200, "OK", True, 3600, True, 0)]
    sip_thread = threading.Thread(target=lambda: [held.post(ev) for ev in early])
    sip_thread.start()
    sip_thread.join(5)
    assert got == []                        # nobody to give them to yet
    held.deliver(got.append)
    late = MessagesWaiting(1, True, 2, 0, SERVER)
    held.post(late)
    assert got == [*early, late]


def test_the_first_answers_are_in_once_every_sent_line_has_an_answer():
    held = Held(frozenset({1, 2}))
    held.post(Unregistered(1, 200, "OK", registering=True))     # the REGISTER went out
    held.post(RegistrationStarted(1, SERVER, True))
    held.post(RegistrationChanged(1, SERVER, 200, "OK", True, 3600, True, 0))
    assert not held.answered.is_set()                           # line 2 still waits
    held.post(Unregistered(2, 408, "Request Timeout"))          # silent: Registration's turn
    assert held.answered.is_set()
    assert Held().answered.is_set()                             # no line registers


def _registration(sent: frozenset[int]):
    settings, problems = apply(Settings(), {"account.1.enable": True, "account.1.user": "1001",
                                            "account.1.server": SERVER})
    assert not problems
    bus = Bus(FakeClock())
    sip = FakeSip(bus.post)
    state = PhoneState()
    reg = Registration(bus=bus, timers=Timers(bus), sip=sip, state=state, settings=settings)
    reg.start(sent=sent)
    return reg, bus, sip, state


def _settle(bus: Bus) -> None:
    while not bus.queue.empty():
        bus.run_batch(bus.queue.get_nowait())


def test_registration_takes_up_a_line_the_start_up_sent_and_sends_nothing_twice():
    reg, bus, sip, state = _registration(frozenset({1}))
    assert not any(s.args.get("index") == 1 for s in sip.sent), sip.sent
    assert reg.lines[1].phase == "unregistering"
    assert state.accounts[0].status is LineStatus.NOT_REGISTERED
    # the answers the SIP thread gave meanwhile, as Held delivers them
    bus.post(Unregistered(1, 200, "OK", registering=True))
    bus.post(RegistrationChanged(1, SERVER, 200, "OK", True, 3600, True, 0))
    _settle(bus)
    assert state.accounts[0].status is LineStatus.REGISTERED
    assert reg.first_answers.is_set()
    assert not any(s.command in ("register", "connect") for s in sip.sent), sip.sent


def test_without_the_start_up_registration_sends_the_first_step_itself():
    reg, bus, sip, state = _registration(frozenset())
    assert [(s.command, s.args) for s in sip.sent if s.command == "connect"] == \
        [("connect", {"index": 1, "unregister_first": True, "fresh": False})]
    assert reg.lines[1].phase == "unregistering"
    # the SIP thread could not REGISTER at the answer (the account changed): we do
    bus.post(Unregistered(1, 200, "OK", registering=False))
    _settle(bus)
    assert [s.args["index"] for s in sip.sent if s.command == "register"] == [1]
    assert reg.lines[1].phase == "registering"
