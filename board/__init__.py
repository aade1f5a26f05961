"""Boards: which driver drives which part. `load("sim")` gives the simulated board.

A board joins drivers to the phone; the phone never imports a driver directly.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from firmware.errors import BoardError

BOARDS = ("sim",)


@dataclass
class Board:
    name: str
    keypad: Any
    hook: Any
    leds: Any
    display: Any
    audio: Any
    simulated: bool = False

    def close(self) -> None:
        for part in (self.keypad, self.hook, self.leds, self.display, self.audio):
            part.close()


def load(name: str) -> Board:
    if name not in BOARDS:
        raise BoardError(f"unknown board '{name}': choose one of {', '.join(BOARDS)}")
    module = importlib.import_module(f"board.{name}")
    return module.build()
