"""The application: builds the parts, joins them, runs the event loop.

Where things go, for a newcomer:
- a key press / hook change: board driver or web API -> KeyPressed/HookChanged on the bus
  -> firmware/call/phone.py (Phone.on_key, Phone.on_hook);
- a SIP event: pjsua2 callback in firmware/sip/engine.py -> event on the bus -> phone.py
  (calls) or registration.py (REGISTER);
- a setting: schema in firmware/settings.py, file DIR/settings.toml, changed through
  App.update_settings (web API), announced as SettingsChanged;
- what is shown: App.present() after every batch of events: ui/lcd.py draws the LCD,
  firmware/present.py gives LEDs, tone and audio path.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import board as boards
from firmware import logs, present
from firmware.system import identity, netinfo
from firmware.bus import Bus, Timers
from firmware.features.calllog import CallLog
from firmware.features.diagnose import Diagnose
from firmware.errors import SipError
from firmware.events import (CallIncoming, DiagnoseRequested, DialRequested, HookChanged,
                             HookFlashed, KeyHeld, KeyPressed, KeyReleased,
                             ProvisionRequested, SettingsChanged, TimerFired)
from firmware.features.answering import Answering
from firmware.features.conference import Conference
from firmware.features.multicast import MulticastPaging
from firmware.features.paging import Paging
from firmware.features.menu import Menus
from firmware.features.mwi import Mwi
from firmware.call.phone import Phone
from firmware.sip.registration import Registration
from firmware.settings import DIR_MODE, FIELDS, SettingsStore
from firmware.sip.engine import VERSION, SipConfig, SipEngine
from firmware.call.state import PhoneState
from firmware.features.transfer import Transfer
from firmware.sip.trust import ServerTrust
from firmware.features.memkeys import MemoryKeys
from provisioning.engine import RESTART_CODE, Provisioner

log = logging.getLogger("deskphone")


class App:
    def __init__(self, *, board: str = "sim", data_dir: Path, http: str | None = None,
                 console_log: bool = True, pin_factory=None):
        self.board_name = board
        self.pin_factory = pin_factory          # tests and the bench: gpiozero MockFactory
        self.data_dir = Path(data_dir)
        self.http_override = http
        self.console_log = console_log
        self.started_mono = time.monotonic()
        self.state = PhoneState()
        self.store = SettingsStore(self.data_dir)
        self.settings = None
        self.frame = None             # the last ui.lcd.Frame drawn
        self._booted = False          # the first frame waits for the first REGISTER
        self._frame_key = b""
        self.leds: dict[str, tuple[str, str]] = {}
        self.tone: str | None = None
        self._path: tuple = ((), False)
        self._gain = 1.0
        self._backlight = -1
        self._subscribers: set[asyncio.Queue] = set()
        self._stop = None
        self.web = None
        self.sip_error = ""
        self.exit_code = 0
        self._health: asyncio.Task | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def run(self) -> None:
        self.data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.settings = self.store.load()
        lg = self.settings.log
        logs.setup(self.data_dir / "logs", level=lg.level, sip_trace=lg.sip_trace,
                   max_kb=lg.max_kb, keep=lg.keep, console=self.console_log)
        log.info("deskphone %s starting: board %s, data %s", VERSION, self.board_name,
                 self.data_dir)
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.bus = Bus(loop)
        self.timers = Timers(self.bus)
        self.board = boards.load(self.board_name, settings=self.settings,
                                 pin_factory=self.pin_factory)
        self._wire_board()
        self._show_settings_problems()

        s = self.settings.sip
        self.sip = SipEngine(config=SipConfig(
            port=s.port, bind=s.bind, rtp_port=s.rtp_port, rtp_ports=s.rtp_ports,
            user_agent=s.user_agent, trace=lg.sip_trace, prack=s.prack,
            session_timers=s.session_timers, session_expires=s.session_expires,
            dtmf_payload=self.settings.phone.dtmf_payload,
            null_audio=not self.board.audio.has_sound_device,
            sound_device=self.board.audio.sound_device), post=self.bus.post_threadsafe)
        self.registration = Registration(bus=self.bus, timers=self.timers, sip=self.sip,
                                         state=self.state, settings=self.settings)
        # screens on top first: they may take a key before the phone sees it
        self.diagnose = Diagnose(bus=self.bus, timers=self.timers, state=self.state)
        self.calllog = CallLog(bus=self.bus, state=self.state, settings=self.settings,
                               data_dir=self.data_dir)
        self.menus = Menus(bus=self.bus, state=self.state, status=self.status_lines)
        self.phone = Phone(bus=self.bus, timers=self.timers, sip=self.sip, state=self.state,
                           settings=self.settings, save=self._save_from_phone)
        # call features: each hooks into the phone and the bus, nothing else knows them
        self.features = [Transfer(self.phone), Conference(self.phone), Answering(self.phone),
                         Paging(self.phone), MulticastPaging(self.phone)]
        # programmable keys, BLF and BLA lamps (DATA/keys.json)
        self.memkeys = MemoryKeys(self.phone, data_dir=self.data_dir)
        self.memkeys.start()
        self.mac = identity.mac_for("sim" if self.board.simulated else "real", self.data_dir,
                                    self.settings.hardware.mac)
        self.provisioner = Provisioner(
            bus=self.bus, timers=self.timers, state=self.state, settings=self.settings,
            data_dir=self.data_dir, mac=self.mac, update_settings=self.update_settings,
            restart=self.request_restart, clock=_clock())
        self.mwi = Mwi(bus=self.bus, timers=self.timers, state=self.state,
                       settings=self.settings)
        # who may ring, page and notify us: the lines' servers, looked up from now on
        self.trust = ServerTrust(bus=self.bus, sip=self.sip, settings=self.settings)
        self.trust.start()
        self.bus.on(TimerFired, self._on_timer)
        for ev_type in (KeyPressed, HookChanged, HookFlashed, CallIncoming):
            self.bus.on(ev_type, self._activity)
        self.bus.on(SettingsChanged, self._contrast)
        self.state.last_activity = time.monotonic()
        self.bus.after.append(self.present)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            loop.add_signal_handler(signal.SIGHUP, self.reload_settings)
        bus_task = loop.create_task(self.bus.run(), name="bus")
        try:
            await asyncio.wrap_future(self.sip.start())
            self.registration.start()      # first REGISTER goes out now
        except SipError as e:
            self.sip_error = str(e)
            self.state.errors.insert(0, f"SIP: {e}")
            self.registration.first_answers.set()
        # Drawing (PIL, luma) and the web stack (aiohttp: ~120 ms of imports) wait until
        # every line's first REGISTER has its answer (at most 1 s), so they don't delay it.
        try:
            await asyncio.wait_for(self.registration.first_answers.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        self._booted = True
        self.present()
        listen = self.http_override if self.http_override is not None else \
            self.settings.web.listen
        if listen:
            from ui import web
            try:
                self.web = await web.start(self, listen)
            except OSError as e:      # the phone still works from its keys
                why = f"web page and API not started: {listen}: {e.strerror or e}; change " \
                      f"web.listen (or --http)"
                log.error("%s", why)
                self.state.errors.insert(0, why)
                self.present()
        self.provisioner.start()
        log.info("phone ready")
        self._health = loop.create_task(self._report_healthy(listen), name="health")
        try:
            await self._stop.wait()
        finally:
            bus_task.cancel()
            await self.close()

    def stop(self) -> None:
        """From any thread."""
        if self._stop is not None:
            self.bus.loop.call_soon_threadsafe(self._stop.set)

    async def _report_healthy(self, listen: str) -> None:
        """Tell firmware.boot this firmware works (a new one on trial is kept): SIP is up,
        every line's first REGISTER was answered and the web page listens if it should."""
        await self.registration.first_answers.wait()
        if not self.sip_error and (not listen or self.web is not None):
            from provisioning.slots import report_healthy
            await asyncio.to_thread(report_healthy, self.data_dir)

    def request_restart(self) -> None:
        """Stop, asking firmware.boot to start the phone again (a new firmware, or the PBX
        asked for a reboot)."""
        log.info("restart requested")
        self.exit_code = RESTART_CODE
        self._stop.set()

    async def close(self) -> None:
        log.info("stopping")
        self.provisioner.close()
        if self.web is not None:
            await self.web.cleanup()
        self.registration.close()
        self.trust.close()
        for feature in self.features:
            if hasattr(feature, "close"):
                feature.close()
        self.timers.cancel_all()
        await asyncio.get_running_loop().run_in_executor(None, self.sip.stop)
        self.board.close()
        log.info("stopped")

    def _wire_board(self) -> None:
        """Driver callbacks (any thread) become events on the bus."""
        post = self.bus.post_threadsafe
        for keys in (self.board.keypad, self.board.keys):
            if keys is None:
                continue
            keys.when_pressed = lambda key: post(KeyPressed(key, "keypad"))
            keys.when_released = lambda key: post(KeyReleased(key, "keypad"))
            if hasattr(keys, "when_held"):
                keys.when_held = lambda key: post(KeyHeld(key, "keypad"))
                keys.when_repeated = lambda key: post(KeyPressed(key, "keypad", repeat=True))
        self.board.hook.when_changed = lambda offhook: post(HookChanged(offhook))
        if hasattr(self.board.hook, "when_flashed"):
            self.board.hook.when_flashed = lambda: post(HookFlashed())

    # -- what people do through the API ---------------------------------------------------

    # (from the web server, or any thread)

    def press(self, key: str, action: str = "press", source: str = "api") -> None:
        if action in ("press", "down"):
            self.bus.post_threadsafe(KeyPressed(key, source))
        if action in ("press", "up"):
            self.bus.post_threadsafe(KeyReleased(key, source))

    def dial(self, number: str, line: int = 0) -> None:
        self.bus.post_threadsafe(DialRequested(number, line))

    def provision_now(self) -> None:
        self.bus.post_threadsafe(ProvisionRequested("now"))

    def run_diagnose(self, test: str) -> None:
        self.bus.post_threadsafe(DiagnoseRequested(test))

    def status_lines(self, page: str) -> list[str]:
        """The text of the View status pages (manual §6 "View status")."""
        if page == "status.network":
            lines = [f"{name} {addr}" for name, addr in netinfo.addresses()] or \
                ["No network interface"]
            mac = netinfo.mac()
            sip_at = self.sip.local_host or f"off: {self.sip_error}"
            web_at = self.http_override if self.http_override is not None else \
                self.settings.web.listen
            return lines + ([f"MAC {mac}"] if mac else []) + [f"SIP {sip_at}",
                                                              f"Web {web_at or 'off'}"]
        if page == "status.lines":
            lines = []
            for a in self.state.accounts:
                if not a.enabled:
                    lines.append(f"L{a.index} off")
                    continue
                lines.append(f"L{a.index} {a.user} {a.status.value.replace('_', ' ')}")
                if a.server:
                    lines.append(f"  {a.server}")
                if a.reason:
                    lines.append(f"  {a.reason}")
            return lines
        up = int(time.monotonic() - self.started_mono)
        return [f"deskphone {VERSION}", f"pjsua2 {self.sip.pj_version or '?'}",
                f"Board {self.board.name}", f"Up {up // 86400}d {up // 3600 % 24}h "
                                            f"{up // 60 % 60}m"]

    # -- settings -------------------------------------------------------------------------

    def update_settings(self, values: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Validate, save atomically, apply. Raises SettingsInvalid (nothing changed)."""
        changed = self.store.update(values)
        if changed:
            self._applied(changed)
        restart = [k for k in changed if FIELDS[k].metadata["restart"]]
        return changed, restart

    def _save_from_phone(self, values: dict[str, Any]) -> None:
        try:
            self.update_settings(values)
        except Exception as e:  # noqa: BLE001
            self.state.notice = f"Cannot save: {e}"
            log.warning("saving %s: %s", values, e)

    def reload_settings(self) -> None:
        """SIGHUP: read settings.toml again (bad values keep their last good value)."""
        before = {k: self.settings.get(k) for k in FIELDS}
        self.store.load()
        changed = [k for k in FIELDS if self.settings.get(k) != before[k]]
        self._show_settings_problems()
        if changed:
            self._applied(changed)
        self.present()

    def _applied(self, changed: list[str]) -> None:
        log.info("settings changed: %s", ", ".join(changed))
        if any(k.startswith("log.") for k in changed):
            lg = self.settings.log
            logs.setup(self.data_dir / "logs", level=lg.level, sip_trace=lg.sip_trace,
                       max_kb=lg.max_kb, keep=lg.keep, console=self.console_log)
        self._show_settings_problems()
        self.bus.post(SettingsChanged(changed))

    def _show_settings_problems(self) -> None:
        errors = [str(p) for p in self.store.problems]
        if self.sip_error:
            errors.insert(0, f"SIP: {self.sip_error}")
        self.state.errors = errors

    # -- presenting ----------------------------------------------------------------------------

    def _on_timer(self, ev: TimerFired) -> None:
        if ev.name == "notice":
            self.state.notice = ""

    def present(self) -> None:
        """Show the state: LCD, LEDs, tone, audio path; tell web clients. Runs per batch."""
        if not self._booted:
            return
        from ui import lcd
        snap = self.state.snapshot()
        snap.now, snap.mono = time.time(), time.monotonic()
        pushed = False
        frame = lcd.render(snap)
        key = frame.image.tobytes()
        if key != self._frame_key:
            self._frame_key, self.frame = key, frame
            self.board.display.show(frame.image)
            pushed = True
        leds = present.leds(snap)
        for name, value in leds.items():
            if self.leds.get(name) != value:
                self.board.leds.set(name, *value)
                pushed = True
        self.leds = leds
        tone = present.tone(snap)
        if tone != self.tone:
            self.tone = tone
            self.sip.tone(tone)
            pushed = True
        gain = present.volume(snap)
        if gain != self._gain:
            self._gain = gain
            self.sip.volume(gain)
        path = present.audio_path(snap)
        if path != self._path:
            self._path = path
            self.sip.audio(*path)
        route = present.route(snap)
        if self.board.audio.device != route:
            self.board.audio.select(route)
        level = present.backlight(snap)
        if level != self._backlight:
            self._backlight = level
            self._set_backlight(level)
        if pushed or self._subscribers:
            self._notify(snap)
        self._schedule_tick(snap)
        if snap.notice and not self.timers.active("notice"):
            self.timers.start("notice", 4.0)

    def _set_backlight(self, level: int) -> None:
        if hasattr(self.board.display, "backlight"):
            self.board.display.backlight(level)
        if "backlight" in self.board.spec.get("leds", {}).get("map", {}):
            self.board.leds.set("backlight", "", "on" if level else "off")

    def _activity(self, ev) -> None:
        """A key, the hook or a call: the backlight comes on (lcd.backlight_timeout)."""
        self.state.last_activity = time.monotonic()

    def _contrast(self, ev: SettingsChanged) -> None:
        if "lcd.contrast" in ev.keys and hasattr(self.board.display, "contrast"):
            self.board.display.contrast(self.settings.lcd.contrast)

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

    # -- for the web ---------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue:
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

    def set_key_layout(self, layout) -> None:
        """Save the programmable keys (atomic) and use them at once (from the web API)."""
        layout.save(self.data_dir / "keys.json")
        self.memkeys.reload(force=True)
        self.present()

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
            "backlight": self._backlight, "route": self.board.audio.device,
            "menu": [p.title for p in s.menu],
            "diag": {"test": s.diag, "step": s.diag_step, "running": s.diag_running,
                     "text": s.diag_text} if s.diag else None,
            "pid": os.getpid(),
            "provisioning": s.provisioning,
        }


def _clock():
    """Wall clock for schedules. DESKPHONE_CLOCK_START=2027-01-01T08:00 starts it at that
    time (tests and demos of the provisioning timer); it then runs at normal speed."""
    start = os.environ.get("DESKPHONE_CLOCK_START", "")
    if not start:
        return dt.datetime.now
    offset = dt.datetime.fromisoformat(start) - dt.datetime.now()
    return lambda: dt.datetime.now() + offset
