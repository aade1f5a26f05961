"""Audio path switching (which transducer is live). The sound itself stays in pjsip.

SimAudio only remembers the choice; a Pi board switches amplifiers/codec routes here.
"""
from __future__ import annotations


class SimAudio:
    has_sound_device = False   # pjsua2 uses its null device
    sound_device = ""

    def __init__(self) -> None:
        self.device = "none"

    def select(self, device: str) -> None:
        self.device = device

    def close(self) -> None:
        pass


class GpioAudio:
    """A real sound card for pjsua2, and one enable pin per transducer (an analogue
    switch or an amplifier's shutdown pin): `select("speaker")` drives the speaker's pin
    high and the others low; "none" switches every route off."""

    has_sound_device = True

    def __init__(self, *, enable: dict[str, int], device: str = "", pin_factory=None):
        from gpiozero import DigitalOutputDevice
        self.sound_device = device      # ALSA device name for pjsua2 ("" = default)
        self.device = "none"
        self._outs = {}
        try:
            for name, pin in enable.items():
                self._outs[name] = DigitalOutputDevice(pin, initial_value=False,
                                                       pin_factory=pin_factory)
        except BaseException:
            self.close()
            raise

    def select(self, device: str) -> None:
        for name, out in self._outs.items():
            out.value = name == device
        self.device = device

    def close(self) -> None:
        for out in self._outs.values():
            out.close()
        self._outs = {}
