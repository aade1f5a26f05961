"""The hook switch. GpioHook: the cradle switch on a GPIO pin, debounced, with flash hook
detection (manual §7, Phone Setting, "Flash hook time"); the sim board's handset is a
GpioHook too, on a mock pin (drivers/panel.py).

Only the handset cradle is a hook switch; the headset is a key (GpioKeys "headset" or a
matrix key), never a second hook.
"""
from __future__ import annotations

import time

from drivers.keypad import PRESS_MS, KeyTimer, PinDevice, until


OFFHOOK = "offhook"


class GpioHook(PinDevice):
    """The cradle switch on one pin, with the internal pull-up.

    contact "NO": the switch closes (pin low) when the handset is lifted; "NC": it closes
    while the handset rests. The state at start is read, not reported.

    `when_changed(offhook)` reports lifting and replacing; `when_flashed()` a flash hook:
    an on-hook shorter than flash_ms followed by off-hook again is ONE flash and no
    on-hook/off-hook pair. The price: replacing the handset is reported flash_ms late (an
    on-hook counts only once it has lasted flash_ms); `is_offhook` says True until then.
    flash_ms = 0 turns flash detection off and reports hanging up at once.

    A flash must last at least min_flash_ms (default 2 x debounce_ms): a shorter on-hook
    between two off-hooks is a jolt of the handset and gives no event at all, so a bounce
    is never a flash. Both durations run from when the contact moved, not from when the
    debounce confirmed it.
    """

    physical = True
    _callbacks = ("when_changed", "when_flashed")

    def __init__(self, *, pin: int, contact: str = "NO", pin_factory=None,
                 debounce_ms: float = 20, flash_ms: float = 500,
                 min_flash_ms: float | None = None):
        if contact not in ("NO", "NC"):
            raise ValueError('contact must be "NO" (closes when lifted) or "NC"')
        min_flash_ms = 2 * debounce_ms if min_flash_ms is None else min_flash_ms
        if flash_ms and flash_ms <= min_flash_ms:
            raise ValueError(f"flash_ms ({flash_ms}) must be longer than the shortest "
                             f"flash, {min_flash_ms} ms (2 x debounce), or 0 for no flash")
        super().__init__(pin_factory=pin_factory, numbers=[pin], name="hook")
        self._pin = self._pins[0]
        self._contact = contact
        self._flash = flash_ms / 1000
        self._min_flash = min_flash_ms / 1000
        self._onhook_at: float | None = None    # an on-hook waiting to become a hang-up
        try:
            self._pin.input_with_pull("up")
            self._pin.edges = "both"
            start = self._read()
            self._timer = KeyTimer(debounce_ms=debounce_ms, press_ms=PRESS_MS,
                                   down=[OFFHOOK] if start else (), now=time.monotonic())
            self._offhook = start
            self._pin.when_changed = self._on_edge
        except BaseException:
            self._closed = True
            self._release()
            raise
        self._start()

    @property
    def is_offhook(self) -> bool:
        return self._offhook

    def _read(self) -> bool:
        closed = not self._pin.state
        return closed if self._contact == "NO" else not closed

    def _on_edge(self, ticks, state) -> None:
        with self._lock:
            self._timer.moved(OFFHOOK, time.monotonic())
        if self._worker is not None:
            self._worker.wake()

    def _step(self) -> float | None:
        now = time.monotonic()
        out: list[tuple] = []
        with self._lock:
            raw = {OFFHOOK} if self._read() else set()
            for kind, _key, t in self._timer.update(raw, now):
                if kind == "released":                       # handset down at t
                    if self._flash:
                        self._onhook_at = t
                    else:
                        out.append(("changed", False))
                elif self._onhook_at is not None:            # lifted again in time
                    if t - self._onhook_at >= self._min_flash:
                        out.append(("flashed",))
                    self._onhook_at = None
                else:
                    out.append(("changed", True))
            deadline = self._timer.deadline()
            if self._onhook_at is not None:
                hangup = self._onhook_at + self._flash
                lifting = self._timer.pending(OFFHOOK)
                if lifting is not None and lifting < hangup:
                    pass                   # lifted before flash_ms: wait for the debounce
                elif now >= hangup:
                    out.append(("changed", False))
                    self._onhook_at = None
                else:
                    deadline = hangup if deadline is None else min(deadline, hangup)
            for event in out:
                if event[0] == "changed":
                    self._offhook = event[1]
        self._emit(out)
        return until(deadline)
