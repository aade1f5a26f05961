"""The personal phone book edited on the phone (manual §5 "Add Contacts", "View/Edit
Contacts", "Add group", "Modify group"): the contact editor and the group name editor.

The phone book pages (firmware/features/directory.py) ask for these pages with
PageRequested: "contacts:add" (or "contacts:add:<number>:<name>", filled in with a
caller's), "contacts:edit:<index>" (a contact of the user's own,
its place in own.json), "contacts:group" (Add group), "contacts:rename:<group>"; the
ban list's Add asks for a caller's (firmware/features/banlist.py) from the ringing
screen or a call list, where no menu is open: the walker is then told to take the keys
(`Menus.take_keys`), and over a ringing call the page has the screen while the call rings
on beneath (`over_ring`). They are the menu walker's pages (firmware/features/menu.py: arrows, OK, C, the choice list,
the multi-tap text editor of ui/textentry.py), with this module as their owner
(`Menus.own`, as the expansion keys and the SIP accounts' "submit" pages): a contact's
page lists First name, Last name, Mobile, Office, Other, Group, Line, then Save. What is
typed waits in `draft` until Save; leaving with changes asks "Submit changes?". Save goes
through firmware/phonebooks.py `Books` (checks, capacity, own.json written atomically);
a refusal ("Phone book full: 300 contacts", a number of 20 digits) is shown on a page,
nothing saved.
"""
from __future__ import annotations

import logging

from firmware.call.state import MenuPage
from firmware.events import PageRequested
from firmware.i18n import Verbatim
from firmware.phonebooks import CAPACITY, NAME_MAX, NUMBER_MAX, BookError
from ui.textentry import TextEntry

log = logging.getLogger("deskphone.contacts")

OWNER = "contacts"
# a contact's page: field -> label, in the order shown (manual: Name, NO.1-3, Group)
FIELDS = (("first_name", "First name"), ("last_name", "Last name"), ("mobile", "Mobile"),
          ("office", "Office"), ("other", "Other"), ("group", "Group"), ("account", "Line"))
LINES = (None, 1, 2, 3)                 # None: the default line (Escene's 127)


def setup(ctx) -> "Contacts":
    """The feature module's entry: pages of the menu (nothing to close)."""
    return Contacts(ctx)


def _line(value) -> str:
    return f"Line {value}" if value else "Auto"


class Contacts:
    def __init__(self, ctx):
        self.state, self.bus = ctx.state, ctx.bus
        self.books = ctx.provided["phonebooks"]         # firmware/phonebooks.py Books
        self.directory = ctx.provided["directory"]
        self.menu = ctx.provided["menu"]                # the walker
        self.menu.own(OWNER, self)
        self.index = -1                                 # the contact edited (-1: a new one)
        self.was = None
        self.draft: dict = {}
        self.stored: dict = {}
        ctx.bus.on(PageRequested, self.on_page)

    def on_page(self, ev: PageRequested) -> None:
        owner, _, what = ev.page.partition(":")
        if owner != OWNER:
            return
        what, _, arg = what.partition(":")
        if what == "add":
            self.books.refresh()
            if self.books.count("personal") >= CAPACITY["personal"]:
                self._refused(f"Phone book full: {CAPACITY['personal']} contacts")
            else:
                self.open_contact(-1, None)
                if arg:     # "contacts:add:<number>:<name>": a caller (features/banlist.py)
                    number, _, name = arg.partition(":")
                    self.draft.update(office=number, first_name=name[:NAME_MAX])
                    self.refresh()
            if arg and self.state.ringing():     # Add on the ringing screen: over the call
                self.state.menu[-1].over_ring = True
        elif what == "edit":
            self.open_contact(int(arg), self.books.book("own").contacts[int(arg)])
        elif what in ("group", "rename"):
            editor = TextEntry(arg, max_len=NAME_MAX)
            self.state.menu.append(MenuPage(
                f"{OWNER}.group", "Modify group" if arg else "Add group",
                ["Group name"], kind="edit", data=[editor, arg]))
        self.menu.take_keys()               # no menu below (a caller's Add): walked all the same

    def _refused(self, why: str) -> None:
        log.info("LCD: phone book change refused: %s", why)
        self.state.menu.append(MenuPage(f"{OWNER}.refused", "Not saved", [why, "C: back"],
                                        text=True))

    # -- a contact's page ------------------------------------------------------------------

    def open_contact(self, index: int, contact) -> None:
        self.index, self.was = index, contact          # `was`: found again if moved
        self.draft = {f: getattr(contact, f) if contact else ("" if f != "account" else None)
                      for f, _ in FIELDS}
        self.stored = dict(self.draft)
        self.state.menu.append(MenuPage(f"{OWNER}.contact",
                                        "Edit contact" if contact else "Add contact",
                                        [label for _, label in FIELDS] + ["Save"]))
        self.refresh()

    def refresh(self) -> None:
        for page in self.state.menu:
            if page.key == f"{OWNER}.contact":
                d = self.draft
                page.data = [(_line(d[f]) if f == "account" else   # typed: never translated
                              Verbatim(d[f]) if d[f] else "(none)") for f, _ in FIELDS] + [""]

    def enter(self, page: MenuPage, index: int) -> None:
        """OK (or a digit) on entry `index` of a page of ours."""
        if page.kind == "choice":                        # Group or Line picked
            self.draft[page.key.rpartition(".")[2]] = page.data[index]
            self.menu.back()
            self.refresh()
        elif page.key == f"{OWNER}.contact":
            if index >= len(FIELDS):
                if self.submit():
                    self.menu.back()
                return
            self._field(index)

    def _field(self, index: int) -> None:
        field, label = FIELDS[index]
        key, d = f"{OWNER}.field.{field}", self.draft
        if field in ("group", "account"):
            values = ["", *self.books.groups("personal")] if field == "group" else list(LINES)
            shown = [Verbatim(v) if v else "(none)" for v in values] if field == "group" else \
                [_line(v) for v in values]
            self.state.menu.append(MenuPage(key, label, shown, kind="choice", data=values,
                                            index=values.index(d[field])
                                            if d[field] in values else 0))
            return
        number = field in ("mobile", "office", "other")
        editor = TextEntry(d[field], max_len=NUMBER_MAX if number else NAME_MAX,
                           kind="dial" if number else "text", mode="123" if number else None)
        hint = f"Up to {NUMBER_MAX} digits: 0-9 * #" if number else "The name shown"
        self.state.menu.append(MenuPage(key, label, [hint], kind="edit", data=[editor, ""]))

    def changed(self, page: MenuPage) -> bool:
        """Leaving a contact's page with changes not saved asks first (the walker)."""
        return page.key == f"{OWNER}.contact" and self.draft != self.stored

    def save(self, page: MenuPage, text: str) -> None:
        """OK or Save on an editor: a field into the draft, or a group's name saved."""
        if page.key == f"{OWNER}.group":
            old = page.data[1]
            try:
                if old:
                    self.books.rename_group(old, text)
                else:
                    self.books.add_group(text)
            except (BookError, OSError) as e:
                page.items[1:] = [str(e)]
                return
            self.state.notice = f"Group saved: {text.strip()}"
            self.menu.back()
            self.directory.reopen()
            return
        self.draft[page.key.rpartition(".")[2]] = text.strip()
        self.menu.back()
        self.refresh()

    def submit(self) -> bool:
        """Save (the entry, or OK on "Submit changes?"): the contact into the personal book.
        Refused: why on a page, nothing saved, False."""
        from provisioning.phonebook import Contact
        contact = Contact(**self.draft)
        try:
            if self.index < 0:
                self.books.add(contact)
            else:
                self.books.edit(self.index, contact, was=self.was)
        except (BookError, OSError) as e:
            self._refused(str(e))
            return False
        log.info("LCD: contact %s saved", contact.name or contact.numbers)
        self.stored = dict(self.draft)
        self.directory.reopen(keep_top=True)     # the walker then leaves this page
        self.state.notice = f"Saved: {contact.name or contact.numbers[0]}"
        return True
