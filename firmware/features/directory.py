"""The phone book on the LCD (manual §5 "Using the phone book", "Call from phone book").

MENU (or OK) > Phone book, or DIRECTORY, opens the menu model's "phonebook" page
(firmware/menus.py): Personal phone book, Enterprise phone book, Call history. A book is
what firmware/phonebooks.py keeps (`Books`: auto provisioning's personal.json and
enterprise.json, and the user's own contacts, own.json), looked at again each time a book
is opened. The enterprise book and provisioned contacts are read-only; the user's own are
edited through the pages of firmware/features/contacts.py (Add contact, Edit, the groups).
This module makes the Books (handed on as ctx.provide'd "phonebooks") and gives the Phone
its names (`phone.names`: personal, then enterprise; firmware/names.py).

The pages are MenuPages of kind "directory" on top of the menu (drawn by ui/lcd.py as
any list: a long name turns on its selected row and in the title):
    book      "View all", then its groups, each with a / after its name ("Sales/"; manual:
              "select View ALL, or a contact who belong to a group"); the personal book
              then Add contact, Add group, Modify group, Delete group (the manual's
              entries on that page)
    contacts  by name (a contact without a name by its first number); OK opens the
              contact, the Dial soft key (or the send key) calls it - at once when it has
              one number, else through its numbers ("call options")
    numbers   "Office: 2001", "Mobile: ...", "Other: ..."; OK, Dial or send calls it;
              a contact of the user's then Edit and Delete (asked first)
    groups    Modify group / Delete group: the user's own groups to pick from
    delete    "Delete Bob Builder?": OK deletes, C keeps
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
from firmware.events import DialRequested, KeyPressed, PageRequested, PhoneBookChanged
from firmware.i18n import Verbatim
from firmware.phonebooks import BookError, Books
from firmware.settings import ACCOUNTS

log = logging.getLogger("deskphone.directory")

BOOKS = {"personal": "Personal phone book", "enterprise": "Enterprise phone book"}
KIND = "directory"
PAGE_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "send", "soft1",
             "soft2", "soft3", "soft4", *"0123456789*#"}
# a contact's numbers as the manual's phone book names them (NO.1-3), in the order shown
NUMBERS = (("office", "Office"), ("mobile", "Mobile"), ("other", "Other"))
# the personal book page's entries after its groups -> what OK does (the contact editor's
# pages, firmware/features/contacts.py; the own groups to pick from)
EDITS = {"Add contact": "add", "Add group": "group", "Modify group": "rename",
         "Delete group": "delete"}
GROUP_MARK = "/"         # after a group's name on a book's page (1 of ~21 characters)
DIAL_SOFT = 1           # Dial is soft2 (index 1) on the contacts and on a contact's numbers


def setup(ctx) -> "Directory":
    """The feature module's entry: a screen on top of the phone (nothing to close); the
    books for the others (the contact editor, the search, the web) as "phonebooks"."""
    directory = Directory(ctx)
    ctx.provide("phonebooks", directory.books)
    ctx.provide("directory", directory)
    ctx.phone.names.add("phonebook", directory.books.name_for)
    return directory


class _PageMode(Mode):
    """On the Phone's stack while a phone book page is open; its Dial soft key."""

    ACTIONS = frozenset({"dial"})


class Directory:
    def __init__(self, ctx):
        self.bus, self.state, self.settings, self.phone = (ctx.bus, ctx.state, ctx.settings,
                                                           ctx.phone)
        self.books = Books(Path(ctx.data_dir))
        self.built = None               # the books' version the open pages were drawn from
        self.mode = _PageMode("phone book", pressed=self.on_key, hook=self.on_hook,
                              softkeys=self.softkeys,
                              ended=lambda: not any(p.kind == KIND for p in ctx.state.menu))
        ctx.bus.on(PageRequested, self.on_page)
        ctx.bus.on(PhoneBookChanged, lambda ev: self.follow())

    # -- the books -------------------------------------------------------------------------

    def reopen(self, keep_top: bool = False) -> None:
        """After a change of the personal book: back to its page, drawn afresh (the lists
        above it named contacts by their place, which has changed). keep_top: the page on
        top (the contact editor) stays above it, for the walker to leave."""
        menu = self.state.menu
        at = next((i for i, p in enumerate(menu) if p.key == "directory.personal"), None)
        if at is None:
            return
        index, top = menu[at].index, menu[-1]
        del menu[at:]
        self.open_book("personal")
        menu[-1].index = min(index, max(0, len(menu[-1].items) - 1))
        if keep_top:
            menu.append(top)

    def follow(self) -> bool:
        """The books changed elsewhere (the web pages, a provisioning run) since the open
        pages were drawn: the personal book's pages are drawn afresh, as after an edit here
        (their lists name contacts by place). Not under an editor: its save finds its
        contact again (Books `was`). True when redrawn."""
        menu = self.state.menu
        if self.built in (None, self.books.version) or not menu or menu[-1].kind != KIND:
            return False
        if not any(p.key == "directory.personal" for p in menu):
            self.built = self.books.version
            return False
        self.reopen()
        self.state.notice = "Phone book changed"
        return True

    # -- the pages -------------------------------------------------------------------------

    def on_page(self, ev: PageRequested) -> None:
        which = ev.page.partition(":")[2]
        if ev.page.startswith("directory:") and which in BOOKS:
            self.open_book(which)

    def _push(self, page: MenuPage) -> None:
        self.state.menu.append(page)
        self.phone.controls.push(self.mode)

    def open_book(self, which: str) -> None:
        books = self.books
        books.refresh()
        self.built = books.version
        title = BOOKS[which]
        if books.trouble.get(which):
            self._push(MenuPage(f"directory.{which}", title,
                                ["Phone book unreadable.", "Auto provision loads it again."],
                                text=True, kind=KIND))
            return
        everyone = books.listed(which)                  # sorted by name, accents folded
        if not everyone and which == "enterprise":
            self._push(MenuPage(f"directory.{which}", title,
                                ["No contacts.", "Auto provision loads them."],
                                text=True, kind=KIND))
            return
        groups = books.groups(which)
        lists: list = [everyone] + [[x for x in everyone if x.contact.group == g]
                                    for g in groups]
        # names: never translated; marked as groups (a group named "View all" or "Add
        # contact" looked like the page's own entries), as a folder is: "Sales/"
        items = ["View all", *(Verbatim(g + GROUP_MARK) for g in groups)]
        if which == "personal":                         # the manual's entries of this page
            items += list(EDITS)
            lists += list(EDITS.values())
        self._push(MenuPage(f"directory.{which}", title, items, kind=KIND, data=lists))
        if which == "personal" and books.trouble.get("own"):   # own.json was damaged: said
            self.state.notice = books.trouble["own"]           # until a change or Dismiss

    def open_contacts(self, title: str, contacts: list) -> None:
        if not contacts:
            self._push(MenuPage("directory.contacts", title,
                                ["No contacts in this group." if title != "View all"
                                 else "No contacts."], text=True, kind=KIND))
            return
        self._push(MenuPage("directory.contacts", title, [_who(x.contact) for x in contacts],
                            kind=KIND, data=contacts))

    def open_numbers(self, listed) -> None:
        contact = listed.contact
        title = _who(contact)
        numbers = [(label, getattr(contact, attr)) for attr, label in NUMBERS
                   if getattr(contact, attr)]
        line = self._line(contact.account)
        items = [f"{label}: {number}" for label, number in numbers]
        data: list = [(number, line) for _, number in numbers]
        if listed.own:                  # the user's own: Edit, Delete (provisioned: read-only)
            items += ["Edit", "Delete"]
            data += [("edit", listed), ("delete", listed)]
        if not items:
            self._push(MenuPage("directory.numbers", title, ["No number"], text=True,
                                kind=KIND))
            return
        self._push(MenuPage("directory.numbers", title, items, kind=KIND, data=data))

    def open_groups(self, purpose: str) -> None:
        """Modify group / Delete group: the user's own groups (provisioned ones are
        read-only, changed where they come from)."""
        own = self.books.own_groups()
        title = "Modify group" if purpose == "rename" else "Delete group"
        if not own:
            self._push(MenuPage("directory.groups", title,
                                ["No groups of your own.", "Add group makes one."],
                                text=True, kind=KIND))
            return
        self._push(MenuPage("directory.groups", title, [Verbatim(g) for g in own], kind=KIND,
                            data=[(purpose, g) for g in own]))

    def ask_delete(self, what: str, target) -> None:
        """Delete is asked first: OK deletes, C keeps."""
        name = _who(target.contact) if what == "contact" else target
        self._push(MenuPage("directory.delete", "Delete",
                            [f"Delete {name}?", "OK: delete, C: keep"],
                            text=True, kind=KIND, data=[what, target]))

    def delete(self, page: MenuPage) -> None:
        what, target = page.data
        try:
            if what == "contact":
                self.books.delete(target.index, was=target.contact)
            else:
                self.books.delete_group(target)
        except (BookError, OSError, IndexError) as e:
            page.items = [str(e), "C: back"]
            page.data = ["refused", None]
            return
        log.info("phone book: %s %s deleted", what,
                 _who(target.contact) if what == "contact" else target)
        self.state.notice = "Deleted"
        self.reopen()

    def _line(self, account: int | None) -> int:
        """The contact's line when it is on, else 0: the default line."""
        if account is not None and 1 <= account <= ACCOUNTS and \
                self.settings.account[account].enable:
            return account
        return 0

    def softkeys(self, s) -> dict:
        """Dial beside Enter, on the same key on a list of contacts and on a contact's
        numbers: Dial on a contact with several numbers opens them ("call options") and
        the same key pressed again calls the one under the cursor."""
        page = s.menu[-1] if s.menu else None
        if page is None or page.kind != KIND or page.text:
            return {}
        if page.key in {"directory.contacts", "directory.numbers"}:
            return {"menu": {DIAL_SOFT: ("Dial", "dial")}}
        return {}

    # -- keys ------------------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> bool:
        """A key while a phone book page is on top (asked first): True when it took it;
        a call key goes on to the Phone, the number under the cursor pre-dialled. Pages
        drawn before a change elsewhere are drawn afresh first (the key is spent on it)."""
        if self.follow():
            return True
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
        elif page.key == "directory.delete" and key in ("ok", "soft1") and \
                page.data[0] != "refused":
            self.delete(page)
        elif page.text:
            return
        elif key.isdigit() and 1 <= int(key) <= n:
            page.index = int(key) - 1
            self.enter(page)
        elif key in ("ok", "right", "soft1"):
            self.enter(page)
        elif key in ("send", f"soft{DIAL_SOFT + 1}"):
            self.dial(page)

    def enter(self, page: MenuPage) -> None:
        """OK: a book's "View all" or group opens its contacts, a contact its numbers, a
        number is called."""
        chosen = page.data[page.index]
        if page.key == "directory.contacts":
            self.open_numbers(chosen)
        elif page.key == "directory.numbers" and chosen[0] == "edit":
            self.bus.post(PageRequested(f"contacts:edit:{chosen[1].index}"))
        elif page.key == "directory.numbers" and chosen[0] == "delete":
            self.ask_delete("contact", chosen[1])
        elif page.key == "directory.numbers":
            self._dial(*chosen)
        elif page.key == "directory.groups":
            purpose, group = chosen
            if purpose == "delete":
                self.ask_delete("group", group)
            else:
                self.bus.post(PageRequested(f"contacts:rename:{group}"))
        elif chosen in ("rename", "delete"):             # Modify group, Delete group
            self.open_groups(chosen)
        elif isinstance(chosen, str):                    # Add contact, Add group
            self.bus.post(PageRequested(f"contacts:{chosen}"))
        else:                                            # a book: everyone, or a group
            title = page.items[page.index]               # a group's: its name, unmarked
            self.open_contacts(Verbatim(title[:-len(GROUP_MARK)]) if page.index else title,
                               chosen)

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
            chosen = page.data[page.index]
            return None if chosen[0] in ("edit", "delete") else chosen
        if page.key == "directory.contacts":
            contact = page.data[page.index].contact
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
    """A contact as a list shows it: the name, else its first number; data, never
    translated (a contact named "Back" is not the action)."""
    return Verbatim(contact.name or (contact.numbers[0] if contact.numbers else ""))
