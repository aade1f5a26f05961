"""The display driver on a mocked bus: exact bytes of each chip's start-up and frames, only
the pages that changed, the right dots lit, contrast and backlight. (What the screen says
is tests/test_lcd.py; this is how it gets onto the glass.)"""
from __future__ import annotations

import calendar
import time

import pytest
import smbus2
from gpiozero.pins.mock import MockFactory, MockPWMPin
from PIL import Image, ImageDraw

import board as boards
from drivers.display import CHIPS, DummyDisplay, LumaDisplay, pages
from firmware.call.state import Account, LineStatus, PhoneState
from ui.lcd import Frame, render

W, H = 128, 64
CHIP_NAMES = ("ssd1306", "sh1106", "st7567")


class Bus:
    """A serial interface as luma sees one: records ("c", command bytes) / ("d", data)."""

    def __init__(self):
        self.log: list[tuple[str, bytes]] = []
        self.cleaned = 0

    def command(self, *cmd):
        self.log.append(("c", bytes(cmd)))

    def data(self, data):
        self.log.append(("d", bytes(data)))

    def cleanup(self):
        self.cleaned += 1

    def take(self) -> list[tuple[str, bytes]]:
        log, self.log = self.log, []
        return log

    @property
    def count(self) -> int:
        return sum(len(b) for _, b in self.log)


def c(*b: int) -> tuple[str, bytes]:
    return ("c", bytes(b))


def d(b: bytes) -> tuple[str, bytes]:
    return ("d", bytes(b))


def paper() -> Image.Image:
    return Image.new("1", (W, H), 1)


def device_image(img: Image.Image) -> Image.Image:
    """1 = dot, as luma's devices take a frame (ui.lcd's own conversion)."""
    return Frame(img, [], "").device_image()


def ref_pages(image: Image.Image) -> list[bytes]:
    """The chip's RAM for a paper-polarity frame, pixel by pixel (datasheet layout: page p,
    column x, bit n = row 8p+n; ink = 1)."""
    return [bytes(sum(1 << n for n in range(8) if image.getpixel((x, 8 * p + n)) == 0)
                  for x in range(W)) for p in range(8)]


def page_address(chip: str, first: int, last: int | None = None) -> tuple[str, bytes]:
    if chip == "ssd1306":        # column 0-127, pages first-last (horizontal addressing)
        return c(0x21, 0x00, 0x7F, 0x22, first, first if last is None else last)
    if chip == "sh1106":         # page, column 2 (132-column RAM)
        return c(0xB0 | first, 0x02, 0x10)
    return c(0xB0 | first, 0x04, 0x10)      # st7567: page, column 4 (SEG reversed)


def full_frame(chip: str, ram: list[bytes]) -> list[tuple[str, bytes]]:
    if chip == "ssd1306":
        return [page_address(chip, 0, 7), d(b"".join(ram))]
    out = []
    for p in range(8):
        out += [page_address(chip, p), d(ram[p])]
    return out


BLANK = [bytes(W)] * 8

INIT = {
    "ssd1306": [c(0xAE,              # display off
                  0xD5, 0x80,        # clock divide
                  0xA8, 0x3F,        # multiplex 64
                  0xD3, 0x00,        # display offset 0
                  0x40,              # start line 0
                  0x8D, 0x14,        # charge pump on
                  0x20, 0x00,        # horizontal addressing
                  0xA1, 0xC8,        # segment remap, COM scan descending
                  0xDA, 0x12,        # COM pins
                  0xD9, 0xF1,        # precharge
                  0xDB, 0x40,        # VCOMH
                  0xA4, 0xA6),       # follow RAM, normal (not inverted)
                c(0x81, 0xCF)]       # contrast
               + full_frame("ssd1306", BLANK) + [c(0xAF)],
    "sh1106": [c(0xAE, 0x20, 0x10, 0xB0, 0xC8, 0x00, 0x10, 0x40, 0xA1, 0xA6, 0xA8, 0x3F,
                 0xA4, 0xD3, 0x00, 0xD5, 0xF0, 0xD9, 0x22, 0xDA, 0x12, 0xDB, 0x20,
                 0x8D, 0x14),
               c(0x81, 0x7F)]
              + full_frame("sh1106", BLANK) + [c(0xAF)],
    "st7567": [c(0xA3),             # bias 1/7
               c(0xA1),             # SEG reverse
               c(0xC0),             # COM normal
               c(0xA6),             # normal display
               c(0x40),             # start line 0
               c(0x2F),             # booster, regulator, follower on
               c(0x22),             # regulation ratio
               c(0xAF),             # display on
               c(0x81, 57)]         # electronic volume (contrast)
              + full_frame("st7567", BLANK) + [c(0xAF)],
}


def make(chip: str, **kw) -> tuple[LumaDisplay, Bus]:
    bus = Bus()
    return LumaDisplay(chip=chip, serial=bus, **kw), bus


def luma_device(chip: str, bus: Bus):
    """luma's own device for the chip, on the recording bus (no backlight GPIO)."""
    import importlib
    cls = getattr(importlib.import_module(CHIPS[chip]["module"]), chip)
    return cls(bus, backlight=lambda on: None) if chip == "st7567" else cls(bus)


def sample() -> Image.Image:
    img = paper()
    draw = ImageDraw.Draw(img)
    draw.text((3, 2), "Pre-dial 55", fill=0)
    draw.rectangle((0, 55, 31, 63), fill=0)
    draw.line((0, 9, 127, 9), fill=0)
    return img


# -- start-up and the first frame ------------------------------------------------------------

@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_each_chip_starts_with_luma_s_init_sequence_exactly(chip):
    disp, bus = make(chip)
    assert bus.take() == INIT[chip]
    assert disp.bytes_sent == sum(len(b) for _, b in INIT[chip])
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_the_first_frame_goes_out_whole_byte_for_byte(chip):
    disp, bus = make(chip)
    bus.take()
    img = sample()
    disp.show(img)
    expected = full_frame(chip, ref_pages(img))
    assert bus.take() == expected
    assert disp.last_bytes == sum(len(b) for _, b in expected)
    assert disp.last_bytes == {"ssd1306": 6 + 1024, "sh1106": 8 * 131,
                               "st7567": 8 * 131}[chip]
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_a_full_frame_is_what_luma_s_own_display_sends(chip):
    """Our page writer addresses each chip the way luma's display() does."""
    disp, bus = make(chip)
    ours = Bus()
    luma_dev = luma_device(chip, ours)
    ours.take()
    bus.take()
    img = sample()
    disp.show(img)
    luma_dev.display(device_image(img))
    assert bus.take() == ours.take()
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_luma_alone_resends_all_1024_bytes_even_for_an_unchanged_frame(chip):
    """Why the page writer exists: these luma devices take no framebuffer argument."""
    bus = Bus()
    dev = luma_device(chip, bus)
    bus.take()
    img = device_image(sample())
    dev.display(img)
    bus.take()
    dev.display(img)
    assert sum(len(b) for k, b in bus.take() if k == "d") == 1024


# -- only what changed -----------------------------------------------------------------------

@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_one_changed_page_sends_its_address_and_128_bytes_and_nothing_else(chip):
    disp, bus = make(chip)
    img = sample()
    disp.show(img)
    bus.take()
    img = img.copy()
    img.putpixel((70, 30), 0)                  # row 30: page 3
    disp.show(img)
    assert bus.take() == [page_address(chip, 3), d(ref_pages(img)[3])]
    assert disp.last_bytes == {"ssd1306": 6, "sh1106": 3, "st7567": 3}[chip] + 128
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_an_unchanged_frame_sends_nothing(chip):
    disp, bus = make(chip)
    disp.show(sample())
    bus.take()
    total = disp.bytes_sent
    disp.show(sample())
    assert bus.take() == []
    assert disp.last_bytes == 0 and disp.bytes_sent == total
    assert disp.frames == 2
    disp.close()


def test_ssd1306_sends_neighbouring_changed_pages_in_one_burst():
    disp, bus = make("ssd1306")
    disp.show(paper())
    bus.take()
    img = paper()
    for y in (10, 20, 50):                     # pages 1, 2 and 6
        img.putpixel((0, y), 0)
    disp.show(img)
    ram = ref_pages(img)
    assert bus.take() == [page_address("ssd1306", 1, 2), d(ram[1] + ram[2]),
                          page_address("ssd1306", 6, 6), d(ram[6])]
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_ink_in_the_paper_frame_is_a_set_bit_in_the_chip_ram(chip):
    """Ink (0 in the paper image) is bit 1: a lit pixel on an SSD1306/SH1106 OLED, a dark
    dot on the ST7567 LCD (normal display, 0xA6). Bit n of a column byte is row 8p+n."""
    disp, bus = make(chip)
    bus.take()
    img = paper()
    img.putpixel((5, 10), 0)                   # page 1, column 5, bit 2
    disp.show(img)
    ram = pages(img)
    assert ram[1][5] == 0x04
    assert sum(map(sum, ram)) == 0x04
    data = b"".join(b for k, b in bus.take() if k == "d")
    assert data.count(0) == 1023 and 0x04 in data
    disp.close()


def test_the_frame_keeps_paper_polarity_for_the_api():
    disp, _ = make("st7567")
    assert disp.image.getpixel((0, 0)) == 1    # nothing shown yet: blank paper
    img = sample()
    disp.show(img)
    img.putpixel((0, 0), 0)                    # the caller's image is not kept by reference
    assert disp.image.tobytes() == sample().tobytes()
    disp.close()


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_rotate_2_turns_the_picture_upside_down(chip):
    disp, bus = make(chip, rotate=2)
    bus.take()
    img = paper()
    img.putpixel((0, 0), 0)
    disp.show(img)
    ram = b"".join(b for k, b in bus.take() if k == "d")
    assert ram[-1] == 0x80 and ram.count(0) == 1023       # page 7, column 127, row 63
    disp.close()


def test_bad_settings_are_refused_with_what_to_use():
    with pytest.raises(ValueError, match="use 0, or 2"):
        LumaDisplay(chip="ssd1306", serial=Bus(), rotate=1)
    with pytest.raises(ValueError, match="ssd1306, sh1106, st7567"):
        LumaDisplay(chip="pcd8544", serial=Bus())
    with pytest.raises(ValueError, match="DC"):
        LumaDisplay(chip="st7567", interface="spi", pin_factory=MockFactory())
    disp, _ = make("ssd1306")
    with pytest.raises(ValueError, match="mode '1' 128x64"):
        disp.show(Image.new("L", (W, H)))
    disp.close()


# -- contrast and backlight ------------------------------------------------------------------

@pytest.mark.parametrize("chip, levels", [
    ("ssd1306", {1: 0x10, 5: 0xCF, 10: 0xFF}),
    ("sh1106", {1: 0x10, 5: 0x7F, 10: 0xFF}),
    ("st7567", {1: 33, 5: 57, 10: 63}),        # 6-bit electronic volume
])
def test_contrast_levels_become_the_chip_s_contrast_command(chip, levels):
    disp, bus = make(chip)
    bus.take()
    for level, value in levels.items():
        disp.contrast(level)
        assert bus.take() == [c(0x81, value)]
    values = CHIPS[chip]["contrast"]
    assert list(values) == sorted(values) and len(set(values)) == 10
    assert c(0x81, values[4]) in INIT[chip]    # level 5 is what luma starts with
    with pytest.raises(ValueError):
        disp.contrast(0)
    disp.close()


def test_contrast_from_the_settings_is_sent_after_start_up():
    disp, bus = make("ssd1306", contrast=8)
    assert bus.take() == INIT["ssd1306"] + [c(0x81, 0xEC)]
    disp.close()


def test_backlight_pin_dims_by_pwm():
    f = MockFactory(pin_class=MockPWMPin)
    disp, bus = make("st7567", backlight=18, pin_factory=f)
    light = f.pin(18)
    assert light.state == 1.0 and light.frequency == 1000
    bus.take()
    disp.backlight(5)
    assert light.state == pytest.approx(0.25)
    disp.backlight(0)
    assert light.state == 0
    disp.backlight(10)
    assert light.state == 1.0
    assert bus.take() == []                    # the LCD itself stays on
    disp.close()
    assert light.function == "input"


def test_an_oled_without_backlight_switches_the_display_off_at_level_0():
    disp, bus = make("ssd1306")
    bus.take()
    disp.backlight(0)
    assert bus.take() == [c(0xAE)]
    disp.show(sample())                        # RAM is still written while it is off
    assert disp.last_bytes == 1030
    bus.take()
    disp.backlight(3)
    disp.backlight(8)
    assert bus.take() == [c(0xAF)]
    disp.close()


def test_an_lcd_without_a_backlight_pin_stays_on_at_backlight_0():
    disp, bus = make("st7567")
    bus.take()
    disp.backlight(0)
    assert bus.take() == []
    disp.close()


def test_close_switches_off_without_clearing_and_releases_the_bus():
    disp, bus = make("sh1106")
    disp.show(sample())
    bus.take()
    disp.close()
    assert bus.take() == [c(0xAE)]
    assert bus.cleaned == 1
    disp.close()
    assert bus.cleaned == 1


def test_luma_display_is_a_drop_in_for_the_dummy_display():
    img = sample()
    for disp in (DummyDisplay(), make("ssd1306")[0]):
        disp.show(img)
        disp.show(img)
        assert disp.frames == 2
        assert (disp.width, disp.height) == (W, H)
        assert disp.image.mode == "1" and disp.image.size == (W, H)
        disp.contrast(7)
        disp.backlight(3)
        disp.close()


# -- real buses under luma: I2C through a board file, SPI with DC and RST on mock pins ---------

class FakeSMBus:
    """smbus2.SMBus as luma's i2c uses it: commands as block writes with control byte 0x00,
    data as one i2c_rdwr message starting with control byte 0x40."""

    opened: list[FakeSMBus] = []

    def __init__(self, port):
        self.port = port
        self.transactions: list[tuple[int, bytes]] = []
        self.closed = False
        FakeSMBus.opened.append(self)

    def write_i2c_block_data(self, address, register, data):
        self.transactions.append((address, bytes([register, *data])))

    def i2c_rdwr(self, *msgs):
        for m in msgs:
            self.transactions.append((m.addr, bytes(m)))

    def close(self):
        self.closed = True

    def wire_bytes(self) -> int:
        """Bytes on the wire: the address byte, the control byte, the payload."""
        return sum(1 + len(t) for _, t in self.transactions)


BOARD = """
[board]
name = "display test board"
[keypad]
driver = "sim"
[hook]
driver = "sim"
[leds]
driver = "sim"
[audio]
driver = "sim"
[display]
"""


def test_a_board_file_with_an_i2c_ssd1306_drives_it_through_smbus2(tmp_path, monkeypatch):
    FakeSMBus.opened.clear()
    monkeypatch.setattr(smbus2, "SMBus", FakeSMBus)
    path = tmp_path / "oled.toml"
    path.write_text(BOARD + 'driver = "ssd1306"\ninterface = "i2c"\nport = 3\n'
                            'address = 0x3D\n')
    b = boards.load(str(path), pin_factory=MockFactory())
    try:
        (bus,) = FakeSMBus.opened
        assert bus.port == 3
        assert bus.transactions[0] == (0x3D, bytes([0x00]) + INIT["ssd1306"][0][1])
        bus.transactions.clear()
        img = sample()
        b.display.show(img)
        ram = ref_pages(img)
        assert bus.transactions == [(0x3D, bytes([0x00, 0x21, 0, 127, 0x22, 0, 7])),
                                    (0x3D, bytes([0x40]) + b"".join(ram))]
        assert bus.wire_bytes() == b.display.last_bytes + 2 * len(bus.transactions)
        b.display.show(img)
        assert len(bus.transactions) == 2
    finally:
        b.close()
    assert bus.closed
    assert bus.transactions[-1] == (0x3D, bytes([0x00, 0xAE]))


class FakeSpiDev:
    def __init__(self, factory, dc):
        self.dc = factory.pin(dc)
        self.writes: list[tuple[bool, bytes]] = []
        self.opened = self.closed = None
        self.max_speed_hz = 0

    def open(self, port, device):
        self.opened = (port, device)

    def writebytes(self, data):
        self.writes.append((bool(self.dc.state), bytes(data)))

    def close(self):
        self.closed = True


def test_an_spi_st7567_gets_dc_low_for_commands_high_for_data_and_a_reset_pulse(monkeypatch):
    from luma.core.interface import serial as luma_serial
    f = MockFactory()
    spidev = FakeSpiDev(f, 24)
    monkeypatch.setattr(luma_serial.spi, "__spidev__", lambda self: spidev)
    disp = LumaDisplay(chip="st7567", interface="spi", port=0, spi_device=1, dc=24, rst=25,
                       pin_factory=f)
    try:
        assert spidev.opened == (0, 1)
        f.pin(25).assert_states([False, True])            # held in reset, then released
        sent = [("d" if dc else "c", b) for dc, b in spidev.writes]
        assert sent == INIT["st7567"]
        spidev.writes.clear()
        img = paper()
        img.putpixel((1, 0), 0)
        disp.show(img)
        assert spidev.writes[:2] == [(False, bytes([0xB0, 0x04, 0x10])),
                                     (True, bytes([0, 0x01]) + bytes(126))]
    finally:
        disp.close()
    assert spidev.closed
    assert f.pin(24).function == "input" and f.pin(25).function == "input"


# -- a key press, measured -------------------------------------------------------------------

NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))


def state(**kw) -> PhoneState:
    acct = Account(index=1, enabled=True, label="", user="2001",
                   status=LineStatus.REGISTERED)
    return PhoneState(accounts=[acct], now=NOW, mono=1000.0, **kw)


@pytest.mark.parametrize("chip", CHIP_NAMES)
def test_a_digit_in_pre_dial_sends_only_the_pages_the_digits_cover(chip, record_property):
    idle, five, fifty_five = (render(state(**kw)).image
                              for kw in ({}, {"predial": "5"}, {"predial": "55"}))
    disp, bus = make(chip)
    disp.show(idle)
    disp.show(five)
    first_key = disp.last_bytes
    disp.show(fifty_five)
    second_key = disp.last_bytes
    changed = [p for p, (a, b) in enumerate(zip(ref_pages(five), ref_pages(fifty_five)))
               if a != b]
    assert 0 < len(changed) <= 3
    per_page = {"ssd1306": 128, "sh1106": 131, "st7567": 131}[chip]
    overhead = 6 * len([p for p in changed if p - 1 not in changed]) if chip == "ssd1306" \
        else 0
    assert second_key == per_page * len(changed) + overhead
    t = time.perf_counter()
    for i in range(200):
        disp.show((five, fifty_five)[i % 2])
    per_show = (time.perf_counter() - t) / 200
    record_property("bytes", {"idle->5": first_key, "5->55": second_key,
                              "show_us": round(per_show * 1e6)})
    assert per_show < 0.005
    disp.close()
