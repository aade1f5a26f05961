"""Phone books: `Enterprise_Phonebook.xml` and `<account>_Phonebook.xml` (same format).

`<all><PhoneGroups><group .../></PhoneGroups><PhoneBooks><book .../></PhoneBooks></all>`;
a contact has up to three numbers (mobile, office, other), a group by name and a line
(`accountid`, 127 = any). The LCD directory searches a saved `Phonebook`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# provisioning.escene (and the cryptography its AES loads, ~8 MB) is imported by the XML
# functions only: the phone's books are read from their JSON files (firmware/phonebooks.py)
# by every phone, XML only by provisioning runs and uploads
from firmware.files import json_bytes
from firmware.phonebooks import GROUPS_MAX
from firmware.settings import ACCOUNTS, atomic_write
from provisioning.errors import BadFile

MAX_BYTES = 8 << 20           # 800 contacts (the manual's limit) take ~250 KiB
MAX_CONTACTS = 2000
# the manual's capacities (firmware/phonebooks.py CAPACITY): what a file loads, the rest
# is reported and left out ("Phone book full: 800 contacts"); groups: the first GROUPS_MAX
CAPACITY = {"enterprise": 800, "personal": 300}

log = logging.getLogger("deskphone.provisioning")


def capacity(name: str) -> int:
    """The contacts a file of this name may hold: Enterprise_Phonebook.xml 800, a
    personal `<account>_Phonebook.xml` 300, anything else MAX_CONTACTS."""
    low = name.lower()
    if low.startswith("enterprise"):
        return CAPACITY["enterprise"]
    return CAPACITY["personal"] if low.endswith("_phonebook.xml") else MAX_CONTACTS

_DIAL = re.compile(r"\+?[0-9*#]+")
_LAYOUT = re.compile(r"[\s().\-/]")


def _fold(text: str) -> str:
    """'Ánh Nguyễn' -> 'anh nguyen'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean_number(text: str) -> str:
    """'+49 (30) 1234-56' -> '+4930123456'; SIP user names stay as they are."""
    t = text.strip()
    bare = _LAYOUT.sub("", t)
    if _DIAL.fullmatch(bare):
        return bare
    if any(ch.isspace() or ch in '<>"' for ch in t):
        raise ValueError(f"{text!r} is not a number or SIP user")
    return t


@dataclass(frozen=True)
class Group:
    name: str
    description: str = ""
    ring: str = ""


@dataclass(frozen=True)
class Contact:
    first_name: str = ""
    last_name: str = ""
    mobile: str = ""
    office: str = ""
    other: str = ""
    group: str = ""
    account: int | None = None       # 1..3; None = any line (Escene's 127)
    blf: bool = False

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(n for n in (self.office, self.mobile, self.other) if n)


@dataclass
class Phonebook:
    """`ignored` lists what the file had that we do not use (for the log), `lines_of` the
    line of each contact in the file it was read from; neither is saved."""
    groups: list[Group] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list, compare=False, repr=False)
    lines_of: list[int] = field(default_factory=list, compare=False, repr=False)

    def search(self, text: str) -> list[Contact]:
        """Contacts whose first name, last name or full name starts with `text` (ignoring
        case and accents: the keypad types no accents), or with a number containing
        `text` when it is digits; sorted by name. Empty text: everyone."""
        t = _fold(text.strip())
        digits = _LAYOUT.sub("", text.strip())
        digits = digits if _DIAL.fullmatch(digits) else ""
        hits = []
        for c in self.contacts:
            names = (_fold(c.first_name), _fold(c.last_name), _fold(c.name))
            if (not t or any(n.startswith(t) for n in names)
                    or (digits and any(digits in n for n in c.numbers))):
                hits.append(c)
        return sorted(hits, key=lambda c: (_fold(c.name), c.numbers))

    @property
    def entries(self) -> list[Contact]:
        return self.contacts

    def to_json(self) -> dict:
        """A JSON-ready dict (what `save` writes)."""
        return {"groups": [dataclasses.asdict(g) for g in self.groups],
                "contacts": [dataclasses.asdict(c) for c in self.contacts]}

    @classmethod
    def from_json(cls, doc: dict | str | bytes) -> Phonebook:
        """From `to_json()`'s dict or its JSON text; ValueError/TypeError if malformed."""
        if isinstance(doc, (str, bytes)):
            doc = json.loads(doc)
        return cls(groups=[Group(**g) for g in doc.get("groups", [])],
                   contacts=[Contact(**c) for c in doc.get("contacts", [])])

    def save(self, path: Path) -> None:
        """Written whole, as auto provisioning writes it (the same bytes: json_bytes)."""
        atomic_write(Path(path), json_bytes(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> Phonebook:
        return cls.from_json(Path(path).read_bytes())


_BOOK_ATTRS = {"id", "bookid", "firstname", "lastname", "mobilenum", "officenum", "othernum",
               "groupname", "accountid", "isuseblf"}
_GROUP_ATTRS = {"id", "groupid", "name", "descriptor", "ringtype"}


def parse_phonebook(data: bytes, *, name: str, max_bytes: int = MAX_BYTES) -> Phonebook:
    """A phone book file; BadFile when it is not one or a value is wrong."""
    from provisioning.escene import parse_xml
    root, lines = parse_xml(data, name=name, max_bytes=max_bytes)
    return phonebook_from(root, lines, name=name)


def phonebook_from(root: ET.Element, lines: dict, *, name: str,
                   limit: int | None = None, trim_groups: bool = True) -> Phonebook:
    """The phone book in a parsed `<all>` tree (parse_xml's root and lines); `limit`: the
    contacts kept, default the file name's capacity; `trim_groups` False keeps every group
    (an upload is refused whole when they do not fit, not cut down: Books.import_own). Each contact's line is in `lines_of`
    (an import names the line of a contact it refuses: firmware/directory/formats.py)."""
    from provisioning.escene import element_where
    book = Phonebook()
    problems: list[str] = []
    groups: dict[str, Group] = {}
    unused: set[str] = set()
    limit = capacity(name) if limit is None else limit
    for sec in root:
        low = sec.tag.lower()
        if low not in ("phonegroups", "phonebooks"):
            book.ignored.append(f"{sec.tag}: unknown section; ignored")
            continue
        for elem in sec:
            if not isinstance(elem.tag, str):
                continue
            where = element_where(sec, elem, lines, elem.get("id"))
            a = {k.lower(): v for k, v in elem.attrib.items()}
            if low == "phonegroups" and elem.tag.lower() == "group":
                unused.update(k for k in elem.attrib if k.lower() not in _GROUP_ATTRS)
                gname = (a.get("name") or "").strip()
                if not gname:
                    book.ignored.append(f"{where}: a group without a name; ignored")
                elif gname not in groups:
                    groups[gname] = Group(gname, (a.get("descriptor") or "").strip(),
                                          (a.get("ringtype") or "").strip())
            elif low == "phonebooks" and elem.tag.lower() == "book":
                unused.update(k for k in elem.attrib if k.lower() not in _BOOK_ATTRS)
                if len(book.contacts) >= limit:
                    book.ignored.append(f"{where}: Phone book full: {limit} contacts; the "
                                        f"rest are ignored")
                    break
                try:
                    contact = _contact(a, where, book.ignored)
                except ValueError as e:
                    problems.append(f"{where}: {e}")
                    continue
                if contact is not None:
                    book.contacts.append(contact)
                    book.lines_of.append(lines.get(elem, 0))
            else:
                book.ignored.append(f"{where}: unknown element; ignored")
    if problems:
        raise BadFile(f"{name}: " + "; ".join(problems[:10])
                      + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))
    if unused:
        book.ignored.append(f"not used by this phone: {', '.join(sorted(unused))}")
    for c in book.contacts:                 # a group named only by its contacts
        if c.group and c.group not in groups:
            groups[c.group] = Group(c.group)
    book.groups = list(groups.values())
    if trim_groups and len(book.groups) > GROUPS_MAX:
        first_groups(book, name)
    return book


def first_groups(book: Phonebook, name: str) -> None:
    """A file with more than GROUPS_MAX groups: the first ones kept, the others' contacts
    kept in no group, and a warning ("Groups full: 48 groups"). A provisioned file, and an
    own.json made before there was a limit (firmware/phonebooks.py)."""
    why = (f"Groups full: {GROUPS_MAX} groups; {len(book.groups) - GROUPS_MAX} more left "
           f"out, their contacts in no group")
    log.warning("%s: %s", name, why)
    book.ignored.append(why)
    book.groups = book.groups[:GROUPS_MAX]
    kept = {g.name for g in book.groups}
    book.contacts = [c if not c.group or c.group in kept else dataclasses.replace(c, group="")
                     for c in book.contacts]


def _contact(a: dict[str, str], where: str, ignored: list[str]) -> Contact | None:
    first, last = (a.get("firstname") or "").strip(), (a.get("lastname") or "").strip()
    nums = {}
    for attr, key in (("mobilenum", "mobile"), ("officenum", "office"), ("othernum", "other")):
        raw = a.get(attr) or ""
        nums[key] = clean_number(raw) if raw.strip() else ""
    if not (first or last) and not any(nums.values()):
        return None                                     # an empty slot
    if any(ch in "\r\n" for ch in first + last):
        raise ValueError("a name must be a single line")
    from provisioning.escene import AUTO_LINE
    raw_acc = (a.get("accountid") or "").strip()
    account = None
    if raw_acc and raw_acc != str(AUTO_LINE):
        if not raw_acc.isdigit():
            raise ValueError(f"accountid={raw_acc!r} must be a line (0-{ACCOUNTS - 1}) or "
                             f"{AUTO_LINE} (any)")
        if int(raw_acc) < ACCOUNTS:
            account = int(raw_acc) + 1
        else:
            ignored.append(f"{where}: accountid={raw_acc}: this phone has {ACCOUNTS} lines; "
                           f"any line is used")
    blf = (a.get("isuseblf") or "0").strip()
    if blf not in ("0", "1", ""):
        raise ValueError(f"ISUseBLF={blf!r} must be 0 or 1")
    return Contact(first, last, group=(a.get("groupname") or "").strip(), account=account,
                   blf=blf == "1", **nums)


def export_phonebook(book: Phonebook) -> bytes:
    """`book` in the same XML (the manual's phone book backup)."""
    from provisioning.escene import AUTO_LINE, xml_bytes
    root = ET.Element("all")
    gs = ET.SubElement(root, "PhoneGroups")
    for i, g in enumerate(book.groups):
        ET.SubElement(gs, "group", id=str(i), groupid=str(i), name=g.name,
                      Descriptor=g.description, RingType=g.ring)
    bs = ET.SubElement(root, "PhoneBooks")
    for i, c in enumerate(book.contacts):
        ET.SubElement(bs, "book", id=str(i), Bookid=str(i), FirstName=c.first_name,
                      LastName=c.last_name, MobileNum=c.mobile, OfficeNum=c.office,
                      OtherNum=c.other, GroupName=c.group,
                      accountid=str(AUTO_LINE if c.account is None else c.account - 1),
                      ISUseBLF="1" if c.blf else "0")
    return xml_bytes(root)
