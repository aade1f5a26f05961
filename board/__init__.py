"""Boards: which driver drives which part, on which pins. A board is a TOML file here.

`load("sim")` reads board/sim.toml; `load("path/to/my.toml")` reads any file. Loading
checks the file and stops with one clear message naming the file and line: a pin used
twice, an unknown driver or key name, a missing part. The phone never imports a driver
directly; the board joins drivers to it (gpiozero's habit: one seam for hardware).

Sections (see README "Write a board file" and board/pi-desk.toml):

  [board]    name, pins = "auto" | "lgpio" | "rpigpio" | "mock"   (gpiozero pin factory)
  [keypad]   driver = "sim" | "matrix";  sim: the front panel's keys, on a matrix of mock
             pins read by the real matrix driver (drivers/panel.py);  matrix: rows, cols (BCM numbers), keys (one list
             per row, a key name or "" per column), debounce_ms, hold_ms, repeat_ms,
             diodes = true when every key has a diode (then no combination is a ghost)
  [keys]     optional one-pin keys: name = BCM pin (pressed pulls it low)
  [hook]     driver = "sim" | "gpio";  sim: the front panel's handset, a mock switch read
             by the real hook driver;  gpio: pin, contact = "NO" | "NC" (NO: the switch
             closes, pin low, when the handset is lifted), debounce_ms
  [leds]     driver = "sim" | "gpio" | "hc595" | "mcp23017";  hc595: data, clock, latch,
             chain; mcp23017: port, address;  [leds.map] name = output, or
             name = { red = output, green = output } for a dual-colour LED (amber = both)
  [display]  driver = "dummy" | "ssd1306" | "sh1106" | "st7567";  interface = "i2c" |
             "spi"; i2c: port, address; spi: port, device, dc, rst; backlight (pin), rotate
  [audio]    driver = "sim" | "gpio";  gpio: [audio.enable] handset/speaker/headset = pin
             (amplifier or route enables); device = ALSA device name for pjsua2
"""
from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

from firmware.errors import BoardError
from firmware.keys import KEYS, LED_NAMES
from firmware.record import Record, field

HERE = Path(__file__).resolve().parent

DRIVERS = {
    "keypad": ("sim", "matrix"),
    "hook": ("sim", "gpio"),
    "leds": ("sim", "gpio", "hc595", "mcp23017"),
    "display": ("dummy", "ssd1306", "sh1106", "st7567"),
    "audio": ("sim", "gpio"),
}
PARTS = tuple(DRIVERS)
PIN_FACTORIES = ("auto", "lgpio", "rpigpio", "mock")
# what [leds.map] may wire: the phone's LEDs, and the LCD backlight on an LED output
LED_OUTPUTS = (*LED_NAMES, "backlight")
BCM_PINS = range(0, 28)


class Board(Record):
    name: str
    keypad: Any
    hook: Any
    leds: Any
    display: Any
    audio: Any
    keys: Any = None               # one-pin keys, if any
    simulated: bool = False
    path: Path | None = None
    spec: dict = field(default_factory=dict)

    def parts(self) -> list:
        return [p for p in (self.keypad, self.keys, self.hook, self.leds, self.display,
                            self.audio) if p is not None]

    def close(self) -> None:
        for part in self.parts():
            part.close()

    def press(self, key: str, action: str = "press") -> bool:
        """Work a key of the front panel (the sim board): its contact closes ("down"),
        opens ("up") or both ("press"), and the keypad driver reports it like a finger on
        the key (debounce, long press, repeat). False when this board has no such key to
        press (a real keypad, or a key of an expansion module): the caller posts it."""
        has = getattr(self.keypad, "has", None)
        if has is None or not has(key):
            return False
        self.keypad.press(key, action)
        return True


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def find(name: str) -> Path:
    p = Path(name)
    if p.suffix == ".toml" or "/" in name:
        if not p.exists():
            raise BoardError(f"board file {name} does not exist")
        return p
    path = HERE / f"{name}.toml"
    if not path.exists():
        raise BoardError(f"unknown board '{name}': choose one of {', '.join(available())} "
                         f"or give the path of a board file")
    return path


class _Where:
    """Finds the line of a dotted key in the TOML text, for error messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def _find(self, table: str, key: str) -> int | None:
        current = ""
        for n, line in enumerate(self.lines, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            m = re.match(r"^\[([^\[\]]+)\]", s)
            if m:
                current = m.group(1).strip()
                if not key and current == table:
                    return n
                continue
            if key and current == table and re.match(rf"^\"?{re.escape(key)}\"?\s*=", s):
                return n
        return None

    def __call__(self, dotted: str, row: int | None = None) -> str:
        """'file line N' for `dotted` (a table, a key, `key[i]`, or a key inside an inline
        table, whose line is its parent's); row: the n-th line of a list of lists."""
        parts = dotted.split(".")
        parts[-1] = parts[-1].split("[")[0]
        n = self._find(dotted, "")
        while n is None and parts:
            n = self._find(".".join(parts[:-1]), parts[-1])
            parts = parts[:-1]
        if n is not None and row is not None:
            rows = [i for i in range(n, len(self.lines))
                    if self.lines[i].strip().startswith("[")][:row + 1]
            n = rows[row] + 1 if len(rows) > row else n
        return f"{self.path.name} line {n}" if n else self.path.name


ALLOWED = {
    "board": {"name", "pins", "description"},
    "keypad": {"driver", "rows", "cols", "keys", "debounce_ms", "hold_ms", "repeat_ms",
               "diodes"},
    "hook": {"driver", "pin", "contact", "debounce_ms"},
    "leds": {"driver", "data", "clock", "latch", "chain", "port", "address", "map"},
    "display": {"driver", "interface", "port", "address", "device", "dc", "rst",
                "backlight", "rotate"},
    "audio": {"driver", "enable", "device"},
    # optional: may the phone change the OS network (firmware/system/network.py)
    "network": {"apply", "connection"},
}
NETWORK_APPLY = ("none", "nmcli")


def check(spec: dict, where: _Where) -> None:
    """Raise BoardError with file and line for the first problem found."""
    def fail(dotted: str, message: str, row: int | None = None):
        raise BoardError(f"{where(dotted, row)}: {dotted}: {message}")

    for name in spec:
        if name not in ALLOWED and name != "keys":
            fail(name, f"unknown section [{name}]: the sections are "
                       f"{', '.join(['board', *PARTS, 'keys', 'network'])}")
    apply = spec.get("network", {}).get("apply", "none")
    if apply not in NETWORK_APPLY:
        fail("network.apply", f"must be one of {', '.join(NETWORK_APPLY)} (got {apply!r})")
    for part in PARTS:
        sec = spec.get(part)
        if not isinstance(sec, dict):
            raise BoardError(f"{where.path.name}: the board has no [{part}] section "
                             f"(every board needs {', '.join(PARTS)})")
        driver = sec.get("driver")
        if driver not in DRIVERS[part]:
            fail(f"{part}.driver", f"unknown driver {driver!r}: use one of "
                                   f"{', '.join(DRIVERS[part])}")
    for part, allowed in ALLOWED.items():
        for key in spec.get(part, {}):
            if key not in allowed:
                fail(f"{part}.{key}", f"unknown setting (a typo?): [{part}] takes "
                                      f"{', '.join(sorted(allowed))}")
    pins = spec.get("board", {}).get("pins", "auto")
    if pins not in PIN_FACTORIES:
        fail("board.pins", f"unknown pin factory {pins!r}: use one of "
                           f"{', '.join(PIN_FACTORIES)}")

    used: dict[int, str] = {}

    def pin(dotted: str, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value not in BCM_PINS:
            fail(dotted, f"{value!r} is not a GPIO number (BCM 0-27, not the header pin)")
        if value in used:
            fail(dotted, f"GPIO {value} is used twice: here and in {used[value]}")
        used[value] = dotted

    def need(dotted: str, sec: dict, key: str):
        if key not in sec:
            fail(dotted, f"missing '{key}'")
        return sec[key]

    def number(dotted: str, value, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            fail(dotted, f"{value!r} must be a whole number {lo}-{hi}")
        return value

    # the buses the parts use keep their pins
    disp, leds = spec["display"], spec["leds"]
    if (disp["driver"] != "dummy" and disp.get("interface", "i2c") == "i2c") or \
            leds["driver"] == "mcp23017":
        used.update({2: "the I2C bus (SDA)", 3: "the I2C bus (SCL)"})
    if disp["driver"] != "dummy" and disp.get("interface", "i2c") == "spi":
        device = number("display.device", disp.get("device", 0), 0, 1)
        used.update({10: "the SPI bus (MOSI)", 11: "the SPI bus (SCLK)",
                     (7 if device else 8): f"the SPI bus (CE{device})"})

    kp = spec["keypad"]
    seen: set[str] = set()
    if kp["driver"] == "matrix":
        rows, cols = need("keypad", kp, "rows"), need("keypad", kp, "cols")
        for name, value in (("rows", rows), ("cols", cols)):
            if not isinstance(value, list) or not value:
                fail(f"keypad.{name}", "must be a list of GPIO numbers, e.g. [5, 6, 13]")
        for i, p in enumerate(rows):
            pin(f"keypad.rows[{i}]", p)
        for i, p in enumerate(cols):
            pin(f"keypad.cols[{i}]", p)
        keys = need("keypad", kp, "keys")
        if not isinstance(keys, list) or len(keys) != len(rows):
            fail("keypad.keys", f"{len(keys) if isinstance(keys, list) else 'no'} rows of "
                                f"keys for {len(rows)} row pins")
        for r, row in enumerate(keys):
            if not isinstance(row, list) or len(row) != len(cols):
                fail("keypad.keys", f"row {r + 1} has {len(row)} keys for {len(cols)} "
                                    f"column pins (use \"\" for no key)", row=r)
            for k in row:
                if k and k not in KEYS:
                    fail("keypad.keys", f"unknown key name {k!r} in row {r + 1} (README "
                                        f"lists them)", row=r)
                if k and k in seen:
                    fail("keypad.keys", f"key {k!r} appears twice", row=r)
                seen.add(k)
    for name, p in spec.get("keys", {}).items():
        if name not in KEYS:
            fail(f"keys.{name}", f"unknown key name {name!r} (README lists them)")
        if name in seen:
            fail(f"keys.{name}", f"key {name!r} is in the keypad matrix too")
        pin(f"keys.{name}", p)

    hook = spec["hook"]
    if hook["driver"] == "gpio":
        pin("hook.pin", need("hook", hook, "pin"))
        if hook.get("contact", "NO") not in ("NO", "NC"):
            fail("hook.contact", "must be \"NO\" (normally open) or \"NC\"")

    if leds["driver"] != "sim":
        outputs: dict[int, str] = {}
        if leds["driver"] == "hc595":
            for k in ("data", "clock", "latch"):
                pin(f"leds.{k}", need("leds", leds, k))
            limit = 8 * number("leds.chain", leds.get("chain", 1), 1, 32)
        elif leds["driver"] == "mcp23017":
            limit = 16
        else:
            limit = None
        for name, out in need("leds", leds, "map").items():
            if name not in LED_OUTPUTS:
                fail(f"leds.map.{name}", f"unknown LED {name!r}: use one of "
                                         f"{', '.join(LED_OUTPUTS)}")
            for colour, o in (out.items() if isinstance(out, dict) else [("", out)]):
                if colour not in ("", "red", "green"):
                    fail(f"leds.map.{name}", f"colour {colour!r}: use red and green")
                dotted = f"leds.map.{name}" + (f".{colour}" if colour else "")
                if leds["driver"] == "gpio":
                    pin(dotted, o)
                else:
                    if isinstance(o, bool) or not isinstance(o, int) or not 0 <= o < limit:
                        fail(dotted, f"output {o!r} is not 0-{limit - 1}")
                    if o in outputs:
                        fail(dotted, f"output {o} is used twice: here and in {outputs[o]}")
                    outputs[o] = dotted

    if disp["driver"] != "dummy":
        iface = disp.get("interface", "i2c")
        if iface not in ("i2c", "spi"):
            fail("display.interface", "must be \"i2c\" or \"spi\"")
        if iface == "spi":
            pin("display.dc", need("display", disp, "dc"))
            if "rst" in disp:
                pin("display.rst", disp["rst"])
        if "backlight" in disp:
            pin("display.backlight", disp["backlight"])
        if disp.get("rotate", 0) not in (0, 2):
            fail("display.rotate", "must be 0 or 2 (upside down); the 128x64 screen has "
                                   "no portrait layout")

    audio = spec["audio"]
    if audio["driver"] == "gpio":
        for dev, p in need("audio", audio, "enable").items():
            if dev not in ("handset", "speaker", "headset"):
                fail(f"audio.enable.{dev}", "use handset, speaker or headset")
            pin(f"audio.enable.{dev}", p)


def sound_device(spec: dict) -> str | None:
    """The sound card pjsua2 plays through, from the board file alone (SIP starts before
    the drivers are built, firmware/startup.py): None = none, pjsua2's null device (the
    sim board); "" = the default card; else an ALSA device name ([audio] device)."""
    audio = spec["audio"]
    return audio.get("device", "") if audio["driver"] == "gpio" else None


def read(name: str) -> tuple[dict, Path]:
    path = find(name)
    text = path.read_text("utf-8")
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path.name}: {e}") from None
    check(spec, _Where(path, text))
    return spec, path


def load(name: str, *, pin_factory=None, settings=None,
         checked: tuple[dict, Path] | None = None) -> Board:
    """Read, check and build a board. pin_factory overrides [board] pins (tests pass
    gpiozero's MockFactory); settings carries debounce, flash hook time, contrast;
    checked: what read(name) gave already (start-up reads the file before SIP starts)."""
    spec, path = checked or read(name)
    build = importlib.import_module("board.build")
    return build.build(spec, path=path, pin_factory=pin_factory, settings=settings)
