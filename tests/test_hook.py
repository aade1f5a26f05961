"""The hook switch driver on a gpiozero mock pin: the real GpioHook, with the test opening
and closing the cradle switch (tests/mockmatrix.py MockSwitchPin)."""
from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from drivers.hook import GpioHook
from tests.mockmatrix import MockSwitchPin, Recorder

PIN = 24
DEBOUNCE, FLASH = 10, 300      # ms


@pytest.fixture
def factory():
    return MockFactory()


@pytest.fixture
def switch(factory):
    return factory.pin(PIN, pin_class=MockSwitchPin)


def make_hook(factory, **kw):
    opts = dict(pin=PIN, pin_factory=factory, debounce_ms=DEBOUNCE, flash_ms=FLASH)
    opts.update(kw)
    hook = GpioHook(**opts)
    return hook, Recorder(hook, "changed", "flashed")


@pytest.fixture
def hook(factory, switch):
    hook, rec = make_hook(factory)
    yield hook, rec
    hook.close()


def test_the_hook_reports_lifting_and_replacing_the_handset(switch, hook):
    hook, rec = hook
    assert hook.physical and not hook.is_offhook
    switch.set(True, bounce=4)                  # NO: the switch closes as it is lifted
    assert rec.wait("changed", True)
    assert hook.is_offhook
    put_down = time.monotonic()
    switch.set(False, bounce=4)
    assert rec.wait("changed", False)
    assert rec.when("changed", False) - put_down >= FLASH / 1000   # a flash would be shorter
    assert not hook.is_offhook
    assert rec.events() == [("changed", True), ("changed", False)]


def test_a_short_press_of_the_hook_is_a_flash_not_a_hang_up(switch, hook):
    hook, rec = hook
    switch.set(True)
    assert rec.wait("changed", True)
    switch.set(False)
    time.sleep(0.1)                             # the hook held down for 100 ms
    switch.set(True)
    assert rec.wait("flashed")
    assert hook.is_offhook
    assert rec.events() == [("changed", True), ("flashed",)]


def test_a_handset_that_bounces_as_it_lands_hangs_up_once(switch, hook):
    hook, rec = hook
    switch.set(True)
    assert rec.wait("changed", True)
    switch.set(False, bounce=8)
    assert rec.wait("changed", False)
    assert rec.events() == [("changed", True), ("changed", False)]


def test_an_on_hook_shorter_than_the_shortest_flash_is_ignored(factory, switch):
    hook, rec = make_hook(factory, min_flash_ms=150)
    try:
        switch.set(True)
        assert rec.wait("changed", True)
        switch.set(False)
        time.sleep(0.05)                        # a jolt: longer than debounce, not a flash
        switch.set(True)
        time.sleep(0.05)                        # lifted long enough to count
        switch.set(False)                       # then a real hang-up, to have an end
        assert rec.wait("changed", False)
        assert rec.events() == [("changed", True), ("changed", False)]
    finally:
        hook.close()


def test_an_nc_hook_switch_works_the_other_way_round(factory, switch):
    switch.set(True)                            # NC: closed while the handset rests
    hook, rec = make_hook(factory, contact="NC")
    try:
        assert not hook.is_offhook
        switch.set(False)                       # lifted: the switch opens
        assert rec.wait("changed", True)
        switch.set(True)
        assert rec.wait("changed", False)
        assert rec.events() == [("changed", True), ("changed", False)]
    finally:
        hook.close()


def test_the_state_at_start_is_read_not_reported(factory, switch):
    switch.set(True)                            # the handset is off the cradle at boot
    hook, rec = make_hook(factory)
    try:
        assert hook.is_offhook
        switch.set(False)
        assert rec.wait("changed", False)
        assert rec.events() == [("changed", False)]
    finally:
        hook.close()


def test_with_flash_hook_off_hanging_up_is_reported_at_once(factory, switch):
    hook, rec = make_hook(factory, flash_ms=0)
    try:
        switch.set(True)
        assert rec.wait("changed", True)
        switch.set(False)
        time.sleep(0.1)                         # would be a flash with flash_ms = 300
        switch.set(True)
        assert rec.wait("changed", True, count=2)
        assert rec.events() == [("changed", True), ("changed", False), ("changed", True)]
    finally:
        hook.close()


def test_a_resting_or_lifted_handset_does_not_wake_the_thread(switch, hook):
    hook, rec = hook
    assert hook.wakeups == 0
    switch.set(True)
    assert rec.wait("changed", True)
    before = hook.wakeups
    time.sleep(0.2)
    assert hook.wakeups == before


def test_a_flash_time_shorter_than_the_shortest_flash_is_refused(factory, switch):
    with pytest.raises(ValueError, match="flash_ms"):
        GpioHook(pin=PIN, pin_factory=factory, debounce_ms=20, flash_ms=30)


def test_closing_the_hook_gives_the_pin_back(factory, switch):
    hook, _ = make_hook(factory)
    hook.close()
    assert switch.when_changed is None and switch.function == "input"
    hook, _ = make_hook(factory)                # reserved again without complaint
    hook.close()
