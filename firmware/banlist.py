"""The ban list (manual §7 Phone Book > BanList): callers this phone refuses, kept as
contacts with the manual's fields: Description, First Name, Last Name, Mobile, Home and
Office Number, and the Account "the ban contact can't dial to" (the Serial Number is the
entry's place in the list, as the web page shows it).

Stored in DATA/phonebook/banlist.json, written whole and atomically (firmware/files.py:
a kill -9 or a power cut at any moment leaves the old list or the new one). A damaged file
is kept aside as banlist.json.bad (the copies before as .bad.1, .bad.2) with a warning and
the list starts empty, as own.json does (firmware/phonebooks.py), and `trouble` says so on
the web's BanList page until an entry is added or changed or the notice dismissed; a file with entries the checks refuse (one edited by hand:
no number, a number that is none) or more than CAPACITY is kept aside the same way and
the list goes on with the good entries, the first CAPACITY, each refused one named in the
warning. At most CAPACITY entries: 100, what Yealink's VC systems
hold ("up to 100 blacklist records") and what phone.blacklist already takes (its list is
capped at 100 entries by the settings' checks), so both halves of the ban list have the
same room.

What the SIP thread refuses is the setting phone.blacklist (numbers, and prefixes ending
in *: what provisioning's BlackTabs and the web's Ban List field set) plus every number
of these entries, where a number ending in * is a prefix too (0900* refuses 0900123: the
same rule as phone.blacklist's, as the manual's phone and Yealink's take prefixes; a *
alone, which would refuse everyone, is refused). A number an entry of the same account,
or one of every line, has already is refused ("6666 is banned already"). An entry whose Account is a line refuses the caller only on that line
(an INVITE to another line rings); "Auto" (no account) refuses it on every line. The SIP
thread never reads this file: `BanList.bans` is the entries' numbers as one immutable
`firmware.sip.policy.Bans`, made once per change and laid on the incoming policy by
firmware/features/banlist.py, so the next INVITE already sees the change and the check
before the 180 stays two set lookups and a scan of the few prefixes.

Changes come from the loop only (the LCD, and the web pages, whose handlers run on it).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from firmware.files import atomic_write, damaged, keep_aside, kept_aside
from firmware.phonebooks import NUMBER, NUMBER_MAX, BookError, text_problem
from firmware.sip.policy import Bans

log = logging.getLogger("deskphone.banlist")

CAPACITY = 100
FILE = "banlist.json"
# the manual's fields, in its order: (attribute, label)
TEXTS = (("description", "Description"), ("first_name", "First name"),
         ("last_name", "Last name"))
NUMBERS = (("mobile", "Mobile number"), ("home", "Home number"), ("office", "Office number"))


@dataclass(frozen=True)
class Ban:
    """One entry of the ban list; `account` 1-3 narrows it to that line, None: every line."""
    description: str = ""
    first_name: str = ""
    last_name: str = ""
    mobile: str = ""
    home: str = ""
    office: str = ""
    account: int | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(n for n in (self.mobile, self.home, self.office) if n)

    @classmethod
    def from_json(cls, doc: dict) -> "Ban":
        """An entry as the file keeps it; TypeError/ValueError when it is not one."""
        known = {f.name for f in fields(cls)}
        if not isinstance(doc, dict) or set(doc) - known:
            raise ValueError(f"not a ban entry: {doc!r}"[:120])
        ban = cls(**doc)
        for f in known - {"account"}:
            if not isinstance(getattr(ban, f), str):
                raise TypeError(f"{f} is not text")
        if ban.account is not None and not isinstance(ban.account, int):
            raise TypeError("account is not a number")
        return ban


def check_ban(ban: Ban) -> dict[str, str]:
    """What is wrong with an entry, field -> why ({} when it can be stored): a text too
    long, on two lines or with a control character in it (phonebooks.CONTROLS), a number
    that is not 1-19 digits (* # and a leading + allowed; one ending in * is a prefix and
    needs digits before it), no number at all (an entry without one bans nobody), an
    account that is no line."""
    wrong = {}
    for attr, label in TEXTS:
        if why := text_problem(label, getattr(ban, attr)):
            wrong[attr] = why
    for attr, label in NUMBERS:
        value = getattr(ban, attr)
        if value and not NUMBER.fullmatch(value):
            wrong[attr] = f"{label}: 1-{NUMBER_MAX} digits (0-9 * #, a leading +)"
        elif value.endswith("*") and not any(ch.isdigit() for ch in value[:-1]):
            wrong[attr] = f"{label}: a prefix needs digits before the * (0900*)"
    if not ban.numbers and "mobile" not in wrong:
        wrong["mobile"] = "A ban entry needs a number"
    if ban.account is not None and not 1 <= ban.account <= 3:
        wrong["account"] = "Account: 1-3, or Auto"
    return wrong


class BanList:
    """The entries, read once (the file changes only through here), and their changes,
    each saved at once. `on_change` is called after every change with the new `bans`."""

    def __init__(self, data_dir: Path, on_change=lambda bans: None):
        self.path = Path(data_dir) / "phonebook" / FILE
        self.on_change = on_change
        self.trouble = ""                # the file was damaged: what the BanList page says
        self.entries: tuple[Ban, ...] = self._load()

    def _load(self) -> tuple[Ban, ...]:
        for stale in self.path.parent.glob(f".{FILE}.*.tmp"):
            stale.unlink(missing_ok=True)                # a write killed half way
        try:
            entries = json.loads(self.path.read_bytes())["entries"]
            if not isinstance(entries, list):
                raise TypeError("entries is not a list")
        except FileNotFoundError:
            if kept := kept_aside(self.path):       # damaged, nothing written since
                self.trouble = damaged("ban list", kept[0].name)
            return ()
        except (OSError, ValueError, TypeError, KeyError) as e:
            self.trouble = damaged("ban list", keep_aside(self.path, e).name)
            return ()
        good, refused = [], []
        for n, doc in enumerate(entries, 1):
            try:
                ban = Ban.from_json(doc)
                wrong = check_ban(ban)
                if wrong:
                    raise ValueError("; ".join(wrong.values()))
            except (ValueError, TypeError) as e:
                refused.append(f"entry {n}: {e}")
                continue
            good.append(ban)
        if len(good) > CAPACITY:
            refused.append(f"{len(good)} entries: the ban list holds {CAPACITY}")
        if refused:
            more = [f"and {len(refused) - 10} more"] if len(refused) > 10 else []
            then = f"going on with the first {min(len(good), CAPACITY)} good entries"
            bad = keep_aside(self.path, "; ".join(refused[:10] + more), then=then)
            self.trouble = damaged("ban list", bad.name, then)
            try:
                self._write(tuple(good[:CAPACITY]))
            except OSError as e:            # on in memory; the .bad file holds them all
                log.warning("cannot write %s: %s", self.path, e)
        return tuple(good[:CAPACITY])

    @property
    def bans(self) -> Bans:
        """The entries' numbers as the SIP thread reads them (firmware.sip.policy.Bans):
        exact numbers in two sets, those ending in * as prefixes."""
        numbers = [(b.account, n) for b in self.entries for n in b.numbers]
        exact = [(line, n) for line, n in numbers if not n.endswith("*")]
        return Bans(frozenset(n for line, n in exact if line is None),
                    frozenset((line, n) for line, n in exact if line is not None),
                    tuple(dict.fromkeys((line, n[:-1]) for line, n in numbers
                                        if n.endswith("*"))))

    def wrong(self, ban: Ban, at: int | None = None) -> dict[str, str]:
        """check_ban's reasons, and a number banned already: by another entry (not the one
        at `at`, being edited) of the same account or of every line, or twice in this one."""
        wrong = check_ban(ban)
        seen = set()
        for attr, _ in NUMBERS:
            number = getattr(ban, attr)
            if not number or attr in wrong:
                continue
            if number in seen:
                wrong[attr] = f"{number} is in this entry twice"
            seen.add(number)
            other = next((b for i, b in enumerate(self.entries) if i != at and
                          number in b.numbers and b.account in (None, ban.account)), None)
            if other is not None and attr not in wrong:
                wrong[attr] = f"{number} is banned already" + (
                    "" if other.account == ban.account else " on every line")
        return wrong

    def find(self, number: str) -> int:
        """The place of the first entry with `number`, -1 when none has it."""
        return next((i for i, b in enumerate(self.entries) if number in b.numbers), -1)

    # -- changes: each written at once, then handed to the SIP thread ----------------------

    def _write(self, entries: tuple[Ban, ...]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": 1, "entries": [asdict(b) for b in entries]}
        atomic_write(self.path, json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
                     + b"\n")

    def _save(self, entries: tuple[Ban, ...]) -> None:
        self._write(entries)
        self.entries = entries
        self.trouble = ""
        self.on_change(self.bans)

    def dismiss(self) -> None:
        """The notice of a damaged file put away (the BanList page's Dismiss): the list as
        it is written, so the notice does not come back at the next start."""
        if self.trouble:
            self._save(self.entries)

    def _checked(self, ban: Ban, at: int | None = None) -> Ban:
        wrong = self.wrong(ban, at)
        if wrong:
            raise BookError(next(iter(wrong.values())))
        return ban

    def add(self, ban: Ban) -> None:
        """A new entry; BookError when the list is full or the entry is wrong."""
        if len(self.entries) >= CAPACITY:
            raise BookError(f"Ban list full: {CAPACITY} entries")
        self._save(self.entries + (self._checked(ban),))

    def edit(self, index: int, ban: Ban) -> None:
        self._checked(ban, index)
        entries = list(self.entries)
        entries[index] = ban
        self._save(tuple(entries))

    def delete(self, index: int) -> None:
        entries = list(self.entries)
        del entries[index]
        self._save(tuple(entries))

    def clear(self) -> None:
        """Delete All BanList."""
        self._save(())
