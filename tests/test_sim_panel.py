"""The sim board's front panel works the real keypad and hook drivers (drivers/panel.py):
a key from the web page or the API closes a contact on a matrix of mock pins, so debounce,
long press, auto-repeat and flash hook behave as on hardware.

What hardware does with short presses (drivers/keypad.py KeyTimer): a contact that reads
closed for 2 ms is a press, however much shorter than debounce_ms it is; its release counts
only after debounce_ms of calm, so bounce is never a second press; a spike under 2 ms is
no key at all (test_keypad.py). Through the panel a press is never shorter than the scanner
needs: the contact stays closed until the keypad reported it, and a quick second press of
the same key waits until the first one's release is confirmed.
"""
from __future__ import annotations

import threading

import pytest

import board
from tests.phone import PhoneProcess


class Heard:
    """What the sim board's drivers report, in order."""

    def __init__(self, b):
        self.events: list[tuple] = []
        self._cond = threading.Condition()
        kp, hook = b.keypad, b.hook
        kp.when_pressed = lambda k: self._add("pressed", k)
        kp.when_released = lambda k: self._add("released", k)
        kp.when_held = lambda k: self._add("held", k)
        kp.when_repeated = lambda k: self._add("repeated", k)
        hook.when_changed = lambda offhook: self._add("hook", offhook)
        hook.when_flashed = lambda: self._add("flashed")

    def _add(self, *event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, *event, count: int = 1, timeout: float = 5.0) -> list[tuple]:
        with self._cond:
            assert self._cond.wait_for(lambda: self.events.count(event) >= count, timeout), \
                f"waited for {event} x{count}: {self.events}"
            return list(self.events)


@pytest.fixture
def sim():
    b = board.load("sim")
    yield b, Heard(b)
    b.close()


def test_a_quick_press_through_the_api_is_one_press_and_one_release(sim):
    b, heard = sim
    assert b.press("5")
    assert heard.events == [("pressed", "5")]          # down is reported before press returns
    assert heard.wait("released", "5") == [("pressed", "5"), ("released", "5")]


def test_the_same_key_pressed_again_at_once_is_a_second_press_not_bounce(sim):
    b, heard = sim
    for _ in range(5):
        b.press("5")
    events = heard.wait("released", "5", count=5)
    assert events == [("pressed", "5"), ("released", "5")] * 5


def test_holding_an_arrow_is_a_long_press_and_repeats(sim):
    b, heard = sim
    b.press("up", "down")
    heard.wait("repeated", "up", count=2)
    b.press("up", "up")
    events = heard.wait("released", "up")
    assert events[:3] == [("pressed", "up"), ("held", "up"), ("repeated", "up")]
    assert events.count(("held", "up")) == 1 and events[-1] == ("released", "up")


def test_holding_c_is_one_long_press_never_repeated(sim):
    """Held, C clears (a long press); a repeat would be more Cs walking out of the page.
    A repeat comes with the long press or not at all: released after it, none came."""
    b, heard = sim
    b.press("cancel", "down")
    heard.wait("held", "cancel")
    b.press("cancel", "up")
    assert heard.wait("released", "cancel") == [("pressed", "cancel"), ("held", "cancel"),
                                                ("released", "cancel")]


def test_a_digit_held_is_one_long_press_never_repeated(sim):
    b, heard = sim
    b.press("7", "down")
    heard.wait("held", "7")
    b.press("7", "up")
    assert heard.wait("released", "7") == [("pressed", "7"), ("held", "7"), ("released", "7")]


def test_keys_of_an_expansion_module_are_not_on_the_panel(sim):
    b, heard = sim
    assert not b.press("e1.1")                   # the API posts those itself
    assert heard.events == []


def test_the_handset_lifted_replaced_and_lifted_again_quickly_is_a_flash(sim):
    b, heard = sim
    b.hook.set(True)
    assert heard.events == [("hook", True)] and b.hook.is_offhook
    b.hook.set(False)
    threading.Event().wait(0.1)                  # a flash: longer than 2 x debounce (40 ms),
    b.hook.set(True)                             # shorter than flash_hook_ms (500 ms)
    assert heard.events == [("hook", True), ("flashed",)]
    b.hook.set(False)                            # hanging up: reported once it lasted 500 ms
    assert heard.wait("hook", False) == [("hook", True), ("flashed",), ("hook", False)]
    assert not b.hook.is_offhook


def test_until_it_is_used_the_panel_runs_nothing(sim):
    """Nothing is built before the first key or handset use: the phone's start (before the
    first REGISTER) does not pay for gpiozero, and an idle panel has no thread."""
    b, heard = sim
    assert b.keypad.pressed == frozenset() and not b.hook.is_offhook
    assert not [t for t in threading.enumerate() if t.name in ("keypad", "hook")]


# --- the whole phone, through its API ---------------------------------------------------

@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    p = PhoneProcess(tmp_path_factory.mktemp("panel"), account={"user": "1001"},
                     settings={"hardware.long_press_ms": 800, "hardware.repeat_ms": 120})
    with p:
        yield p


def hold(p: PhoneProcess, key: str, action: str) -> None:
    """A key down or up through the API, as the web page sends it."""
    p.request("POST", "/api/keys", {"key": key, "action": action})


def idle(s: dict) -> bool:
    return s["screen"] == "idle" and not s["calls"]


@pytest.fixture
def ph(phone):
    yield phone
    phone.hook(False)
    phone.wait(idle, 5, "idle again")


def test_holding_c_on_the_dial_screen_clears_every_digit_at_once(ph):
    ph.hook(True)
    ph.wait(lambda s: s["screen"] == "dialing")
    digits = "12345678901234567890"
    ph.keys(digits)
    ph.wait(lambda s: s["calls"] and s["calls"][0]["number"] == digits)
    hold(ph, "cancel", "down")
    seen = set()

    def cleared(s):
        seen.add(s["calls"][0]["number"])
        return s["calls"][0]["number"] == ""
    s = ph.wait(cleared, 5, "every digit cleared while C is held")
    hold(ph, "cancel", "up")
    assert s["screen"] == "dialing"
    # the long press took every digit at once; C's own press took one before it (one by
    # one, the auto-repeat would have shown the numbers in between)
    assert seen <= {digits, digits[:-1], ""}


def test_holding_volume_up_repeats_it_until_the_top(ph):
    ph.key("voldown")
    assert "Volume ring 4/9" in ph.wait_screen("Volume ring 4/9")
    hold(ph, "volup", "down")
    ph.wait_screen("Volume ring 9/9")             # one press: 5/9; held: it repeats
    hold(ph, "volup", "up")


def test_quick_presses_through_the_api_are_never_lost(ph):
    ph.keys("5555512345")
    s = ph.wait(lambda s: s["predial"] == "5555512345", 5, "every digit typed")
    assert s["screen"] == "predial"
    ph.key("cancel")
    ph.wait(lambda s: s["predial"] == "555551234")
    for _ in range(9):
        ph.key("cancel")
    ph.wait(lambda s: s["predial"] == "")
