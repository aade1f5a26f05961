"""Hook switches. SimHook: the handset on the front panel."""
from __future__ import annotations

from typing import Callable


class SimHook:
    physical = False   # the API may lift and replace it

    def __init__(self) -> None:
        self.is_offhook = False
        self.when_changed: Callable[[bool], None] | None = None

    def set(self, offhook: bool) -> None:
        if offhook != self.is_offhook:
            self.is_offhook = offhook
            if self.when_changed:
                self.when_changed(offhook)

    def close(self) -> None:
        self.when_changed = None
