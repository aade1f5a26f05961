"""The sim board's keypad and hook: the front panel's keys and handset as switches on mock
pins, read by the real drivers, so the sim board behaves like hardware.

A key on the web page (or `POST /api/keys`) closes the contact of that key in a key matrix
of gpiozero mock pins (drivers/mockpins.py); the real MatrixKeypad scans it, debounces it,
and reports press, release, long press (hardware.long_press_ms) and auto-repeat
(hardware.repeat_ms) exactly as it does on a Pi. The handset is a switch on one mock pin
read by the real GpioHook, flash hook included (hardware.flash_hook_ms). Nothing here posts
an event: the drivers do, through the callbacks the App gives them.

What a press through the API promises: `press(key, "down")` returns once the keypad has
reported the key down (its KeyPressed is on the bus, as before this panel existed), so a
script's next request sees it; `"up"` opens the contact and returns (the driver reports the
release debounce_ms later); `"press"` is both. A second press of a key whose release is still
being debounced waits for that release first: otherwise the driver would take the quick
re-press for contact bounce and the second digit would be lost. A finger cannot be faster
than the scanner this way; a contact spike shorter than 2 ms, which the scanner ignores on
hardware, can only come from the tests' own MockMatrix.

Idle, this costs nothing: before the first key or handset use nothing is built (gpiozero
is imported then, ~30 ms, after the first REGISTER); after it the drivers' threads sleep
on edges. While a key is held the keypad scans every 5 ms, as on hardware.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from firmware.keys import KEYS

log = logging.getLogger(__name__)

WAIT = 1.0        # s: the longest a press waits for its driver (then it goes on, logged)
COLS = 8          # the panel's matrix: every key of the manual, 8 to a row, with diodes


def layout() -> tuple[list[int], list[int], list[list[str]]]:
    """Row pins, column pins and keys of the panel's matrix (its own mock pins: no real
    GPIO numbers, nothing else on the board shares them)."""
    names = list(KEYS)
    keys = [names[i:i + COLS] for i in range(0, len(names), COLS)]
    keys[-1] += [""] * (COLS - len(keys[-1]))
    rows = list(range(len(keys)))
    cols = list(range(len(keys), len(keys) + COLS))
    return rows, cols, keys


class _Reports:
    """What a driver has said so far, for a press waiting on it."""

    def __init__(self, name: str):
        self.name = name
        self.down: set[str] = set()
        self.count = 0
        self._cond = threading.Condition()

    def heard(self, forward: Callable | None, *args, down: str = "", up: str = "") -> None:
        """Pass a driver's callback on (the event goes on the bus first), then note it."""
        try:
            if forward is not None:
                forward(*args)
        finally:
            with self._cond:
                if down:
                    self.down.add(down)
                self.down.discard(up)
                self.count += 1
                self._cond.notify_all()

    def wait(self, ready: Callable[[], bool], what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(ready, WAIT):
                log.warning("front panel: the %s did not report %s within %g s", self.name,
                            what, WAIT)


class _PanelPart:
    """A front panel part: the callbacks the App sets, and its mock wiring and real driver,
    built at first use (`_wires`) and closed once."""

    _callbacks: tuple[str, ...] = ()

    def __init__(self, name: str, **timing):
        for cb in self._callbacks:
            setattr(self, cb, None)
        self._timing = timing
        self._reports = _Reports(name)
        self._build = threading.Lock()
        self._wiring = self._driver = None
        self._gone = False

    def _wires(self):
        """The mock wiring (None once closed); made with its driver at the first call."""
        with self._build:
            if self._wiring is None and not self._gone:
                from gpiozero.pins.mock import MockFactory
                self._wiring, self._driver = self._make(MockFactory(), self._reports)
            return self._wiring

    def _make(self, factory, r: _Reports) -> tuple:
        raise NotImplementedError

    def close(self) -> None:
        with self._build:
            self._gone = True
            for cb in self._callbacks:
                setattr(self, cb, None)
            if self._driver is not None:
                self._driver.close()


class PanelKeypad(_PanelPart):
    """The sim board's keypad: keys worked by `press`, read by a real MatrixKeypad."""

    _callbacks = ("when_pressed", "when_released", "when_held", "when_repeated")

    def __init__(self, *, debounce_ms: float, hold_ms: float, repeat_ms: float):
        super().__init__("keypad", debounce_ms=debounce_ms, hold_ms=hold_ms,
                         repeat_ms=repeat_ms)
        self._closed_keys: set[str] = set()      # contacts closed by the person

    @staticmethod
    def has(key: str) -> bool:
        return key in KEYS

    @property
    def pressed(self) -> frozenset[str]:
        """The keys down now, as the driver reports them (debounced)."""
        return frozenset(self._reports.down)

    def press(self, key: str, action: str = "press") -> None:
        """Close ("down"), open ("up") or close then open ("press") the key's contact."""
        matrix = self._wires()
        if matrix is None:
            return
        r = self._reports
        if action in ("press", "down") and key not in self._closed_keys:
            r.wait(lambda: key not in r.down, f"{key} released")
            self._closed_keys.add(key)
            matrix.press(key)
            r.wait(lambda: key in r.down, f"{key} pressed")
        if action in ("press", "up") and key in self._closed_keys:
            self._closed_keys.discard(key)
            matrix.release(key)

    def _make(self, factory, r: _Reports) -> tuple:
        from drivers.keypad import MatrixKeypad
        from drivers.mockpins import MockMatrix
        rows, cols, keys = layout()
        matrix = MockMatrix(factory, rows=rows, cols=cols, keys=keys, diodes=True)
        driver = MatrixKeypad(rows=rows, cols=cols, keys=keys, pin_factory=factory,
                              diodes=True, **self._timing)
        driver.when_pressed = lambda k: r.heard(self.when_pressed, k, down=k)
        driver.when_released = lambda k: r.heard(self.when_released, k, up=k)
        driver.when_held = lambda k: r.heard(self.when_held, k)
        driver.when_repeated = lambda k: r.heard(self.when_repeated, k)
        return matrix, driver


class PanelHook(_PanelPart):
    """The sim board's handset: `set` lifts or replaces it, a real GpioHook reads the
    cradle switch (contact NO: closed while lifted)."""

    physical = False           # the API may lift and replace it
    _callbacks = ("when_changed", "when_flashed")

    def __init__(self, *, debounce_ms: float, flash_ms: float, min_flash_ms: float):
        super().__init__("hook", debounce_ms=debounce_ms, flash_ms=flash_ms,
                         min_flash_ms=min_flash_ms)

    @property
    def is_offhook(self) -> bool:
        return self._driver is not None and self._driver.is_offhook

    def set(self, offhook: bool) -> None:
        """Lift (True) or replace the handset. Lifting returns once the driver has
        reported it (off-hook, or a flash when it was replaced less than flash_ms ago);
        replacing returns at once: the driver reports it flash_ms later, when it is sure
        the handset stays down."""
        switch = self._wires()
        if switch is None or switch.closed == offhook:
            return
        r = self._reports
        before = r.count
        switch.set(offhook)
        if offhook:
            r.wait(lambda: r.count > before, "the handset lifted")

    def _make(self, factory, r: _Reports) -> tuple:
        from drivers.hook import GpioHook
        from drivers.mockpins import MockSwitchPin
        switch = factory.pin(0, pin_class=MockSwitchPin)
        driver = GpioHook(pin=0, contact="NO", pin_factory=factory, **self._timing)
        driver.when_changed = lambda offhook: r.heard(self.when_changed, offhook)
        driver.when_flashed = lambda: r.heard(self.when_flashed)
        return switch, driver
