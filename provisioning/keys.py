"""Programmable keys as the provisioning server sets them (`<account>_Extern.xml`).

A plain model, independent of the file format: the phone's memory keys (p1..p12), up to six
expansion modules of 32 keys, and fixed keys given another function. `provisioning.escene`
reads and writes the Escene file; the key handling module reads a saved `KeyLayout`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from firmware.keys import PROGRAMMABLE
from firmware.settings import ACCOUNTS, atomic_write

MEMORY_KEYS = len(PROGRAMMABLE)        # p1..p12
MODULES = 6                            # Extensions .. Extension6s
MODULE_KEYS = 32
LINE_MODULE = -1                       # the line keys line1..line3, when not used as lines
LINE_KEYS = 3

# memory and expansion key Type numbers of the Escene format
MEMORY_TYPES = {1: "blf", 2: "speed_dial_prefix", 3: "bla", 4: "dtmf", 5: "speed_dial",
                6: "paging", 7: "call_park", 8: "intercom", 9: "pickup", 11: "group"}
# memory key types of this phone that the Escene file has no Type number for (Yealink's DSS
# key "LDAP": the LDAP search): set on the LCD, the web or PUT /api/keys/layout only
PHONE_TYPES = ("ldap",)
KEY_TYPES = (*MEMORY_TYPES.values(), *PHONE_TYPES)

# ProgramKey id -> our key name (firmware.keys)
PROGRAM_KEY_IDS = ("soft1", "soft2", "soft3", "soft4", "up", "down", "left", "right", "ok",
                   "conference", "redial", "transfer", "hold", "service", "directory", "menu",
                   "mute", "message")

# ProgramKey function Type numbers
PROGRAM_FUNCTIONS = ("default", "redial", "dnd", "contacts", "enterprise_phonebook", "ldap",
                     "directory", "speed_dial", "call_list", "missed_calls", "received_calls",
                     "dialed_calls", "menu", "sms", "new_sms", "call_forward", "status",
                     "account_toggle", "xml_browser", "provision_now", "hot_desking")


def _check_account(account: int | None) -> None:
    if account is not None and not (isinstance(account, int) and 1 <= account <= ACCOUNTS):
        raise ValueError(f"account must be 1-{ACCOUNTS} or None (automatic), got {account!r}")


@dataclass(frozen=True)
class MemoryKey:
    """A memory (DSS) key on the phone or on an expansion module.

    `index` is 0-based: p{index+1} on the phone (module 0), key index+1 on module 1..6,
    line{index+1} for a line key given a function (module LINE_MODULE, manual §7 "Line Keys").
    `account` is the line used, 1..3; None lets the phone choose (Escene's 127).
    """
    index: int
    type: str
    number: str = ""
    label: str = ""
    account: int | None = None
    module: int = 0

    def __post_init__(self):
        if self.type not in KEY_TYPES:
            raise ValueError(f"unknown key type {self.type!r}; one of {', '.join(KEY_TYPES)}")
        limit = {0: MEMORY_KEYS, LINE_MODULE: LINE_KEYS}.get(self.module, MODULE_KEYS)
        if not (0 <= self.module <= MODULES or self.module == LINE_MODULE):
            raise ValueError(f"module must be 0 (the phone), 1-{MODULES}, or {LINE_MODULE} "
                             f"(line keys)")
        if not 0 <= self.index < limit:
            raise ValueError(f"key index must be 0-{limit - 1}")
        _check_account(self.account)

    @property
    def name(self) -> str:
        """'p3' for the phone's keys, 'e1.5' for key 5 of expansion module 1, 'line3'."""
        if self.module == LINE_MODULE:
            return f"line{self.index + 1}"
        return f"p{self.index + 1}" if self.module == 0 else f"e{self.module}.{self.index + 1}"


@dataclass(frozen=True)
class ProgramKey:
    """A fixed key (soft key, arrow, HOLD, ...) given another function."""
    key: str
    function: str
    number: str = ""
    label: str = ""
    account: int | None = None

    def __post_init__(self):
        if self.key not in PROGRAM_KEY_IDS:
            raise ValueError(f"{self.key!r} cannot be programmed; one of "
                             f"{', '.join(PROGRAM_KEY_IDS)}")
        if self.function not in PROGRAM_FUNCTIONS:
            raise ValueError(f"unknown function {self.function!r}")
        _check_account(self.account)


@dataclass
class KeyLayout:
    """Every programmed key. `ignored` holds what the file had that we do not use (for the
    log); it is not saved."""
    memory: list[MemoryKey] = field(default_factory=list)
    program: list[ProgramKey] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list, compare=False, repr=False)

    def key(self, name: str) -> MemoryKey | None:
        """The memory key called 'p3' or 'e1.5', if programmed."""
        return next((k for k in self.memory if k.name == name), None)

    def function_of(self, key: str) -> ProgramKey | None:
        return next((p for p in self.program if p.key == key), None)

    @property
    def keys(self) -> list[MemoryKey | ProgramKey]:
        """Every programmed key, memory keys first."""
        return [*self.memory, *self.program]

    def to_json(self) -> dict:
        """A JSON-ready dict (what `save` writes)."""
        return {"memory": [dataclasses.asdict(k) for k in self.memory],
                "program": [dataclasses.asdict(p) for p in self.program]}

    @classmethod
    def from_json(cls, doc: dict | str | bytes) -> KeyLayout:
        """From `to_json()`'s dict or its JSON text; ValueError/TypeError if malformed."""
        if isinstance(doc, (str, bytes)):
            doc = json.loads(doc)
        return cls(memory=[MemoryKey(**k) for k in doc.get("memory", [])],
                   program=[ProgramKey(**p) for p in doc.get("program", [])])

    def save(self, path: Path) -> None:
        atomic_write(Path(path), json.dumps(self.to_json(), indent=1,
                                            ensure_ascii=False).encode("utf-8") + b"\n")

    @classmethod
    def load(cls, path: Path) -> KeyLayout:
        return cls.from_json(Path(path).read_bytes())
