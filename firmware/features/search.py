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

With the LDAP appendix's "LDAP Lookup for PreDial/Dial" on (ldap.dial) the digits typed
are also looked up as a number in the LDAP servers once the person stops typing
(ldap.search_delay, at least PREDIAL_WAIT_S, from PREDIAL_DIGITS digits on): the LDAP
feature's worker asks, and its hits join the row's list when they come ("ldap"), if the
digits are still the same. The books' hits never wait for it; dialling never does.

The index is built ahead: 10 s after start and 2 s after a call ended (it was logged),
and checked again when the first digit of a search is typed (a book saved or provisioned
since: `Books.version`); never per key. While there are hits a mode on the Phone's stack is asked about keys first (Up, Down
and, once a hit is picked, the keys that dial).
"""
from __future__ import annotations

import logging

from firmware import logs
from firmware.call.controls import Mode
from firmware.call.state import CallState, Screen
from firmware.directory import ldap
from firmware.directory_index import Hit, Index
from firmware.events import CallEnded, TimerFired

log = logging.getLogger("deskphone.search")

SOURCES = ("personal", "enterprise")
PREBUILD = "search.index"
STARTUP_S = 10              # after start: the lines have registered by then
PREBUILD_S = 2              # after a call ended (it was logged)
PREDIAL = "search.ldap"
PREDIAL_DIGITS = 3          # fewer match half the directory: no use to a person, load on it
PREDIAL_WAIT_S = 0.5        # a typing pause, so a server is asked once per number, not per key


def setup(ctx) -> "Search":
    """The feature module's entry (nothing to close)."""
    return Search(ctx)


class Search:
    def __init__(self, ctx):
        self.state, self.settings, self.phone = ctx.state, ctx.settings, ctx.phone
        self.books = ctx.provided["phonebooks"]        # firmware/phonebooks.py Books
        self.calllog = ctx.provided.get("calllog")
        self.provided = ctx.provided                   # "ldap": wired after the REGISTERs
        self._warn = logs.Limited(log)                 # a few lines a minute, not one a number
        self.index: Index | None = None
        self.built_from: tuple = ()
        self.books_index: tuple[int, Index | None] = (-1, None)   # (Books.version, ...)
        self.spelled: dict[str, str] = {}              # name -> keypad words, kept
        self.typed = ""
        self.mode = Mode("search", pressed=self.on_key, hook=self.on_hook,
                         ended=lambda: not self.state.search)
        # after the Phone's own settle (it may open a dial screen), before the LCD is drawn
        after = ctx.bus.after
        at = next((i + 1 for i, fn in enumerate(after)
                   if getattr(fn, "__self__", None) is ctx.phone), 0)
        after.insert(at, self.settle)
        # the index is built ahead, at a quiet moment, so the first digit need not
        self.timers = ctx.timers
        ctx.bus.on(TimerFired, self.on_timer)
        ctx.bus.on(CallEnded, lambda ev: self.timers.start(PREBUILD, PREBUILD_S))
        self.timers.start(PREBUILD, STARTUP_S)

    def on_timer(self, ev) -> None:
        if ev.name == PREBUILD and not self.typed and self.settings.phone.fuzzy_search:
            self.build()
        elif ev.name == PREDIAL and self.typed:
            self._ask_ldap(self.typed)

    # -- the index -------------------------------------------------------------------------

    def build(self) -> Index:
        """The index, built again only when a book or the call log changed (a call is
        logged at the head of its list: each list's length and first entry tell)."""
        self.books.refresh()
        lists = [getattr(self.calllog, "lists", {}).get(kind, [])
                 for kind in ("dialled", "received", "missed")]
        calls = [e for entries in lists for e in entries]
        mark = (self.books.version, *((len(x), id(x[0]) if x else 0) for x in lists))
        if self.index is None or mark != self.built_from:
            version, books = self.books_index
            if books is None or version != self.books.version:   # else only calls changed
                if len(self.spelled) > 20000:
                    self.spelled.clear()
                books = Index([(x.contact.name, x.contact.numbers, which, x.contact.account)
                               for which in SOURCES for x in self.books.listed(which)],
                              self.spelled)
                self.books_index = (self.books.version, books)
            self.index = Index([(e.name, (e.number,), "calls", e.line or None)
                                for e in calls], self.spelled, base=books)
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
        self.timers.cancel(PREDIAL)
        if not typed:
            s.search = []
            return
        index = self.build() if fresh or self.index is None else self.index
        s.search = index.search(typed)
        if s.search:
            self.phone.controls.push(self.mode)
        l = self.settings.ldap
        if l.dial and len(typed) >= PREDIAL_DIGITS and ldap.servers(self.settings):
            self.timers.start(PREDIAL, max(PREDIAL_WAIT_S, l.search_delay / 1000))

    # -- LDAP lookup for predial -----------------------------------------------------------

    def _ask_ldap(self, typed: str) -> None:
        worker = self.provided.get("ldap")
        if worker is None:
            return
        worker.search(typed, "number", lambda answer: self._ldap_answered(typed, answer),
                      wanted=lambda: self.typed == typed)

    def _ldap_answered(self, typed: str, answer) -> None:
        """The servers' hits after the books' (each number once); dropped when the digits
        changed meanwhile. A server's trouble is logged, not shown: the row is the books'
        hits then, as without LDAP (the LCD's LDAP search shows it)."""
        s = self.state
        if answer.reason:
            self._warn.warning("LDAP lookup for predial of %s: %s", typed, answer.reason)
        if typed != self.typed or not typed:
            return
        have = {h.number for h in s.search}
        extra = []
        for h in answer.hits:
            number = next((n for n in h.numbers if typed in n), h.numbers[0] if h.numbers
                          else "")
            if number and number not in have:
                have.add(number)
                extra.append(Hit(h.name, number, "ldap"))
        if extra:
            s.search = [*s.search, *extra]
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
