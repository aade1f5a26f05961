"""Where a key press, the hook and a dial request go: the manual's §4 tables as handlers.

Each handler is one row (placing, answering, ending, hold/resume, mute, redial...) and
turns the key into the Phone's commands (firmware/call/phone.py). The active modes
(firmware/call/controls.py) are asked first: a screen on top (a menu page, a call list,
a diagnose test) about every key and the hook, the others about C, line keys, hanging
up and soft keys they show; keys features add (TRANSFER, CONFERENCE, MENU) are found in
the same tables. A key or hook move a screen took is marked `consumed` for the features
listening after the Phone (memory keys).
"""
from __future__ import annotations

import logging

from firmware.call.config import LINES
from firmware.call.controls import Mode
from firmware.call.state import AudioDevice, CallState, Screen
from firmware.events import (DialRequested, HookChanged, HookFlashed, KeyHeld, KeyPressed,
                             TimerFired)
from firmware.present import softkeys

log = logging.getLogger("deskphone.phone")

RING_VOLUME_S = 3.0               # Up at idle: how long Up/Down keep setting the ring volume
RING_VOLUME_TIMER = "keypad.ring_volume"


class Keypad:
    def __init__(self, phone):
        self.phone, self.state, self.settings = phone, phone.state, phone.settings
        c = phone.controls
        for key, handler in {
                "speaker": self.key_speaker, "headset": self.key_headset, "hold": self.key_hold,
                "mute": self.key_mute, "redial": self.key_redial, "ok": self.key_ok,
                "cancel": self.key_cancel, "volup": lambda: self.volume(+1),
                "voldown": lambda: self.volume(-1), "up": self.key_up}.items():
            c.add_key(key, handler)
        for action, handler in {
                "redial": self.key_redial, "dnd": self.toggle_dnd, "send": phone.send,
                "backspace": self.backspace, "cancel": self.key_cancel,
                "end": self.end, "answer": phone.answer_ringing, "reject": self.reject,
                "hold": self.key_hold, "resume": self.key_hold,
                "newcall": self.new_call}.items():
            c.add_action(action, handler)
        bus = phone.bus
        bus.on(KeyPressed, self.on_key)
        bus.on(HookChanged, self.on_hook)
        bus.on(HookFlashed, self.on_flash)
        bus.on(KeyHeld, self.on_held)
        bus.on(DialRequested, self.on_dial_requested)
        bus.on(TimerFired, self._on_timer)
        # after Up at idle, Up and Down set the ring volume for a moment (key_up)
        self.ring_volume = Mode("ring volume", pressed=self._ring_volume_key,
                                hook=self._ring_volume_done)

    # -- keys ----------------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> None:
        s, c = self.state, self.phone.controls
        if c.ask("pressed", ev):  # a menu, a call list or a diagnose test on top took it
            ev.consumed = True
            return
        s.notice = ""
        key = ev.key
        if key in "0123456789*#" and len(key) == 1:
            self.digit(key)
        elif key.startswith("soft") and key[4:].isdigit():
            idx = int(key[4:]) - 1
            keys = softkeys(s)
            if 0 <= idx < len(keys) and keys[idx][1]:
                c.act(keys[idx][1])
        elif key.startswith("line") and key[4:].isdigit():
            self.key_line(int(key[4:]))
        elif not c.press(key):    # a mode first (C ends a page), then the key's handler
            log.debug("key %s does nothing here yet", key)

    def digit(self, d: str) -> None:
        s, p = self.state, self.phone
        f = s.focused
        send_key = self.settings.phone.send_key
        if f is not None and f.state is CallState.DIALING:
            if d == send_key and f.number:
                p.send()
                return
            f.number += d
            p.typed(f)
            return
        if f is not None and f.state in (CallState.CONNECTED, CallState.RINGBACK,
                                         CallState.CALLING):
            if f.state is CallState.CONNECTED or f.media:
                p.send_dtmf(f, d)
            return
        if f is None and s.audio is AudioDevice.NONE and not s.ringing():
            if d == send_key and s.predial:
                p.send()
                return
            if not s.predial:
                s.predial_line = self.settings.phone.default_account
            s.predial += d

    def backspace(self) -> None:
        s = self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = f.number[:-1]
            if not f.number:
                self.phone.timers.cancel("phone.dial")
        elif s.predial:
            s.predial = s.predial[:-1]

    def key_cancel(self) -> None:
        """C: erase a digit; with nothing to erase, back to the standby screen."""
        s, p = self.state, self.phone
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            if f.number:
                self.backspace()
            elif p.controls.ask("erase"):
                return
            elif s.audio is not AudioDevice.HANDSET:
                p.hang_up()
            return
        if f is not None and f.state is CallState.ENDED:
            p._remove(f)
            if s.audio is not AudioDevice.HANDSET:
                p.release_device()
            return
        screen = s.screen()
        if screen is Screen.RINGING:
            self.reject()
        elif s.predial:
            self.backspace()
        elif screen is Screen.IDLE:
            s.missed = 0

    def key_ok(self) -> None:
        screen = self.state.screen()
        if screen in (Screen.DIALING, Screen.PREDIAL):
            self.phone.send()
        elif screen is Screen.RINGING:
            self.phone.answer_ringing()
        elif screen is Screen.IDLE:
            self.phone.controls.press("menu")   # OK on the standby screen opens the menu

    def key_speaker(self) -> None:
        s = self.state
        if s.audio is AudioDevice.SPEAKER:
            self.phone.hang_up()
        elif s.audio is AudioDevice.NONE:
            self.phone.off_hook(AudioDevice.SPEAKER)
        else:
            s.audio = AudioDevice.SPEAKER   # handset or headset -> hands-free

    def key_headset(self) -> None:
        s = self.state
        if s.audio is AudioDevice.HEADSET:
            s.headset_mode = False          # manual: headset key hangs up, leaves the mode
            self.phone.hang_up()
        elif s.audio is AudioDevice.NONE:
            s.headset_mode = True
            self.phone.off_hook(AudioDevice.HEADSET)
        else:
            s.headset_mode = True
            s.audio = AudioDevice.HEADSET

    def key_line(self, line: int) -> None:
        s, p = self.state, self.phone
        if line > LINES or p.controls.ask("line_key", line):
            return
        call = s.on_line(line)
        if call is None:
            if s.predial:
                p.use_device()
                number, s.predial = s.predial, ""
                p.dial(number, line)
                return
            active = p.connected()
            if active is not None:
                p.hold(active)
            f = s.focused
            if f is not None and f.state in (CallState.DIALING, CallState.ENDED):
                p._remove(f)
            p.use_device()
            s.focus = None
            p.start_dialing(line)
            return
        if call.state is CallState.RINGING:
            p.answer(call, s.audio if s.audio is not AudioDevice.NONE
                     else p.device_for_new_call())
        elif call.state is CallState.HELD:
            p.resume(call)
        elif call.id == s.focus:
            # the line key of the active line hangs up hands-free (manual 'Ending a Call')
            if s.audio is not AudioDevice.HANDSET or call.state is not CallState.CONNECTED:
                p.hang_up()

    def key_hold(self) -> None:
        s, p = self.state, self.phone
        f = s.focused
        if f is None:
            held = [c for c in s.calls if c.state is CallState.HELD]
            if held:
                p.resume(held[0])
            return
        if f.state is CallState.CONNECTED:
            p.hold(f)
        elif f.state is CallState.HELD:
            p.resume(f)

    def end(self) -> None:
        """End soft key: hang up the call on screen, keep headset mode."""
        s, p = self.state, self.phone
        f = s.focused
        if f is not None:
            p.end_call(f)
        elif s.calls:
            held = [c for c in s.calls if c.state is CallState.HELD]
            if held:
                p.end_call(held[0])
        if s.focused is None and s.audio is not AudioDevice.HANDSET:
            p.release_device()

    def reject(self) -> None:
        """Reject soft key (C while ringing): the waiting call when one is connected."""
        p = self.phone
        ringing = self.state.ringing()
        if ringing:
            call = ringing[-1] if p.connected() else ringing[0]
            p.endings.refused(call.id)
            p.end_call(call)

    def key_mute(self) -> None:
        s = self.state
        if any(c.state in (CallState.CONNECTED, CallState.HELD) for c in s.calls) or s.mute:
            s.mute = not s.mute

    def key_redial(self) -> None:
        s, p = self.state, self.phone
        if not s.redial:
            s.notice = "No number to redial"
            return
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = s.redial
            p.send()
            return
        if f is None and not s.ringing():
            p.use_device()
            p.dial(s.redial, self.settings.phone.default_account)

    def new_call(self) -> None:
        line = self.phone.free_line(self.settings.phone.default_account)
        if line is not None:
            self.key_line(line)

    def volume(self, step: int) -> None:
        """VOL+/VOL-: nine levels for the device in use, or for the ringer when idle;
        kept in volume.* (the next start has them)."""
        s = self.state
        name = s.audio.value if s.audio is not AudioDevice.NONE else "ring"
        level = max(1, min(9, s.volumes.get(name, 5) + step))
        s.volumes[name] = level
        s.notice = f"Volume {name} {level}/9"
        if getattr(self.settings.volume, name) != level:
            self.phone.save({f"volume.{name}": level})

    def key_up(self) -> None:
        """Up on the standby screen: the ring volume one step up (manual §3); for
        RING_VOLUME_S seconds after, Up and Down both adjust it (Down alone opens a call
        list). Elsewhere a screen on top (a menu, a call list) has taken Up already."""
        if self.state.screen() is Screen.IDLE:
            self.volume(+1)
            self.phone.controls.push(self.ring_volume)
            self.phone.timers.start(RING_VOLUME_TIMER, RING_VOLUME_S)

    def _ring_volume_key(self, ev: KeyPressed) -> bool:
        if ev.key in ("up", "down") and self.state.screen() is Screen.IDLE:
            self.volume(+1 if ev.key == "up" else -1)
            self.phone.timers.start(RING_VOLUME_TIMER, RING_VOLUME_S)
            return True
        self._ring_volume_done()
        return False

    def _ring_volume_done(self, *_) -> None:
        self.phone.timers.cancel(RING_VOLUME_TIMER)
        self.phone.controls.pop(self.ring_volume)

    def _on_timer(self, ev: TimerFired) -> None:
        if ev.name == RING_VOLUME_TIMER:
            self._ring_volume_done()

    def toggle_dnd(self) -> None:
        self.phone.save({"phone.dnd": not self.settings.phone.dnd})

    def on_dial_requested(self, ev: DialRequested) -> None:
        self.phone.call_back(ev.number, ev.line)

    # -- hook ------------------------------------------------------------------------------

    def on_hook(self, ev: HookChanged) -> None:
        s = self.state
        # a screen on top first: the keys test shows it (and nothing else happens), a
        # call list makes its entry the pre-dialled number, a menu closes
        ev.consumed = self.phone.controls.ask("hook", ev.offhook)
        if ev.offhook == s.offhook:
            return
        s.offhook = ev.offhook
        if ev.consumed:
            return
        s.notice = ""
        if ev.offhook:
            if s.audio is AudioDevice.NONE:
                self.phone.off_hook(AudioDevice.HANDSET)
            else:
                s.audio = AudioDevice.HANDSET   # lifting the handset takes the call over
        elif s.audio is AudioDevice.HANDSET:
            self.phone.hang_up()

    def on_held(self, ev: KeyHeld) -> None:
        """A long press of C clears every digit typed."""
        s = self.state
        if ev.key != "cancel" or s.diag or s.menu:
            return
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = ""
            self.phone.timers.cancel("phone.dial")
        elif s.predial:
            s.predial = ""

    def on_flash(self, ev: HookFlashed) -> None:
        """A flash of the hook in a call: answer the waiting call, or swap to the held
        one, or hold this one and dial another (an analogue phone's recall)."""
        s, p = self.state, self.phone
        if s.diag or s.audio is not AudioDevice.HANDSET:
            return
        active = p.connected()
        ringing = s.ringing()
        held = [c for c in s.calls if c.state is CallState.HELD]
        if ringing:
            p.answer(ringing[0], AudioDevice.HANDSET)
        elif held:
            p.resume(held[0])
        elif active is not None:
            p.hold(active)
            s.focus = None
            p.start_dialing(self.settings.phone.default_account)
