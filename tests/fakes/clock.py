"""A clock for firmware/bus.py's Timers that moves only when a test says so.

Timers asks its bus's loop for `call_later`, `time` and (through Bus.post_threadsafe)
`call_soon_threadsafe`; FakeClock answers those three and nothing else, so the real Bus
and the real Timers run unchanged. `advance(seconds)` fires every timer that falls due,
earliest first, each at its own instant, and lets the caller run the bus after each one:
a 5 s dial timeout fires at 5 s, not "at some point in the next poll".
"""
from __future__ import annotations

import heapq
import itertools
from typing import Callable


class FakeHandle:
    """What loop.call_later returns: Timers uses cancel() and when()."""

    def __init__(self, when: float, fn: Callable, args: tuple):
        self._when, self.fn, self.args = when, fn, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def when(self) -> float:
        return self._when


class FakeClock:
    """Stands in for the asyncio loop of a Bus: Bus(loop=FakeClock())."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self._due: list[tuple[float, int, FakeHandle]] = []
        self._order = itertools.count()      # same instant: in the order they were started

    # -- what Bus and Timers call -------------------------------------------------------

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable, *args) -> FakeHandle:
        h = FakeHandle(self.now + max(0.0, delay), fn, args)
        heapq.heappush(self._due, (h.when(), next(self._order), h))
        return h

    def call_soon_threadsafe(self, fn: Callable, *args) -> None:
        fn(*args)                            # one thread here: "soon" is now

    # -- what tests call ------------------------------------------------------------------

    def pending(self) -> list[float]:
        """Seconds from now of every timer still to fire, earliest first."""
        return sorted(h.when() - self.now for _, _, h in self._due if not h.cancelled)

    def advance(self, seconds: float, after_each: Callable[[], None] = lambda: None) -> None:
        """Move time on by `seconds`, firing what falls due in order; `after_each` runs
        after every fired timer (the rig settles the bus there, so a timer started by a
        handler of an earlier one fires too if it falls due within `seconds`)."""
        end = self.now + seconds
        while self._due and self._due[0][0] <= end:
            when, _, h = heapq.heappop(self._due)
            if h.cancelled:
                continue
            self.now = when
            h.fn(*h.args)
            after_each()
        self.now = end
