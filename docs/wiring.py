"""Draw the wiring diagram of a board file, so the picture always says what the file says.

    python docs/wiring.py                      # board/pi-desk.toml -> docs/wiring.png
    python docs/wiring.py minimal -o /tmp/minimal.png
    python docs/wiring.py --table              # the pin tables of docs/hardware.md (Markdown)

Needs only Pillow (in requirements.txt).  The board file is checked by `board.read` first,
so a file this script draws is a file the phone accepts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import board  # noqa: E402  (the repository's board package, not Adafruit Blinka's)

# The 40-pin header: physical pin -> BCM GPIO number, or the name of a power pin.
HEADER: dict[int, int | str] = {
    1: "3V3", 2: "5V", 3: 2, 4: "5V", 5: 3, 6: "GND", 7: 4, 8: 14, 9: "GND", 10: 15,
    11: 17, 12: 18, 13: 27, 14: "GND", 15: 22, 16: 23, 17: "3V3", 18: 24, 19: 10, 20: "GND",
    21: 9, 22: 25, 23: 11, 24: 8, 25: "GND", 26: 7, 27: 0, 28: 1, 29: 5, 30: "GND",
    31: 6, 32: 12, 33: 13, 34: "GND", 35: 19, 36: 16, 37: 26, 38: 20, 39: "GND", 40: 21,
}
PHYSICAL = {v: k for k, v in HEADER.items() if isinstance(v, int)}
# what the Pi itself uses a pin for, when the board file does not
SYSTEM = {0: "ID EEPROM (HAT), keep free", 1: "ID EEPROM (HAT), keep free",
          14: "UART TX (serial console)", 15: "UART RX (serial console)"}

COLOURS = {            # part -> colour of its pins and boxes
    "keypad row": (31, 95, 191), "keypad col": (0, 140, 140), "key": (0, 110, 170),
    "hook": (128, 40, 160), "leds": (214, 110, 0), "display": (20, 140, 50),
    "audio": (200, 30, 90), "system": (130, 130, 130),
    "3V3": (230, 120, 0), "5V": (210, 0, 0), "GND": (30, 30, 30),
}
LED_RED, LED_GREEN = (220, 30, 30), (70, 180, 40)


def uses(spec: dict) -> dict[int, tuple[str, str]]:
    """BCM pin -> (part, what it does) for every pin the board file gives a job."""
    out: dict[int, tuple[str, str]] = {}
    kp = spec["keypad"]
    if kp["driver"] == "matrix":
        for i, p in enumerate(kp["rows"]):
            out[p] = ("keypad row", f"keypad row {i + 1}")
        for i, p in enumerate(kp["cols"]):
            out[p] = ("keypad col", f"keypad column {i + 1}")
    for name, p in spec.get("keys", {}).items():
        out[p] = ("key", f"key {name} (to GND)")
    hk = spec["hook"]
    if hk["driver"] == "gpio":
        out[hk["pin"]] = ("hook", f"hook switch to GND ({hk.get('contact', 'NO')})")
    ld = spec["leds"]
    if ld["driver"] == "hc595":
        out[ld["data"]] = ("leds", "74HC595 SER (data)")
        out[ld["clock"]] = ("leds", "74HC595 SRCLK (clock)")
        out[ld["latch"]] = ("leds", "74HC595 RCLK (latch)")
    elif ld["driver"] == "gpio":
        for name, o in ld["map"].items():
            for colour, p in (o.items() if isinstance(o, dict) else [("", o)]):
                out[p] = ("leds", f"LED {name} {colour}".rstrip() + " (+R to GND)")
    dp = spec["display"]
    if dp["driver"] != "dummy":
        chip = dp["driver"].upper()
        if dp.get("interface", "i2c") == "i2c":
            sda, scl = (2, 3) if dp.get("port", 1) == 1 else (0, 1)
            out[sda] = ("display", f"{chip} SDA (I2C{dp.get('port', 1)})")
            out[scl] = ("display", f"{chip} SCL")
        else:
            out[10] = ("display", f"{chip} MOSI / SDA (SPI0)")
            out[11] = ("display", f"{chip} SCLK")
            cs = 7 if dp.get("device", 0) == 1 else 8
            out[cs] = ("display", f"{chip} CS (CE{dp.get('device', 0)})")
            for k, what in (("dc", "A0 / DC"), ("rst", "RST")):
                if k in dp:
                    out[dp[k]] = ("display", f"{chip} {what}")
        if "backlight" in dp:
            out[dp["backlight"]] = ("display", "display backlight")
    if ld["driver"] == "mcp23017":
        out.setdefault(2, ("leds", "MCP23017 SDA"))
        out.setdefault(3, ("leds", "MCP23017 SCL"))
    au = spec["audio"]
    if au["driver"] == "gpio":
        for dev, p in au.get("enable", {}).items():
            out[p] = ("audio", f"{dev} on (route / amplifier)")
    return out


def led_outputs(spec: dict) -> dict[int, tuple[str, str]]:
    """74HC595 / MCP23017 output -> (LED name, colour) for shift-register boards."""
    ld = spec["leds"]
    out: dict[int, tuple[str, str]] = {}
    if ld["driver"] in ("hc595", "mcp23017"):
        for name, o in ld["map"].items():
            for colour, n in (o.items() if isinstance(o, dict) else [("", o)]):
                out[n] = (name, colour)
    return out


# --- the Markdown tables of docs/hardware.md ----------------------------------------------

def table(spec: dict, path: Path) -> str:
    u = uses(spec)
    lines = [f"Pins of `board/{path.name}` (BCM GPIO number and 40-pin header pin):", "",
             "| header pin | GPIO | goes to |", "| --- | --- | --- |"]
    for phys in sorted(HEADER):
        g = HEADER[phys]
        if not isinstance(g, int) or (g not in u and g not in SYSTEM):
            continue
        what = u[g][1] if g in u else f"*{SYSTEM[g]}*"
        lines.append(f"| {phys} | {g} | {what} |")
    outs = led_outputs(spec)
    if outs and spec["leds"]["driver"] == "hc595":
        chain = int(spec["leds"].get("chain", 1))
        lines += ["", "74HC595 outputs (chip 1 is the one whose SER pin is wired to the Pi):",
                  "", "| output | chip | pin | LED |", "| --- | --- | --- | --- |"]
        for n in range(8 * chain):
            name, colour = outs.get(n, ("", ""))
            q = "Q" + "ABCDEFGH"[n % 8]
            led = f"{name} {colour}".strip() if name else "*free*"
            lines.append(f"| {n} | {n // 8 + 1} | {q} (pin {HC595_PINS[n % 8]}) | {led} |")
    return "\n".join(lines) + "\n"


HC595_PINS = (15, 1, 2, 3, 4, 5, 6, 7)       # QA..QH on the DIP/SOIC package


# --- drawing ------------------------------------------------------------------------------

def _font(size: int, bold: bool = False):
    from PIL import ImageFont
    names = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf") if bold else \
        ("DejaVuSans.ttf", "DejaVuSansCondensed.ttf")
    for d in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
              "/usr/share/fonts/TTF"):
        for n in names:
            try:
                return ImageFont.truetype(f"{d}/{n}", size)
            except OSError:
                pass
    return ImageFont.load_default(size=size)


class Canvas:
    def __init__(self, w: int, h: int):
        from PIL import Image, ImageDraw
        self.im = Image.new("RGB", (w, h), "white")
        self.d = ImageDraw.Draw(self.im)
        self.f = {s: _font(s) for s in (15, 17, 19, 22)}
        self.b = {s: _font(s, bold=True) for s in (15, 17, 19, 24, 30)}

    def text(self, xy, s, size=17, bold=False, fill=(0, 0, 0), anchor="la"):
        font = (self.b if bold else self.f)[size]
        self.d.text(xy, s, font=font, fill=fill, anchor=anchor)

    def width(self, s, size=17, bold=False) -> float:
        return self.d.textlength(s, font=(self.b if bold else self.f)[size])

    def box(self, x0, y0, x1, y1, title, colour, size=19):
        self.d.rounded_rectangle((x0, y0, x1, y1), radius=10, outline=colour, width=3,
                                 fill=(252, 252, 252))
        self.d.rectangle((x0 + 12, y0 - 14, x0 + 24 + self.width(title, size, True), y0 + 12),
                         fill="white")
        self.text((x0 + 18, y0 - 1), title, size=size, bold=True, fill=colour, anchor="lm")


def draw_header(c: Canvas, spec: dict, x: int, y: int) -> int:
    """The 40-pin header, pin 1 top left, with what each pin goes to. Returns the bottom."""
    u = uses(spec)
    pitch, label_w = 48, 330
    hx = x + label_w + 20                 # left column of pins
    c.text((hx + 40, y), "Raspberry Pi 40-pin header", size=24, bold=True, anchor="mm")
    c.text((hx + 40, y + 28), "(pin 1 = square pad, next to the SD-card end)", size=15,
           fill=(90, 90, 90), anchor="mm")
    top = y + 56
    c.d.rounded_rectangle((hx - 22, top - 6, hx + 102, top + 20 * pitch - 8), radius=8,
                          fill=(30, 30, 30))
    for phys, g in HEADER.items():
        row, right = (phys - 1) // 2, phys % 2 == 0
        px = hx + (80 if right else 0)
        py = top + row * pitch + pitch // 2 - 7
        if isinstance(g, str):
            colour, label, strong = COLOURS[g], g, False
        elif g in u:
            part, label = u[g]
            colour, label, strong = COLOURS[part], f"GPIO{g}  {label}", True
        elif g in SYSTEM:
            colour, label, strong = COLOURS["system"], f"GPIO{g}  {SYSTEM[g]}", False
        else:
            colour, label, strong = (170, 170, 170), f"GPIO{g}  free", False
        if phys == 1:
            c.d.rectangle((px - 13, py - 13, px + 13, py + 13), fill=colour,
                          outline="white", width=2)
        else:
            c.d.ellipse((px - 13, py - 13, px + 13, py + 13), fill=colour,
                        outline="white", width=2)
        c.text((px, py), str(phys), size=15, bold=True, fill="white", anchor="mm")
        fill = colour if strong or isinstance(g, str) else (120, 120, 120)
        if right:
            c.text((px + 26, py), label, size=17, bold=strong, fill=fill, anchor="lm")
        else:
            c.text((px - 26, py), label, size=17, bold=strong, fill=fill, anchor="rm")
    return top + 20 * pitch


def draw_keypad(c: Canvas, spec: dict, x: int, y: int, w: int) -> int:
    kp = spec["keypad"]
    if kp["driver"] != "matrix":
        return y
    rows, cols, keys = kp["rows"], kp["cols"], kp["keys"]
    lw = 150                                       # row labels
    cw = (w - lw - 30) // len(cols)
    ch = 40
    h = 88 + ch * len(rows) + 50
    c.box(x, y, x + w, y + h, f"Keypad matrix  {len(rows)} rows x {len(cols)} columns",
          COLOURS["keypad row"])
    gx, gy = x + lw, y + 78
    for j, p in enumerate(cols):
        cx = gx + j * cw + cw // 2
        c.text((cx, gy - 44), f"col {j + 1}", size=15, bold=True, fill=COLOURS["keypad col"],
               anchor="mm")
        c.text((cx, gy - 24), f"GPIO{p} ({PHYSICAL[p]})", size=15,
               fill=COLOURS["keypad col"], anchor="mm")
        c.d.line((cx, gy - 12, cx, gy + ch * len(rows)), fill=COLOURS["keypad col"], width=2)
    for i, p in enumerate(rows):
        cy = gy + i * ch + ch // 2
        c.text((x + 16, cy), f"row {i + 1}  GPIO{p} ({PHYSICAL[p]})", size=15, bold=False,
               fill=COLOURS["keypad row"], anchor="lm")
        c.d.line((gx - 6, cy, gx + cw * len(cols), cy), fill=COLOURS["keypad row"], width=2)
        for j, k in enumerate(keys[i]):
            cx = gx + j * cw + cw // 2
            if not k:
                continue
            tw = c.width(k, 15, True) + 14
            c.d.rounded_rectangle((cx - tw / 2, cy - 14, cx + tw / 2, cy + 14), radius=5,
                                  fill="white", outline=(60, 60, 60), width=2)
            c.text((cx, cy), k, size=15, bold=True, anchor="mm")
    c.text((x + 16, y + h - 26),
           "A key joins its row and its column. Rows are driven, columns read with the Pi's "
           "pull-ups. Optional 1N4148 per key: cathode (band) to the row.", size=15,
           fill=(70, 70, 70), anchor="lm")
    return y + h


def draw_leds(c: Canvas, spec: dict, x: int, y: int, w: int) -> int:
    ld = spec["leds"]
    outs = led_outputs(spec)
    if ld["driver"] != "hc595":
        if ld["driver"] == "gpio":
            h = 60 + 30 * sum(len(v) if isinstance(v, dict) else 1 for v in ld["map"].values())
            c.box(x, y, x + w, y + h, "LEDs on GPIO pins (each through 1 kohm to GND)",
                  COLOURS["leds"])
            yy = y + 36
            for name, o in ld["map"].items():
                for colour, p in (o.items() if isinstance(o, dict) else [("", o)]):
                    dot = LED_GREEN if colour == "green" else LED_RED
                    c.d.ellipse((x + 24, yy - 8, x + 40, yy + 8), fill=dot)
                    c.text((x + 52, yy), f"{name} {colour}".strip() + f"  <-  GPIO{p} "
                           f"(pin {PHYSICAL[p]})", size=17, anchor="lm")
                    yy += 30
            return y + h
        return y
    chain = int(ld.get("chain", 1))
    per_row = min(chain, 5)
    bw = (w - 40 - (per_row - 1) * 24) // per_row
    rows_of_chips = (chain + per_row - 1) // per_row
    chip_h = 60 + 8 * 27
    h = 90 + rows_of_chips * (chip_h + 20) + 44
    c.box(x, y, x + w, y + h, f"LEDs: {chain} x 74HC595 in a chain ({8 * chain} outputs)",
          COLOURS["leds"])
    sig = (f"SER <- GPIO{ld['data']} (pin {PHYSICAL[ld['data']]})     SRCLK <- GPIO{ld['clock']}"
           f" (pin {PHYSICAL[ld['clock']]}), to every chip     RCLK <- GPIO{ld['latch']} (pin "
           f"{PHYSICAL[ld['latch']]}), to every chip     /OE -> GND    /SRCLR -> 3V3")
    c.text((x + 20, y + 34), sig, size=15, bold=True, fill=COLOURS["leds"], anchor="lm")
    c.text((x + 20, y + 60), "Each output: LED + 470 ohm - 1 kohm to GND.  Dual-colour keys: "
           "red/green LED with common cathode.  Strip and backlight: through a transistor.",
           size=15, fill=(70, 70, 70), anchor="lm")
    for chip in range(chain):
        r, col = divmod(chip, per_row)
        cx = x + 20 + col * (bw + 24)
        cy = y + 90 + r * (chip_h + 30)
        c.d.rectangle((cx, cy, cx + bw, cy + chip_h), outline=(60, 60, 60), width=2,
                      fill="white")
        c.text((cx + bw / 2, cy + 18), f"chip {chip + 1}", size=17, bold=True, anchor="mm")
        c.text((cx + bw / 2, cy + 40), "SER <- Pi" if chip == 0 else f"SER <- QH' chip {chip}",
               size=15, fill=(90, 90, 90), anchor="mm")
        for q in range(8):
            n = chip * 8 + q
            qy = cy + 64 + q * 27
            name, colour = outs.get(n, ("", ""))
            c.text((cx + 10, qy), f"Q{'ABCDEFGH'[q]} {n:>2}", size=15, fill=(90, 90, 90),
                   anchor="lm")
            if name:
                dot = LED_GREEN if colour == "green" else LED_RED
                c.d.ellipse((cx + 78, qy - 7, cx + 92, qy + 7), fill=dot)
                c.text((cx + 100, qy), f"{name} {colour}".strip(), size=15, bold=True,
                       anchor="lm")
            else:
                c.text((cx + 100, qy), "free", size=15, fill=(160, 160, 160), anchor="lm")
        if chip + 1 < chain and col + 1 < per_row:
            ay = cy + chip_h // 2
            c.d.line((cx + bw + 2, ay, cx + bw + 22, ay), fill=COLOURS["leds"], width=3)
            c.d.polygon([(cx + bw + 22, ay), (cx + bw + 14, ay - 6), (cx + bw + 14, ay + 6)],
                        fill=COLOURS["leds"])
    c.text((x + 20, y + h - 22), "QH' (pin 9) of each chip -> SER (pin 14) of the next.  "
           "VCC pin 16, GND pin 8, 100 nF across each chip.", size=15, fill=(70, 70, 70),
           anchor="lm")
    return y + h


def draw_parts(c: Canvas, spec: dict, x: int, y: int, w: int) -> int:
    """Display, hook switch and audio side by side."""
    gap = 24
    widths = [int((w - 2 * gap) * f) for f in (0.28, 0.31, 0.41)]
    h = 230
    dp, hk, au = spec["display"], spec["hook"], spec["audio"]
    # display
    lines = []
    if dp["driver"] == "dummy":
        lines = ["no display (dummy)"]
    elif dp.get("interface", "i2c") == "i2c":
        lines = [f"{dp['driver'].upper()} 128x64, I2C{dp.get('port', 1)} "
                 f"0x{dp.get('address', 0x3C):02X}",
                 "SDA -> GPIO2 (pin 3)", "SCL -> GPIO3 (pin 5)", "VCC -> 3V3 (pin 1)",
                 "GND -> GND", "find it: i2cdetect -y 1"]
    else:
        cs = 7 if dp.get("device", 0) == 1 else 8
        lines = [f"{dp['driver'].upper()} 128x64, SPI{dp.get('port', 0)}",
                 "MOSI -> GPIO10 (pin 19)", "SCLK -> GPIO11 (pin 23)",
                 f"CS -> CE{dp.get('device', 0)}: GPIO{cs} (pin {PHYSICAL[cs]})"]
        lines += [f"{k.upper()} -> GPIO{dp[k]} (pin {PHYSICAL[dp[k]]})" for k in ("dc", "rst")
                  if k in dp]
        if "rst" not in dp:
            lines.append("RST -> 3V3 via 10k, 100 nF to GND")
    bw = widths[0]
    c.box(x, y, x + bw, y + h, "Display", COLOURS["display"])
    for i, s in enumerate(lines):
        c.text((x + 18, y + 34 + i * 30), s, size=17, bold=i == 0, anchor="lm")
    # hook
    x2 = x + bw + gap
    bw = widths[1]
    c.box(x2, y, x2 + bw, y + h, "Hook switch", COLOURS["hook"])
    if hk["driver"] == "gpio":
        p = hk["pin"]
        contact = hk.get("contact", "NO")
        lines = [f"GPIO{p} (pin {PHYSICAL[p]}) -> switch -> GND",
                 f"contact = \"{contact}\":",
                 "open while the handset rests," if contact == "NO" else
                 "closed while the handset rests,",
                 "closed when it is lifted" if contact == "NO" else "open when it is lifted",
                 "lever microswitch: COM + NC" if contact == "NO" else
                 "reed switch + magnet in handset",
                 "pull-up: the Pi's own"]
    else:
        lines = ["simulated (front panel)"]
    for i, s in enumerate(lines):
        c.text((x2 + 18, y + 34 + i * 30), s, size=17, bold=i == 0, anchor="lm")
    # audio
    x3 = x2 + bw + gap
    bw = widths[2]
    c.box(x3, y, x3 + bw, y + h, "Audio", COLOURS["audio"])
    if au["driver"] == "gpio":
        lines = [f"USB sound card: {au.get('device', 'default')}"]
        switched = len(au.get("enable", {})) > 1      # else: one device, no route switch
        what = {"handset": "74HC4066: handset ear + mic",
                "headset": "74HC4066: headset ear + mic",
                "speaker": "PAM8302 SD + hands-free mic" if switched else
                           "PAM8302 SD (speaker amplifier)"}
        for dev, p in au.get("enable", {}).items():
            lines.append(f"GPIO{p} (pin {PHYSICAL[p]}) -> {what.get(dev, dev)}")
        lines.append("enables: high = on")
    else:
        lines = ["simulated (no sound device)"]
    for i, s in enumerate(lines):
        c.text((x3 + 18, y + 34 + i * 30), s, size=17 if i else 15, bold=i == 0, anchor="lm")
    return y + h


def render(spec: dict, path: Path):
    c = Canvas(2300, 1800)
    name = spec.get("board", {}).get("name", path.stem)
    c.text((40, 34), f"Wiring of board/{path.name}: {name}", size=30, bold=True, anchor="lm")
    c.text((40, 68), "drawn from the board file by docs/wiring.py.  Numbers: GPIO = BCM "
           "number (what the board file uses), (pin) = header pin.", size=17,
           fill=(80, 80, 80), anchor="lm")
    draw_header(c, spec, 40, 110)
    rx, rw = 920, 2300 - 920 - 30
    y = draw_keypad(c, spec, rx, 110, rw)
    y = draw_leds(c, spec, rx, y + 34, rw)
    y = draw_parts(c, spec, rx, y + 34, rw)
    bottom = max(y, 110 + 56 + 20 * 48) + 30
    return c.im.crop((0, 0, 2300, bottom))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("board", nargs="?", default="pi-desk", help="board name or file")
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "wiring.png")
    p.add_argument("--table", action="store_true", help="print the Markdown pin tables")
    a = p.parse_args(argv)
    spec, path = board.read(a.board)
    if a.table:
        sys.stdout.write(table(spec, path))
        return 0
    from PIL import Image
    im = render(spec, path)
    # few colours: a palette PNG is a third of the size and looks the same
    im.quantize(colors=96, method=Image.Quantize.MEDIANCUT,
                dither=Image.Dither.NONE).save(a.output, optimize=True)
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
