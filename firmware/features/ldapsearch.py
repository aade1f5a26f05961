"""LDAP search on the LCD (manual §5 "LDAP": DIR > LDAP > Search name / Search number, and
the LDAP appendix's Search Delay; issue 14 item 5).

MENU (or OK, or DIRECTORY) > Phone book > LDAP opens the manual's two entries, Search name
and Search number; with no LDAP server set, a page says where to set one. Each opens the
search page, drawn by ui/lcd_menu.py `_ldap_search`: the field on the first row (the
multi-tap editor of ui/textentry.py; digits for a number) and under it the hits (name and
first number), "Searching…", "No match" or what went wrong.

The search starts `ldap.search_delay` ms after the last key that changed the text (a key
within the delay starts the wait again; 0: at once). It runs in the LDAP feature's worker
(firmware/features/ldap.py `search`, which firmware/directory/ldap.py's blocking ldap3
calls need): the loop never waits for a server, and the answer comes back as an event.
An answer for a text that has changed since, or for a page that was left, is dropped.
Both servers are searched at once, [ldap]'s hits then [ldap2]'s (manual §1 "LDAP(2)"),
each up to its max hits ("First 5 shown: type more to narrow" under them when a server
had more); ldap.sort sorts the hits by name.

Keys on the search page (the mode below is asked first while a page of ours is on top):
digits, * and # type (soft key 1: the input mode), Left/Right move the cursor, C (or <-)
erases, C on an empty field goes back, C held clears; Up/Down choose a hit; OK opens the
hit's numbers (before there are hits: searches at once); Dial or the send key calls the hit
(a hit with several numbers shows them first). On a hit's numbers: OK, Dial or send calls
one on the default line (an LDAP entry names no line; the phone book's contacts without one
go out there too); "Add to phone book" keeps the hit as a personal contact
(firmware/phonebooks.py Books.add) with the numbers a contact can hold, and a page says
which were left out, why one was refused, or that the book has it already (`add`). Call keys
(handset, speaker, a line key) dial what is under the cursor, as on the phone book's pages
(firmware/pages.py).

An LDAP key (a fixed key given the function "ldap" in the key layout: Escene's
ProgramKey Type 5, firmware/features/memkeys.py `program_key`) asks for the page "ldap:search"
on the standby screen: Search name opens at once (with no server, the page saying so).

The pages' minute without a key (firmware/pages.py IDLE_S; firmware/features/menu.py
`idle` answers it) closes these pages as it closes the menu's, but never while the search
page holds typed text or hits (our mode answers `holding`, firmware/call/controls.py): what
a person typed is not lost while they look a name up elsewhere. A page opened by an LDAP key
(no menu below) starts the minute itself.
"""
from __future__ import annotations

import logging

from firmware import pages
from firmware.call.controls import Mode
from firmware.call.state import AudioDevice, MenuPage
from firmware.directory import ldap
from firmware.events import DialRequested, KeyHeld, KeyPressed, PageRequested, TimerFired
from firmware.i18n import Verbatim
from firmware.phonebooks import NAME_MAX, NUMBER, NUMBER_FIELDS, BookError
from ui.textentry import TextEntry

log = logging.getLogger("deskphone.ldapsearch")

KIND = "ldap"                             # the pages' kind: their keys come here
SEARCH, NUMBERS = "ldap.search", "ldap.numbers"
DELAY_TIMER, TAP_TIMER = "ldap.delay", "ldap.multitap"
PAGE_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "send", "soft1",
             "soft2", "soft3", "soft4", *"0123456789*#"}
# the manual's entries of DIR > LDAP -> (the search page's title, what is searched)
KEY_PAGE = "ldap:search"                  # what an LDAP key asks for (PageRequested)
SEARCHES = {"Search name": ("LDAP name", "name"), "Search number": ("LDAP number", "number")}
HINT = {"name": "Type a name: the directory is searched as you type",
        "number": "Type a number: the directory is searched as you type"}
NO_SERVER = ["No LDAP server:", "set one on the web's", "Phone Book > LDAP page"]
ADD = "Add to phone book"
# why a hit's number was left out of the contact made of it (Add to phone book)
NOT_A_NUMBER, THREE = "A number: 1-19 digits", "A contact: 3 numbers"


def _holdable(numbers) -> tuple[list[str], list[str], list[str]]:
    """(the first three numbers a contact can hold, as the book keeps them; the others as
    the directory had them; why those were left out). A number is cleaned as provisioning
    cleans a phone book file's (provisioning.phonebook.clean_number: "+49 (30) 12-34" is
    +49301234); letters, or more than 19 digits, the book cannot hold."""
    from provisioning.phonebook import clean_number     # (its imports load cryptography:
    kept: list[str] = []                                #  not at start, only on an Add)
    dropped: list[str] = []
    why: dict[str, None] = {}
    for number in numbers:
        try:
            clean = clean_number(number)
        except ValueError:
            clean = ""
        if not NUMBER.fullmatch(clean):
            dropped.append(number)
            why[NOT_A_NUMBER] = None
        elif clean in kept:
            continue                          # the same number twice in the entry
        elif len(kept) == len(NUMBER_FIELDS):
            dropped.append(number)
            why[THREE] = None
        else:
            kept.append(clean)
    return kept, dropped, list(why)


class _PageMode(Mode):
    """On the Phone's stack while a page of ours is open: its soft keys' actions."""

    ACTIONS = frozenset({"mode", "dial", "erase", "back"})


def setup(ctx) -> "LdapSearch":
    """The feature module's entry: pages on top of the menu (nothing to close)."""
    return LdapSearch(ctx)


class LdapSearch:
    def __init__(self, ctx):
        self.bus, self.timers, self.state, self.settings = (ctx.bus, ctx.timers, ctx.state,
                                                            ctx.settings)
        self.phone, self.provided = ctx.phone, ctx.provided
        self.latest: object = None          # the newest search's token (older: not wanted)
        self.mode = _PageMode("ldap search", pressed=self.on_key, hook=self.on_hook,
                              softkeys=self.softkeys, holding=self.holding,
                              ended=lambda: not any(p.kind == KIND for p in ctx.state.menu))
        ctx.bus.on(PageRequested, self.on_page)
        ctx.bus.on(TimerFired, self.on_timer)
        ctx.bus.on(KeyHeld, self.on_held)

    # -- the pages -------------------------------------------------------------------------

    def on_page(self, ev: PageRequested) -> None:
        if ev.page == "directory:ldap":
            self.open()
        elif ev.page == KEY_PAGE:
            self.open_from_key()

    def _push(self, page: MenuPage) -> None:
        self.state.menu.append(page)
        self.phone.controls.push(self.mode)
        # a page opened by an LDAP key (no menu below) closes after the pages' minute too
        self.timers.start(pages.IDLE_TIMER, pages.IDLE_S)

    def holding(self) -> bool:
        """Whether a search page has typed text or hits (our mode's answer to `holding`):
        the pages' minute without a key does not close it then."""
        return any(p.kind == KIND and p.key == SEARCH and (p.data[0].text or p.data[2])
                   for p in self.state.menu)

    def open(self) -> None:
        """DIR > LDAP: the manual's Search name and Search number, or where to set a server."""
        if not ldap.servers(self.settings):
            self._push(MenuPage("ldap.none", "LDAP", list(NO_SERVER), text=True, kind=KIND))
            return
        self._push(MenuPage("ldap.searches", "LDAP", list(SEARCHES), kind=KIND))

    def open_from_key(self) -> None:
        """An LDAP key: Search name at once; with no server, the page that says so."""
        if not ldap.servers(self.settings):
            self.open()
        else:
            self.open_search("Search name")

    def open_search(self, label: str) -> None:
        title, what = SEARCHES[label]
        editor = TextEntry(max_len=ldap.MAX_TYPED, kind="text" if what == "name" else "dial")
        # data: the editor, what the rows under it say, the hits, what is searched
        self._push(MenuPage(SEARCH, title, [], kind=KIND, data=[editor, HINT[what], [], what]))

    def open_numbers(self, hit: ldap.Hit) -> None:
        items = [*hit.numbers, ADD]
        data = [("dial", n) for n in hit.numbers] + [("add", hit)]
        self._push(MenuPage(NUMBERS, Verbatim(hit.name or hit.numbers[0]), items,  # data
                            kind=KIND, data=data))

    # -- searching -------------------------------------------------------------------------

    def typed(self, page: MenuPage, before: str) -> None:
        """After a key on the search page: the text changed, so the wait starts again."""
        editor, *_ = page.data
        due = editor.due()
        if due is None:
            self.timers.cancel(TAP_TIMER)
        else:
            self.timers.start(TAP_TIMER, max(0.0, due - self.bus.loop.time()))
        if editor.text == before:
            return
        self.timers.cancel(DELAY_TIMER)
        if not editor.text:
            page.data[1:3] = [HINT[page.data[3]], []]
            page.items, page.index = [], 0
            return
        delay = self.settings.ldap.search_delay / 1000
        if delay:
            self.timers.start(DELAY_TIMER, delay)
        else:
            self.search(page)

    def on_timer(self, ev: TimerFired) -> None:
        page = pages.top(self.state, KIND)
        if page is None or page.key != SEARCH:
            return
        if ev.name == DELAY_TIMER:
            self.search(page)
        elif ev.name == TAP_TIMER:
            page.data[0].tick(self.bus.loop.time())

    def search(self, page: MenuPage) -> None:
        """Ask the LDAP feature's worker; the answer comes back on the loop (`answered`)."""
        self.timers.cancel(DELAY_TIMER)
        editor, _, _, what = page.data
        typed = editor.text
        if not typed:
            return
        worker = self.provided.get("ldap")      # set up once the lines have registered
        if worker is None:
            page.data[1] = "LDAP starts once the lines have registered: try again"
            return
        page.data[1:3] = ["Searching…", []]
        page.items, page.index = [], 0
        log.info("LCD: LDAP %s search for %r", what, typed)
        self.latest = token = object()
        worker.search(typed, what, lambda answer: self.answered(page, typed, answer),
                      wanted=lambda: self.latest is token)

    def answered(self, page: MenuPage, typed: str, answer: ldap.Answer) -> None:
        if not any(p is page for p in self.state.menu) or page.data[0].text != typed:
            log.debug("LDAP answer for %r dropped: the text or the page changed", typed)
            return
        hits = [h for h in answer.hits if h.name or h.numbers]   # an entry with neither
        if answer.reason:
            log.warning("LDAP search for %r: %s", typed, answer.reason)
        # a server's trouble first; else whether the servers had more than these
        status = answer.reason or (ldap.first_shown(len(hits)) if answer.more else ""
                                   if hits else "No match")
        page.data[1:3] = [status, hits]
        page.items = [h.name or (h.numbers[0] if h.numbers else "") for h in hits]
        page.index = 0

    # -- keys ------------------------------------------------------------------------------

    def softkeys(self, s) -> dict:
        page = s.menu[-1] if s.menu else None
        if page is None or page.kind != KIND:
            return {}
        if page.key == SEARCH:
            return {"menu": {0: (page.data[0].label, "mode"), 1: ("Dial", "dial"),
                             2: ("<-", "erase"), 3: ("Back", "back")}}
        if page.key == NUMBERS:         # Dial on the key it has on the hits (and the phone book)
            return {"menu": {1: ("Dial", "dial")}}
        return {}

    def on_key(self, ev: KeyPressed) -> bool:
        return pages.key(self.state, KIND, ev.key, PAGE_KEYS, self.page_key, self._predial)

    def on_held(self, ev: KeyHeld) -> None:
        """C held on the search page clears what was typed."""
        page = pages.top(self.state, KIND)
        if page is not None and page.key == SEARCH:
            before = page.data[0].text
            if page.data[0].hold(ev.key):
                self.typed(page, before)

    def page_key(self, page: MenuPage, key: str) -> None:
        s = self.state
        if key == "menu":
            s.menu.clear()
        elif page.key == SEARCH:
            self.search_key(page, key)
        elif key in ("cancel", "soft4", "left"):
            s.menu.pop()
        elif page.text and key in ("up", "down"):    # by the rows the LCD shows
            from ui.lcd_menu import page_rows         # PIL: drawing loaded it by now
            last = max(0, len(page.items) - page_rows(s.language))
            page.index = max(0, min(last, page.index + (-1 if key == "up" else 1)))
        elif page.text or not page.items:
            return
        elif key in ("up", "down"):
            page.index = (page.index + (-1 if key == "up" else 1)) % len(page.items)
        elif key.isdigit() and 1 <= int(key) <= len(page.items):
            page.index = int(key) - 1
            self.enter(page)
        elif key in ("ok", "right", "soft1"):
            self.enter(page)
        elif key in ("send", "soft2") and page.data[page.index][0] == "dial":
            self._dial(page.data[page.index][1])

    def search_key(self, page: MenuPage, key: str) -> None:
        editor: TextEntry = page.data[0]
        hits = page.data[2]
        before, now = editor.text, self.bus.loop.time()
        if key == "soft4" or (key == "cancel" and not editor.text):
            self.timers.cancel(DELAY_TIMER)
            self.state.menu.pop()
            return
        if key in ("up", "down"):
            if hits:
                page.index = (page.index + (-1 if key == "up" else 1)) % len(hits)
        elif key == "ok":
            editor.settle()
            if hits:
                self.open_numbers(hits[page.index])
            else:
                self.search(page)
        elif key in ("send", "soft2"):
            if hits:
                self.dial_hit(hits[page.index])
        elif key == "soft1":
            editor.next_mode()
        elif key == "soft3":
            editor.press("cancel", now)
        else:
            editor.press(key, now)
        self.typed(page, before)

    def enter(self, page: MenuPage) -> None:
        if page.key == "ldap.searches":
            self.open_search(page.items[page.index])
            return
        what, value = page.data[page.index]
        if what == "dial":
            self._dial(value)
        else:
            self.add(value)

    def dial_hit(self, hit: ldap.Hit) -> None:
        """Dial on a hit: its number, or its numbers to choose from."""
        if len(hit.numbers) == 1:
            self._dial(hit.numbers[0])
        elif hit.numbers:
            self.open_numbers(hit)

    def _dial(self, number: str) -> None:
        number = ldap.digits(number)
        log.info("LDAP: dialling %s", number)
        self.state.menu.clear()
        self.bus.post(DialRequested(number, 0))

    def add(self, hit: ldap.Hit) -> None:
        """The hit into the personal book: its name (one line) split into first and last,
        the first three numbers the book can hold as office, mobile and other. A directory
        holds what a contact cannot ("1001 ext 5", 20 digits): those are left out and the
        page says which, the rest is saved. A hit the book has already (same name, its
        numbers among the contact's) is not added twice. Anything but a plain "Saved" is a
        page of its own that stays until C (a notice of the title row went after 4 s,
        half read)."""
        books = self.provided["phonebooks"]
        first, _, last = " ".join(hit.name.split()).rpartition(" ")
        if not first:
            first, last = last, ""
        from provisioning.phonebook import Contact
        kept, dropped, why = _holdable(hit.numbers)
        office, mobile, other = (kept + ["", "", ""])[:3]
        contact = Contact(first_name=first[:NAME_MAX], last_name=last[:NAME_MAX],
                          office=office, mobile=mobile, other=other)
        title = Verbatim(contact.name or hit.name or (hit.numbers or ("LDAP",))[0])
        if any(c.name == contact.name and set(contact.numbers) <= set(c.numbers)
               for c in (listed.contact for listed in books.listed("personal"))):
            self._said(title, ["Already in the phone book"])
            return
        try:
            books.add(contact)
        except (BookError, OSError) as e:
            self._said(title, ["Not saved:", str(e)])
            return
        log.info("LCD: LDAP hit %s added to the phone book (left out: %s)", hit.name, dropped)
        if not dropped:
            self.state.notice = f"Saved: {title}"
            return
        self._said(title, ["Saved. Not kept:", *map(Verbatim, dropped), *why])

    def _said(self, title: str, lines: list[str]) -> None:
        """What came of Add, as a page to read (C goes back to the hit's numbers)."""
        self._push(MenuPage("ldap.added", title, [*lines, "C: back"], text=True, kind=KIND))

    # -- call keys -------------------------------------------------------------------------

    def on_hook(self, offhook: bool) -> bool:
        return pages.hook(self.state, KIND, offhook, self._predial)

    def _predial(self, page: MenuPage, line: int | None) -> None:
        """Lifting the handset (speaker, a line key) on a hit or one of its numbers dials it
        (a hit with several numbers: its first)."""
        s = self.state
        number = ""
        if page.key == SEARCH and page.data[2]:
            numbers = page.data[2][page.index].numbers
            number = numbers[0] if numbers else ""
        elif page.key == NUMBERS and page.data[page.index][0] == "dial":
            number = page.data[page.index][1]
        if not number or s.audio is not AudioDevice.NONE or s.calls:
            return
        self.phone.predial(ldap.digits(number), line or self.settings.phone.default_account)
        s.menu.clear()
