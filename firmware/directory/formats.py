"""Phone book files in and out: the manual's HTTPUpgrade "Phone Book: upload/download" and
Phone Book > "Enterprise Phonebook" (the web pages: ui/web/bookfiles.py).

Two formats, told apart by the root element:
- Escene's, what auto provisioning reads (provisioning/phonebook.py, the same parser):
  `<all><PhoneGroups><group name=.../></PhoneGroups><PhoneBooks><book FirstName=...
  LastName=... MobileNum=... OfficeNum=... OtherNum=... GroupName=... accountid=.../>`;
- Yealink's remote phone book, what PBXs serve to phones, in its two shapes:
  `<YealinkIPPhoneDirectory><DirectoryEntry><Name>..</Name><Telephone>..</Telephone>...`
  (Wazo's dird yealink view, FusionPBX's directory.xml: one Telephone per number, no
  group) and `<YealinkIPPhoneBook><Title/><Menu Name="group"><Unit Name=".." Phone1=".."
  Phone2=".." Phone3=".." default_photo=".."/></Menu>` (FreePBX and hand-made books: a
  Menu is a group). Phone1/2/3 and the Telephones in order are office, mobile, other;
  a Yealink name is one text, split at its last space into first and last name (Snom's
  rule for the same problem); a Menu named "All Contacts" (Yealink's name for the whole
  book) is no group.

The XML is read by provisioning's parse_xml: no DTD, no entity declarations (a billion
laughs is refused before it expands), a size limit, each element's line. A file is read
whole and checked whole before anything is written: a bad one names the line and the
problem ("line 12: <book> Mobile: 1-19 digits (0-9 * #, a leading +) — 'abc'") and changes
nothing.
Writing goes through Books (firmware/phonebooks.py): the personal import replaces the
user's own contacts, the enterprise upload writes enterprise.json as provisioning does.
An import is two halves: `checked` (parse and checks, slow, in a thread: the web server
shares its loop with the phone's bus) and `apply` (on the loop, one file written).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

FORMATS = {"escene": "Escene XML", "yealink": "Yealink XML"}
BOOKS = ("personal", "enterprise")
YEALINK_ROOTS = ("YealinkIPPhoneDirectory", "YealinkIPPhoneBook")
MAX_BYTES = 2 << 20           # 800 contacts take ~250 KiB in either format
READ_MAX = 100_000            # contacts read from a file, to count them in "the file has N"
ALL = "All Contacts"          # Yealink's whole book: a Menu so named is no group
_PHONES = ("office", "mobile", "other")     # Phone1-3, and the Telephones in order
_SKIP = {"Title", "Prompt", "SoftKey"}      # Yealink elements a phone book needs nothing of


class FileRefused(ValueError):
    """A file not taken, with every problem found (line and what is wrong, at most 10)."""

    def __init__(self, problems: list[str]):
        self.problems = problems[:10] + ([f"and {len(problems) - 10} more"]
                                         if len(problems) > 10 else [])
        super().__init__("; ".join(self.problems))


@dataclass
class Read:
    """A file read: its book, its format, where each contact is ("line 12: <book>") and
    what it had that the phone does not keep."""
    book: object                      # provisioning.phonebook.Phonebook
    format: str
    where: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    which: str = ""                   # the book it goes into (set by `checked`)


def read(data: bytes, *, name: str) -> Read:
    """The phone book in a file of either format; FileRefused when it is not one."""
    from provisioning.errors import ProvisionError
    from provisioning.escene import parse_xml
    from provisioning.phonebook import phonebook_from
    name = name or "the file"
    try:
        root, lines = parse_xml(data, name=name, max_bytes=MAX_BYTES,
                                root=("all", *YEALINK_ROOTS))
        if root.tag == "all":
            book = phonebook_from(root, lines, name=name, limit=READ_MAX, trim_groups=False)
            where = [f"line {n}: <book>" for n in book.lines_of]
            return Read(book, "escene", where, book.ignored)
        return _yealink(root, lines)
    except ProvisionError as e:            # BadFile, an encrypted file
        raise FileRefused([str(e)]) from None


def _yealink(root: ET.Element, lines: dict) -> Read:
    from provisioning.phonebook import Group, Phonebook
    book, out = Phonebook(), Read(None, "yealink")
    out.book = book
    groups: dict[str, Group] = {}
    problems: list[str] = []

    def walk(parent: ET.Element, group: str) -> None:
        """The contacts under `parent` (the root, or a Menu: one level, never deeper)."""
        for elem in parent:
            if not isinstance(elem.tag, str) or elem.tag in _SKIP:
                continue                                     # a comment, a title
            where = f"line {lines.get(elem, 0)}: <{elem.tag}>"
            if elem.tag == "Menu" and parent is root:
                name = " ".join((elem.get("Name") or "").split())
                name = "" if name == ALL else name
                if name:
                    groups.setdefault(name, Group(name))
                walk(elem, name)
            elif elem.tag in ("Unit", "DirectoryEntry"):
                try:
                    contact = _entry(elem, group, where, out.notes)
                except ValueError as e:
                    problems.append(f"{where} {e}")
                    continue
                if contact is not None and len(book.contacts) < READ_MAX:
                    book.contacts.append(contact)
                    out.where.append(where)
            else:
                out.notes.append(f"{where} not a phone book element here; ignored")

    walk(root, "")
    if problems:
        raise FileRefused(problems)
    book.groups = list(groups.values())
    return out


def _entry(elem: ET.Element, group: str, where: str, notes: list[str]):
    """A Unit (attributes) or a DirectoryEntry (Name, Telephone...) as a Contact; None for
    one with neither name nor number; ValueError for a number that is not one."""
    from provisioning.phonebook import Contact, clean_number
    if elem.tag == "Unit":
        name = elem.get("Name") or ""
        raw = [elem.get(f"Phone{i}") or "" for i in (1, 2, 3)]
    else:
        name = elem.findtext("Name") or ""
        raw = [t.text for t in elem.iter("Telephone") if t.text and t.text.strip()]
        if len(raw) > len(_PHONES):
            notes.append(f"{where} {len(raw)} numbers: the phone keeps the first three")
    nums = {}
    for label, value in zip(_PHONES, raw):
        try:
            nums[label] = clean_number(value) if value.strip() else ""
        except ValueError as e:
            raise ValueError(f"{label.capitalize()}: {e}") from None
    name = " ".join(name.split())
    if not name and not any(nums.values()):
        notes.append(f"{where} no name and no number; left out")
        return None
    head, space, tail = name.rpartition(" ")
    first, last = (head, tail) if space else (name, "")
    return Contact(first, last, group=group, **nums)


def write(book, fmt: str, *, title: str) -> bytes:
    """`book` as a file: Escene's (what provisioning reads: the enterprise one can go on
    the provisioning server as Enterprise_Phonebook.xml) or Yealink's YealinkIPPhoneBook
    (a Menu per group, the ungrouped in "All Contacts": any Yealink phone or PBX reads it
    as a remote phone book)."""
    from provisioning.escene import xml_bytes
    from provisioning.phonebook import export_phonebook
    if fmt == "escene":
        return export_phonebook(book)
    if fmt != "yealink":
        raise ValueError(f"format: one of {', '.join(FORMATS)}")
    root = ET.Element("YealinkIPPhoneBook")
    ET.SubElement(root, "Title").text = title
    names = [g.name for g in book.groups]
    names += sorted({c.group for c in book.contacts if c.group and c.group not in names})
    for gname in [*names, ""]:
        members = [c for c in book.contacts if c.group == gname]
        if gname == "" and not members:
            continue
        menu = ET.SubElement(root, "Menu", Name=gname or ALL)
        for c in members:
            ET.SubElement(menu, "Unit", Name=c.name, Phone1=c.office, Phone2=c.mobile,
                          Phone3=c.other, default_photo="Resource:")
    return xml_bytes(root)


def import_file(books, which: str, data: bytes, *, name: str) -> dict:
    """A file into `which` book at once (checked, then applied): what `apply` answers."""
    books.refresh()
    return apply(books, checked(data, which=which, name=name, have=provisioned(books, which)))


def provisioned(books, which: str) -> frozenset:
    """The provisioned personal contacts (a download holds them: not checked, not copied),
    taken on the loop and handed to `checked` in a thread."""
    return frozenset(books.book("personal").contacts) if which == "personal" else frozenset()


def checked(data: bytes, *, which: str, name: str, have: frozenset = frozenset()) -> Read:
    """The file read and every contact checked, touching no book: the slow half of an
    import (0.6 s for a 2 MiB file on a PC, seconds on a Pi), run in a thread by
    Api.import_phonebook so the loop (the bus, the LCD, the web) never waits for it.
    FileRefused (a ValueError) naming each line that is wrong."""
    from firmware.phonebooks import NUMBER_FIELDS, BookError, check_contact
    if which not in BOOKS:
        raise ValueError(f"book: one of {', '.join(BOOKS)}")
    got = read(data, name=name)
    got.which = which
    if which == "personal":
        problems = []
        for c, where in zip(got.book.contacts, got.where):
            try:
                if c in have:
                    continue              # provisioned already (a download): not copied
                check_contact(c)
            except BookError as e:
                label = str(e).split(":")[0].lower()
                value = getattr(c, label) if label in NUMBER_FIELDS else ""
                problems.append(f"{where} {e}" + (f" — {value!r}" if value else ""))
        if problems:
            raise FileRefused(problems)
    return got


def apply(books, got: Read) -> dict:
    """A checked file into its book: the personal one's own contacts replaced
    (Books.import_own), or the enterprise book (Books.replace_enterprise); on the loop,
    quick (a write of one file). What happened, for the page and the API; BookError (a
    ValueError) with nothing changed."""
    book = got.book
    if got.which == "personal":
        skipped = books.import_own(book)
    else:
        skipped = 0
        books.replace_enterprise(book)
    notes = list(got.notes)
    if skipped:
        notes.append("1 contact is a provisioned one already: not copied" if skipped == 1
                     else f"{skipped} contacts are the provisioned ones already: not copied")
    return {"book": got.which, "format": got.format, "contacts": len(book.contacts) - skipped,
            "groups": len(book.groups), "notes": notes}


def export_file(books, which: str, fmt: str) -> tuple[bytes, str]:
    """A book as a file and the file's name: the personal book (provisioned and own) or
    the enterprise book."""
    if which not in BOOKS:
        raise ValueError(f"book: one of {', '.join(BOOKS)}")
    data = write(books.whole(which), fmt, title=f"{which.capitalize()} phone book")
    suffix = "" if fmt == "escene" else "_yealink"
    return data, f"{which.capitalize()}_Phonebook{suffix}.xml"
