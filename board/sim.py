"""The simulated board: every part is worked from the browser front panel or the API."""
from __future__ import annotations

from board import Board
from drivers.audio import SimAudio
from drivers.display import DummyDisplay
from drivers.hook import SimHook
from drivers.keypad import SimKeypad
from drivers.leds import SimLeds


def build() -> Board:
    return Board(name="sim", keypad=SimKeypad(), hook=SimHook(), leds=SimLeds(),
                 display=DummyDisplay(), audio=SimAudio(), simulated=True)
