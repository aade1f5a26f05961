"""Mock wiring for the key and hook drivers, and a recorder of their callbacks.

The wiring (MockMatrix, MockSwitchPin: key switches and the hook switch on gpiozero mock
pins) is drivers/mockpins.py, the same the sim board's front panel uses; this module adds
Recorder: the callbacks a driver made, with the time each came.
"""
from __future__ import annotations

import threading
import time

from drivers.mockpins import MockColPin, MockMatrix, MockRowPin, MockSwitchPin

__all__ = ["MockColPin", "MockMatrix", "MockRowPin", "MockSwitchPin", "Recorder"]


class Recorder:
    """Records a driver's callbacks as (kind, *args) with the time each came."""

    def __init__(self, device, *kinds: str):
        self.log: list[tuple] = []
        self._cond = threading.Condition()
        for kind in kinds:
            setattr(device, f"when_{kind}", self._hook(kind))

    def _hook(self, kind: str):
        def record(*args):
            with self._cond:
                self.log.append((time.monotonic(), kind, *args))
                self._cond.notify_all()
        return record

    def events(self) -> list[tuple]:
        with self._cond:
            return [e[1:] for e in self.log]

    def when(self, *event) -> float:
        """When the first such event came."""
        with self._cond:
            return next(e[0] for e in self.log if e[1:] == event)

    def wait(self, *event, count: int = 1, timeout: float = 2.0) -> bool:
        """Wait until `event` has come `count` times."""
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(e[1:] == event for e in self.log) >= count, timeout)
