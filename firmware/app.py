"""The application: builds the parts, joins them, runs the event loop.

Where things go, for a newcomer:
- a key press / hook change: board driver (the web page presses the sim board's) ->
  KeyPressed/HookChanged on the bus
  -> firmware/call/keypad.py (the mode stack first, then the Phone's commands);
- a SIP event: pjsua2 callback in firmware/sip/calls.py or accounts.py -> event on the bus
  -> firmware/call/signalling.py (calls) or firmware/sip/registration.py (REGISTER);
- a setting: schema in firmware/settings/schema.py, file DIR/settings.toml, changed through
  firmware/settings_service.py (web API, provisioning, LCD menus, SIGHUP), announced as
  SettingsChanged;
- what is shown: firmware/presenter.py after every batch of events: ui/lcd.py draws the
  LCD, firmware/present.py gives LEDs, tone and audio path;
- a web request: ui/web/ (sign-in, front panel, management) -> firmware/api.py, the one
  object the web talks to.

The App itself only builds the parts, runs them and closes them; docs/architecture.md has
the whole walk.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import os
import signal
import threading
import time
from pathlib import Path

import board as boards
from firmware.api import Api
from firmware.presenter import Presenter
from firmware.settings_service import SettingsService
from firmware.system import identity
from firmware.bus import Bus, Timers
from firmware.errors import SipError
from firmware.events import HookChanged, HookFlashed, KeyHeld, KeyPressed, KeyReleased
from firmware import features
from firmware.sip import Registration
from firmware.settings import SettingsStore
from firmware import startup
from firmware.call.state import PhoneState
from firmware.sip import ServerTrust
from provisioning.engine import RESTART_CODE, Provisioner

log = logging.getLogger("deskphone")


class App:
    def __init__(self, *, board: str = "sim", data_dir: Path, http: str | None = None,
                 console_log: bool = True, pin_factory=None,
                 early: startup.Early | None = None):
        """early: SIP and the first REGISTER already started (firmware/startup.py, by
        firmware/__main__.py); without it, run() starts them the same way."""
        self.early = early
        self.board_name = board
        self.pin_factory = pin_factory          # tests and the bench: gpiozero MockFactory
        self.data_dir = Path(data_dir)
        self.http_override = http
        self.console_log = console_log
        self.started_mono = time.monotonic()
        self.state = PhoneState()
        self.store = early.store if early is not None else SettingsStore(self.data_dir)
        self.settings = None
        self.api = Api(self)          # all the web server talks to
        self.config: SettingsService | None = None
        self.presenter: Presenter | None = None
        self._stop = None
        self.web = None
        self.sip_error = ""
        self.exit_code = 0
        self._health: asyncio.Task | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Settings, log, SIP and the first REGISTER (firmware/startup.py, unless already
        started); build the parts around the running SIP engine; then drawing, the web page
        and provisioning; run until stop() or a signal; close."""
        early = self.early = self.early or startup.begin(
            board=self.board_name, data_dir=self.data_dir, console=self.console_log)
        self.store, self.settings, self.sip = early.store, early.settings, early.sip
        loop = asyncio.get_running_loop()
        try:
            self._build(loop)
        except BaseException:
            self.sip.stop()           # a board that does not start: no SIP without a phone
            raise
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            loop.add_signal_handler(signal.SIGHUP, self._reload_settings)
        bus_task = loop.create_task(self.bus.run(), name="bus")
        try:
            await asyncio.wrap_future(early.started)
            # the lines as their first step left them (the answers follow, see below)
            self.registration.start(sent=early.sent)
        except SipError as e:
            self.sip_error = str(e)
            self.state.errors.insert(0, f"SIP: {e}")
            self.registration.first_answers.set()
        # The call features, drawing (PIL, luma) and the web stack (aiohttp: ~120 ms of
        # imports) wait until every line's first REGISTER has its answer (at most 1 s after
        # SIP started; firmware/__main__.py has waited already), so they don't delay it.
        # Then what the SIP thread said since it started reaches every part, in order, and
        # the first frame shows the lines as those answers left them.
        if not early.held.answered.is_set():
            await asyncio.to_thread(early.wait_first_answers)
        self.features.after_register()
        self.store.keep_good()        # the last good settings copy, after the first REGISTER
        early.held.deliver(self.bus.post_threadsafe)
        try:
            await asyncio.wait_for(self.registration.first_answers.wait(),
                                   max(0.0, early.deadline - time.monotonic()))
        except asyncio.TimeoutError:
            pass
        self.presenter.start()
        listen = self.listen()
        if listen:
            from ui import web
            try:
                self.web = await web.start(self.api, listen)
            except OSError as e:      # the phone still works from its keys
                why = f"web page and API not started: {listen}: {e.strerror or e}; change " \
                      f"web.listen (or --http)"
                log.error("%s", why)
                self.state.errors.insert(0, why)
                self.presenter.present()
        self.provisioner.start()
        log.info("phone ready")
        gc.enable()                   # off during start-up (firmware/__main__.py)
        self._health = loop.create_task(self._report_healthy(listen), name="health")
        try:
            await self._stop.wait()
        finally:
            bus_task.cancel()
            await self.close()

    def _build(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every part, joined: the bus, the board, the settings service, the Phone
        and its features, provisioning, trust, the presenter, around the SIP engine
        started early. Drawing and the web start in run()."""
        self._stop = asyncio.Event()
        self.bus = Bus(loop)
        self.timers = Timers(self.bus)
        self.board = boards.load(self.board_name, settings=self.settings,
                                 pin_factory=self.pin_factory,   # the drivers, now
                                 checked=self.early.board)
        self._wire_board()
        self.config = SettingsService(store=self.store, state=self.state, bus=self.bus,
                                      data_dir=self.data_dir, console_log=self.console_log,
                                      sip_error=lambda: self.sip_error)
        self.config.show_problems()

        self.registration = Registration(bus=self.bus, timers=self.timers, sip=self.sip,
                                         state=self.state, settings=self.settings)
        # the Phone and the screens on top of it; the call features follow the first
        # REGISTER (which load, and when: firmware/features/__init__.py)
        self.features = features.load(
            bus=self.bus, timers=self.timers, sip=self.sip, state=self.state,
            settings=self.settings, data_dir=self.data_dir, save=self.config.save_from_phone,
            status=self.api.status_lines, update=self.config.update,
            restart=self.request_restart, board_spec=self.board.spec)
        self.phone = self.features.phone
        self.mac = identity.mac_for("sim" if self.board.simulated else "real", self.data_dir,
                                    self.settings.hardware.mac)
        self.provisioner = Provisioner(
            bus=self.bus, timers=self.timers, state=self.state, settings=self.settings,
            data_dir=self.data_dir, mac=self.mac, update_settings=self.config.update,
            restart=self.request_restart, clock=_clock())
        # who may ring, page and notify us: the lines' servers, looked up from now on
        self.trust = ServerTrust(bus=self.bus, sip=self.sip, settings=self.settings)
        self.trust.start()
        # what is shown: after every batch of events (drawing starts after the REGISTER)
        self.presenter = Presenter(bus=self.bus, timers=self.timers, state=self.state,
                                   board=self.board, sip=self.sip, settings=self.settings,
                                   board_name=self.board_name, started_mono=self.started_mono)

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
        if self.config is not None:
            await asyncio.to_thread(self.config.flush)     # a save still being written
        self.registration.close()
        self.trust.close()
        self.features.close()
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

    def listen(self) -> str:
        """Where the web page listens ('' = off): --http, else web.listen ("auto": the
        board's choice, firmware/system/weblisten.py)."""
        from firmware.system import weblisten
        w = self.settings.web
        listen = self.http_override if self.http_override is not None else w.listen
        return weblisten.resolve(listen, w.port, simulated=self.board.simulated)

    def _reload_settings(self) -> None:
        """SIGHUP: settings.toml again, shown at once."""
        self.config.reload()
        self.presenter.present()


def _clock():
    """Wall clock for schedules. DESKPHONE_CLOCK_START=2027-01-01T08:00 starts it at that
    time (tests and demos of the provisioning timer); it then runs at normal speed."""
    start = os.environ.get("DESKPHONE_CLOCK_START", "")
    if not start:
        return dt.datetime.now
    offset = dt.datetime.fromisoformat(start) - dt.datetime.now()
    return lambda: dt.datetime.now() + offset
