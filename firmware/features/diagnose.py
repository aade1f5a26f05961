"""Diagnose (manual §6, "If you want to check the phone hardware function"):

- Keys: the LCD shows the name of every key pressed and of the hook; C twice exits.
- LCD: OK shows the next test pattern, C exits.
- Lights: OK starts cycling every LED through red, green and amber, C exits.
- Sound: OK plays a 1 kHz tone on the handset, the speaker and the headset in turn.

Reached from MENU > Diagnose and from the web page (POST /api/diagnose). While a test
runs it is a mode on the Phone's stack that takes every key (and, in the keys test, the
hook); a ringing call ends it.
"""
from __future__ import annotations

import logging

from firmware.bus import Bus, Timers
from firmware.call.controls import Mode
from firmware.events import (CallIncoming, DiagnoseRequested, HookFlashed, KeyPressed,
                             TimerFired)
from firmware.keys import LABELS
from firmware.present import LED_NAMES, diag_led
from firmware.call.state import AudioDevice, PhoneState

log = logging.getLogger("deskphone.diagnose")

TESTS = ("keys", "lcd", "lights", "sound")
LCD_PATTERNS = ("all dark", "all light", "checkerboard", "vertical lines",
                "horizontal lines", "frame and diagonals")
SOUND_DEVICES = (AudioDevice.HANDSET, AudioDevice.SPEAKER, AudioDevice.HEADSET)
LIGHT_STEP = 0.4      # seconds per LED colour
SOUND_STEP = 1.5      # seconds per audio device


def setup(ctx) -> "Diagnose":
    """The feature module's entry: a screen on top of the phone (nothing to close)."""
    return Diagnose(bus=ctx.bus, timers=ctx.timers, state=ctx.state, phone=ctx.phone)


class Diagnose:
    def __init__(self, *, bus: Bus, timers: Timers, state: PhoneState, phone):
        self.bus, self.timers, self.state, self.phone = bus, timers, state, phone
        self._last_key = ""
        self.mode = Mode("diagnose", pressed=self.on_key, hook=self.on_hook)
        bus.on(DiagnoseRequested, self.on_request)
        bus.on(HookFlashed, self.on_flash)
        bus.on(CallIncoming, lambda ev: self.stop())
        bus.on(TimerFired, self.on_timer)

    def on_request(self, ev: DiagnoseRequested) -> None:
        if not ev.test:
            self.stop()
        elif ev.test in TESTS:
            self.start(ev.test)

    def start(self, test: str) -> None:
        s = self.state
        if s.calls and test == "sound":
            s.notice = "Sound test: end the calls first"
            return
        self.stop()
        s.diag, s.diag_step, s.diag_running = test, 0, test == "keys"
        s.diag_text = {"keys": "Press any key", "lcd": "OK: start  C: exit",
                       "lights": "OK: start  C: exit", "sound": "OK: start  C: exit"}[test]
        self._last_key = ""
        self.phone.controls.push(self.mode)
        log.info("diagnose: %s", test)

    def stop(self) -> None:
        s = self.state
        if not s.diag:
            return
        if s.diag == "sound" and s.diag_running and not s.calls:
            self.phone.release_device()
        self.timers.cancel("diag.step")
        s.diag, s.diag_step, s.diag_running, s.diag_text = "", 0, False, ""
        self.phone.controls.pop(self.mode)

    # -- input -----------------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> bool:
        """Every key while a test runs is the test's (True: taken)."""
        s = self.state
        key = ev.key
        if s.diag == "keys":
            if key == "cancel" and self._last_key == "cancel" and not ev.repeat:
                self.stop()
                return True
            s.diag_text = f"{LABELS.get(key, key)}  ({key})" if key in LABELS else key
            self._last_key = key
            return True
        if key in ("cancel", "soft4"):
            self.stop()
            return True
        if key not in ("ok", "soft1"):
            return True
        if s.diag == "lcd":
            s.diag_step = (s.diag_step + 1) % len(LCD_PATTERNS) if s.diag_running else 0
            s.diag_running = True
            s.diag_text = LCD_PATTERNS[s.diag_step]
        elif s.diag_running:            # lights / sound: OK again stops
            self._halt()
        else:
            s.diag_running, s.diag_step = True, 0
            self._show_step()
            self.timers.start("diag.step", LIGHT_STEP if s.diag == "lights" else SOUND_STEP)
        return True

    def on_hook(self, offhook: bool) -> bool:
        """The keys test shows the hook, and nothing else happens (True: taken)."""
        if self.state.diag == "keys":
            self.state.diag_text = "Handset lifted" if offhook else "Handset replaced"
            return True
        return False

    def on_flash(self, ev: HookFlashed) -> None:
        if self.state.diag == "keys":
            self.state.diag_text = "Hook flash"

    # -- stepping ----------------------------------------------------------------------------

    def on_timer(self, ev: TimerFired) -> None:
        s = self.state
        if ev.name != "diag.step" or not s.diag_running:
            return
        s.diag_step += 1
        if s.diag == "lights":
            if s.diag_step >= 3 * len(LED_NAMES):
                s.diag_step = 0          # round again until C
            self._show_step()
            self.timers.start("diag.step", LIGHT_STEP)
        elif s.diag == "sound":
            if s.diag_step >= len(SOUND_DEVICES):
                self._halt()
                s.diag_text = "Done. OK: again  C: exit"
                return
            self._show_step()
            self.timers.start("diag.step", SOUND_STEP)

    def _show_step(self) -> None:
        s = self.state
        if s.diag == "lights":
            name, colour = diag_led(s.diag_step)
            s.diag_text = f"{name} {colour}"
        elif s.diag == "sound":
            self.phone.use_device(SOUND_DEVICES[s.diag_step], switch=True)
            s.diag_text = f"1 kHz on the {s.audio.value}"

    def _halt(self) -> None:
        s = self.state
        self.timers.cancel("diag.step")
        if s.diag == "sound":
            self.phone.release_device()
        s.diag_running, s.diag_step = False, 0
        s.diag_text = "OK: start  C: exit"
