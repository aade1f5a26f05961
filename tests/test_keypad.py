"""The keypad drivers on gpiozero mock pins: the real MatrixKeypad and GpioKeys, with the
test pressing switches on a mock matrix (tests/mockmatrix.py), never touching internals."""
from __future__ import annotations

import logging
import time

import pytest
from gpiozero.exc import GPIOPinInUse
from gpiozero.pins.mock import MockFactory

from drivers.keypad import PRESS_MS, GpioKeys, KeyTimer, MatrixKeypad, ambiguous
from tests.mockmatrix import MockMatrix, MockSwitchPin, Recorder

ROWS = [5, 6, 13, 19]
COLS = [20, 21, 26, 16]
KEYS = [["1", "2", "3", "up"],
        ["4", "5", "6", "down"],
        ["7", "8", "9", "cancel"],
        ["*", "0", "#", ""]]
DEBOUNCE, HOLD, REPEAT = 20, 100, 30           # ms; short, so the file runs in seconds
KINDS = ("pressed", "released", "held", "repeated")


@pytest.fixture
def factory():
    return MockFactory()


@pytest.fixture
def matrix(factory):
    return MockMatrix(factory, rows=ROWS, cols=COLS, keys=KEYS)


def make_keypad(factory, **kw):
    opts = dict(rows=ROWS, cols=COLS, keys=KEYS, pin_factory=factory,
                debounce_ms=DEBOUNCE, hold_ms=HOLD, repeat_ms=REPEAT)
    opts.update(kw)
    return MatrixKeypad(**opts)


@pytest.fixture
def keypad(factory, matrix):
    with make_keypad(factory) as kp:
        yield kp


@pytest.fixture
def rec(keypad):
    return Recorder(keypad, *KINDS)


def test_a_key_press_is_reported_once_even_when_its_contact_bounces(matrix, keypad, rec):
    matrix.press("5", bounce=6)
    assert rec.wait("pressed", "5")
    assert not matrix.chattering()              # the scanner saw every flip
    assert keypad.pressed == {"5"}
    matrix.release("5", bounce=6)
    assert rec.wait("released", "5")
    assert not matrix.chattering()
    assert matrix.wait_idle()
    assert rec.events() == [("pressed", "5"), ("released", "5")]
    assert keypad.pressed == frozenset()


def test_a_jolt_of_a_held_key_is_not_a_release(matrix, keypad, rec):
    matrix.press("8")
    assert rec.wait("pressed", "8")
    matrix.bounce("8", 2)
    assert matrix.wait_scans(4)
    assert not matrix.chattering()
    assert keypad.pressed == {"8"}
    matrix.release("8")
    assert rec.wait("released", "8")
    assert [e for e in rec.events() if e[0] != "held"] == [("pressed", "8"), ("released", "8")]


def test_holding_an_arrow_key_repeats_it(matrix, keypad, rec):
    start = time.monotonic()
    matrix.press("up")
    assert rec.wait("repeated", "up", count=4)
    matrix.release("up")
    assert rec.wait("released", "up")
    events = rec.events()
    assert events[:3] == [("pressed", "up"), ("held", "up"), ("repeated", "up")]
    assert events[-1] == ("released", "up")
    assert set(events[3:-1]) == {("repeated", "up")}
    repeats = [t for t, kind, *_ in rec.log if kind == "repeated"]
    for n, t in enumerate(repeats):             # never early: hold_ms, then every repeat_ms
        assert t - start >= (HOLD + n * REPEAT) / 1000


def test_holding_c_is_a_long_press(matrix, keypad, rec):
    start = time.monotonic()
    matrix.press("cancel")
    assert rec.wait("held", "cancel")
    assert rec.when("held", "cancel") - start >= HOLD / 1000
    matrix.release("cancel")
    assert rec.wait("released", "cancel")
    assert rec.events().count(("held", "cancel")) == 1        # once, however long


def test_a_digit_held_down_is_one_long_press_never_repeated(matrix, keypad, rec):
    matrix.press("5")
    assert rec.wait("held", "5")
    assert matrix.wait_scans(3 * REPEAT // 5)       # long enough for three repeats
    matrix.release("5")
    assert rec.wait("released", "5")
    assert rec.events() == [("pressed", "5"), ("held", "5"), ("released", "5")]


def test_a_short_press_is_not_a_long_press(factory, matrix):
    with make_keypad(factory, hold_ms=1000) as kp:
        rec = Recorder(kp, *KINDS)
        matrix.press("cancel")
        assert rec.wait("pressed", "cancel")
        matrix.release("cancel")
        assert rec.wait("released", "cancel")
        assert rec.events() == [("pressed", "cancel"), ("released", "cancel")]


def test_two_keys_pressed_together_are_both_reported(matrix, keypad, rec):
    matrix.press("1", "4", "9")                 # 1 and 4 share a column
    for k in ("1", "4", "9"):
        assert rec.wait("pressed", k)
    assert keypad.pressed == {"1", "4", "9"}
    matrix.release("4")
    assert rec.wait("released", "4")
    assert keypad.pressed == {"1", "9"}
    matrix.release("1", "9")
    assert rec.wait("released", "1") and rec.wait("released", "9")
    assert sorted(rec.events()) == sorted([("pressed", k) for k in "149"]
                                          + [("released", k) for k in "149"])


def test_three_keys_on_a_rectangle_do_not_report_the_ghost(matrix, keypad, rec):
    matrix.press("1")
    matrix.press("2")
    assert rec.wait("pressed", "1") and rec.wait("pressed", "2")
    matrix.press("4")                           # 1, 2, 4: the matrix now reads 5 too
    matrix.press("9")                           # away from the rectangle: still works
    assert rec.wait("pressed", "9")
    assert matrix.wait_scans(2 * DEBOUNCE // 5)
    assert keypad.pressed == {"1", "2", "9"}    # neither 4 nor the ghost 5
    matrix.release("1")                         # the rectangle is broken: 4 is real
    assert rec.wait("released", "1") and rec.wait("pressed", "4")
    matrix.release("2", "4", "9")
    assert matrix.wait_idle()
    events = rec.events()
    assert ("pressed", "5") not in events
    # 4 only once the rectangle was broken (a press confirms faster than a release)
    assert events.index(("pressed", "4")) > events.index(("pressed", "9"))
    assert keypad.pressed == frozenset()


def test_with_diodes_three_keys_on_a_rectangle_are_all_reported(factory):
    matrix = MockMatrix(factory, rows=ROWS, cols=COLS, keys=KEYS, diodes=True)
    with make_keypad(factory, diodes=True) as kp:
        rec = Recorder(kp, *KINDS)
        matrix.press("1", "2", "4")
        for k in ("1", "2", "4"):
            assert rec.wait("pressed", k)
        assert kp.pressed == {"1", "2", "4"}
        matrix.release("1", "2", "4")
        assert matrix.wait_idle()
        assert ("pressed", "5") not in rec.events()


def test_a_rectangle_of_readings_is_ambiguous_on_every_corner():
    assert ambiguous({(0, 0), (0, 1), (1, 0)}) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert ambiguous({(0, 0), (1, 1), (2, 2)}) == set()
    assert ambiguous({(0, 0), (0, 3), (2, 3), (1, 1)}) == {(0, 0), (0, 3), (2, 0), (2, 3)}


def test_an_idle_keypad_does_not_wake_its_thread(matrix, keypad, rec):
    assert matrix.wait_idle()
    before = keypad.wakeups
    time.sleep(0.3)
    assert keypad.wakeups == before == 0
    matrix.press("5")                           # a press wakes it through a column edge
    assert rec.wait("pressed", "5")
    t0, w0 = time.monotonic(), keypad.wakeups
    time.sleep(0.3)
    held_rate = (keypad.wakeups - w0) / (time.monotonic() - t0)
    assert 0 < held_rate <= 1.5 * 1000 / 5      # scans every 5 ms while a key is down
    matrix.release("5")
    assert rec.wait("released", "5")
    assert matrix.wait_idle()                   # every row driven low: back to sleep
    after = keypad.wakeups
    time.sleep(0.3)
    assert keypad.wakeups == after


def test_a_failing_callback_is_logged_and_the_keypad_keeps_working(matrix, keypad, caplog):
    rec = Recorder(keypad, "pressed", "released")
    recorded = keypad.when_pressed
    keypad.when_pressed = lambda key: (recorded(key), 1 / 0)
    with caplog.at_level(logging.ERROR, logger="drivers.keypad"):
        matrix.press("3")
        assert rec.wait("pressed", "3")
        matrix.release("3")
        assert rec.wait("released", "3")
    assert "when_pressed('3',) failed" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    matrix.press("3")
    assert rec.wait("pressed", "3", count=2)
    matrix.release("3")
    assert rec.wait("released", "3", count=2)


def test_closing_the_keypad_gives_the_pins_back(factory, matrix):
    kp = make_keypad(factory)
    with pytest.raises(GPIOPinInUse):
        make_keypad(factory)
    assert matrix.wait_idle()
    kp.close()
    assert [p.function for p in matrix.rows] == ["input"] * len(ROWS)
    assert all(p.when_changed is None for p in matrix.cols)
    with make_keypad(factory) as again:         # the pins are free again
        rec = Recorder(again, "pressed")
        matrix.press("0")
        assert rec.wait("pressed", "0")


def test_a_key_map_that_does_not_fit_the_pins_is_refused(factory):
    with pytest.raises(ValueError, match="4 rows of 4"):
        MatrixKeypad(rows=ROWS, cols=COLS, keys=KEYS[:3], pin_factory=factory)
    with pytest.raises(ValueError, match="unknown key"):
        MatrixKeypad(rows=ROWS, cols=COLS, keys=[["1", "2", "3", "banana"]] + KEYS[1:],
                     pin_factory=factory)


# -- one pin per key --------------------------------------------------------------------

@pytest.fixture
def switches(factory):
    return {"headset": factory.pin(22, pin_class=MockSwitchPin),
            "volup": factory.pin(23, pin_class=MockSwitchPin)}


@pytest.fixture
def keys(factory, switches):
    with GpioKeys(pins={"headset": 22, "volup": 23}, pin_factory=factory,
                  debounce_ms=DEBOUNCE, hold_ms=HOLD, repeat_ms=REPEAT) as k:
        yield k


def test_a_key_on_its_own_pin_is_debounced_like_the_keypad(switches, keys):
    rec = Recorder(keys, *KINDS)
    switches["headset"].set(True, bounce=6)
    assert rec.wait("pressed", "headset")
    assert keys.pressed == {"headset"}
    switches["headset"].set(False, bounce=6)
    assert rec.wait("released", "headset")
    assert rec.events() == [("pressed", "headset"), ("released", "headset")]


def test_holding_volume_up_on_its_own_pin_repeats_it(switches, keys):
    rec = Recorder(keys, *KINDS)
    switches["volup"].set(True)
    assert rec.wait("repeated", "volup", count=3)
    switches["volup"].set(False)
    assert rec.wait("released", "volup")
    assert rec.events()[:2] == [("pressed", "volup"), ("held", "volup")]


def test_a_held_headset_key_costs_no_wakeups_once_its_long_press_is_told(switches, keys):
    rec = Recorder(keys, *KINDS)
    assert keys.wakeups == 0
    switches["headset"].set(True)
    assert rec.wait("held", "headset")
    before = keys.wakeups
    time.sleep(0.2)
    assert keys.wakeups == before               # no repeat, no timer: it waits for an edge
    switches["headset"].set(False)
    assert rec.wait("released", "headset")
    assert rec.events() == [("pressed", "headset"), ("held", "headset"),
                            ("released", "headset")]


# -- the timing core, on a fake clock ---------------------------------------------------

def test_the_timer_confirms_a_change_only_after_debounce_ms_of_calm():
    t = KeyTimer(debounce_ms=20, hold_ms=100, repeat_ms=30, repeat_keys={"up"})
    assert t.update({"up"}, 0.000) == []
    assert t.update(set(), 0.005) == []                       # bounce
    assert t.update({"up"}, 0.010) == []
    assert t.deadline() == pytest.approx(0.030)
    assert t.update({"up"}, 0.030) == [("pressed", "up", 0.010)]
    assert t.deadline() == pytest.approx(0.110)
    assert t.update({"up"}, 0.110) == [("held", "up", 0.110), ("repeated", "up", 0.110)]
    assert t.update({"up"}, 0.141) == [("repeated", "up", pytest.approx(0.140))]
    assert t.update({"up"}, 0.500) == [("repeated", "up", pytest.approx(0.170))]  # no burst
    assert t.deadline() == pytest.approx(0.530)
    assert t.update(set(), 0.510) == []
    assert t.update(set(), 0.530) == [("released", "up", 0.510)]
    assert not t.busy and t.deadline() is None


def test_a_press_is_taken_after_2_ms_a_release_only_after_the_debounce():
    """On a fake clock: the key reacts at once (a spike under 2 ms is no key), while
    bounce after the press cannot make a second press."""
    assert PRESS_MS == 2
    t = KeyTimer(debounce_ms=20, press_ms=PRESS_MS)
    assert t.update({"5"}, 0.000) == []
    assert t.update({"5"}, 0.0015) == []
    assert t.update({"5"}, 0.003) == [("pressed", "5", 0.0)]
    assert t.update(set(), 0.004) == []             # bounce: not a release yet
    assert t.update({"5"}, 0.006) == []             # and not a second press
    assert t.update(set(), 0.010) == []
    assert t.update(set(), 0.029) == []
    assert t.update(set(), 0.030) == [("released", "5", 0.010)]
    assert t.update({"7"}, 0.040) == []
    assert t.update(set(), 0.041) == []             # a 1 ms spike
    assert t.update(set(), 0.100) == []             # ... is no key at all
