"""The search index behind "Fuzzy Search" at idle (manual §7 Call page: "Fuzzy search
someone with the phone book in the idle"; issue 14 item 4): digits typed on the keypad
find the names they spell by the keys' letters (T9: 5-6-4 finds "Jo…" and "Kim", any word
of a name) and the numbers they are part of, across the personal book, the enterprise book
and the call log. Pure: no files, no events (firmware/features/search.py feeds and asks
it; tests/bench_keys.py times it).

Built once per change of what it covers (a book saved, a provisioning run, a call logged),
never per key: each row carries its name's words already turned into keypad digits.
A search narrows the previous one's hits when the digits only grew (a name that 5-6-4
spells also matches 5-6; a number holding 5641 holds 564), so a key costs a pass over
the hits so far, not over 3000 rows.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

# the keypad's letters (ui/textentry.py LETTERS, without the digit itself)
KEYPAD = {"2": "abc", "3": "def", "4": "ghi", "5": "jkl", "6": "mno", "7": "pqrs",
          "8": "tuv", "9": "wxyz"}
_T9 = {letter: digit for digit, letters in KEYPAD.items() for letter in letters}
_WORDS = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """'Zoë Ångström' -> 'zoe angstrom' (the keypad types no accents)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def t9(word: str) -> str:
    """A word as keypad digits: 'kim' -> '546'; digits stay, anything else is dropped."""
    return "".join(_T9.get(ch, ch if ch.isdigit() else "") for ch in fold(word))


@dataclass(frozen=True)
class Hit:
    """One row a search shows: a name (may be ""), a number to dial, where it is from
    ("personal", "enterprise", "calls") and the line to dial on (None: the default)."""
    name: str
    number: str
    source: str
    line: int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.number}" if self.name else self.number


@dataclass(frozen=True)
class _Row:
    hit: Hit
    words: str            # "\0" + each word's keypad digits, "\0"-separated: "\x005666\x00533"


class Index:
    """Rows from `entries` (name, numbers, source, line), in the order given (the personal
    book first); a number already listed is not listed again. `spelled`: a name -> its
    keypad words cache kept from one build to the next (a rebuild after a call is logged
    then spells only the new names). `base`: an index whose rows come first, taken as
    they are (the books' rows, kept while only the call log changes)."""

    def __init__(self, entries: Iterable[tuple[str, Iterable[str], str, int | None]],
                 spelled: dict[str, str] | None = None, base: Index | None = None):
        rows: list[_Row] = list(base.rows) if base is not None else []
        seen: set[str] = set(base.numbers) if base is not None else set()
        spelled = {} if spelled is None else spelled
        for name, numbers, source, line in entries:
            words = spelled.get(name)
            if words is None:
                words = spelled[name] = "".join("\0" + t9(w) for w in _WORDS.findall(name))
            for number in numbers:
                if number and number not in seen:
                    seen.add(number)
                    rows.append(_Row(Hit(name, number, source, line), words))
        self.rows = rows
        self.numbers = seen
        self._last: tuple[str, list[_Row]] = ("", rows)

    def __len__(self) -> int:
        return len(self.rows)

    def search(self, digits: str) -> list[Hit]:
        """The rows whose name has a word starting with `digits` spelled on the keypad,
        or whose number holds `digits`; in the index's order. Empty digits: none."""
        if not digits:
            return []
        last, hits = self._last
        pool = hits if last and digits.startswith(last) else self.rows
        key = "\0" + digits
        found = [r for r in pool if key in r.words or digits in r.hit.number]
        self._last = (digits, found)
        return [r.hit for r in found]
