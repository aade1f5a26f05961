"""Who a number is: the one place the caller's name comes from (issue 14, "Names
everywhere"). Asked by the Phone when a call is made (firmware/call/phone.py `_new_call`):
the ringing and talking screens and the call log show the name it gives.

The order is the manual's: the personal book, then the enterprise book (both from
firmware/phonebooks.py, registered by firmware/features/directory.py as "phonebook"), then
whatever is added after them (LDAP: `phone.names.add("ldap", lookup, after="phonebook")`),
and last the SIP display name the call itself carries (the Phone's fallback when every
source says ""). A source must answer at once from memory: it runs on the loop while a call
rings; a slow lookup (a server) fills `Call.name` later instead.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("deskphone.names")


class Names:
    def __init__(self) -> None:
        self.sources: list[tuple[str, Callable[[str], str]]] = []

    def add(self, label: str, lookup: Callable[[str], str], after: str = "") -> None:
        """A source of names, asked in order: last, or just after the source `after`."""
        at = len(self.sources)
        for i, (name, _) in enumerate(self.sources):
            if name == after:
                at = i + 1
        self.sources.insert(at, (label, lookup))

    def name_for(self, number: str) -> str:
        """The first name a source gives for `number`, or "" (then the SIP display name).
        A source that fails is logged and skipped: a name never stops a call."""
        if not number:
            return ""
        for label, lookup in self.sources:
            try:
                name = lookup(number)
            except Exception:                     # noqa: BLE001 - a name is never worth a call
                log.exception("names: %s failed for %s", label, number)
                continue
            if name:
                return name
        return ""
