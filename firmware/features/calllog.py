"""The call log (manual §5 "Using Call Logs", §3 item 18, §4 "Redial", "Dial from a call log").

Three lists, newest first, at most phone.call_log_size entries each:
- missed: incoming calls nobody answered and we did not refuse (Phone says which: the
  `missed` of CallEnded);
- received: incoming calls answered;
- dialled: outgoing calls, answered or not.
The Phone posts CallEnded as a call leaves it; this module files it and keeps
DIR/calllog.json, written atomically (on a thread of its own) after each call, a delete
or when missed calls are first seen — never for a key that only moves. A file that does
not parse is kept as calllog.json.bad and the phone starts with an empty log.

It also gives the idle screen its "N Missed" (missed calls not yet looked at, so it
survives a restart) and REDIAL its number after a restart (the newest dialled entry).

Screens: on the standby screen down / left / right open Missed calls / Received calls /
Dialled numbers; MENU > Call history opens them too. A list is a MenuPage of kind
"calllog" (drawn by ui/lcd.py): up/down move, left/right go to the next list, OK or Dial
calls the entry back (on its line when that line is on, else the default one), Delete
removes it, Add offers to add it to the phone book or the ban list
(firmware/features/banlist.py), C goes back. Lifting the handset, the speaker or headset key, or a free
line key on an entry calls it with that device: the entry becomes the pre-dialled
number and the key goes on to the Phone, exactly as if it had been typed on-hook.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from firmware import pages
from firmware.bus import Bus, now
from firmware.call.controls import Mode
from firmware.events import (CallEnded, CallIncoming, DialRequested, KeyPressed,
                             PageRequested, SettingsChanged)
from firmware.call.dialling import target_uri
from firmware.settings import ACCOUNTS, Settings, atomic_write
from firmware.sip import split_uri, user_of
from firmware.sip.policy import is_anonymous
from firmware.call.state import AudioDevice, MenuPage, PhoneState, Screen

log = logging.getLogger("deskphone.calllog")

LISTS = ("missed", "received", "dialled")
TITLES = {"missed": "Missed calls", "received": "Received calls",
          "dialled": "Dialled numbers"}
# The arrows on the standby screen (manual §3 item 18); in a list left/right walk the
# same row: Received - Missed - Dialled.
IDLE_KEYS = {"down": "missed", "left": "received", "right": "dialled"}
ROW = ("received", "missed", "dialled")
LIST_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "soft1", "soft2",
             "soft3", "soft4", *"0123456789*#"}


@dataclass
class Entry:
    number: str              # what to dial back: the remote number, or the URI dialled
    name: str = ""           # the far end's display name
    uri: str = ""            # the remote URI (From / To)
    contact: str = ""        # incoming: where the caller said it can be reached (Contact)
    line: int = 0            # the line (account) the call used; 0 = a direct IP call
    start: float = 0.0       # wall clock (time.time()) the call began
    duration: int = 0        # seconds connected, 0 if never
    seen: bool = True        # missed calls: looked at

    @classmethod
    def from_json(cls, d: object) -> Entry:
        if not isinstance(d, dict) or not isinstance(d.get("number"), str):
            raise ValueError(f"not a call: {d!r:.80}")
        return cls(number=d["number"], name=str(d.get("name", "")),
                   uri=str(d.get("uri", "")), contact=str(d.get("contact", "")),
                   line=int(d.get("line", 0)),
                   start=float(d.get("start", 0.0)), duration=int(d.get("duration", 0)),
                   seen=bool(d.get("seen", True)))

    def to_json(self, kind: str) -> dict:
        d = dataclasses.asdict(self)
        if kind != "missed":
            del d["seen"]
        return d

    @property
    def who(self) -> str:
        """What a list row shows: the name, else the number (a URI's user part)."""
        if self.name:
            return self.name
        n = self.number
        if n.lower().startswith(("sip:", "sips:", "tel:")):
            user = n.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
            return user or n
        return n


def setup(ctx) -> "CallLog":
    """The feature module's entry: a screen on top of the phone; the web finds it as
    "calllog" (GET/DELETE /api/calllog)."""
    log_ = CallLog(bus=ctx.bus, state=ctx.state, settings=ctx.settings,
                   data_dir=ctx.data_dir, phone=ctx.phone)
    ctx.provide("calllog", log_)
    return log_


class CallLog:
    def __init__(self, *, bus: Bus, state: PhoneState, settings: Settings, data_dir: Path,
                 phone, clock: Callable[[], tuple[float, float]] = now):
        self.bus, self.state, self.settings, self.phone = bus, state, settings, phone
        self.clock = clock                  # (wall, monotonic)
        self.path = Path(data_dir) / "calllog.json"
        self.lists: dict[str, list[Entry]] = {name: [] for name in LISTS}
        self._filed: deque[int] = deque(maxlen=64)   # call ids filed (ids are never reused)
        self._contacts: dict[int, str] = {}          # ringing call -> its Contact
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="calllog")
        self._written: Future | None = None
        self._write_failed = False
        try:
            self.load()
        except Exception:  # noqa: BLE001 - a call log is never why the phone does not start
            log.exception("call log %s: starting with an empty log", self.path)
            self.lists = {name: [] for name in LISTS}
        self._count()
        if not state.redial and self.lists["dialled"]:
            state.redial = self.lists["dialled"][0].number
        bus.on(CallIncoming, self.on_incoming)
        bus.on(CallEnded, self.on_call_ended)
        # while a list is open it is a mode on the Phone's stack, asked about keys first
        self.mode = Mode("call list", pressed=self.on_key, hook=self.on_hook,
                         ended=lambda: not any(p.kind == "calllog" for p in state.menu))
        for key in IDLE_KEYS:
            phone.controls.add_key(key, lambda key=key: self.key_standby(key))
        bus.on(KeyPressed, self.on_standby_key, first=True)
        bus.on(PageRequested, self.on_page)
        bus.on(SettingsChanged, self.on_settings)

    # -- the file ------------------------------------------------------------------------------

    def load(self) -> None:
        """Read DIR/calllog.json; never raises: a bad file is kept aside, the log starts
        empty. With phone.call_log_save off the file is removed instead (Call List Save)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)       # left by a write that was killed
        if not self.settings.phone.call_log_save:
            self._remove()
            return
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("call log %s cannot be read (%s): starting with an empty log",
                        self.path, e.strerror or e)
            return
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or not all(isinstance(doc.get(k, []), list)
                                                    for k in LISTS):
                raise ValueError("not a call log (an object of three lists)")
        except (ValueError, UnicodeDecodeError) as e:
            bad = self.path.with_name(self.path.name + ".bad")
            log.warning("call log %s is damaged (%s): kept as %s, starting with an empty "
                        "log", self.path, e, bad.name)
            try:
                os.replace(self.path, bad)
            except OSError as e2:
                log.warning("cannot rename %s: %s", self.path, e2)
            return
        skipped = 0
        for kind in LISTS:
            for d in doc.get(kind, []):
                try:
                    self.lists[kind].append(Entry.from_json(d))
                except (ValueError, TypeError) as e:
                    skipped += 1
                    log.debug("call log: %s entry skipped: %s", kind, e)
            del self.lists[kind][self.settings.phone.call_log_size:]
        if skipped:
            log.warning("call log %s: %d damaged entries skipped", self.path, skipped)

    def document(self) -> dict:
        """The three lists as JSON-ready data (the file, GET /api/calllog)."""
        return {kind: [e.to_json(kind) for e in self.lists[kind]] for kind in LISTS}

    def save(self) -> None:
        """Write the file on the writer thread (one at a time, in order): a slow SD card
        never holds up a key or a call. The process waits for it before it exits. With
        phone.call_log_save off nothing is written: the lists live in memory only."""
        if not self.settings.phone.call_log_save:
            return
        data = json.dumps({"version": 1, **self.document()}, indent=1).encode() + b"\n"
        self._written = self._writer.submit(self._write, data)

    def _remove(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as e:
            log.warning("call log %s cannot be removed: %s", self.path, e.strerror or e)

    def _write(self, data: bytes) -> None:
        try:
            atomic_write(self.path, data)
            self._write_failed = False
        except OSError as e:
            (log.debug if self._write_failed else log.warning)(
                "call log %s cannot be written: %s", self.path, e.strerror or e)
            self._write_failed = True

    def flush(self) -> None:
        """Wait until what was saved is on disk (tests, shutdown)."""
        if self._written is not None:
            self._written.result()

    # -- filing calls --------------------------------------------------------------------------

    def on_incoming(self, ev: CallIncoming) -> None:
        """Keep the caller's Contact: a peer-to-peer caller's From names no port, and a
        line with no server can only call it back there."""
        contact = split_uri(ev.headers.get("contact", ""))[1]
        if not contact and ev.source:
            contact = f"sip:{ev.number + '@' if ev.number else ''}{ev.source}"
        self._contacts[ev.call] = contact
        while len(self._contacts) > 16:                  # calls that never ended
            self._contacts.pop(next(iter(self._contacts)))

    def on_call_ended(self, ev: CallEnded) -> None:
        c = ev.call
        contact = self._contacts.pop(c.id, "")
        if c.id in self._filed:
            return
        self._filed.append(c.id)
        if c.direction == "out":
            kind = "dialled"
        elif ev.answered:
            kind = "received"
        elif ev.missed:
            kind = "missed"
        else:
            return                      # refused by us: in no list
        wall, mono = self.clock()
        ended = c.ended_at or mono
        number = c.number or user_of(c.uri)
        if not number:
            return
        entry = Entry(number=number, name=c.name, uri=c.uri, contact=contact,
                      line=c.account, start=wall - (mono - c.started) if c.started else wall,
                      duration=max(0, int(ended - c.connected_at))
                      if ev.answered and c.connected_at else 0,
                      seen=kind != "missed")
        entries = self.lists[kind]
        entries.insert(0, entry)
        del entries[self.settings.phone.call_log_size:]
        log.info("call log: %s %s", kind, number)
        self._changed()

    def _changed(self, save: bool = True) -> None:
        self._count()
        self._refresh()
        if save:
            self.save()

    def _count(self) -> None:
        self.state.missed = sum(not e.seen for e in self.lists["missed"])

    def mark_seen(self) -> None:
        fresh = [e for e in self.lists["missed"] if not e.seen]
        for e in fresh:
            e.seen = True
        if fresh:
            self._changed()

    def delete(self, kind: str, index: int) -> None:
        entries = self.lists[kind]
        if 0 <= index < len(entries):
            del entries[index]
            self._changed()

    def clear(self, kind: str | None = None) -> None:
        for name in (kind,) if kind else LISTS:
            self.lists[name].clear()
        self._changed()

    def on_settings(self, ev: SettingsChanged) -> None:
        if "phone.call_log_save" in ev.keys:     # on: written now; off: the file goes
            if self.settings.phone.call_log_save:
                self.save()
            else:
                self._written = self._writer.submit(self._remove)   # after any pending write
        if "phone.call_log_size" not in ev.keys:
            return
        size = self.settings.phone.call_log_size
        if any(len(entries) > size for entries in self.lists.values()):
            for entries in self.lists.values():
                del entries[size:]
            self._changed()

    # -- dialling back -------------------------------------------------------------------------

    def target(self, entry: Entry) -> tuple[str, int]:
        """(what to dial, line): the entry's line when it is on, else the default (0). A
        number the line cannot reach (a peer-to-peer line has no server) is called back
        on the caller's Contact, else its URI."""
        line = entry.line if 1 <= entry.line <= ACCOUNTS and \
            self.settings.account[entry.line].enable else 0
        acc = self.settings.account[line or self.settings.phone.default_account]
        server = acc.server if acc.enable else ""
        if target_uri(entry.number, server) is None and (entry.contact or entry.uri):
            return entry.contact or entry.uri, line
        return entry.number, line

    # -- the screens ---------------------------------------------------------------------------

    def _page(self) -> MenuPage | None:
        return pages.top(self.state, "calllog")

    def _fill(self, page: MenuPage) -> None:
        entries = self.lists[page.key.split(".", 1)[1]]
        page.items = [e.who for e in entries]
        page.data = [e.start for e in entries]
        page.index = max(0, min(page.index, len(entries) - 1))

    def _refresh(self) -> None:
        for page in self.state.menu:
            if page.kind == "calllog":
                self._fill(page)

    def open(self, kind: str, replace: bool = False) -> None:
        page = MenuPage(f"calllog.{kind}", TITLES[kind], [], kind="calllog")
        self._fill(page)
        if replace:
            self.state.menu[-1] = page
        else:
            self.state.menu.append(page)
        self.phone.controls.push(self.mode)
        if kind == "missed":
            self.mark_seen()

    def on_page(self, ev: PageRequested) -> None:
        kind = ev.page.partition(":")[2]
        if ev.page.startswith("calllog:") and kind in LISTS:
            self.open(kind)

    def on_standby_key(self, ev: KeyPressed) -> None:
        """C on the standby screen clears "N Missed": looked at before the Phone acts on
        C, on the screen the person saw (C on an ended call's screen clears nothing)."""
        if ev.key == "cancel" and self.state.screen() is Screen.IDLE:
            self.mark_seen()

    def key_standby(self, key: str) -> None:
        """down / left / right on the standby screen open a list (else they do nothing)."""
        if self.state.screen() is Screen.IDLE:
            self.open(IDLE_KEYS[key])

    def on_key(self, ev: KeyPressed) -> bool:
        """A key while a list is on top (asked by the Phone first): True when it took it.
        A call key (line, speaker, headset...) or a ringing call closes the lists (and the
        menu under them) and goes on to the Phone (firmware/pages.py)."""
        return pages.key(self.state, "calllog", ev.key, LIST_KEYS, self.list_key,
                         self._predial)

    def list_key(self, page: MenuPage, key: str) -> None:
        s = self.state
        kind = page.key.split(".", 1)[1]
        n = len(page.items)
        if key in ("up", "down") and n:
            page.index = (page.index + (-1 if key == "up" else 1)) % n
        elif key in ("left", "right"):
            step = -1 if key == "left" else 1
            self.open(ROW[(ROW.index(kind) + step) % len(ROW)], replace=True)
        elif key in ("ok", "soft1") and n:
            number, line = self.target(self.lists[kind][page.index])
            s.menu.clear()
            self.bus.post(DialRequested(number, line))
        elif key == "soft2" and n:
            self.delete(kind, page.index)
        elif key == "soft3" and n:     # Add: to the phone book or the ban list (banlist.py)
            e = self.lists[kind][page.index]
            number = user_of(e.number)
            if is_anonymous({"from": e.uri}, number):
                s.notice = "No number"     # at once, as the ringing screen's Add and Ban
            else:
                self.bus.post(PageRequested(f"banlist:caller:{number}:{e.name}"))
        elif key in ("cancel", "soft4"):
            s.menu.pop()
        elif key == "menu":
            s.menu.clear()

    def on_hook(self, offhook: bool) -> bool:
        """Lifting the handset on a list calls its entry (the Phone dials the pre-dialled
        number); any move of the hook closes the lists, as it closes the menu."""
        return pages.hook(self.state, "calllog", offhook, self._predial)

    def _predial(self, page: MenuPage, line: int | None) -> None:
        """The entry becomes the pre-dialled number; the Phone, going off-hook on the
        device that was used, dials it (manual §4: pre-dial, then lift the handset)."""
        s = self.state
        if not page.items or s.audio is not AudioDevice.NONE or s.calls:
            return
        number, entry_line = self.target(self.lists[page.key.split(".", 1)[1]][page.index])
        self.phone.predial(number, line or entry_line or self.settings.phone.default_account)
        s.menu.clear()
