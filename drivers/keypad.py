"""Keypads. MatrixKeypad: a row/column key matrix on GPIO. GpioKeys: one pin per key (e.g. a
headset key beside the matrix). The sim board's front panel is a MatrixKeypad too, on mock
pins (drivers/panel.py).

The two real drivers share one timing core, KeyTimer (debounce, long press, repeat), fed
with "these keys read pressed at time t", and one worker thread shape, PinWorker: it
sleeps on an Event with no timeout while nothing is down, so an idle keypad costs no CPU.
Pins come from gpiozero's pin layer (`factory.pin(n)`): RPi.GPIO or lgpio on a Pi,
MockFactory in the tests, never a backend imported here.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from firmware.keys import KEYS

log = logging.getLogger(__name__)

LATE = 2e-4        # s: sleep this much past a deadline, so one wake-up always suffices
# keys that auto-repeat while held. Not C: held, C is a long press (it clears the field, every
# digit typed) and a repeat of it would be a second, third... C, which walks out of the page
# (the editor's Cancel, then Back, Back: a draft contact gone, the idle screen). A key has one
# meaning held: a long press or a repeat, never both.
REPEAT_KEYS = frozenset({"up", "down", "left", "right", "volup", "voldown"})


# -- timing: one piece of code for debounce, hold and repeat ------------------------------

@dataclass
class _Key:
    raw: bool = False                  # last reading
    since: float = 0.0                 # when the contact last moved
    down: bool = False                 # debounced state
    hold_at: float | None = None
    repeat_at: float | None = None


PRESS_MS = 2    # a key reads down this long: pressed (releases wait debounce_ms)


class KeyTimer:
    """Debounce, long press and repeat for a set of keys; no threads, no clock of its own.

    Feed it the keys that read pressed at time `now` (`update`), and tell it when a contact
    moved between readings (`moved`, from an edge callback). A key changes state only once
    its reading has not moved for debounce_ms, so contact bounce gives neither a double
    press nor a phantom release. Events are (kind, key, t) with kind pressed / released /
    held / repeated, and t the moment the change really happened (the start of the stable
    run), not the moment it was confirmed. `deadline()` says when it must be fed again even
    if nothing moves; None means "only when a contact moves".

    A held key gets `held` once, hold_ms after it went down; a repeat key also gets
    `repeated` at that moment and every repeat_ms after it (the app uses one or the other).
    A late feed gives one repeat, not a burst.
    """

    def __init__(self, *, debounce_ms: float, hold_ms: float | None = None,
                 repeat_ms: float | None = None, repeat_keys: Iterable[str] = (),
                 down: Iterable[str] = (), now: float = 0.0, press_ms: float | None = None):
        if debounce_ms < 0 or (hold_ms is not None and hold_ms <= 0) \
                or (repeat_ms is not None and repeat_ms <= 0):
            raise ValueError("debounce_ms must be >= 0, hold_ms and repeat_ms > 0")
        self.debounce = debounce_ms / 1000
        # a press may be confirmed sooner than a release (press_ms): the key then reacts
        # at once, a spike shorter than press_ms is still no key, and bounce after the
        # press is no double press because the release needs debounce_ms of calm
        self.press = self.debounce if press_ms is None else min(press_ms, debounce_ms) / 1000
        self.hold = None if hold_ms is None else hold_ms / 1000
        self.repeat = None if repeat_ms is None else repeat_ms / 1000
        self.repeat_keys = frozenset(repeat_keys)
        self.keys: dict[str, _Key] = {}
        for name in down:               # down at start: known, no event
            self.keys[name] = _Key(raw=True, since=now, down=True)

    @property
    def pressed(self) -> frozenset[str]:
        return frozenset(n for n, k in self.keys.items() if k.down)

    @property
    def busy(self) -> bool:
        """Something is down or about to change."""
        return any(k.raw or k.down for k in self.keys.values())

    def pending(self, name: str) -> float | None:
        """When an unconfirmed change of this key started, if one is waiting."""
        k = self.keys.get(name)
        return k.since if k is not None and k.raw != k.down else None

    def moved(self, name: str, now: float) -> None:
        k = self.keys.get(name)
        if k is None:
            k = self.keys[name] = _Key()
        k.since = now

    def update(self, raw: Iterable[str], now: float, *,
               unknown: Iterable[str] = ()) -> list[tuple[str, str, float]]:
        """Keys in `unknown` are ones the reading cannot tell (matrix ghosting): they keep
        their state, give no events, and start their debounce again once readable."""
        raw = set(raw)
        unknown = set(unknown)
        events: list[tuple[str, str, float]] = []
        for name in raw - self.keys.keys() - unknown:
            self.keys[name] = _Key()
        for name, k in list(self.keys.items()):
            if name in unknown:
                k.since = now
                continue
            reading = name in raw
            if reading != k.raw:
                k.raw, k.since = reading, now
            if k.raw != k.down and now >= k.since + (self.press if k.raw else self.debounce):
                k.down = k.raw
                k.repeat_at = None
                if k.down:
                    k.hold_at = None if self.hold is None else k.since + self.hold
                    events.append(("pressed", name, k.since))
                else:
                    k.hold_at = None
                    events.append(("released", name, k.since))
            if k.down and k.raw:       # not while a release is being confirmed
                if k.hold_at is not None and now >= k.hold_at:
                    events.append(("held", name, k.hold_at))
                    if name in self.repeat_keys and self.repeat is not None:
                        events.append(("repeated", name, k.hold_at))
                        k.repeat_at = k.hold_at + self.repeat
                    k.hold_at = None
                elif k.repeat_at is not None and now >= k.repeat_at:
                    events.append(("repeated", name, k.repeat_at))
                    k.repeat_at += self.repeat
                    if k.repeat_at <= now:
                        k.repeat_at = now + self.repeat
            if not (k.raw or k.down):
                del self.keys[name]
        return events

    def deadline(self) -> float | None:
        times = []
        for k in self.keys.values():
            if k.raw != k.down:
                times.append(k.since + (self.press if k.raw else self.debounce))
            elif k.down:
                times += [t for t in (k.hold_at, k.repeat_at) if t is not None]
        return min(times, default=None)


# -- the worker thread and the pin plumbing shared by the GPIO devices --------------------

class PinWorker:
    """One thread that runs `step()` when woken and when step asked for it.

    step returns the seconds until it wants to run again, or None to sleep until `wake()`
    (an edge). The sleep is a plain Event.wait: with None it has no timeout, so a device
    with nothing to do never runs. `wakeups` counts the returns from that wait.
    """

    def __init__(self, step: Callable[[], float | None], *, name: str,
                 on_exit: Callable[[], None] | None = None):
        self._step = step
        self._on_exit = on_exit
        self._event = threading.Event()
        self._stopping = False
        self.wakeups = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._event.set()

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping:
                try:
                    timeout = self._step()
                    failures = 0
                except Exception:
                    failures += 1
                    (log.exception if failures == 1 else log.debug)(
                        "%s: reading the pins failed; trying again every second",
                        self._thread.name)
                    timeout = 1.0
                if self._stopping:
                    break
                self._event.wait(None if timeout is None else max(0.0, timeout))
                self.wakeups += 1
                self._event.clear()
        finally:
            if self._on_exit is not None:
                self._on_exit()

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        self._stopping = True
        self._event.set()
        if not self.in_worker():
            self._thread.join(5)


def until(deadline: float | None) -> float | None:
    """Seconds to wait for a monotonic deadline (None: no deadline)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic()) + LATE


def pin_factory_or_default(pin_factory):
    if pin_factory is None:
        from gpiozero import Device
        Device.ensure_pin_factory()
        pin_factory = Device.pin_factory
    return pin_factory


class PinDevice:
    """Pin reservation, callbacks and close() for the GPIO drivers (gpiozero habits: the
    pins are reserved on the factory, so another device asking for them fails loudly)."""

    _callbacks: tuple[str, ...] = ()

    def __init__(self, *, pin_factory, numbers: list[int], name: str):
        self.pin_factory = pin_factory_or_default(pin_factory)
        self._name = name
        self._closed = False
        self._close_lock = threading.Lock()
        self._worker: PinWorker | None = None
        self._lock = threading.Lock()         # guards the timer between threads
        self._pins: list = []
        for cb in self._callbacks:
            setattr(self, cb, None)
        self.pin_factory.reserve_pins(self, *numbers)
        try:
            self._pins = [self.pin_factory.pin(n) for n in numbers]
        except BaseException:
            self.pin_factory.release_all(self)
            raise

    def _conflicts_with(self, other) -> bool:      # gpiozero's reservation protocol
        return True

    def _start(self) -> None:
        self._worker = PinWorker(self._step, name=self._name, on_exit=self._release)
        self._worker.start()

    @property
    def wakeups(self) -> int:
        """How often the worker thread has woken (0 while idle: it waits on an edge)."""
        return self._worker.wakeups if self._worker else 0

    def _step(self) -> float | None:
        raise NotImplementedError

    def _emit(self, events: list[tuple]) -> None:
        for kind, *args in events:
            callback = getattr(self, f"when_{kind}", None)
            if callback is None:
                continue
            try:
                callback(*args)
            except Exception:
                log.exception("%s: when_%s%r failed", self._name, kind, tuple(args))

    def close(self) -> None:
        """Stop the thread and give every pin back (inputs, no callbacks)."""
        if self._closed:
            return
        self._closed = True
        for cb in self._callbacks:
            setattr(self, cb, None)
        if self._worker is not None:
            self._worker.stop()
            if self._worker.in_worker():
                return                 # closed from a callback: the worker releases on exit
        self._release()

    def _release(self) -> None:
        if not self._closed:
            return
        with self._close_lock:
            pins, self._pins = self._pins, []
            for pin in pins:
                try:
                    pin.when_changed = None
                    pin.close()
                except Exception:
                    log.exception("%s: closing %s failed", self._name, pin)
            self.pin_factory.release_all(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _check_keys(names: Iterable[str]) -> None:
    for k in names:
        if k and k not in KEYS:
            raise ValueError(f"unknown key {k!r}")


class _KeyDevice(PinDevice):
    _callbacks = ("when_pressed", "when_released", "when_held", "when_repeated")

    def _make_timer(self, debounce_ms, hold_ms, repeat_ms, repeat_keys) -> None:
        self._timer = KeyTimer(debounce_ms=debounce_ms, hold_ms=hold_ms, repeat_ms=repeat_ms,
                               repeat_keys=repeat_keys, press_ms=PRESS_MS)

    @property
    def pressed(self) -> frozenset[str]:
        """The keys down now (debounced)."""
        with self._lock:
            return self._timer.pressed

    def _feed(self, raw, now, unknown=()) -> float | None:
        """Feed one reading; deliver its events; seconds to the next deadline."""
        with self._lock:
            events = self._timer.update(raw, now, unknown=unknown)
            deadline = self._timer.deadline()
        self._emit([(kind, key) for kind, key, _t in events])
        return until(deadline)


# -- the key matrix ---------------------------------------------------------------------

def ambiguous(readings: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Positions a diode-less matrix cannot tell apart: the corners of every rectangle
    (2 rows x 2 columns) with 3 or 4 corners reading pressed. Three keys on a rectangle
    make the fourth read pressed too, so any of the four may be a ghost."""
    rows = sorted({r for r, _ in readings})
    cols = sorted({c for _, c in readings})
    out: set[tuple[int, int]] = set()
    for i, r1 in enumerate(rows):
        for r2 in rows[i + 1:]:
            for j, c1 in enumerate(cols):
                for c2 in cols[j + 1:]:
                    corners = {(r1, c1), (r1, c2), (r2, c1), (r2, c2)}
                    if len(corners & readings) >= 3:
                        out |= corners
    return out


class MatrixKeypad(_KeyDevice):
    """A key matrix: rows driven low one at a time, columns read with pull-ups.

    Idle, every row is driven low and the thread sleeps until a column falls (an edge
    callback, no timer). Then it scans every scan_ms — one row driven low, the others
    released to inputs so two keys in one column never short two outputs — until every key
    is up and debounced, and goes back to sleep.

    Without diodes, three keys on the corners of a rectangle make the fourth read pressed.
    Such combinations are ambiguous: the keys on them give no events (a key already down
    stays down) until the combination is broken; other keys work as usual. diodes=True
    (a diode in series with every key) turns this off: every combination reads true.

    Callbacks (key name) run on the driver's thread: keep them short; an exception is
    logged. when_held fires once after hold_ms; when_repeated, for repeat_keys, fires then
    and every repeat_ms while the key stays down.
    """

    def __init__(self, *, rows: list[int], cols: list[int], keys: list[list[str]],
                 pin_factory=None, debounce_ms: float = 20, hold_ms: float = 800,
                 repeat_ms: float = 120, repeat_keys: Iterable[str] = REPEAT_KEYS,
                 diodes: bool = False, scan_ms: float = 5):
        if len(keys) != len(rows) or any(len(row) != len(cols) for row in keys):
            raise ValueError(f"keys must be {len(rows)} rows of {len(cols)} names "
                             f"(\"\" where there is no key)")
        _check_keys(k for row in keys for k in row)
        super().__init__(pin_factory=pin_factory, numbers=list(rows) + list(cols),
                         name="keypad")
        self._rows = self._pins[:len(rows)]
        self._cols = self._pins[len(rows):]
        self._keys = [list(row) for row in keys]
        self._scan_s = scan_ms / 1000
        self._diodes = diodes
        self._make_timer(debounce_ms, hold_ms, repeat_ms, repeat_keys)
        self._idle = False
        try:
            for col in self._cols:
                col.input_with_pull("up")
                col.edges = "falling"
                col.when_changed = self._on_edge
            for row in self._rows:
                row.output_with_state(False)
            self._rows_low = True
        except BaseException:
            self._closed = True
            self._release()
            raise
        self._start()

    def _on_edge(self, ticks, state) -> None:
        if self._idle and self._worker is not None:
            self._worker.wake()

    def _scan(self) -> set[tuple[int, int]]:
        if self._rows_low:                     # leaving the idle arrangement
            for row in self._rows:
                row.input_with_pull("up")
            self._rows_low = False
        readings = set()
        for r, row in enumerate(self._rows):
            row.output_with_state(False)
            for c, col in enumerate(self._cols):
                if not col.state:
                    readings.add((r, c))
            row.input_with_pull("up")
        return readings

    def _step(self) -> float | None:
        self._idle = False
        now = time.monotonic()
        readings = self._scan()
        unsure = set() if self._diodes else ambiguous(readings)
        unknown = {self._keys[r][c] for r, c in unsure if self._keys[r][c]}
        raw = {self._keys[r][c] for r, c in readings if self._keys[r][c]} - unknown
        wait = self._feed(raw, now, unknown)
        with self._lock:
            busy = self._timer.busy
        if readings or busy:
            return self._scan_s if wait is None else min(self._scan_s, wait)
        for row in self._rows:                 # idle: all rows low, wait for a column edge
            row.output_with_state(False)
        self._rows_low = self._idle = True
        if any(not col.state for col in self._cols):   # pressed while we arranged
            self._idle = False
            return 0.0
        return None


# -- one pin per key --------------------------------------------------------------------

class GpioKeys(_KeyDevice):
    """Keys on their own pins (pressed pulls the pin low; internal pull-up), with the same
    callbacks, debounce, long press and repeat as MatrixKeypad. Purely edge driven: the
    thread runs on an edge and at the debounce / hold / repeat deadlines, never otherwise
    (a held key that does not repeat costs nothing)."""

    def __init__(self, *, pins: dict[str, int], pin_factory=None, debounce_ms: float = 20,
                 hold_ms: float = 800, repeat_ms: float = 120,
                 repeat_keys: Iterable[str] = REPEAT_KEYS):
        _check_keys(pins)
        names = list(pins)
        super().__init__(pin_factory=pin_factory, numbers=[pins[n] for n in names],
                         name="keys")
        self._by_key = dict(zip(names, self._pins))
        self._make_timer(debounce_ms, hold_ms, repeat_ms, repeat_keys)
        self._handlers = {}                    # gpiozero keeps only weak references
        try:
            for name, pin in self._by_key.items():
                pin.input_with_pull("up")
                pin.edges = "both"
                self._handlers[name] = handler = self._edge_handler(name)
                pin.when_changed = handler
        except BaseException:
            self._closed = True
            self._release()
            raise
        self._start()

    def _edge_handler(self, name: str):
        def on_edge(ticks, state) -> None:
            with self._lock:
                self._timer.moved(name, time.monotonic())
            if self._worker is not None:
                self._worker.wake()
        return on_edge

    def _step(self) -> float | None:
        now = time.monotonic()
        raw = {name for name, pin in self._by_key.items() if not pin.state}
        return self._feed(raw, now)
