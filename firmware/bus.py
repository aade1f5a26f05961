"""The event bus and timers: one asyncio queue, handlers called one event at a time.

Modules (the Phone, registration, later BLF, paging, ...) subscribe to event types
with `bus.on(EventType, handler)`; they never call each other. After each batch of
events the `after` hooks run (render the LCD, set LEDs and tones) once.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Callable

from firmware.events import Event, TimerFired

log = logging.getLogger("deskphone.bus")


class Bus:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop or asyncio.get_event_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.handlers: dict[type, list[Callable[[Event], None]]] = defaultdict(list)
        self.after: list[Callable[[], None]] = []

    def on(self, event_type: type, handler: Callable, *, first: bool = False) -> None:
        """Call `handler` for every event of this type; first: before the others (to
        see the state as it was before them)."""
        if first:
            self.handlers[event_type].insert(0, handler)
        else:
            self.handlers[event_type].append(handler)

    def post(self, event: Event) -> None:
        """From the loop's thread."""
        self.queue.put_nowait(event)

    def post_threadsafe(self, event: Event) -> None:
        """From any other thread (the SIP thread, driver threads)."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    def dispatch(self, event: Event) -> None:
        for handler in self.handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one bad handler must not stop the phone
                log.exception("handler %s failed on %r", getattr(handler, "__qualname__",
                                                                 handler), event)

    async def run(self) -> None:
        while True:
            self.run_batch(await self.queue.get())

    def run_batch(self, event: Event) -> None:
        """`event` and every event queued behind it, then the after hooks once (present).
        The loop calls it; the in-process tests (tests/fakes/) call it without a loop."""
        self.dispatch(event)
        while not self.queue.empty():          # take the whole batch, then present
            self.dispatch(self.queue.get_nowait())
        for fn in self.after:
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("after-hook %s failed", fn)


class Timers:
    """Named one-shot timers that post TimerFired(name) on the bus; no polling."""

    def __init__(self, bus: Bus):
        self.bus = bus
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def start(self, name: str, delay: float, data: object = None) -> None:
        self.cancel(name)
        self._handles[name] = self.bus.loop.call_later(max(0.0, delay), self._fire, name, data)

    def _fire(self, name: str, data: object) -> None:
        self._handles.pop(name, None)
        self.bus.post(TimerFired(name, data))

    def cancel(self, name: str) -> None:
        h = self._handles.pop(name, None)
        if h is not None:
            h.cancel()

    def active(self, name: str) -> bool:
        return name in self._handles

    def due(self, name: str) -> float | None:
        """Seconds until the timer fires, or None."""
        h = self._handles.get(name)
        return None if h is None else max(0.0, h.when() - self.bus.loop.time())

    def cancel_all(self) -> None:
        for h in self._handles.values():
            h.cancel()
        self._handles.clear()


def now() -> tuple[float, float]:
    return time.time(), time.monotonic()
