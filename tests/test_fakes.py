"""The fakes stay true to what they stand in for: FakeSip offers every command of the real
SipEngine with the same parameters, and FakeClock fires Timers at the right instants."""
from __future__ import annotations

import inspect

from firmware.bus import Bus, Timers
from firmware.events import TimerFired
from firmware.sip.engine import SipEngine
from tests.fakes import FakeClock, FakeSip


def _commands(cls) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls, callable)
            if not name.startswith("_") and inspect.isfunction(fn)}


def test_the_fake_sip_has_every_command_of_the_engine_with_the_same_parameters():
    real, fake = _commands(SipEngine), _commands(FakeSip)
    missing = sorted(real.keys() - fake.keys())
    assert not missing, f"FakeSip lacks {missing}"
    differ = {name: (str(real[name]), str(fake[name])) for name in real
              if list(real[name].parameters) != list(fake[name].parameters)}
    assert not differ, f"FakeSip's parameters differ: {differ}"


def test_the_fake_clock_fires_timers_at_their_instant_in_order():
    clock = FakeClock()
    bus = Bus(clock)
    timers = Timers(bus)
    fired: list[tuple[str, float]] = []
    bus.on(TimerFired, lambda ev: fired.append((ev.name, round(clock.time() - 1000.0, 3))))

    def settle():
        while not bus.queue.empty():
            bus.run_batch(bus.queue.get_nowait())

    timers.start("late", 2.0)
    timers.start("early", 0.5)
    timers.start("gone", 1.0)
    timers.cancel("gone")
    assert timers.due("early") == 0.5
    clock.advance(1.0, settle)
    assert fired == [("early", 0.5)] and timers.active("late")
    clock.advance(1.0, settle)
    assert fired == [("early", 0.5), ("late", 2.0)] and not timers.active("late")
