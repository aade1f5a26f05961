"""The phone's call logic in this process: the real Bus, Timers, PhoneState, Settings, Phone
and call features, on a FakeSip and a FakeClock. No threads, no sockets, no sleeps.

    rig = build({"phone.call_waiting": False})
    rig.hook(True)                  # lift the handset
    rig.press("1", "0", "0", "2", "#")
    b = rig.sip.invited("1002")     # the INVITE that went out
    rig.far(rig.sip.answers, b)     # the far end answers
    assert rig.screen == "talking" and rig.softkeys[0] == "Hold"

`build` wires the parts the way firmware/app.py does: the one place to change when the
composition changes (features as modules, a mode stack), so the tests stay as they are.
Every action runs the bus until it is quiet, then the after hooks (as one batch of the
real loop); `advance(s)` moves the clock and fires the timers that fall due.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

from firmware import present
from firmware.bus import Bus, Timers
from firmware.call.state import Account, LineStatus, PhoneState
from drivers.keypad import REPEAT_KEYS, KeyTimer
from firmware.events import DialRequested, Event, HookChanged, HookFlashed, KeyHeld, \
    KeyPressed, KeyReleased, SettingsChanged
from firmware import features
from firmware.errors import SettingsInvalid
from firmware.settings import ACCOUNTS, FIELDS, Settings, apply, assign
from tests.fakes.clock import FakeClock
from tests.fakes.sip import FakeSip

# the call features of firmware/features/__init__.py AFTER_REGISTER this rig sets up: all
# but those that need sockets or the SIP thread (tested with real peers), so a new feature
# added to the list is here too
NOT_HERE = ("multicast", "memkeys")
FEATURES = tuple(name for name in features.AFTER_REGISTER if name not in NOT_HERE)

SERVER = "192.0.2.10"          # the line's registrar (TEST-NET-1: never a real host)

# a registered line 1, as a person finds the phone on the desk
DEFAULTS: dict[str, Any] = {"account.1.enable": True, "account.1.user": "1001",
                            "account.1.server": SERVER, "account.1.display_name": "Alice"}


SIM_BOARD = {"board": {"name": "Simulated desk phone"}}     # what board/sim.toml gives


class Rig:
    def __init__(self, settings: dict[str, Any] | None = None, data_dir: Path | None = None):
        self.clock = FakeClock()
        self.bus = Bus(self.clock)
        self.timers = Timers(self.bus)
        self.state = PhoneState()
        self.settings = _settings({**DEFAULTS, **(settings or {})})
        self.sip = FakeSip(self.bus.post)
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="rig-"))
        self.saved: list[dict] = []           # what the phone saved (the DND soft key)
        self.restarts = 0                     # restarts asked for (the LCD's Reboot)
        self._registered()
        # as App.run: firmware/features/load builds the screens on top and the Phone, then
        # the call features this rig runs (the ones without sockets or a SIP thread)
        self.features = features.load(bus=self.bus, timers=self.timers, sip=self.sip,
                                      state=self.state, settings=self.settings,
                                      data_dir=self.data_dir, save=self.save,
                                      status=lambda page: [page], update=self.update,
                                      restart=self._restart, board_spec=SIM_BOARD)
        self.features.setup(FEATURES)
        self.phone = self.features.phone
        self.calllog = self.features.get("calllog")
        self.menus = self.features.get("menu")
        self.settle()

    # -- what a person does ---------------------------------------------------------------------

    def press(self, *keys: str) -> Rig:
        """Keys, one press each: "1", "#", "hold", "line2", "soft1"..."""
        for key in keys:
            self.post(KeyPressed(key))
        return self

    def dial(self, digits: str) -> Rig:
        return self.press(*digits)

    def walk(self, *labels: str) -> Rig:
        """The LCD menu by its entries' names, as the manual writes a path ("MENU > Function
        setting > DND"): MENU first when no page is open, then for each name the arrows to
        it and OK. Tests written this way keep working when an entry is added above."""
        if not self.state.menu:
            self.press("menu")
        for label in labels:
            page = self.state.menu[-1]
            assert label in page.items, f"no entry {label!r} on {page.title!r}: {page.items}"
            steps = (page.items.index(label) - page.index) % len(page.items)
            self.press(*["down"] * steps, "ok")
        return self

    def hold_key(self, key: str) -> Rig:
        """Keep a key down (long press): its KeyHeld only (see `hold` for the whole press)."""
        return self.post(KeyHeld(key))

    def hold(self, key: str, seconds: float) -> Rig:
        """Keep a key down `seconds`, then let go: every event the keypad reports for it, as
        the driver's timing (drivers/keypad.py KeyTimer, with this phone's
        hardware.long_press_ms and repeat_ms) makes them and firmware/app.py posts them — the
        press, the long press, the auto-repeats of a repeat key, the release — the clock
        moving between them."""
        hw = self.settings.hardware
        timer = KeyTimer(debounce_ms=0, hold_ms=hw.long_press_ms, repeat_ms=hw.repeat_ms,
                         repeat_keys=REPEAT_KEYS)
        events = timer.update({key}, 0.0)
        while (due := timer.deadline()) is not None and due < seconds:
            events += timer.update({key}, due)
        events += timer.update(set(), seconds)
        made = {"pressed": KeyPressed, "held": KeyHeld, "released": KeyReleased,
                "repeated": lambda k: KeyPressed(k, repeat=True)}
        now = 0.0
        for kind, name, at in events:
            self.advance(at - now)
            now = at
            self.post(made[kind](name))
        return self

    def soft(self, label: str) -> Rig:
        """Press the soft key that shows `label` now."""
        labels = self.softkeys
        assert label in labels, f"no soft key {label!r}: {labels}"
        return self.press(f"soft{labels.index(label) + 1}")

    def use(self, control: str) -> Rig:
        """A control as a person names it: "handset" (lift it), "cradle" (put it down),
        a soft key by its label ("Answer", "Send": capitalised), else a key ("speaker")."""
        if control in ("handset", "cradle"):
            return self.hook(control == "handset")
        if control[:1].isupper():
            return self.soft(control)
        return self.press(control)

    def hook(self, offhook: bool) -> Rig:
        return self.post(HookChanged(offhook))

    def flash(self) -> Rig:
        return self.post(HookFlashed())

    def request_dial(self, number: str, line: int = 0) -> Rig:
        """The API's (or a call list's) dial request."""
        return self.post(DialRequested(number, line))

    def set(self, values: dict[str, Any]) -> Rig:
        """Change settings as the web page does (saved, then SettingsChanged)."""
        new = _settings(values, base=self.settings)
        assign(self.settings, new)
        return self.post(SettingsChanged(list(values)))

    # -- what the far ends do ---------------------------------------------------------------------

    def far(self, action: Callable, *args, **kw):
        """A far end acts (a FakeSip method); the phone handles it. Returns its result."""
        result = action(*args, **kw)
        self.settle()
        return result

    def incoming(self, number: str = "1002", name: str = "", **kw) -> int | None:
        return self.far(self.sip.incoming, number, name, **kw)

    # -- time ---------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> Rig:
        self.clock.advance(seconds, self.settle)
        return self

    # -- what a person sees and hears ------------------------------------------------------------

    @property
    def screen(self) -> str:
        return self.state.screen()

    @property
    def softkeys(self) -> list[str]:
        return [label for label, _ in present.softkeys(self.state)]

    @property
    def leds(self) -> dict[str, tuple[str, str]]:
        return present.leds(self.state.snapshot())

    def led(self, name: str) -> tuple[str, str]:
        return self.leds[name]

    @property
    def tone(self) -> str | None:
        return present.tone(self.state.snapshot())

    @property
    def heard(self) -> tuple[int, ...]:
        """The calls whose audio the person hears and speaks into."""
        return present.audio_path(self.state.snapshot())[0]

    @property
    def lcd(self) -> str:
        """The LCD's text, as ui/lcd.py draws it."""
        from ui import lcd
        return lcd.render(self.state.snapshot()).text

    @property
    def seen(self) -> str:
        """Everything the LCD shows over the turns of its long texts (ui/lcd.py Frame.paged):
        a row too long for the LCD is read whole, as a person waiting a few seconds does."""
        from ui import lcd
        snap = self.state.snapshot()
        return "\n".join(lcd.render(snap, step).text for step in range(lcd.render(snap).turns))

    def calls(self) -> dict[str, str]:
        """number -> call state, for every call on the phone."""
        return {c.number: c.state.value for c in self.state.calls}

    # -- plumbing -------------------------------------------------------------------------------

    def post(self, ev: Event) -> Rig:
        self.bus.post(ev)
        self.settle()
        return self

    def settle(self) -> None:
        """Run the bus until nothing is queued: batches as the real loop runs them."""
        q = self.bus.queue
        while not q.empty():
            self.bus.run_batch(q.get_nowait())

    def save(self, values: dict[str, Any]) -> None:
        """The Phone's save (App's update_settings): applied and announced."""
        self.saved.append(values)
        assign(self.settings, _settings(values, base=self.settings))
        self.bus.post(SettingsChanged(list(values)))

    def update(self, values: dict[str, Any]) -> tuple[list[str], list[str]]:
        """SettingsService.update as the menus use it: checked, all or nothing."""
        new, problems = apply(self.settings, values)
        if problems:
            raise SettingsInvalid(problems)
        changed = [k for k in FIELDS if new.get(k) != self.settings.get(k)]
        self.saved.append(values)
        assign(self.settings, new)
        if changed:
            self.bus.post(SettingsChanged(changed))
        return changed, [k for k in changed if FIELDS[k].metadata["restart"]]

    def _restart(self) -> None:
        self.restarts += 1

    def _registered(self) -> None:
        """What firmware/sip/registration.py shows once every enabled line registered."""
        self.state.accounts = []
        for i in range(1, ACCOUNTS + 1):
            acc = self.settings.account[i]
            status = LineStatus.DISABLED
            if acc.enable:
                status = LineStatus.REGISTERED if acc.server else LineStatus.P2P
            self.state.accounts.append(Account(index=i, enabled=acc.enable, user=acc.user,
                                               label=acc.user, server=acc.server,
                                               status=status))


def _settings(values: dict[str, Any], base: Settings | None = None) -> Settings:
    settings, problems = apply(base or Settings(), values)
    assert not problems, f"bad settings for the rig: {problems}"
    return settings


def build(settings: dict[str, Any] | None = None, data_dir: Path | None = None) -> Rig:
    """A phone on the desk, line 1 registered, idle (`settings` on top of DEFAULTS)."""
    return Rig(settings, data_dir)
