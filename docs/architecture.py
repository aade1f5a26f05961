"""Draw docs/architecture.png: the two paths through the phone, a key press and an INVITE.

    python docs/architecture.py               # -> docs/architecture.png
    python docs/architecture.py --check       # every file the picture names exists

Each box names the file that does the step, so the picture can be checked against the tree
(tests/test_readme.py runs --check) and a newcomer can open the file the box names.
Needs only Pillow (in requirements.txt).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (title, file, what happens there); the two lanes run top to bottom and meet at the state
KEY_PATH = [
    ("keypad pins", "drivers/keypad.py", "matrix scan, debounce,\nlong press, repeat"),
    ("bus", "firmware/bus.py", "KeyPressed to the loop;\none batch, then present"),
    ("keys -> commands", "firmware/call/keypad.py", "the manual's chapter 4\ntables, row by row"),
    ("mode stack", "firmware/call/controls.py", "asked first, newest first:\ntransfer, conference,\npage, menu"),
    ("Phone", "firmware/call/phone.py", "the public commands:\ndial, answer, hold, end"),
    ("call model", "firmware/call/model.py", "legal moves only"),
    ("SIP engine", "firmware/sip/engine.py", "command queue into\nthe pjsua2 thread"),
]
INVITE_PATH = [
    ("request gate", "firmware/sip/gate.py", "pjsip module: trust,\nmalformed, floods"),
    ("SIP thread", "firmware/sip/calls.py", "pjsua2's onIncomingCall;\n180 before we post"),
    ("incoming policy", "firmware/sip/policy.py", "ring, refuse, forward\nor auto-answer"),
    ("bus", "firmware/bus.py", "CallIncoming to the\nloop thread"),
    ("SIP events", "firmware/call/signalling.py", "a call on a free line,\nringing, timers"),
]
SHARED = [
    ("state", "firmware/call/state.py", "PhoneState: one model"),
    ("presenter", "firmware/presenter.py", "snapshot -> LCD frame,\nLEDs, tone, audio path"),
    ("LCD / LEDs / web", "ui/lcd.py", "pure drawing; the web\npage gets the same state"),
]


def files() -> list[str]:
    return [f for _, f, _ in KEY_PATH + INVITE_PATH + SHARED]


def draw(out: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    W, H = 1000, 1150
    BW, BH, GAP = 290, 104, 24
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    try:
        font = ImageFont.load_default(size=14)
        title = ImageFont.load_default(size=18)
    except TypeError:            # Pillow < 10.1
        title = font

    def box(x: int, y: int, item, colour) -> tuple[int, int, int, int]:
        name, path, text = item
        d.rounded_rectangle((x, y, x + BW, y + BH), radius=10, outline=colour, width=3)
        d.text((x + 12, y + 8), name, fill=colour, font=title)
        d.text((x + 12, y + 32), path, fill=(90, 90, 90), font=font)
        d.multiline_text((x + 12, y + 52), text, fill="black", font=font, spacing=2)
        return x, y, x + BW, y + BH

    def arrow(x1: int, y1: int, x2: int, y2: int, colour) -> None:
        d.line((x1, y1, x2, y2), fill=colour, width=3)
        d.polygon([(x2, y2), (x2 - 7, y2 - 12), (x2 + 7, y2 - 12)], fill=colour)

    blue, red, green = (31, 95, 191), (200, 30, 90), (20, 130, 50)
    d.text((40, 14), "a key press", fill=blue, font=title)
    d.text((W - BW - 40, 14), "an INVITE", fill=red, font=title)
    y = 44
    last = None
    for item in KEY_PATH:
        b = box(40, y, item, blue)
        if last:
            arrow(40 + BW // 2, last[3], 40 + BW // 2, b[1], blue)
        last, y = b, y + BH + GAP
    key_phone = (40, 44 + 4 * (BH + GAP), 40 + BW, 44 + 4 * (BH + GAP) + BH)
    y = 44
    last = None
    for item in INVITE_PATH:
        b = box(W - BW - 40, y, item, red)
        if last:
            arrow(W - 40 - BW // 2, last[3], W - 40 - BW // 2, b[1], red)
        last, y = b, y + BH + GAP
    inv_end = last
    # both lanes change the one state; the presenter shows it after every batch
    x = (W - BW) // 2
    y = inv_end[3] + GAP * 2
    first = None
    for item in SHARED:
        b = box(x, y, item, green)
        if first is None:
            first = b
        else:
            arrow(x + BW // 2, y - GAP, x + BW // 2, b[1], green)
        y += BH + GAP
    arrow(key_phone[2], key_phone[1] + BH // 2, x + 40, first[1], blue)
    arrow(W - 40 - BW // 2, inv_end[3], x + BW - 40, first[1], red)
    d.text((40, H - 46), "Answers to what we sent (180, 200, BYE) come back like the INVITE: the SIP "
           "thread posts an event, firmware/call/signalling.py\nchanges the state, the presenter "
           "shows it.", fill=(90, 90, 90), font=font)
    img.save(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "docs" / "architecture.png")
    ap.add_argument("--check", action="store_true", help="only check the files it names")
    args = ap.parse_args()
    missing = [f for f in files() if not (ROOT / f).is_file()]
    if missing:
        print("the picture names files that are not there: " + ", ".join(missing),
              file=sys.stderr)
        return 1
    if not args.check:
        draw(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
