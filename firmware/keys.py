"""Key names: the manual's button table (§3 "Understanding Buttons and Hardware").

Drivers, board files, the front panel and the API all use these names.
"""
from __future__ import annotations

DIGITS = tuple("0123456789*#")
SOFT = ("soft1", "soft2", "soft3", "soft4")
NAV = ("up", "down", "left", "right", "ok", "cancel")
LINES = ("line1", "line2", "line3")
PROGRAMMABLE = tuple(f"p{i}" for i in range(1, 13))
FUNCTION = ("hold", "transfer", "conference", "redial", "mute", "speaker", "headset", "menu",
            "directory", "message", "service", "volup", "voldown")

KEYS: tuple[str, ...] = DIGITS + SOFT + NAV + LINES + PROGRAMMABLE + FUNCTION

# the phone's LEDs (manual §3): in the line and programmable keys (red/green), in four
# function keys, and the light strip; firmware.present lights them, board files wire them,
# the front panel and /api/leds show them, the lights test cycles them in this order
LED_NAMES: tuple[str, ...] = LINES + PROGRAMMABLE + ("headset", "mute", "message", "speaker",
                                                     "strip")

# keys of the expansion modules (manual "Expansion Module": up to 6 x 32), e1.1 .. e6.32;
# not on the phone's own keypad matrix
EXPANSION = tuple(f"e{m}.{k}" for m in range(1, 7) for k in range(1, 33))

# what the manual prints on the keys, for the front panel
LABELS = {
    "cancel": "C", "ok": "OK", "up": "▲", "down": "▼", "left": "◀", "right": "▶",
    "hold": "HOLD", "transfer": "TRANSFER", "conference": "CONF", "redial": "REDIAL",
    "mute": "MUTE", "speaker": "SPEAKER", "headset": "HEADSET", "menu": "MENU",
    "directory": "DIR", "message": "MSG", "service": "SERVICE", "volup": "VOL+",
    "voldown": "VOL−",
}
