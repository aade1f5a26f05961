"""Programmable keys: the 12 memory keys, up to 6 expansion modules of 32 keys, and line
keys not used as lines (manual §7 "Programmable Keys", "Expansion Module"; LP-388 F-keys).
A line key given a function is no call appearance any more (this feature's mode, always
on the stack, reserves it), except for a call already on it.

The layout is DATA/keys.json (provisioning.keys.KeyLayout): written by auto provisioning
(<account>_Extern.xml), by `PUT /api/keys/layout`, read here at start and whenever it
changes. What a key does when pressed, by its mode:

    speed_dial         call the number (one touch)
    speed_dial_prefix  start a pre-dial with the number; the person types the rest
    dtmf               in a call: send the number as keys; otherwise nothing
    blf                idle/unknown/busy: call the number (LP-388 F-key speed dial);
                       ringing: pick the call up (INVITE with Replaces from the NOTIFY's
                       dialog, else phone.directed_pickup_code + number); in a call with
                       phone.blf_transfer: transfer the call there
    bla                shared line: idle: seize it (dial tone on the key's line);
                       ringing: pick up; held: take the held call over (Replaces)
    paging / intercom  ask firmware/features/paging.py (IntercomRequested; a multicast group
                       address as number: MulticastPageRequested)
    call_park          in a call: park it (blind transfer to phone.park_code + number);
                       idle: take it back (phone.park_retrieve_code + number)
    pickup             phone.directed_pickup_code + number, or phone.pickup_code alone
    ldap               the LDAP search, Search name (firmware/features/ldapsearch.py), as
                       DIRECTORY opens the phone book: not over a ringing call or a test

A fixed key given another function (the layout's `program`: Escene's ProgramKeys, a soft
key, an arrow, DIRECTORY...) does it on the standby screen only (no call, no menu, nothing
typed, keys not locked); elsewhere it keeps its own (`program_key`). PROGRAM_PAGES says
which functions open a page today:

    ldap               the LDAP search, Search name (firmware/features/ldapsearch.py)
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from firmware.call.controls import Mode
from firmware.call.state import CallState, Screen
from firmware.events import (IntercomRequested, KeyPressed, MulticastPageRequested,
                             PageRequested, ProvisioningChanged, RegistrationChanged,
                             SettingsChanged)
from firmware.features.blf import Blf

log = logging.getLogger("deskphone.keys")

# a fixed key's function -> the page it asks for (PageRequested) on the standby screen
PROGRAM_PAGES = {"ldap": "ldap:search"}
_MULTICAST = re.compile(r"^(22[4-9]|23\d)\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}$")


def _reach(identity: str) -> str:
    """What to dial for a dialog's remote identity: its user part through our line's
    server (servers often drop the port from identities), else the URI itself."""
    from firmware.sip import split_uri
    _, uri, user = split_uri(identity)
    return user if user and "@" in uri else (uri or identity)


def is_memory_key(name: str) -> bool:
    return bool(re.fullmatch(r"p([1-9]|1[0-2])|e[1-6]\.([1-9]|[12]\d|3[0-2])", name))


def load_layout(path: Path):
    """The saved layout, or an empty one (with the reason) when the file is bad."""
    from provisioning.keys import KeyLayout
    if not path.exists():
        return KeyLayout(), ""
    try:
        return KeyLayout.load(path), ""
    except (OSError, ValueError, TypeError) as e:
        return KeyLayout(), f"{path.name} not used ({e}): set the keys again"


def setup(ctx) -> "MemoryKeys":
    """The feature module's entry: returns its object, whose close() ends it. The web
    finds it as ctx.provide'd "memkeys" (layout, lamps)."""
    keys = MemoryKeys(ctx.phone, data_dir=ctx.data_dir)
    keys.start()
    for line in ctx.state.registered_lines():      # registered before we were set up
        keys.blf.registration(line, True)
    ctx.provide("memkeys", keys)
    return keys


class MemoryKeys:
    def __init__(self, phone, *, data_dir: Path):
        self.phone = phone
        self.state = phone.state
        self.settings = phone.settings
        self.path = Path(data_dir) / "keys.json"
        self.blf = Blf(bus=phone.bus, timers=phone.timers, sip=phone.sip, state=phone.state,
                       settings=phone.settings)
        self.layout = None
        self._mtime = None
        # always on the stack (at its bottom): line keys given a function
        self.mode = Mode("memory keys", line_key=self.line_key, pressed=self.program_key)
        phone.controls.push(self.mode)
        self.reload()
        phone.bus.on(KeyPressed, self.on_key)
        # the standby screen when a key went down (a key that closes a page is not also
        # a fixed key's function: program_key)
        self._idle_at_press = False
        phone.bus.on(KeyPressed, self._at_press, first=True)
        phone.bus.on(RegistrationChanged, self.on_registration)
        phone.bus.on(SettingsChanged, self.on_settings)
        phone.bus.on(ProvisioningChanged, lambda ev: self.reload())

    def start(self) -> None:
        """SIP is starting: the BLF half on the pjsua thread."""
        self.blf.start()

    def close(self) -> None:
        self.phone.controls.pop(self.mode)

    # -- the layout --------------------------------------------------------------------------

    def reload(self, force: bool = False) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self._mtime and self.layout is not None and not force:
            return
        self._mtime = mtime
        self.layout, problem = load_layout(self.path)
        if problem:
            log.warning("programmable keys: %s", problem)
            self.state.notice = "Key layout unreadable: see log"
        self.apply()

    def apply(self) -> None:
        """Lamps and subscriptions follow the layout and the settings."""
        watch, problems = {}, {}
        for k in self.layout.memory:
            if k.type not in ("blf", "bla"):
                continue
            account = k.account or self.settings.phone.default_account
            if not k.number:
                problems[k.name] = "no number set for this key"
                continue
            uri = self.phone.target_for(account, k.number)
            if uri is None or not self.settings.account[account].enable:
                problems[k.name] = f"line {account} has no server to watch {k.number} on"
                continue
            watch[k.name] = (uri, account)
        self.blf.want(watch, problems)
        # every programmed key has an LED entry (dark unless BLF/BLA), so /api/leds and the
        # front panel know which expansion modules are there
        lamps = self.state.key_lamps
        for name in [n for n, v in lamps.items() if v == "off"]:
            del lamps[name]
        for k in self.layout.memory:
            lamps.setdefault(k.name, "off")
        # a line key given a function is not a call appearance any more
        self.mode.reserves = frozenset(int(k.name[4:]) for k in self.layout.memory
                                       if k.name.startswith("line"))

    def on_settings(self, ev: SettingsChanged) -> None:
        if any(k.startswith("account.") or k in ("phone.blf_mode", "phone.default_account")
               for k in ev.keys):
            if "phone.blf_mode" in ev.keys:
                self.blf.resubscribe()
            self.apply()

    def on_registration(self, ev: RegistrationChanged) -> None:
        self.blf.registration(ev.account, ev.active)

    def replace_layout(self, doc) -> tuple[int, list[str]]:
        """PUT /api/keys/layout: check the layout, save it (atomic) and use it at once.
        (keys, problems); with problems nothing changed. Raises OSError (old keys stay)."""
        layout, problems = check_layout(doc)
        if problems:
            return 0, problems
        layout.save(self.path)
        self.reload(force=True)
        return len(layout.memory), []

    def modules(self) -> list[int]:
        """Expansion modules that have keys (the front panel shows those)."""
        return sorted({k.module for k in self.layout.memory if k.module > 0})

    def describe(self) -> dict:
        """For /api/keys/state: every programmed key with its lamp and why."""
        return {k.name: {"type": k.type, "number": k.number, "label": k.label,
                         "account": k.account, "lamp": self.blf.lamp(k.name) or "off",
                         "why": self.blf.why(k.name)} for k in self.layout.memory}

    # -- pressing a key ----------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> None:
        if ev.consumed or ev.repeat or not is_memory_key(ev.key):
            return
        key = self.layout.key(ev.key) if self.layout else None
        if key is None:
            log.debug("key %s is not programmed", ev.key)
            return
        ev.consumed = True
        self.press(key)

    def _at_press(self, ev: KeyPressed) -> None:
        self._idle_at_press = self.state.screen() is Screen.IDLE

    def program_key(self, ev: KeyPressed) -> bool:
        """A fixed key given a function PROGRAM_PAGES knows, pressed on the standby screen:
        its page opens (True: the key's own function is not done)."""
        s = self.state
        p = self.layout.function_of(ev.key) if self.layout and not ev.repeat else None
        if p is None or p.function not in PROGRAM_PAGES or s.keylock \
                or not self._idle_at_press:
            return False
        log.info("key %s: %s", ev.key, p.function)
        self.phone.bus.post(PageRequested(PROGRAM_PAGES[p.function]))
        return True

    def line_key(self, line: int) -> bool:
        """The phone asks the modes first: a line key given a function does that function, unless
        a call is on that line (then it is the call's key until the call ends)."""
        key = self.layout.key(f"line{line}") if self.layout else None
        if key is None or self.state.on_line(line) is not None:
            return False
        self.press(key)
        return True

    def press(self, key) -> None:
        handler = getattr(self, f"press_{key.type}", None)
        if handler is None:
            self.state.notice = f"{key.label or key.name}: {key.type} keys are not supported"
            return
        handler(key)

    def _line(self, key) -> int:
        return key.account or self.settings.phone.default_account

    def _dial(self, number: str, key, headers: dict | None = None) -> None:
        p, s = self.phone, self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING and not headers:
            p.drop(f)
        call = p.call_back(number, self._line(key), headers=headers)
        if call is not None and key.label:
            call.name = call.name or key.label

    def _in_call(self):
        f = self.state.focused
        return f if f is not None and f.state is CallState.CONNECTED else None

    def press_speed_dial(self, key) -> None:
        if key.number:
            self._dial(key.number, key)

    def press_speed_dial_prefix(self, key) -> None:
        s = self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number += key.number
            self.phone.typed(f)
            return
        if f is None:
            self.phone.predial(key.number + s.predial, self._line(key))

    def press_dtmf(self, key) -> None:
        call = self._in_call()
        if call is None:
            f = self.state.focused
            if f is not None and f.state is CallState.DIALING:   # as typed digits
                self.phone.type_digits(key.number)
            return
        if key.number:
            self.phone.send_dtmf(call, key.number)

    def _transfer(self, number: str, blind: bool) -> None:
        """Drive TRANSFER as a person would: hold + 'Transfer to', the number, send."""
        p = self.phone
        p.controls.press("transfer")
        f = self.state.focused
        if f is None or f.state is not CallState.DIALING or self.state.transfer is None:
            return
        if self.state.blind != blind:
            p.controls.act("bxfer")           # B Xfer, as a person would
        f.number = number
        p.send()

    def press_blf(self, key) -> None:
        lamp = self.blf.lamp(key.name)
        mode = self.settings.phone.blf_transfer
        if self._in_call() is not None and mode != "off" and key.number:
            self._transfer(key.number, blind=mode == "blind")
            return
        if lamp == "ringing":
            self.pickup(key)
            return
        if key.number:
            self._dial(key.number, key)

    def pickup(self, key) -> None:
        d = self.blf.ringing_dialog(key.name)
        if d is not None and d.call_id and d.local_tag and d.remote_tag and d.remote:
            caller = _reach(d.remote)
            # RFC 3891: the INVITE goes to the caller, whose dialog has its own tag
            # (the watched side's remote tag) as to-tag
            replaces = (f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag};"
                        f"early-only")
            log.info("BLF pickup of %s's ringing call from %s (Replaces %s)", key.number,
                     caller, d.call_id)
            self._dial(caller, key, {"Replaces": replaces})
            return
        code = self.settings.phone.directed_pickup_code
        if code:
            log.info("BLF pickup of %s with the directed pickup code", key.number)
            self._dial(code + key.number, key)
        else:
            self.state.notice = "Pickup: no dialog details and no pickup code"

    def press_bla(self, key) -> None:
        lamp = self.blf.lamp(key.name)
        if lamp == "ringing":
            self.pickup(key)
            return
        if lamp == "held":
            d = self.blf.held_dialog(key.name)
            if d is not None and d.call_id and d.local_tag and d.remote_tag and d.remote:
                # take the held call over: the held party replaces its dialog with us
                self._dial(_reach(d.remote), key, {
                    "Replaces": f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}"})
                return
        if lamp == "busy":
            self.state.notice = f"{key.label or key.number} is in use"
            return
        # idle (or unknown): seize the shared appearance: dial tone on its line
        if self.state.focused is None:
            self.phone.use_device()
            self.phone.start_dialing(self._line(key))

    def press_paging(self, key) -> None:
        if _MULTICAST.match(key.number):
            self.phone.bus.post(MulticastPageRequested(key.number))
        elif key.number:
            self.phone.bus.post(IntercomRequested(key.number, key.account or 0, paging=True))

    def press_intercom(self, key) -> None:
        if key.number:
            self.phone.bus.post(IntercomRequested(key.number, key.account or 0, paging=False))

    def press_call_park(self, key) -> None:
        p = self.settings.phone
        if self._in_call() is not None:
            target = p.park_code + key.number
            if not target:
                self.state.notice = "Park: set phone.park_code or the key's number"
                return
            self._transfer(target, blind=True)
            return
        target = p.park_retrieve_code + key.number
        if target:
            self._dial(target, key)

    def press_ldap(self, key) -> None:
        s = self.state
        if not s.diag and s.screen() is not Screen.RINGING:
            self.phone.bus.post(PageRequested(PROGRAM_PAGES["ldap"]))

    def press_pickup(self, key) -> None:
        p = self.settings.phone
        number = (p.directed_pickup_code + key.number) if key.number else p.pickup_code
        if number:
            self._dial(number, key)


def check_layout(doc) -> tuple[object, list[str]]:
    """A layout from `PUT /api/keys/layout`'s JSON; (layout, problems). Each problem names
    the key and what to change. Entries may give "key": "p3" / "e1.5" instead of
    index + module."""
    from provisioning.keys import LINE_MODULE, KeyLayout, MemoryKey, ProgramKey
    problems: list[str] = []
    layout = KeyLayout()
    if not isinstance(doc, dict):
        return layout, ['give a JSON object {"memory": [{"key": "p1", "type": "blf", '
                        '"number": "1002", "label": "Bob"}], "program": []}']
    unknown = set(doc) - {"memory", "program"}
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}: use memory and program")
    seen: set[str] = set()
    for i, entry in enumerate(doc.get("memory") or []):
        where = f"memory[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be an object with key, type, number")
            continue
        entry = dict(entry)
        name = entry.pop("key", None)
        if name is not None:
            where = f"{where} ({name})"
            m = re.fullmatch(r"p(\d+)|e(\d+)\.(\d+)|line([1-3])", str(name))
            if not m or not (is_memory_key(str(name)) or m.group(4)):
                problems.append(f"{where}: key must be p1..p12, e1.1..e6.32 or line1..line3")
                continue
            if m.group(4):
                entry["module"], entry["index"] = LINE_MODULE, int(m.group(4)) - 1
            elif m.group(1):
                entry["module"], entry["index"] = 0, int(m.group(1)) - 1
            else:
                entry["module"], entry["index"] = int(m.group(2)), int(m.group(3)) - 1
        for text in ("number", "label"):
            v = entry.get(text, "")
            if not isinstance(v, str) or any(ch in v for ch in "\r\n\0<>\""):
                problems.append(f"{where}: {text} must be one line of text without <>\"")
                entry[text] = ""
        try:
            key = MemoryKey(**entry)
        except TypeError as e:
            problems.append(f"{where}: {e}; fields are key (or index and module), type, "
                            f"number, label, account")
            continue
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        if key.name in seen:
            problems.append(f"{where}: {key.name} is set twice; keep one")
            continue
        if key.type in ("blf", "bla", "speed_dial", "dtmf", "intercom", "paging") \
                and not key.number:
            problems.append(f"{key.name}: a {key.type} key needs a number")
            continue
        seen.add(key.name)
        layout.memory.append(key)
    for i, entry in enumerate(doc.get("program") or []):
        try:
            layout.program.append(ProgramKey(**entry))
        except (TypeError, ValueError) as e:
            problems.append(f"program[{i}]: {e}")
    return layout, problems
