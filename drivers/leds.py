"""LED drivers. SimLeds keeps the patterns for the front panel to draw."""
from __future__ import annotations


class SimLeds:
    def __init__(self) -> None:
        self.patterns: dict[str, tuple[str, str]] = {}

    def set(self, name: str, colour: str, pattern: str) -> None:
        self.patterns[name] = (colour, pattern)

    def close(self) -> None:
        self.patterns.clear()
