"""Fuzzy search from idle (manual §7 Call "Fuzzy Search": "fuzzy search someone with the
phone book in the idle"; issue 14 item 4; setting phone.fuzzy_search).

Digits typed on the pre-dial screen (on-hook) or the dial screen (off-hook) are the
Phone's as always: nothing here delays or takes them, and OK, the send key or the dial
timer dial what was typed. After each batch of events (`bus.after`) the digits typed, when
they changed, are looked up in the search index (firmware/directory_index.py: names by the
keypad's letters, numbers that hold the digits; personal book, enterprise book, call log)
and the hits go to `PhoneState.search`: the screen's bottom row shows the first,
"1/3 Joanna Lee 1002" (ui/lcd.py `_found`). Up and Down pick a hit (">2/3 ..."; the dial
timer stops: the person is choosing); then OK, the send key or lifting the handset
dials the hit's number instead of the digits. Another digit or C starts over.

The index is built when the first digit of a search is typed and what it covers has
changed since (a book saved or provisioned: `Books.version`; a call logged), never per
key. While there are hits a mode on the Phone's stack is asked about keys first (Up, Down
and, once a hit is picked, the keys that dial).
"""
from __future__ import annotations

import logging

from firmware.call.controls import Mode
from firmware.call.state import CallState, Screen
from firmware.directory_index import Index

log = logging.getLogger("deskphone.search")

SOURCES = ("personal", "enterprise")


def setup(ctx) -> "Search":
    """The feature module's entry (nothing to close)."""
    return Search(ctx)


class Search:
    def __init__(self, ctx):
        self.state, self.settings, self.phone = ctx.state, ctx.settings, ctx.phone
        self.books = ctx.provided["phonebooks"]        # firmware/phonebooks.py Books
        self.calllog = ctx.provided.get("calllog")
        self.index: Index | None = None
        self.built_from: tuple = ()
        self.typed = ""
        self.mode = Mode("search", pressed=self.on_key, hook=self.on_hook,
                         ended=lambda: not self.state.search)
        # after the Phone's own settle (it may open a dial screen), before the LCD is drawn
        after = ctx.bus.after
        at = next((i + 1 for i, fn in enumerate(after)
                   if getattr(fn, "__self__", None) is ctx.phone), 0)
        after.insert(at, self.settle)

    # -- the index -------------------------------------------------------------------------

    def _calls(self) -> list:
        lists = getattr(self.calllog, "lists", {})
        return [e for kind in ("dialled", "received", "missed") for e in lists.get(kind, ())]

    def build(self) -> Index:
        """The index, built again only when a book or the call log changed."""
        self.books.refresh()
        calls = self._calls()
        mark = (self.books.version, len(calls), id(calls[0]) if calls else 0)
        if self.index is None or mark != self.built_from:
            entries = [(x.contact.name, x.contact.numbers, which, x.contact.account)
                       for which in SOURCES for x in self.books.listed(which)]
            entries += [(e.name, (e.number,), "calls", e.line or None) for e in calls]
            self.index = Index(entries)
            self.built_from = mark
            log.debug("search index: %d rows", len(self.index))
        return self.index

    # -- after every batch: the digits typed -----------------------------------------------

    def _digits(self) -> str:
        s = self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING and s.transfer is None:
            return f.number
        if f is None and s.predial:
            return s.predial
        return ""

    def settle(self) -> None:
        typed = self._digits() if self.settings.phone.fuzzy_search else ""
        if typed == self.typed:
            return
        s = self.state
        fresh = not self.typed
        self.typed = typed
        s.search_pick = -1
        if not typed:
            s.search = []
            return
        index = self.build() if fresh or self.index is None else self.index
        s.search = index.search(typed)
        if s.search:
            self.phone.controls.push(self.mode)

    # -- keys while there are hits ---------------------------------------------------------

    def on_key(self, ev) -> bool:
        """Up/Down pick a hit; with one picked, OK, send and the send key dial it (the
        Phone does, with the hit's number in place of the digits)."""
        s = self.state
        if not s.search or s.menu or s.screen() not in (Screen.PREDIAL, Screen.DIALING):
            return False
        if ev.key in ("up", "down"):
            step = -1 if ev.key == "up" else 1
            start = s.search_pick if s.search_pick >= 0 else (-1 if step > 0 else 0)
            s.search_pick = (start + step) % len(s.search)
            self.phone.timers.cancel("phone.dial")
            return True
        if s.search_pick >= 0 and ev.key in ("ok", "send", self.settings.phone.send_key):
            self._take_pick()
        return False

    def on_hook(self, offhook: bool) -> bool:
        """Lifting the handset with a hit picked dials the hit (pre-dial, then lift)."""
        if offhook and self.state.search_pick >= 0 and self.state.predial:
            self._take_pick()
        return False

    def _take_pick(self) -> None:
        s = self.state
        hit = s.search[s.search_pick]
        log.info("search: dialling %s (%s)", hit.number, hit.source)
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = hit.number
        else:
            s.predial = hit.number
            if hit.line:
                s.predial_line = hit.line
        s.search, s.search_pick = [], -1
        self.typed = hit.number
