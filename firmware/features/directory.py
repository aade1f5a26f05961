"""The phone book on the LCD (manual §5 "Using the phone book", "Call from phone book").

MENU (or OK) > Phone book, or DIRECTORY, opens the menu model's "phonebook" page
(firmware/menus.py): Personal phone book, Enterprise phone book, Call history. A book is
what auto provisioning stored (DATA/phonebook/personal.json and enterprise.json, written
by provisioning/phonebook.py `Phonebook.save`), read afresh each time a book is opened.
Read-only for now: editing on the phone comes with the phone book's own issue.

The pages are MenuPages of kind "directory" on top of the menu (drawn by ui/lcd.py as
any list: a long name turns on its selected row and in the title):
    book      "View all", then its groups (manual: "select View ALL, or a contact who
              belong to a group")
    contacts  by name (a contact without a name by its first number); OK opens the
              contact, the Dial soft key (or the send key) calls it - at once when it has
              one number, else through its numbers ("call options")
    numbers   "Office: 2001", "Mobile: ...", "Other: ..."; OK, Dial or send calls it
An empty book says so and what fills it. The call goes out as a call list's does
(DialRequested) on the contact's line (its accountid) when that line is on, else on the
default one; lifting the handset, the speaker, headset or a line key on a number calls
it with that device (it becomes the pre-dialled number, as in the call log).
"""
from __future__ import annotations

import logging
from pathlib import Path

from firmware import pages
from firmware.call.controls import Mode
from firmware.call.state import AudioDevice, MenuPage
from firmware.events import DialRequested, KeyPressed, PageRequested
from firmware.settings import ACCOUNTS

log = logging.getLogger("deskphone.directory")

BOOKS = {"personal": "Personal phone book", "enterprise": "Enterprise phone book"}
KIND = "directory"
PAGE_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "send", "soft1",
             "soft2", "soft3", "soft4", *"0123456789*#"}
# a contact's numbers as the manual's phone book names them (NO.1-3), in the order shown
NUMBERS = (("office", "Office"), ("mobile", "Mobile"), ("other", "Other"))


def setup(ctx) -> "Directory":
    """The feature module's entry: a screen on top of the phone (nothing to close)."""
    return Directory(ctx)


class _PageMode(Mode):
    """On the Phone's stack while a phone book page is open; its Dial soft key."""

    ACTIONS = frozenset({"dial"})


class Directory:
    def __init__(self, ctx):
        self.bus, self.state, self.settings, self.phone = (ctx.bus, ctx.state, ctx.settings,
                                                           ctx.phone)
        self.dir = Path(ctx.data_dir) / "phonebook"
        self.mode = _PageMode("phone book", pressed=self.on_key, hook=self.on_hook,
                              softkeys=self.softkeys,
                              ended=lambda: not any(p.kind == KIND for p in ctx.state.menu))
        ctx.bus.on(PageRequested, self.on_page)

    # -- the books -------------------------------------------------------------------------

    def load(self, which: str):
        """The stored book (provisioning.phonebook.Phonebook), or None and why not."""
        from provisioning.phonebook import Phonebook      # not on the way to the first REGISTER
        path = self.dir / f"{which}.json"
        try:
            return Phonebook.load(path), ""
        except FileNotFoundError:
            return Phonebook(), ""
        except (OSError, ValueError, TypeError) as e:
            log.warning("phone book %s cannot be read: %s", path, e)
            return None, "unreadable"

    # -- the pages -------------------------------------------------------------------------

    def on_page(self, ev: PageRequested) -> None:
        which = ev.page.partition(":")[2]
        if ev.page.startswith("directory:") and which in BOOKS:
            self.open_book(which)

    def _push(self, page: MenuPage) -> None:
        self.state.menu.append(page)
        self.phone.controls.push(self.mode)

    def open_book(self, which: str) -> None:
        book, trouble = self.load(which)
        title = BOOKS[which]
        if trouble:
            self._push(MenuPage(f"directory.{which}", title,
                                ["Phone book unreadable.", "Auto provision loads it again."],
                                text=True, kind=KIND))
        elif not book.contacts:
            self._push(MenuPage(f"directory.{which}", title,
                                ["No contacts.", "Auto provision loads them."],
                                text=True, kind=KIND))
        else:
            everyone = book.search("")                  # sorted by name, accents folded
            lists = [everyone] + [[c for c in everyone if c.group == g.name]
                                  for g in book.groups]
            self._push(MenuPage(f"directory.{which}", title,
                                ["View all", *(g.name for g in book.groups)],
                                kind=KIND, data=lists))

    def open_contacts(self, title: str, contacts: list) -> None:
        if not contacts:
            self._push(MenuPage("directory.contacts", title, ["No contacts in this group."],
                                text=True, kind=KIND))
            return
        self._push(MenuPage("directory.contacts", title, [_who(c) for c in contacts],
                            kind=KIND, data=contacts))

    def open_numbers(self, contact) -> None:
        title = _who(contact)
        numbers = [(label, getattr(contact, attr)) for attr, label in NUMBERS
                   if getattr(contact, attr)]
        if not numbers:
            self._push(MenuPage("directory.numbers", title, ["No number"], text=True,
                                kind=KIND))
            return
        line = self._line(contact.account)
        self._push(MenuPage("directory.numbers", title,
                            [f"{label}: {number}" for label, number in numbers], kind=KIND,
                            data=[(number, line) for _, number in numbers]))

    def _line(self, account: int | None) -> int:
        """The contact's line when it is on, else 0: the default line."""
        if account is not None and 1 <= account <= ACCOUNTS and \
                self.settings.account[account].enable:
            return account
        return 0

    def softkeys(self, s) -> dict:
        """Dial on a list of contacts (beside Enter) and on a contact's numbers."""
        page = s.menu[-1] if s.menu else None
        if page is None or page.kind != KIND or page.text:
            return {}
        if page.key == "directory.contacts":
            return {"menu": {1: ("Dial", "dial")}}
        if page.key == "directory.numbers":
            return {"menu": {0: ("Dial", "dial")}}
        return {}

    # -- keys ------------------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> bool:
        """A key while a phone book page is on top (asked first): True when it took it;
        a call key goes on to the Phone, the number under the cursor pre-dialled."""
        return pages.key(self.state, KIND, ev.key, PAGE_KEYS, self.page_key, self._predial)

    def page_key(self, page: MenuPage, key: str) -> None:
        s = self.state
        n = len(page.items)
        if key in ("cancel", "soft4", "left"):
            s.menu.pop()
        elif key == "menu":
            s.menu.clear()
        elif key in ("up", "down"):
            step = -1 if key == "up" else 1
            if page.text:             # scrolls by the rows the LCD shows in this language
                from ui.lcd_menu import page_rows     # PIL: drawing loaded it by now
                page.index = max(0, min(max(0, n - page_rows(s.language)), page.index + step))
            elif n:
                page.index = (page.index + step) % n
        elif page.text:
            return
        elif key.isdigit() and 1 <= int(key) <= n:
            page.index = int(key) - 1
            self.enter(page)
        elif key in ("ok", "right") or (key == "soft1" and page.key != "directory.numbers"):
            self.enter(page)
        elif key in ("send", "soft1") or (key == "soft2" and page.key == "directory.contacts"):
            self.dial(page)

    def enter(self, page: MenuPage) -> None:
        """OK: a book's "View all" or group opens its contacts, a contact its numbers, a
        number is called."""
        chosen = page.data[page.index]
        if page.key == "directory.contacts":
            self.open_numbers(chosen)
        elif page.key == "directory.numbers":
            self._dial(*chosen)
        else:                                            # a book: everyone, or a group
            self.open_contacts(page.items[page.index], chosen)

    def dial(self, page: MenuPage) -> None:
        """Dial (or send): a number is called; a contact with one number too, one with
        several shows them to choose from (manual: "call options")."""
        chosen = self._chosen(page)
        if chosen is not None:
            self._dial(*chosen)
        elif page.key == "directory.contacts":
            self.open_numbers(page.data[page.index])

    def _dial(self, number: str, line: int) -> None:
        log.info("phone book: dialling %s (line %s)", number, line or "default")
        self.state.menu.clear()
        self.bus.post(DialRequested(number, line))

    def _chosen(self, page: MenuPage) -> tuple[str, int] | None:
        """The number under the cursor: on a contact's numbers, or a one-number contact."""
        if page.text or not page.data:
            return None
        if page.key == "directory.numbers":
            return page.data[page.index]
        if page.key == "directory.contacts":
            contact = page.data[page.index]
            if len(contact.numbers) == 1:
                return contact.numbers[0], self._line(contact.account)
        return None

    def on_hook(self, offhook: bool) -> bool:
        """Lifting the handset on a number calls it; any move of the hook closes the
        pages (the menu closes itself too)."""
        return pages.hook(self.state, KIND, offhook, self._predial)

    def _predial(self, page: MenuPage, line: int | None) -> None:
        """The number becomes the pre-dialled one; the Phone, going off-hook on the device
        used, dials it (manual §4: pre-dial, then lift the handset)."""
        s = self.state
        chosen = self._chosen(page)
        if chosen is None or s.audio is not AudioDevice.NONE or s.calls:
            return
        number, contact_line = chosen
        self.phone.predial(number, line or contact_line or
                           self.settings.phone.default_account)
        s.menu.clear()


def _who(contact) -> str:
    """A contact as a list shows it: the name, else its first number."""
    return contact.name or (contact.numbers[0] if contact.numbers else "")
