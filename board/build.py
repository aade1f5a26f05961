"""Build the drivers a checked board file names (board/__init__.py checks it first)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from board import Board
from firmware.errors import BoardError

HINTS = {
    "display": "is I2C (or SPI) enabled and the display wired? (docs/hardware.md)",
    "leds": "is the LED chain wired and powered? (docs/hardware.md)",
}


class _Part:
    """Turns a driver failing to start into a BoardError naming the part and what to check."""

    def __init__(self, path: Path, part: str):
        self.path, self.part = path, part

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is None or isinstance(exc, (BoardError, KeyboardInterrupt, SystemExit)):
            return False
        hint = HINTS.get(self.part, "check its wiring and the board file")
        raise BoardError(f"{self.path.name}: [{self.part}] did not start: "
                         f"{type(exc).__name__}: {exc} — {hint}") from exc


def pin_factory_for(name: str):
    """gpiozero pin factory by name; "auto" lets gpiozero pick (lgpio on a Pi 5,
    RPi.GPIO before it)."""
    if name == "auto":
        return None
    if name == "mock":
        from gpiozero.pins.mock import MockFactory
        return MockFactory()
    if name == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory
        return LGPIOFactory()
    from gpiozero.pins.rpigpio import RPiGPIOFactory
    return RPiGPIOFactory()


def build(spec: dict, *, path: Path, pin_factory=None, settings=None) -> Board:
    hw = getattr(settings, "hardware", None)
    debounce = getattr(hw, "debounce_ms", 20)
    hold = getattr(hw, "long_press_ms", 800)
    repeat = getattr(hw, "repeat_ms", 120)
    flash = getattr(hw, "flash_hook_ms", 500)
    lcd = getattr(settings, "lcd", None)
    sim = all(spec[p]["driver"] in ("sim", "dummy") for p in
              ("keypad", "hook", "leds", "display", "audio"))
    if pin_factory is None and not sim:
        pin_factory = pin_factory_for(spec.get("board", {}).get("pins", "auto"))
    made: list[Any] = []
    try:
        with _Part(path, "keypad"):
            keypad, keys = _keypad(spec, pin_factory, debounce, hold, repeat)
        made += [p for p in (keypad, keys) if p is not None]
        with _Part(path, "hook"):
            hook = _hook(spec, pin_factory, debounce, flash)
        made.append(hook)
        with _Part(path, "leds"):
            leds = _leds(spec, pin_factory)
        made.append(leds)
        with _Part(path, "display"):
            display = _display(spec, pin_factory, lcd)
        made.append(display)
        with _Part(path, "audio"):
            audio = _audio(spec, pin_factory)
        made.append(audio)
    except BaseException:
        for part in made:
            part.close()
        raise
    return Board(name=spec.get("board", {}).get("name", path.stem), keypad=keypad,
                 hook=hook, leds=leds, display=display, audio=audio, keys=keys,
                 simulated=sim, path=path, spec=spec)


def _keypad(spec, pin_factory, debounce, hold, repeat):
    kp = spec["keypad"]
    if kp["driver"] == "sim":
        from drivers.panel import PanelKeypad
        keypad = PanelKeypad(debounce_ms=kp.get("debounce_ms", debounce),
                             hold_ms=kp.get("hold_ms", hold),
                             repeat_ms=kp.get("repeat_ms", repeat))
    else:
        from drivers.keypad import MatrixKeypad
        keypad = MatrixKeypad(rows=kp["rows"], cols=kp["cols"], keys=kp["keys"],
                              pin_factory=pin_factory,
                              debounce_ms=kp.get("debounce_ms", debounce),
                              hold_ms=kp.get("hold_ms", hold),
                              repeat_ms=kp.get("repeat_ms", repeat),
                              diodes=kp.get("diodes", False))
    keys = None
    if spec.get("keys"):
        from drivers.keypad import GpioKeys
        try:
            keys = GpioKeys(pins=dict(spec["keys"]), pin_factory=pin_factory,
                            debounce_ms=kp.get("debounce_ms", debounce),
                            hold_ms=kp.get("hold_ms", hold),
                            repeat_ms=kp.get("repeat_ms", repeat))
        except BaseException:
            keypad.close()
            raise
    return keypad, keys


def _hook(spec, pin_factory, debounce, flash):
    hk = spec["hook"]
    bounce = hk.get("debounce_ms", debounce)
    timing = dict(debounce_ms=bounce, flash_ms=flash, min_flash_ms=min(2 * bounce, flash / 2))
    if hk["driver"] == "sim":
        from drivers.panel import PanelHook
        return PanelHook(**timing)
    from drivers.hook import GpioHook
    return GpioHook(pin=hk["pin"], contact=hk.get("contact", "NO"), pin_factory=pin_factory,
                    **timing)


def _leds(spec, pin_factory):
    ld = spec["leds"]
    if ld["driver"] == "sim":
        from drivers.leds import SimLeds
        leds = SimLeds()
    else:
        from drivers import leds as L
        if ld["driver"] == "gpio":
            pins = sorted({o for v in ld["map"].values()
                           for o in (v.values() if isinstance(v, dict) else [v])})
            out = L.GpioOutputs(pins=pins, pin_factory=pin_factory)
        elif ld["driver"] == "hc595":
            out = L.Hc595(data=ld["data"], clock=ld["clock"], latch=ld["latch"],
                          chain=ld.get("chain", 1), pin_factory=pin_factory)
        else:
            out = L.Mcp23017(port=ld.get("port", 1), address=ld.get("address", 0x20))
        leds = L.LedBank(outputs=out, leds=dict(ld["map"]))
    return leds


def _display(spec, pin_factory, lcd):
    dp = spec["display"]
    if dp["driver"] == "dummy":
        from drivers.display import DummyDisplay
        display = DummyDisplay()
    else:
        from drivers.display import LumaDisplay
        display = LumaDisplay(
            chip=dp["driver"], interface=dp.get("interface", "i2c"),
            port=dp.get("port", 1), address=dp.get("address", 0x3C),
            spi_device=dp.get("device", 0), dc=dp.get("dc"), rst=dp.get("rst"),
            backlight=dp.get("backlight"), rotate=dp.get("rotate", 0),
            contrast=getattr(lcd, "contrast", None), pin_factory=pin_factory)
    return display


def _audio(spec, pin_factory):
    au = spec["audio"]
    if au["driver"] == "sim":
        from drivers.audio import SimAudio
        audio = SimAudio()
    else:
        from drivers.audio import GpioAudio
        audio = GpioAudio(enable=dict(au["enable"]), device=au.get("device", ""),
                          pin_factory=pin_factory)
    return audio
