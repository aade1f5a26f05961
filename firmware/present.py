"""What the phone shows and plays, as pure functions of a PhoneState snapshot.

firmware/presenter.py applies the difference after every batch of events: soft key
labels go to the LCD, LED patterns to the LED driver, the tone, gain and audio path to the
SIP thread, the route to the board's audio switch. Tests read these functions directly or
through the API.
"""
from __future__ import annotations

import time

from firmware.call.state import AudioDevice, CallState, PhoneState, Screen
from firmware.keys import LED_NAMES
from firmware.timeofday import local


# --- the time shown --------------------------------------------------------------------------

def local_time(s: PhoneState, t: float) -> time.struct_time | None:
    """A wall clock time `t` (time.time(): the snapshot's `now`, a call's start) as the LCD
    shows it: moved by the SNTP offset or the time set by hand, in the chosen time zone
    (manual §6 "Time & date"); None for a time that cannot be shown."""
    try:
        return local(t + s.clock_shift, s.utc_offset)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


# --- soft keys -----------------------------------------------------------------------------
# (label, action) for soft1..soft4; an empty label is a key that does nothing here. A
# label fits its key: at most ui/lcd.py SOFT_LABEL px in the condensed face (six letters;
# tests/test_lcd_longtext.py reads every label here and in the features).
# Each screen has its own row; features add to it or change it (Xfer and Conf while
# talking, the transfer's B Xfer and Cancel...) through the state's `soft` cells, which
# firmware/call/controls.py writes from the active modes: this stays a pure function.

_NONE = ("", "")


def softkeys(s: PhoneState) -> list[tuple[str, str]]:
    screen = s.screen()
    row = _own_softkeys(s, screen)
    over = s.soft.get(screen.value)
    if over:
        row = [mine if cell is None else cell for mine, cell in zip(row, over)]
    return row


def _own_softkeys(s: PhoneState, screen: Screen) -> list[tuple[str, str]]:
    if screen is Screen.MENU:
        if s.menu[-1].kind == "calllog":
            if s.menu[-1].items:
                return [("Dial", "dial"), ("Delete", "delete"), ("Add", "add"),
                        ("Back", "back")]
            return [_NONE, _NONE, _NONE, ("Back", "back")]
        if s.menu[-1].kind == "provision":
            return [("Now", "now"), _NONE, _NONE, ("Back", "back")]
        if s.menu[-1].kind == "edit":
            # the text editor: the input mode in use (as the title row shows it; pressed,
            # the next), save, erase, and Cancel: back without what was typed
            return [(s.menu[-1].data[0].label, "mode"), ("Save", "save"), ("<-", "erase"),
                    ("Cancel", "back")]
        if s.menu[-1].kind in ("choice", "confirm"):
            return [("OK", "ok"), _NONE, _NONE, ("Back", "back")]
        if s.menu[-1].text:
            return [_NONE, _NONE, _NONE, ("Back", "back")]
        return [("Enter", "enter"), _NONE, _NONE, ("Back", "back")]
    if screen is Screen.DIAG:
        if s.diag == "keys" or (s.diag == "lcd" and s.diag_running):
            return [_NONE] * 4       # every key is under test / the pattern fills the LCD
        return [("Stop", "stop") if s.diag_running else ("Start", "start"), _NONE, _NONE,
                ("Exit", "exit")]
    if screen is Screen.IDLE:
        dnd = (("No DND", "dnd") if s.dnd else ("DND", "dnd")) if s.dnd_softkey else _NONE
        return [("Redial", "redial") if s.redial else _NONE, dnd, _NONE, _NONE]
    return list(_ROWS.get(screen, [_NONE] * 4))


_ROWS = {
    Screen.PREDIAL: [("Send", "send"), ("<-", "backspace"), _NONE, ("Cancel", "cancel")],
    Screen.DIALING: [("Send", "send"), ("<-", "backspace"), _NONE, ("End", "end")],
    Screen.CALLING: [_NONE, _NONE, _NONE, ("End", "end")],
    Screen.RINGING: [("Answer", "answer"), ("Reject", "reject"), _NONE, _NONE],
    Screen.TALKING: [("Hold", "hold"), _NONE, _NONE, ("End", "end")],
    Screen.HELD: [("Resume", "resume"), _NONE, ("New", "newcall"), ("End", "end")],
    Screen.ENDED: [_NONE, _NONE, _NONE, ("End", "end")],
}


# --- LEDs ---------------------------------------------------------------------------------
# name -> (colour, pattern); colour red|green|amber, pattern off|on|slow|fast.
# Manual §3 button table: line key red flashing = incoming, red steady = off-hook/dialing,
# green flashing = held, green steady = active; light strip red flashing = incoming,
# red steady = missed calls or busy; headset/mute/speaker/message red when on.

OFF = ("", "off")



DIAG_COLOURS = ("red", "green", "amber")


def diag_led(step: int) -> tuple[str, str]:
    """The LED and colour the lights test shows at `step`."""
    return LED_NAMES[step // 3 % len(LED_NAMES)], DIAG_COLOURS[step % 3]


# programmable key lamps (firmware/features/blf.py): "unknown" is never dark and never green, so a
# number that is not watched is not taken for an idle one
KEY_LAMPS = {"idle": ("green", "on"), "ringing": ("red", "fast"), "busy": ("red", "on"),
             "held": ("green", "slow"), "unknown": ("amber", "slow")}


def leds(s: PhoneState) -> dict[str, tuple[str, str]]:
    out = {name: OFF for name in LED_NAMES}
    for name in s.key_lamps:
        out.setdefault(name, OFF)         # expansion module keys: only those programmed
    if s.diag == "lights" and s.diag_running:
        name, colour = diag_led(s.diag_step)
        out[name] = (colour, "on")
        return out
    for name, lamp in s.key_lamps.items():
        out[name] = KEY_LAMPS.get(lamp, OFF)
    for c in s.calls:
        key = f"line{c.line}"
        if key not in out:
            continue
        if c.state is CallState.RINGING:
            out[key] = ("red", "fast")
        elif c.state in (CallState.DIALING, CallState.CALLING, CallState.RINGBACK):
            out[key] = ("red", "on")
        elif c.state is CallState.CONNECTED:
            out[key] = ("green", "on")
        elif c.state is CallState.HELD:
            out[key] = ("green", "slow")
        elif c.state is CallState.ENDED and c.id == s.focus:
            out[key] = ("red", "on")
    if s.predial and s.focused is None and not s.calls:
        out[f"line{s.predial_line}"] = ("red", "on")
    if s.ringing():
        out["strip"] = ("red", "fast")
    elif s.calls or (s.missed and s.missed_call_display):
        out["strip"] = ("red", "on")
    if s.headset_mode:
        out["headset"] = ("red", "on")
    if s.mute:
        out["mute"] = ("red", "on")
    if s.voicemail:
        out["message"] = ("red", "on")
    if s.audio is AudioDevice.SPEAKER or s.multicast or s.multicast_out:   # a page on it
        out["speaker"] = ("red", "on")
    return out


def backlight(s: PhoneState) -> int:
    """LCD backlight level 0-10: full while something happens, dimmed to 1 after
    lcd.backlight_timeout seconds without a key, a hook change or a call."""
    busy = bool(s.calls) or s.audio is not AudioDevice.NONE or bool(s.diag)
    if s.backlight_timeout == 0 or busy or s.mono - s.last_activity < s.backlight_timeout:
        return s.backlight
    return min(1, s.backlight)


# --- tones --------------------------------------------------------------------------------
# The tone heard on the active audio device (or the ringer on the speaker).

TONES = ("dial", "ringback", "busy", "reorder", "callwaiting", "ring", "test", "warning", "message")

BUSY_CODES = (486, 600, 603)


def tone(s: PhoneState) -> str | None:
    if s.diag == "sound" and s.diag_running:
        return "test"
    if s.page_tone:
        return "warning"         # a page is about to be heard (firmware/features/paging.py)
    f = s.focused
    if f is not None and s.audio is not AudioDevice.NONE:
        if f.state is CallState.DIALING:
            return None if f.number else "dial"
        if f.state is CallState.RINGBACK and not f.media:
            return "ringback"
        if f.state is CallState.ENDED:
            if f.connected_at and not s.hangup_tone:
                return None          # a call that was talking ended: silence (phone.hangup_tone)
            return "busy" if f.code in BUSY_CODES else "reorder"
        if s.ringing() and s.call_waiting_tone and f.state in (CallState.CONNECTED,
                                                                CallState.HELD):
            return "callwaiting"
        return None
    if s.ringing() or s.ring_preview:
        return "ring"
    if s.message_alert and s.audio is AudioDevice.NONE:
        return "message"
    return None


# --- audio path ---------------------------------------------------------------------------

def route(s: PhoneState) -> str:
    """Which transducer the board switches on: the device in use, or the speaker for the
    ringer."""
    if s.audio is not AudioDevice.NONE:
        return s.audio.value
    return "speaker" if tone(s) in ("ring", "message") or s.multicast or s.multicast_out \
        else "none"


def audio_path(s: PhoneState) -> tuple[tuple[int, ...], bool, bool]:
    """(calls whose audio the person hears and speaks into, microphone muted, the far
    ends hear each other): the focused call, or every call of a 3-way conference (mixed,
    each hears the other), or a call with a page barged in (each far end hears only us)."""
    if s.audio is AudioDevice.NONE:
        return (), s.mute, True
    conf = tuple(c.id for c in s.calls if c.id in s.conference
                 and c.state is CallState.CONNECTED)
    if len(conf) >= 2:
        return conf, s.mute, True
    f = s.focused
    if f is not None and (f.state is CallState.CONNECTED or (
            f.state in (CallState.CALLING, CallState.RINGBACK) and f.media)):
        page = s.call(s.barge)
        if page is not None and page.state is CallState.CONNECTED and page.id != f.id:
            return (f.id, page.id), s.mute, False
        return (f.id,), s.mute, True
    return (), s.mute, True


def volume(s: PhoneState) -> float:
    """Gain of what the person hears: level 5 of 9 is 1.0, each step 2 dB."""
    name = s.audio.value if s.audio is not AudioDevice.NONE else "ring"
    return _gain(s.volumes.get(name, 5))


def mic_volume(s: PhoneState) -> float:
    """Gain of the microphone in use (handset, speaker or headset microphone)."""
    if s.audio is AudioDevice.NONE:
        return 1.0
    return _gain(s.volumes.get(f"{s.audio.value}_mic", 5))


def _gain(level: int) -> float:
    return round(10 ** ((level - 5) * 2 / 20), 3)


def ring_plan(s: PhoneState) -> str:
    """Which ring the "ring" tone plays: the type being chosen in the menu, else the
    ringing line's (account.N.ring_type, or volume.ring_type)."""
    ringing = s.ringing()
    kind = s.ring_preview or (s.ring_types.get(ringing[0].account, 1) if ringing else 1)
    return "ring" if kind <= 1 else f"ring{kind}"
