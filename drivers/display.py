"""Display drivers: an image in, pixels on glass out. Drawing lives in ui/lcd.py.

Both take the frame ui/lcd.py draws (mode "1", 128x64, paper polarity: 1 = background,
0 = ink) and keep it as ``image``.

DummyDisplay is luma.core's dummy device: it keeps the last frame (sim board, tests).

LumaDisplay drives a 128x64 SSD1306 or SH1106 OLED or an ST7567 LCD. Three layers, as in
luma: the bus (luma's i2c or spi interface), the chip (luma's device: init sequence,
contrast, display on/off) and our page writer, which sends only the 8-row pages that
changed since the last frame. luma.oled 3.16 and luma.lcd 2.13 take no framebuffer for
these three chips: their display() resends all 1024 bytes every frame.

luma and PIL are imported with the first frame or the first LumaDisplay, not at import:
the sim board boots without them.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

W, H, PAGES = 128, 64, 8


class DummyDisplay:
    width, height = W, H

    def __init__(self) -> None:
        self._device = None
        self.frames = 0
        self.contrast_level = 5
        self.backlight_level = 10

    @property
    def device(self):
        if self._device is None:      # luma and PIL come with the first frame, not at boot
            from luma.core.device import dummy
            self._device = dummy(width=self.width, height=self.height, mode="1")
        return self._device

    def show(self, image: Image.Image) -> None:
        self.device.display(image)
        self.frames += 1

    @property
    def image(self) -> Image.Image:
        return self.device.image

    def contrast(self, level: int) -> None:
        self.contrast_level = level

    def backlight(self, level: int) -> None:
        self.backlight_level = level

    def close(self) -> None:
        pass


# -- chips ---------------------------------------------------------------------------------
# How each controller is addressed, as luma's own display() does it (so our first full
# frame is byte for byte luma's), and contrast levels 1-10 -> the chip's contrast value.
# Level 5 is the value luma sets at init (what its authors tuned for common modules).

def _ssd1306_window(first: int, last: int) -> tuple[int, ...]:
    # Horizontal addressing (luma's init: 0x20 0x00). Column range 0-127 and page range
    # first-last: one data burst fills a run of consecutive pages.
    return (0x21, 0, W - 1, 0x22, first, last)


def _sh1106_page(page: int) -> tuple[int, ...]:
    # Page addressing only, 132-column RAM: the glass starts at column 2
    # (0x02 = column address low nibble, 0x10 = high nibble 0).
    return (0xB0 | page, 0x02, 0x10)


def _st7567_page(page: int) -> tuple[int, ...]:
    # Page addressing, 132-column RAM; luma's init sets SEG reverse (0xA1), so the 128
    # visible columns start at column 4 (0x04 low nibble, 0x10 high nibble 0).
    return (0xB0 | page, 0x04, 0x10)


CHIPS: dict[str, dict[str, Any]] = {
    "ssd1306": {"module": "luma.oled.device", "window": _ssd1306_window, "oled": True,
                "contrast": (0x10, 0x40, 0x70, 0x9F, 0xCF, 0xD9, 0xE2, 0xEC, 0xF5, 0xFF)},
    "sh1106": {"module": "luma.oled.device", "page": _sh1106_page, "oled": True,
               "contrast": (0x10, 0x2C, 0x48, 0x63, 0x7F, 0x99, 0xB2, 0xCC, 0xE5, 0xFF)},
    # ST7567: 0x81 + a 6-bit electronic volume (0-63); luma's init sets 57.
    "st7567": {"module": "luma.lcd.device", "page": _st7567_page, "oled": False,
               "contrast": (33, 39, 45, 51, 57, 58, 59, 61, 62, 63)},
}

BACKLIGHT_HZ = 1000         # PWM well above flicker


def _column_bytes() -> bytes:
    """Byte table: a row byte of the transposed paper image (MSB = top pixel, 1 = paper)
    -> the chip's column byte (LSB = top pixel, 1 = dot)."""
    return bytes(int(f"{b:08b}"[::-1], 2) ^ 0xFF for b in range(256))


_COLUMN_BYTES = _column_bytes()


def pages(image: Image.Image) -> list[bytes]:
    """A paper-polarity 128x64 frame as the chip's 8 pages of 128 column bytes: bit n of
    column byte x in page p is the dot at (x, 8p + n); 1 = dot (a lit OLED pixel, a dark
    LCD dot), i.e. ink in the paper image."""
    from PIL import Image as PILImage
    raw = image.transpose(PILImage.Transpose.TRANSPOSE).tobytes().translate(_COLUMN_BYTES)
    return [raw[p::PAGES] for p in range(PAGES)]


class _CountingSerial:
    """The bus as luma's device sees it: forwards command/data and counts the bytes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.count = 0
        self._closed = False

    def command(self, *cmd: int) -> None:
        self.count += len(cmd)
        self.inner.command(*cmd)

    def data(self, data) -> None:
        self.count += len(data)
        self.inner.data(data)

    def cleanup(self) -> None:
        if not self._closed:           # luma's atexit hook calls cleanup again
            self._closed = True
            cleanup = getattr(self.inner, "cleanup", None)
            if cleanup:
                cleanup()


class _ZeroGpio:
    """The RPi.GPIO calls luma's spi interface makes for DC and RST (setup, output,
    cleanup), on gpiozero pins: any pin factory works (lgpio on a Pi 5, mock pins in
    tests), and RPi.GPIO is not needed."""

    OUT, IN, LOW, HIGH, BCM = 0, 1, 0, 1, 11

    def __init__(self, pin_factory) -> None:
        self._pin_factory = pin_factory
        self.devices: dict[int, Any] = {}

    def setup(self, pin: int, mode: int = 0, initial: int = 0, **_: Any) -> None:
        from gpiozero import DigitalOutputDevice
        self.devices[pin] = DigitalOutputDevice(pin, initial_value=bool(initial),
                                                pin_factory=self._pin_factory)

    def output(self, pin: int, value: int) -> None:
        self.devices[pin].value = bool(value)

    def cleanup(self, *_: Any) -> None:
        for dev in self.devices.values():
            dev.close()
        self.devices.clear()


def _keep_backlight(on: bool) -> None:
    """luma.lcd's backlight hook: the backlight pin is ours (gpiozero PWM), not luma's."""


class LumaDisplay:
    """A 128x64 SSD1306 / SH1106 OLED or ST7567 LCD on I2C or SPI, through luma.

    ``show(image)`` takes the paper-polarity frame and sends the pages that changed
    (nothing for an unchanged frame; all 8 the first time). Ink becomes bit 1 in the
    chip's RAM: a lit pixel on an OLED, a dark dot on the LCD.

    ``contrast(1-10)``: the chip's contrast command (CHIPS holds the values).
    ``backlight(0-10)``: PWM on the ``backlight`` pin (brightness = (level/10)^2, even
    steps to the eye). An OLED has no backlight: without a pin, level 0 switches it off
    (luma hide(), the picture stays in the chip's RAM) and any other level on again. An
    LCD without a backlight pin stays on (it reads without light; its backlight may be
    an LED output, which the phone switches through the LEDs).

    ``bytes_sent``: command and data bytes written since start (init included), not
    counting the I2C address and control bytes; ``last_bytes``: those of the last show().
    ``serial`` replaces the bus in tests: any object with command(*bytes) and data(list).
    ``rotate``: 0, or 2 to turn the picture 180 degrees (the layout is landscape).
    ``close()`` switches the display off without clearing it, and releases bus and pins.
    """

    width, height = W, H

    def __init__(self, *, chip: str, interface: str = "i2c", port: int = 1,
                 address: int = 0x3C, spi_device: int = 0, dc: int | None = None,
                 rst: int | None = None, backlight: int | None = None, rotate: int = 0,
                 contrast: int | None = None, pin_factory=None, serial=None) -> None:
        if chip not in CHIPS:
            raise ValueError(f"display chip {chip!r}: use one of {', '.join(CHIPS)}")
        if rotate not in (0, 2):
            raise ValueError(f"display rotate {rotate!r}: use 0, or 2 (180 degrees); "
                             f"the screen is laid out 128x64 landscape")
        if interface not in ("i2c", "spi"):
            raise ValueError(f"display interface {interface!r}: use i2c or spi")
        self.chip = chip
        self._spec = CHIPS[chip]
        self._rotate = rotate
        self._gpio: _ZeroGpio | None = None
        self._light = None
        self._device = None
        self._serial: _CountingSerial | None = None
        self._pages: list[bytes | None] = [None] * PAGES
        self._image = None
        self._on = True
        self.frames = 0
        self.last_bytes = 0
        try:
            if serial is None:
                serial = self._open_bus(interface, port, address, spi_device, dc, rst,
                                        pin_factory)
            self._serial = _CountingSerial(serial)
            self._device = self._make_device(chip, rotate)
            if backlight is not None:
                from gpiozero import PWMOutputDevice
                self._light = PWMOutputDevice(backlight, initial_value=1.0,
                                              frequency=BACKLIGHT_HZ,
                                              pin_factory=pin_factory)
            if contrast is not None:
                self.contrast(contrast)
        except BaseException:
            self.close()
            raise

    # -- bus and chip -----------------------------------------------------------------------

    def _open_bus(self, interface, port, address, spi_device, dc, rst, pin_factory):
        from luma.core.interface import serial as luma_serial
        if interface == "i2c":
            return luma_serial.i2c(port=port, address=address)
        if not dc:       # luma skips a DC pin that is None or 0
            raise ValueError("an SPI display needs its DC (data/command) pin: dc = <GPIO "
                             "number, not 0> in [display]")
        self._gpio = _ZeroGpio(pin_factory)
        return luma_serial.spi(gpio=self._gpio, port=port, device=spi_device, gpio_DC=dc,
                               gpio_RST=rst, reset_hold_time=0.001,
                               reset_release_time=0.005)

    def _make_device(self, chip: str, rotate: int):
        import importlib
        cls = getattr(importlib.import_module(self._spec["module"]), chip)
        if chip == "st7567":
            return cls(self._serial, rotate=rotate, backlight=_keep_backlight)
        return cls(self._serial, width=W, height=H, rotate=rotate)

    @property
    def device(self):
        """luma's device (init, contrast, on/off; frames go through show())."""
        return self._device

    @property
    def bytes_sent(self) -> int:
        return self._serial.count if self._serial else 0

    # -- what the phone calls ---------------------------------------------------------------

    def show(self, image: Image.Image) -> None:
        if image.mode != "1" or image.size != (W, H):
            raise ValueError(f"a frame is mode '1' {W}x{H}, not {image.mode!r} {image.size}")
        self._image = image.copy()
        if self._rotate == 2:
            from PIL import Image as PILImage
            image = image.transpose(PILImage.Transpose.ROTATE_180)
        new = pages(image)
        changed = [p for p in range(PAGES) if new[p] != self._pages[p]]
        before = self.bytes_sent
        if "window" in self._spec:                  # runs of pages in one burst each
            runs: list[list[int]] = []
            for p in changed:
                if runs and runs[-1][-1] == p - 1:
                    runs[-1].append(p)
                else:
                    runs.append([p])
            for run in runs:
                self._device.command(*self._spec["window"](run[0], run[-1]))
                self._device.data(list(b"".join(new[p] for p in run)))
        else:
            for p in changed:
                self._device.command(*self._spec["page"](p))
                self._device.data(list(new[p]))
        self._pages = new
        self.last_bytes = self.bytes_sent - before
        self.frames += 1

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            from PIL import Image as PILImage
            return PILImage.new("1", (W, H), 1)
        return self._image

    def contrast(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 10:
            raise ValueError(f"contrast {level!r}: use 1-10")
        self._device.contrast(self._spec["contrast"][level - 1])

    def backlight(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 10:
            raise ValueError(f"backlight {level!r}: use 0 (off) - 10")
        if self._light is not None:
            self._light.value = (level / 10) ** 2
            return
        if not self._spec["oled"]:
            return
        on = level > 0
        if on != self._on:
            self._on = on
            (self._device.show if on else self._device.hide)()

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.persist = True        # luma's cleanup (and its atexit hook) keeps RAM
            try:
                device.hide()
            except Exception as e:       # a vanished bus must not stop the rest closing
                log.debug("display: switching off at close: %s", e)
            device.cleanup()
        elif self._serial is not None:
            self._serial.cleanup()
        if self._gpio is not None:
            self._gpio.cleanup()
            self._gpio = None
        if self._light is not None:
            self._light.close()
            self._light = None

    def __enter__(self) -> LumaDisplay:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
