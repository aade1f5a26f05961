"""The presenter: after every batch of events it shows the state.

It takes one snapshot of the PhoneState and applies what changed: the frame (ui/lcd.py
draws it) to the display, LED patterns to the LED driver, the tone, gain and audio path to
the SIP thread, the route to the board's audio switch, the backlight level; then it tells
the web's subscribers (the front panel's /ws stream). What to show is decided by the pure
functions of firmware/present.py; this class only remembers what it last applied, so a
driver hears of a change once.

Nothing is drawn before `start()`: PIL and luma load with the first frame, which waits
for the first REGISTER's answer (App.run) so that it does not delay it.
"""
from __future__ import annotations

import asyncio
import os
import time

from firmware import present
from firmware.call.state import PhoneState
from firmware.events import (CallIncoming, HookChanged, HookFlashed, KeyPressed,
                             SettingsChanged, TimerFired)
from firmware.system.identity import VERSION

NOTICE_SECONDS = 4.0
MARQUEE_SECONDS = 1.5     # a text too long for its rows shows its next part after this


class Presenter:
    def __init__(self, *, bus, timers, state: PhoneState, board, sip, settings,
                 board_name: str, started_mono: float):
        self.timers, self.state, self.board, self.sip = timers, state, board, sip
        self.settings = settings
        self.board_name = board_name    # as the phone was started (--board)
        self.started_mono = started_mono
        self.frame = None             # the last ui.lcd.Frame drawn
        self.leds: dict[str, tuple[str, str]] = {}
        self.tone: str | None = None
        self.backlight = -1
        self._started = False
        self._frame_key = b""
        self._path: tuple = ((), False)
        self._step = 0                # which part of the texts shown in turns (ui/lcd.py)
        self._paged: tuple = ()       # those texts, to start again when they change
        self._turns = 1               # steps until each was shown whole
        self._notice = ""             # the notice whose time is running
        self._gain = 1.0
        self._mic_gain = 1.0
        self._plan: str | None = None     # the tone plan playing ("ring3" for tone "ring")
        self._subscribers: set[asyncio.Queue] = set()
        bus.on(TimerFired, self._on_timer)
        for ev_type in (KeyPressed, HookChanged, HookFlashed, CallIncoming):
            bus.on(ev_type, self._activity)
        bus.on(SettingsChanged, self._contrast)
        state.last_activity = time.monotonic()
        bus.after.append(self.present)

    def start(self) -> None:
        """Draw from now on (the first REGISTER has its answer, or is late)."""
        self._started = True
        self.present()

    def present(self) -> None:
        """Show the state: LCD, LEDs, tone, audio path; tell web clients. Runs per batch."""
        if not self._started:
            return
        snap = self.state.snapshot()
        snap.now, snap.mono = time.time(), time.monotonic()
        pushed = self._draw(snap)
        pushed = self._light(snap) or pushed
        pushed = self._sound(snap) or pushed
        level = present.backlight(snap)
        if level != self.backlight:
            self.backlight = level
            self._set_backlight(level)
        if pushed or self._subscribers:
            self._notify(snap)
        self._schedule_tick(snap)
        if snap.notice and (snap.notice != self._notice or not self.timers.active("notice")):
            # a new notice gets its own time, long enough to read it all ("Account 1 saved;
            # Line 1: registering..." followed by "Line 1: registered" is read in full)
            self._notice = snap.notice
            self.timers.start("notice", max(NOTICE_SECONDS, MARQUEE_SECONDS * self._turns))

    def _draw(self, snap: PhoneState) -> bool:
        from ui import lcd        # PIL: only once the phone has registered
        frame = lcd.render(snap, self._step)
        if frame.paged != self._paged:    # other texts in turns: each from its first part
            self._paged, self._turns = frame.paged, frame.turns
            if self._step:
                self._step = 0
                frame = lcd.render(snap)
        # the marquee: a timer steps the texts shown in turns, none while nothing moves
        if frame.paged and not self.timers.active("marquee"):
            self.timers.start("marquee", MARQUEE_SECONDS)
        elif not frame.paged:
            self.timers.cancel("marquee")
        key = frame.image.tobytes()
        if key == self._frame_key:
            return False
        self._frame_key, self.frame = key, frame
        self.board.display.show(frame.image)
        return True

    def _light(self, snap: PhoneState) -> bool:
        leds = present.leds(snap)
        changed = False
        for name, value in leds.items():
            if self.leds.get(name) != value:
                self.board.leds.set(name, *value)
                changed = True
        self.leds = leds
        return changed

    def _sound(self, snap: PhoneState) -> bool:
        """Tone, gain, which calls are heard, which transducer: True when the tone
        changed (the front panel shows it)."""
        changed = False
        tone = present.tone(snap)
        if tone != self.tone:
            self.tone = tone
            changed = True
        plan = present.ring_plan(snap) if tone == "ring" else tone
        if plan != self._plan:
            self._plan = plan
            self.sip.tone(plan)
        gain = present.volume(snap)
        if gain != self._gain:
            self._gain = gain
            self.sip.volume(gain)
        mic = present.mic_volume(snap)
        if mic != self._mic_gain:
            self._mic_gain = mic
            self.sip.mic_volume(mic)
        path = present.audio_path(snap)
        if path != self._path:
            self._path = path
            self.sip.audio(*path)
        route = present.route(snap)
        if self.board.audio.device != route:
            self.board.audio.select(route)
        return changed

    def _set_backlight(self, level: int) -> None:
        if hasattr(self.board.display, "backlight"):
            self.board.display.backlight(level)
        if "backlight" in self.board.spec.get("leds", {}).get("map", {}):
            self.board.leds.set("backlight", "", "on" if level else "off")

    def _schedule_tick(self, snap: PhoneState) -> None:
        """Redraw when the clock or a call timer shows a new value, and when the backlight
        is due to dim; nothing in between."""
        if any(c.connected_at for c in snap.calls):
            delay = 1.0 - ((snap.mono - min(c.connected_at for c in snap.calls
                                             if c.connected_at)) % 1.0)
        else:
            delay = 60.0 - (snap.now % 60.0)
        dim_in = snap.last_activity + snap.backlight_timeout - snap.mono
        if snap.backlight_timeout and present.backlight(snap) > 1 and dim_in > 0:
            delay = min(delay, dim_in)
        self.timers.start("tick", delay + 0.005)

    # -- events ----------------------------------------------------------------------------

    def _on_timer(self, ev: TimerFired) -> None:
        if ev.name == "notice":
            self.state.notice = ""
        elif ev.name == "marquee":
            self._step += 1           # drawn after this batch (present)

    def _activity(self, ev) -> None:
        """A key, the hook or a call: the backlight comes on (lcd.backlight_timeout)."""
        self.state.last_activity = time.monotonic()

    def _contrast(self, ev: SettingsChanged) -> None:
        if "lcd.contrast" in ev.keys and hasattr(self.board.display, "contrast"):
            self.board.display.contrast(self.settings.lcd.contrast)

    # -- the web's view of the same snapshot ------------------------------------------------

    def subscribe(self) -> asyncio.Queue:
        """A queue that gets {"state", "leds"} after every change (the newest only)."""
        q: asyncio.Queue = asyncio.Queue(maxsize=4)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subscribers.discard(q)

    def _notify(self, snap: PhoneState) -> None:
        msg = None
        for q in list(self._subscribers):
            if msg is None:
                msg = {"state": self.state_json(snap), "leds": self.leds_json()}
            if q.full():
                try:
                    q.get_nowait()      # a slow client gets the newest, not a backlog
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(msg)

    def leds_json(self) -> dict:
        return {name: {"colour": c or "off", "pattern": p} for name, (c, p) in self.leds.items()}

    def state_json(self, snap: PhoneState | None = None) -> dict:
        s = snap or self.state
        mono = time.monotonic()
        return {
            "version": VERSION,
            "board": self.board_name,
            "screen": s.screen(),
            "uptime": round(mono - self.started_mono, 3),
            "accounts": [{
                "index": a.index, "enabled": a.enabled, "label": a.label, "user": a.user,
                "server": a.server, "on_secondary": a.on_secondary, "status": a.status.value,
                "code": a.code, "reason": a.reason, "expires": a.expires, "dnd": a.dnd,
                "messages": a.messages, "old_messages": a.old_messages,
            } for a in s.accounts],
            "calls": [{
                "id": c.id, "line": c.line, "account": c.account, "direction": c.direction,
                "state": c.state.value, "number": c.number, "name": c.name, "uri": c.uri,
                "duration": round(mono - c.connected_at, 1) if c.connected_at else 0.0,
                "code": c.code, "reason": c.reason, "remote_hold": c.remote_hold,
                "media": c.media, "dtmf": c.dtmf,
            } for c in s.calls],
            "focus": s.focus, "offhook": s.offhook, "audio": s.audio.value,
            "headset_mode": s.headset_mode, "mute": s.mute, "predial": s.predial,
            "missed": s.missed, "voicemail": s.voicemail, "dnd": s.dnd, "redial": s.redial,
            "tone": self.tone, "softkeys": [label for label, _ in present.softkeys(s)],
            "notice": s.notice, "errors": list(s.errors),
            "backlight": self.backlight, "route": self.board.audio.device,
            "menu": [p.title for p in s.menu],
            "diag": {"test": s.diag, "step": s.diag_step, "running": s.diag_running,
                     "text": s.diag_text} if s.diag else None,
            "pid": os.getpid(),
            "provisioning": s.provisioning,
        }
