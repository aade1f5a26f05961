"""Audio path switching (which transducer is live). The sound itself stays in pjsip.

SimAudio only remembers the choice; a Pi board switches amplifiers/codec routes here.
"""
from __future__ import annotations


class SimAudio:
    has_sound_device = False   # pjsua2 uses its null device

    def __init__(self) -> None:
        self.device = "none"

    def select(self, device: str) -> None:
        self.device = device

    def close(self) -> None:
        pass
