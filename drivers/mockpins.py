"""Switches wired to gpiozero mock pins: the sim board's front panel and the tests.

The sim board has no keys and no cradle switch, so its keypad and hook drivers (the real
MatrixKeypad and GpioHook) read mock pins wired here like the hardware: a key is a switch
between a row wire and a column wire, the hook a switch between a pin and ground. The
front panel (drivers/panel.py) and the tests close and open these switches; the drivers see
nothing but pin levels and edges.

MockMatrix: a key matrix made of mock pins. A column pin reads low iff a chain of pressed
switches connects it to a row pin that is an output driven low (so three keys on a
rectangle make the fourth corner read pressed, as on real hardware). With diodes=True each
switch has a diode in series: a column reads low iff one of its own pressed keys sits on a
driven row, and nothing ghosts. Every change of a row pin (function or state) and of the
pressed keys re-evaluates the columns; the column pins then fire their edge callbacks like
real pins.

Contact bounce (tests): `bounce(key, n)` makes the key's contact flip on each of the next n
times its row is driven low, so the scanner sees it chatter, then settle where it was.

MockSwitchPin: a pin wired to ground through one switch (a key or the hook), so a closed
switch stays low whatever pull the driver sets.

These pins keep no history of their states (gpiozero's MockPin records every change: a
scanning keypad would grow that list for ever on a phone that runs for weeks).

Importing this module imports gpiozero (~30 ms): the sim board does it at its first key
press, not before the first REGISTER.
"""
from __future__ import annotations

import threading

from gpiozero.pins.mock import MockPin


class _Wire(MockPin):
    """A mock pin without the state history."""

    def _change_state(self, value):
        if self._state != value:
            self._state = value
            return True
        return False


class MockRowPin(_Wire):
    matrix: MockMatrix | None = None

    def _set_function(self, value):
        super()._set_function(value)
        if self.matrix is not None:
            self.matrix._row_changed(self)

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and self.matrix is not None:
            self.matrix._row_changed(self)
        return changed


class MockColPin(_Wire):
    matrix: MockMatrix | None = None

    def _set_pull(self, value):
        super()._set_pull(value)
        if self.matrix is not None:
            self.matrix._update()


class MockMatrix:
    def __init__(self, factory, *, rows: list[int], cols: list[int], keys: list[list[str]],
                 diodes: bool = False):
        self.diodes = diodes
        self.rows = [factory.pin(n, pin_class=MockRowPin) for n in rows]
        self.cols = [factory.pin(n, pin_class=MockColPin) for n in cols]
        self.where = {k: (r, c) for r, row in enumerate(keys) for c, k in enumerate(row) if k}
        self.down: set[tuple[int, int]] = set()
        self.chatter: dict[tuple[int, int], int] = {}
        self._lock = threading.RLock()
        self._scanned = threading.Condition(self._lock)
        self.idle = threading.Event()    # every row driven low: the keypad's idle arrangement
        self.scans = 0                   # times row 0 was driven low on its own
        self._was_driven = [False] * len(self.rows)
        for pin in self.rows + self.cols:
            pin.matrix = self
        self._update()

    # -- what the person does ---------------------------------------------------------

    def wait_scans(self, n: int, timeout: float = 2.0) -> bool:
        """Wait until the keypad has scanned the matrix n more times."""
        with self._scanned:
            target = self.scans + n
            return self._scanned.wait_for(lambda: self.scans >= target, timeout)

    def press(self, *keys: str, bounce: int = 0) -> None:
        """Close the keys' contacts; with bounce=n each then flips open/closed on the next
        n times its row is driven (n even: it ends closed)."""
        assert bounce % 2 == 0, "an odd number of flips would leave the contact open"
        with self._lock:
            for k in keys:
                self.down.add(self.where[k])
                self.chatter[self.where[k]] = bounce
            self._update()

    def release(self, *keys: str, bounce: int = 0) -> None:
        assert bounce % 2 == 0, "an odd number of flips would leave the contact closed"
        with self._lock:
            for k in keys:
                self.down.discard(self.where[k])
                self.chatter[self.where[k]] = bounce
            self._update()

    def bounce(self, key: str, flips: int) -> None:
        """A held or resting key's contact flips on each of the next `flips` times its row
        is driven (a jolt; an even number ends where it started)."""
        with self._lock:
            self.chatter[self.where[key]] = flips

    def chattering(self) -> bool:
        with self._lock:
            return any(self.chatter.values())

    def wait_idle(self, timeout: float = 2.0) -> bool:
        return self.idle.wait(timeout)

    # -- wiring -----------------------------------------------------------------------

    def _driven(self, r: int) -> bool:
        pin = self.rows[r]
        return pin.function == "output" and not pin.state

    def _row_changed(self, pin) -> None:
        with self._lock:
            r = self.rows.index(pin)
            was, self._was_driven[r] = self._was_driven[r], self._driven(r)
            if self._driven(r) and not was:
                for pos, n in list(self.chatter.items()):
                    if pos[0] == r and n:
                        self.down ^= {pos}
                        self.chatter[pos] = n - 1
                if r == 0 and not any(self._driven(i) for i in range(1, len(self.rows))):
                    self.scans += 1
                    self._scanned.notify_all()
            self._update()

    def _update(self) -> None:
        with self._lock:
            # rows and columns joined by pressed switches; which columns reach a driven row
            reach: set[int] = set()
            todo = [("r", r) for r in range(len(self.rows)) if self._driven(r)]
            if self.diodes:
                reach = {c for r, c in self.down if self._driven(r)}
                todo = []
            seen = set(todo)
            while todo:
                kind, i = todo.pop()
                for r, c in self.down:
                    if kind == "r" and r == i:
                        nxt = ("c", c)
                    elif kind == "c" and c == i:
                        nxt = ("r", r)
                    else:
                        continue
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
                        if nxt[0] == "c":
                            reach.add(nxt[1])
            for c, pin in enumerate(self.cols):
                if pin.function != "input":
                    continue
                if c in reach:
                    pin.drive_low()
                elif pin.pull == "up":
                    pin.drive_high()
            if all(self._driven(r) for r in range(len(self.rows))):
                self.idle.set()
            else:
                self.idle.clear()


class MockSwitchPin(_Wire):
    """A GPIO wired to ground through a switch: closed reads low, open reads the pull."""
    closed = False

    def _set_pull(self, value):
        super()._set_pull(value)
        if self.closed:
            self.drive_low()

    def set(self, closed: bool, *, bounce: int = 0) -> None:
        """Close or open the switch; with bounce=n it first chatters n times (n even)."""
        assert bounce % 2 == 0
        for _ in range(bounce // 2):
            self._put(closed)
            self._put(not closed)
        self._put(closed)

    def _put(self, closed: bool) -> None:
        self.closed = closed
        if self.function != "input":
            return
        if closed:
            self.drive_low()
        elif self.pull == "up":
            self.drive_high()
