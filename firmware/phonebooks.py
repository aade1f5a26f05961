"""The phone books as the phone keeps them (manual §5 "Using the phone book", §7 Phone Book):
what the LCD pages, the idle search, the caller names and the web read, and the one place
the personal book is changed.

Three files in DATA/phonebook/, each written whole and atomically (firmware/files.py: a kill
-9 or a power cut at any moment leaves the old file or the new one):
    enterprise.json  auto provisioning's Enterprise_Phonebook.xml (provisioning/phonebook.py)
    personal.json    auto provisioning's <account>_Phonebook.xml
    own.json         what the desk user added on this phone (Add contact, Add group)

Provisioning and the user's own edits live side by side, never over each other. The
manual's phone lets a provisioned personal book replace whatever the user typed; on a desk
phone that re-provisions every night that loses a person's contacts without a word. Here
provisioning replaces only its own file (personal.json): its contacts and groups show in
the personal book marked as provisioned and are read-only on the phone (change them where
they come from); the user's own contacts and groups (own.json) are theirs to add, edit and
delete, and survive every provisioning run. Both count towards the personal book's 300.

A damaged own.json is kept aside as own.json.bad (the copies before as own.json.bad.1, .2:
files.keep_aside) with a warning and the book starts empty (as the call log does), and
says so where the person looks (`trouble["own"]`: the LCD when the personal book is
opened, the web's Contact page) until they add or change something or dismiss it
(`dismiss`) — the notice stands across a restart too, as long as no own.json was written
since (own.json missing beside an own.json.bad); a damaged provisioned file is reported as unreadable until the next
provisioning run writes it again. `version` changes whenever what the books hold changes
(an edit here, a provisioning run seen by `refresh`): the search index is rebuilt from it
once per change, never per key, and the LCD's phone book pages are drawn afresh.

The LCD and the web pages (ui/web/phonebook.py) change the same book, both on the loop
(the web server runs on the phone's loop: firmware/app.py); the slow half of a file import
runs in a thread but touches no book (firmware/directory/formats.py `checked`), while a
backup to a server reads the books in one (firmware/directory/remote.py `backup`, so a
silent server never holds the loop). So one lock (`_lock`, re-entrant: a change refreshes
first) holds every read and every change, and none sees another's half. A change names the contact it saw (`was`): when an edit elsewhere
moved or changed it meanwhile, it is found again or refused, never another contact changed
in its place.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, replace
from functools import wraps
from pathlib import Path

from firmware.files import atomic_write, damaged, keep_aside, kept_aside

log = logging.getLogger("deskphone.phonebook")

CAPACITY = {"personal": 300, "enterprise": 800}       # the manual's limits
NUMBER_MAX = 19                                       # digits in a number (manual §7)
NAME_MAX = 32
DESCRIPTION_MAX = 64                                  # a group's Description (manual §7)
# groups in a book: the manual gives none; Yealink's local directory holds 48 groups
# (Administrator's Guide for SIP-T2/T4/T5 Series: "up to 1000 contacts and 48 groups").
# 2000 groups made every contact form's Group list 2000 options long
GROUPS_MAX = 48
FILES = ("personal", "enterprise", "own")
NUMBER = re.compile(r"\+?[0-9*#]{1,%d}" % NUMBER_MAX)     # a stored number (ban list too)
NUMBER_FIELDS = ("mobile", "office", "other")
# what no name, group name or description holds: C0 and C1 controls and DEL (a NUL cut a
# name short on the way; the LCD draws them as "?"), the line and paragraph separators, the
# bidi embeddings, overrides and isolates ("RTL\u202etxt.exe" reads "RTLexe.txt")
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class BookError(ValueError):
    """A change refused, with what a person reads ("Phone book full: 300 contacts")."""


@dataclass(frozen=True)
class Listed:
    """A contact as the books list it: `book` "personal" or "enterprise"; `own` True for
    the user's own (editable, `index` into own.json's contacts)."""
    contact: object           # provisioning.phonebook.Contact
    book: str
    own: bool = False
    index: int = -1


def controls(label: str, value: str) -> str:
    """Why a text cannot be stored when it holds a control character (CONTROLS), else ""."""
    return f"{label}: no control characters" if CONTROLS.search(value) else ""


def text_problem(label: str, value: str, most: int = NAME_MAX) -> str:
    """Why a one-line text of a contact or a ban entry cannot be stored, else "": too
    long, on two lines, or a control character in it."""
    if len(value) > most:
        return f"{label}: at most {most} characters"
    if any(ch in value for ch in "\r\n\t"):
        return f"{label}: a single line"
    return controls(label, value)


def check_contact(c) -> None:
    """BookError when a contact cannot be stored: no name and no number, a number that is
    not 1-19 digits (* # and a leading + allowed), a name too long, on two lines or with a
    control character in it."""
    for label, value in (("First name", c.first_name), ("Last name", c.last_name)):
        if why := text_problem(label, value):
            raise BookError(why)
    for f in NUMBER_FIELDS:
        value = getattr(c, f)
        if value and not NUMBER.fullmatch(value):
            raise BookError(f"{f.capitalize()}: 1-{NUMBER_MAX} digits "
                            f"(0-9 * #, a leading +)")
    if not (c.first_name or c.last_name) and not c.numbers:
        raise BookError("A contact needs a name or a number")
    if c.account is not None and not 1 <= c.account <= 3:
        raise BookError("Line: 1-3, or Auto")


def _locked(method):
    """A Books method run whole under the books' lock (the LCD and the web share them)."""
    @wraps(method)
    def run(self, *args, **kw):
        with self._lock:
            return method(self, *args, **kw)
    return run


class Books:
    """The three files, read when they change on disk (`refresh`), and the personal book's
    edits (add, edit, delete, groups), each saved at once."""

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "phonebook"
        self.version = 0
        self._lock = threading.RLock()
        self.trouble: dict[str, str] = {}        # book -> why it cannot be read; "own":
        # the notice that the user's own book was damaged (kept aside, started empty)
        self._read: dict = {}                    # file name -> Phonebook
        self._seen: dict[str, tuple] = {}        # file name -> (mtime_ns, size, inode)
        # read when first asked (a page, a call, a search), not on the way to the first
        # REGISTER: 1100 contacts take a few ms

    @property
    def _books(self) -> dict:
        if not self._read:
            self.refresh()
        return self._read

    # -- reading ---------------------------------------------------------------------------

    def _stat(self, name: str) -> tuple:
        try:
            st = os.stat(self.dir / f"{name}.json")
        except OSError:
            return ()
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    @_locked
    def refresh(self) -> bool:
        """Read the files that changed since last time (provisioning rewrote one); True
        when something did. Cheap when nothing changed: three stat calls."""
        changed = False
        for name in FILES:
            sig = self._stat(name)
            if name in self._read and sig == self._seen.get(name):
                continue
            self._seen[name] = sig
            self._read[name] = self._load(name)
            changed = True
        if changed:
            self.version += 1
        return changed

    def _load(self, name: str):
        from provisioning.phonebook import Phonebook    # not on the way to the first REGISTER
        path = self.dir / f"{name}.json"
        if name == "own":
            for stale in self.dir.glob(".own.json.*.tmp"):
                stale.unlink(missing_ok=True)            # a write killed half way
        self.trouble.pop(name, None)
        try:
            book = Phonebook.load(path)
            return self._too_many(path, book) if name == "own" and \
                len(book.groups) > GROUPS_MAX else book
        except FileNotFoundError:
            kept = kept_aside(path) if name == "own" else []
            if kept:                                     # damaged, nothing written since
                self.trouble[name] = damaged("phone book", kept[0].name)
            return Phonebook()
        except (OSError, ValueError, TypeError, AttributeError) as e:
            if name == "own":
                bad = keep_aside(path, e, then="the own phone book starts empty")
                self.trouble[name] = damaged("phone book", bad.name)
                self._seen[name] = self._stat(name)
            else:
                log.warning("phone book %s cannot be read: %s", path, e)
                self.trouble[name] = "unreadable"
            return Phonebook()

    def _too_many(self, path: Path, book):
        """An own.json with more groups than a book holds (one made before the limit: 2001
        posted groups): kept aside whole, the first GROUPS_MAX go on (their contacts all
        stay, the others' in no group), and said as a damaged file is."""
        from provisioning.phonebook import first_groups
        many = len(book.groups)
        first_groups(book, path.name)
        bad = keep_aside(path, f"{many} groups", then=f"going on with the first {GROUPS_MAX}")
        try:
            self._save(book)
        except OSError as e:                    # on in memory; the .bad file holds them all
            log.warning("cannot write %s: %s", path, e)
        self.trouble["own"] = (f"Your phone book had {many} groups: kept as {bad.name}; "
                               f"going on with the first {GROUPS_MAX}")
        return book

    @_locked
    def book(self, name: str):
        """A file's Phonebook as read ("personal", "enterprise", "own")."""
        return self._books[name]

    @_locked
    def listed(self, which: str) -> list[Listed]:
        """A book's contacts, sorted by name: the personal book is the provisioned ones and
        the user's own together."""
        from provisioning.phonebook import _fold
        if which == "enterprise":
            out = [Listed(c, which) for c in self._books["enterprise"].contacts]
        else:
            out = [Listed(c, which) for c in self._books["personal"].contacts]
            out += [Listed(c, which, True, i) for i, c in
                    enumerate(self._books["own"].contacts)]
        return sorted(out, key=lambda x: (_fold(x.contact.name), x.contact.numbers))

    @_locked
    def groups(self, which: str) -> list[str]:
        """Group names of a book: provisioned first, then the user's own."""
        names = [g.name for g in self._books[which].groups]
        if which == "personal":
            names += [g.name for g in self._books["own"].groups if g.name not in names]
        return names

    @_locked
    def own_groups(self) -> list[str]:
        return [g.name for g in self._books["own"].groups]

    @_locked
    def count(self, which: str) -> int:
        n = len(self._books[which].contacts)
        return n + len(self._books["own"].contacts) if which == "personal" else n

    # -- the user's own contacts and groups ------------------------------------------------

    def _save(self, book) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"version": 1, **book.to_json()}, indent=1,
                          ensure_ascii=False).encode("utf-8") + b"\n"
        atomic_write(self.dir / "own.json", data)
        self._read["own"] = book
        self._seen["own"] = self._stat("own")
        self.trouble.pop("own", None)          # a change of the user's: the notice has done
        self.version += 1

    @_locked
    def dismiss(self) -> None:
        """The notice that own.json was damaged, read and put away (the web's Dismiss): the
        empty book is written, so it does not come back at the next start."""
        self.refresh()
        if self.trouble.get("own"):
            self._save(self._own())

    def _own(self):
        from provisioning.phonebook import Phonebook
        own = self._books["own"]
        return Phonebook(groups=list(own.groups), contacts=list(own.contacts))

    @_locked
    def add(self, contact) -> None:
        """A new contact of the user's; BookError when the book is full or it is wrong."""
        self.refresh()
        if self.count("personal") >= CAPACITY["personal"]:
            raise BookError(f"Phone book full: {CAPACITY['personal']} contacts")
        check_contact(contact)
        self._check_group(contact.group)
        own = self._own()
        own.contacts.append(contact)
        self._save(own)

    @_locked
    def edit(self, index: int, contact, was=None) -> None:
        """The user's contact at `index` (the one `was`, when given) replaced. A contact
        gone meanwhile is said first: its group may have gone with it (an upload), and
        "No group" would send the person to fix a field for nothing."""
        own = self._own()
        at = self._place(own, index, was)
        check_contact(contact)
        self._check_group(contact.group)
        own.contacts[at] = contact
        self._save(own)

    @_locked
    def delete(self, index: int, was=None) -> None:
        own = self._own()
        del own.contacts[self._place(own, index, was)]
        self._save(own)

    @_locked
    def delete_all(self) -> int:
        """The manual's "Delete All Contact": every contact of the user's (provisioned ones
        are read-only and stay); how many were deleted."""
        own = self._own()
        n = len(own.contacts)
        if n:
            own.contacts = []
            self._save(own)
        return n

    def _place(self, own, index: int, was) -> int:
        """Where the contact to change is: `index`; with `was` (the contact as the person
        saw it), where `was` is now. BookError when it is gone."""
        if was is None and 0 <= index < len(own.contacts):
            return index
        if 0 <= index < len(own.contacts) and own.contacts[index] == was:
            return index
        for i, c in enumerate(own.contacts):
            if was is not None and c == was:
                return i
        raise BookError("That contact was changed or deleted meanwhile: nothing saved")

    def _check_group(self, name: str) -> None:
        if name and name not in self.groups("personal"):
            raise BookError(f"No group {name!r}")

    def _group_name(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise BookError("A group needs a name")
        if len(name) > NAME_MAX or any(ch in name for ch in "\r\n\t"):
            raise BookError(f"Group name: one line, at most {NAME_MAX} characters")
        if why := controls("Group name", name):
            raise BookError(why)
        return name

    @staticmethod
    def _description(text: str) -> str:
        text = text.strip()
        if len(text) > DESCRIPTION_MAX or any(ch in text for ch in "\r\n\t"):
            raise BookError(f"Description: one line, at most {DESCRIPTION_MAX} characters")
        if why := controls("Description", text):
            raise BookError(why)
        return text

    @_locked
    def add_group(self, name: str, description: str = "") -> None:
        from provisioning.phonebook import Group
        name = self._group_name(name)
        description = self._description(description)
        if name in self.groups("personal"):
            raise BookError(f"Group {name!r} exists already")
        if len(self.groups("personal")) >= GROUPS_MAX:
            raise BookError(f"Groups full: {GROUPS_MAX} groups")
        own = self._own()
        own.groups.append(Group(name, description))
        self._save(own)

    def _own_group(self, name: str) -> None:
        if name not in self.own_groups():
            raise BookError(f"Group {name!r} is provisioned: read-only"
                            if name in self.groups("personal") else
                            f"No group {name!r}: it was deleted meanwhile")

    @_locked
    def rename_group(self, old: str, new: str, description: str | None = None) -> None:
        """A group of the user's renamed (and its description changed, when given); its
        contacts follow. Provisioned groups are read-only (BookError)."""
        new = self._group_name(new)
        self._own_group(old)
        if new != old and new in self.groups("personal"):
            raise BookError(f"Group {new!r} exists already")
        own = self._own()
        own.groups = [replace(g, name=new, **({} if description is None else {
            "description": self._description(description)})) if g.name == old else g
            for g in own.groups]
        own.contacts = [replace(c, group=new) if c.group == old else c
                        for c in own.contacts]
        self._save(own)

    @_locked
    def delete_group(self, name: str) -> None:
        """A group of the user's deleted; its contacts stay, in no group."""
        self._own_group(name)
        own = self._own()
        own.groups = [g for g in own.groups if g.name != name]
        own.contacts = [replace(c, group="") if c.group == name else c for c in own.contacts]
        self._save(own)

    @_locked
    def delete_all_groups(self) -> int:
        """The manual's "Delete All Group": every group of the user's (provisioned ones
        stay); their contacts stay, in no group. How many groups were deleted."""
        own = self._own()
        gone = {g.name for g in own.groups}
        if gone:
            own.groups = []
            own.contacts = [replace(c, group="") if c.group in gone else c
                            for c in own.contacts]
            self._save(own)
        return len(gone)

    # -- files: import and export (firmware/directory/formats.py) -------------------------

    @_locked
    def whole(self, which: str):
        """A book as one Phonebook, to export: the personal book is the provisioned
        contacts and groups and the user's own."""
        from provisioning.phonebook import Phonebook
        self.refresh()
        if which == "enterprise":
            ent = self._books["enterprise"]
            return Phonebook(groups=list(ent.groups), contacts=list(ent.contacts))
        prov, own = self._books["personal"], self._books["own"]
        names = {g.name for g in prov.groups}
        return Phonebook(groups=[*prov.groups, *(g for g in own.groups if g.name not in names)],
                         contacts=[*prov.contacts, *own.contacts])

    @_locked
    def import_own(self, book) -> int:
        """The user's own contacts and groups replaced by a file's (a desk phone's phone
        book upload restores its download: adding would double every contact at the second
        upload). Contacts the provisioned book has already are not copied (a download
        holds them); how many were left out. BookError, nothing changed, when the file's
        contacts do not fit beside the provisioned ones or a group name is wrong."""
        from provisioning.phonebook import Group, Phonebook
        self.refresh()
        prov = self._books["personal"]
        have = set(prov.contacts)
        contacts = [c for c in book.contacts if c not in have]
        if len(prov.contacts) + len(contacts) > CAPACITY["personal"]:
            raise BookError(f"Phone book full: {CAPACITY['personal']} contacts — the file has "
                            f"{len(contacts)}" + (f" and {len(prov.contacts)} are provisioned"
                                                  if prov.contacts else ""))
        for c in contacts:          # checked in a thread already; again here, should a
            check_contact(c)        # provisioning run have changed the book meanwhile
        taken = {g.name for g in prov.groups}
        groups = []
        for g in [*book.groups, *(Group(c.group) for c in contacts)]:
            if g.name and g.name not in taken:
                taken.add(g.name)
                try:
                    groups.append(Group(self._group_name(g.name),
                                        self._description(g.description), g.ring))
                except BookError as e:
                    raise BookError(f"Group {g.name[:NAME_MAX]!r}: {e}") from None
        if len(prov.groups) + len(groups) > GROUPS_MAX:
            raise BookError(f"Groups full: {GROUPS_MAX} groups — the file has {len(groups)}"
                            + (f" and {len(prov.groups)} are provisioned"
                               if prov.groups else ""))
        self._save(Phonebook(groups=groups, contacts=contacts))
        return len(book.contacts) - len(contacts)

    @_locked
    def replace_enterprise(self, book) -> None:
        """The enterprise book replaced by an uploaded file, written as auto provisioning
        writes it (Phonebook.save, the bytes it compares): its next run that fetches an
        Enterprise_Phonebook.xml replaces this one in turn."""
        if len(book.contacts) > CAPACITY["enterprise"]:
            raise BookError(f"Phone book full: {CAPACITY['enterprise']} contacts — the file "
                            f"has {len(book.contacts)}")
        if len(book.groups) > GROUPS_MAX:
            raise BookError(f"Groups full: {GROUPS_MAX} groups — the file has "
                            f"{len(book.groups)}")
        self.dir.mkdir(parents=True, exist_ok=True)
        book.save(self.dir / "enterprise.json")
        self.refresh()

    # -- names -----------------------------------------------------------------------------

    @_locked
    def name_for(self, number: str) -> str:
        """The name of the first contact with `number`: the personal book (the user's own
        first), then the enterprise book; "" when none has it."""
        self.refresh()
        for name in ("own", "personal", "enterprise"):
            for c in self._books[name].contacts:
                if number in c.numbers and c.name:
                    return c.name
        return ""
