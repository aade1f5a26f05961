"""Where a key goes: the Phone's own keys, keys features add, and the mode stack on top.

A feature adds a permanent key through `add_key` (TRANSFER, CONFERENCE) or a soft key
on a screen through `add_soft_key` (Xfer and Conf while talking); it never writes the
Phone's tables.

The MODE STACK is what is going on on top of plain calling, newest first: a transfer
being dialled, a conference, a page, a menu. A feature pushes a Mode when it becomes
active and pops it when it ends, so no hook starts with "am I active?". While pushed, a
mode is asked first, newest first, about what it cares for:

    pressed(ev)     any KeyPressed, before the Phone reads it: a screen on top (a menu
                    page, a call list, a diagnose test) takes the keys it shows
    hook(offhook)   the hook moved, before the Phone acts (the keys test shows it)
    key(name)       a key by name ("cancel", "transfer", ...) before the Phone's own
    line_key(line)  a line key
    hang_up()       the person hangs up (handset down, speaker off, line key hands-free)
    placing(call)   a number is about to go out (a blind transfer takes it instead)
    erase()         C on an empty dial screen (give the held call back)
    action(name)    a soft key's action (its own, or one it answers differently)

Each returns True when it took the event; the next mode, then the Phone, is asked when
it did not. One question is a query, answered by the newest mode that knows:

    aside()         the call a mode keeps on hold for itself (a transfer's first call:
                    CONF joins it with the one on screen)
    holding()       True while a page of the mode holds what a person typed (an LDAP
                    search's text or hits): the pages' minute without a key does not
                    close them then (firmware/features/menu.py `idle`)

A mode that gives a line key another function (memory keys) lists it in `reserves`: no
call takes that line. A mode whose end another feature may cause (the
menu's pages are closed by a call list too) gives `ended`: once true, it leaves the
stack by itself.

SOFT KEYS come from the active modes, and stay a pure function of the state: after
every change `publish()` writes into `PhoneState.soft` what the permanent soft keys and
the active modes (oldest first, so the newest wins) put on each screen; a cell whose
action nobody answers is left blank. `present.softkeys` lays that over the screen's own
row.
"""
from __future__ import annotations

import logging
from typing import Callable

from firmware.call.state import PhoneState

log = logging.getLogger("deskphone.controls")

Cell = tuple[str, str]          # (label, action)
BLANK: Cell = ("", "")


class Mode:
    """One active feature on the stack. Either a subclass answers what it cares for, or
    the answers are given as functions: Mode("page", key=self.c_key, hang_up=...)."""

    name = "mode"
    reserves: frozenset[int] = frozenset()    # line keys with another function
    ACTIONS: frozenset[str] = frozenset()     # soft key actions `action()` answers

    def __init__(self, name: str = "", *, softkeys: Callable | None = None,
                 reserves: frozenset[int] = frozenset(), ended: Callable[[], bool] | None = None,
                 **answers: Callable[..., bool]):
        self.name = name or self.name
        self._softkeys = softkeys
        self._ended = ended
        self.reserves = reserves or self.reserves
        self._answers = answers

    def _answer(self, question: str, *args) -> bool:
        fn = self._answers.get(question)
        return bool(fn(*args)) if fn is not None else False

    def pressed(self, ev) -> bool:
        return self._answer("pressed", ev)

    def hook(self, offhook: bool) -> bool:
        return self._answer("hook", offhook)

    def key(self, key: str) -> bool:
        return self._answer("key", key)

    def line_key(self, line: int) -> bool:
        return self._answer("line_key", line)

    def hang_up(self) -> bool:
        return self._answer("hang_up")

    def placing(self, call) -> bool:
        return self._answer("placing", call)

    def erase(self) -> bool:
        return self._answer("erase")

    def action(self, name: str) -> bool:
        return self._answer("action", name)

    def aside(self) -> int | None:
        fn = self._answers.get("aside")
        return fn() if fn is not None else None

    def holding(self) -> bool | None:
        """True while this mode's pages hold typed text; None (not False): ask the next."""
        fn = self._answers.get("holding")
        return True if fn is not None and fn() else None

    def ended(self) -> bool:
        return self._ended is not None and self._ended()

    def softkeys(self, s: PhoneState) -> dict[str, dict[int, Cell]]:
        """screen -> {0..3: (label, action)}: the cells this mode shows now."""
        return self._softkeys(s) if self._softkeys is not None else {}

    def __repr__(self) -> str:
        return f"<mode {self.name}>"


class Controls:
    def __init__(self, state: PhoneState):
        self.state = state
        self.keys: dict[str, Callable[[], None]] = {}       # hard key -> handler
        self.actions: dict[str, Callable[[], None]] = {}    # soft key action -> handler
        self._soft: dict[str, dict[int, Cell]] = {}         # permanent soft keys
        self.modes: list[Mode] = []                         # oldest first

    # -- what features register ----------------------------------------------------------

    def add_key(self, key: str, handler: Callable[[], None]) -> None:
        self.keys[key] = handler

    def add_action(self, action: str, handler: Callable[[], None]) -> None:
        self.actions[action] = handler

    def add_soft_key(self, screen: str, slot: int, label: str, action: str,
                     handler: Callable[[], None]) -> None:
        """A soft key always shown on `screen` in cell `slot` (0..3)."""
        self.actions[action] = handler
        self._soft.setdefault(str(screen), {})[slot] = (label, action)
        self.publish()

    def push(self, mode: Mode) -> None:
        if mode not in self.modes:
            self.modes.append(mode)
            log.debug("mode %s on (%s)", mode.name, self._names())
        self.publish()

    def pop(self, mode: Mode) -> None:
        if mode in self.modes:
            self.modes.remove(mode)
            log.debug("mode %s off (%s)", mode.name, self._names())
        self.publish()

    def active(self, mode: Mode) -> bool:
        return mode in self.modes

    # -- what the Phone asks ---------------------------------------------------------------

    def ask(self, question: str, *args) -> bool:
        """Ask the modes, newest first, until one takes it."""
        self._drop_ended()
        for mode in reversed(list(self.modes)):
            if getattr(mode, question)(*args):
                return True
        return False

    def query(self, question: str):
        """The newest mode's answer that is not None (None when no mode knows)."""
        self._drop_ended()
        for mode in reversed(list(self.modes)):
            answer = getattr(mode, question)()
            if answer is not None:
                return answer
        return None

    def press(self, key: str) -> bool:
        """What a named key does: a mode first, then the key's handler (a memory key
        drives TRANSFER this way, as a person would). False: nobody took it."""
        return self._first("key", key, self.keys)

    def act(self, action: str) -> bool:
        """A soft key's action: a mode first, then a registered handler."""
        return self._first("action", action, self.actions)

    def _first(self, question: str, name: str, table: dict[str, Callable[[], None]]) -> bool:
        if self.ask(question, name):
            return True
        handler = table.get(name)
        if handler is not None:
            handler()
        return handler is not None

    def reserved_lines(self) -> set[int]:
        return set().union(*(m.reserves for m in self.modes))

    def publish(self) -> None:
        """Write the soft keys of the permanent entries and the active modes into the
        state (after every batch of events, and at once on push/pop)."""
        s = self.state
        self._drop_ended()
        rows: dict[str, dict[int, Cell]] = {k: dict(v) for k, v in self._soft.items()}
        for mode in self.modes:
            for screen, cells in mode.softkeys(s).items():
                rows.setdefault(str(screen), {}).update(cells)
        s.soft = {screen: tuple(self._cell(cells.get(i)) for i in range(4))
                  for screen, cells in rows.items()}
        s.modes = self._names()

    def _drop_ended(self) -> None:
        for mode in [m for m in self.modes if m.ended()]:
            self.modes.remove(mode)
            log.debug("mode %s ended (%s)", mode.name, self._names())

    def _cell(self, cell: Cell | None) -> Cell | None:
        if cell is None or cell == BLANK:
            return cell
        label, action = cell
        known = action in self.actions or any(action in m.ACTIONS for m in self.modes)
        return cell if known else BLANK

    def _names(self) -> tuple[str, ...]:
        return tuple(m.name for m in reversed(self.modes))
