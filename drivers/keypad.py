"""Keypads. SimKeypad: keys pressed on the front panel."""
from __future__ import annotations

from typing import Callable

from firmware.keys import KEYS


class SimKeypad:
    def __init__(self) -> None:
        self.when_pressed: Callable[[str], None] | None = None
        self.when_released: Callable[[str], None] | None = None
        self.down: set[str] = set()

    def press(self, key: str) -> None:
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}")
        self.down.add(key)
        if self.when_pressed:
            self.when_pressed(key)

    def release(self, key: str) -> None:
        if key not in KEYS:
            raise ValueError(f"unknown key {key!r}")
        self.down.discard(key)
        if self.when_released:
            self.when_released(key)

    def close(self) -> None:
        self.when_pressed = self.when_released = None
