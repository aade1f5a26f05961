"""Features: one module each, loaded by name. Which ones load, and when, is the data below.

A feature module (baresip's shape) has one entry, `setup(ctx) -> object`: it subscribes
to events on ctx.bus, adds keys and pushes modes through ctx.phone.controls, and gives
commands through the Phone's public API (firmware/call/phone.py). The object it returns
is the running feature; its `close()`, when it has one, is called at shutdown. A feature
writes only its own slice of the state (transfer: `transfer`, `blind`; conference:
`conference`; paging: `pages`, `barge`, `page_tone`...) and never imports another
feature. Something the web must reach (the call log, the key layout) is handed over with
`ctx.provide(name, obj)` and found with `Features.get(name)`.

Adding a feature: write firmware/features/<name>.py with setup(ctx), add its name below,
write tests/test_<name>.py. Nothing else changes.
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("deskphone.features")

# screens on top of the phone (a test, the call lists, the menu): set up with it; while
# open, each is a mode on its stack that sees every key first (the ban list's entries are
# on the SIP thread's policy before the Phone makes its first one: `load`)
SCREENS = ("banlist", "diagnose", "calllog", "directory", "menu", "expansion", "contacts",
           "search", "keylock", "ldapsearch")
# call features: set up once the first REGISTER has its answer, so they do not delay it
AFTER_REGISTER = ("transfer", "conference", "answering", "paging", "multicast", "memkeys",
                  "mwi", "network", "clock", "sipsettings", "ldap")


@dataclass
class Context:
    """What a feature gets: the bus, the Phone (its commands and controls), the state,
    the settings; `sip` only for what is not a call (media ports, subscriptions)."""

    bus: Any
    timers: Any
    state: Any
    settings: Any
    sip: Any
    data_dir: Path
    status: Callable[[str], list[str]] = lambda page: []   # View status pages' text
    # a settings change made on the phone: (changed keys, those needing a restart);
    # SettingsInvalid when the schema refuses it (SettingsService.update)
    update: Callable[[dict], tuple[list[str], list[str]]] = lambda values: ([], [])
    restart: Callable[[], None] = lambda: None     # stop; firmware.boot starts us again
    board_spec: dict = field(default_factory=dict)  # the board file (what it lets us change)
    phone: Any = None
    provided: dict[str, Any] = field(default_factory=dict)

    def provide(self, name: str, obj: Any) -> None:
        """Hand `obj` to the rest of the phone (the web API) under `name`."""
        self.provided[name] = obj


class Features:
    """The features that run, by name, and the Phone they work with."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.running: dict[str, Any] = {}

    @property
    def phone(self):
        return self.ctx.phone

    def setup(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name in self.running:
                continue
            module = importlib.import_module(f"{__name__}.{name}")
            self.running[name] = module.setup(self.ctx)
            log.debug("feature %s set up", name)

    def after_register(self) -> None:
        """The first REGISTER has its answer (or none came in time): the rest now."""
        self.setup(AFTER_REGISTER)

    def get(self, name: str) -> Any:
        """What a feature provided under `name` (the web's call log, key layout...)."""
        return self.ctx.provided.get(name, self.running.get(name))

    def close(self) -> None:
        for name, feature in reversed(list(self.running.items())):
            close = getattr(feature, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - the others still close
                    log.exception("closing feature %s", name)


def load(*, bus, timers, sip, state, settings, data_dir: Path, save: Callable[[dict], None],
         status: Callable[[str], list[str]] = lambda page: [],
         update: Callable[[dict], tuple[list[str], list[str]]] | None = None,
         restart: Callable[[], None] | None = None,
         board_spec: dict | None = None) -> Features:
    """The Phone, then the screens on top; the call features follow after_register()."""
    from firmware.call.phone import Phone
    ctx = Context(bus=bus, timers=timers, state=state, settings=settings, sip=sip,
                  data_dir=Path(data_dir), status=status)
    if update is not None:
        ctx.update = update
    if restart is not None:
        ctx.restart = restart
    ctx.board_spec = board_spec or {}
    features = Features(ctx)
    # the ban list's entries go on the policy in use (start-up's: every call 480) before
    # the Phone makes its first policy from the settings, which carries them over
    # (firmware/call/config.py): no banned caller rings while the screens load. The banlist
    # feature takes this list over (and the web gets it from there).
    from firmware.banlist import BanList
    from firmware.record import replace
    banned = BanList(ctx.data_dir)
    sip.policy = replace(sip.policy, bans=banned.bans)
    ctx.provide("banlist", banned)
    ctx.phone = Phone(bus=bus, timers=timers, sip=sip, state=state, settings=settings,
                      save=save)
    features.setup(SCREENS)
    return features
