"""Records: classes of named fields, written like dataclasses, built without them.

What the phone imports before its first REGISTER leaves (firmware/startup.py) is on the
clock of `make bench` (start -> REGISTERED, aimed at 1.5x a bare pjsua2 script). The
dataclasses module costs ~4.5 ms to import (it imports inspect) and ~0.25 ms for every
class it writes code for; the events, the settings sections and the SIP thread's value
objects are ~55 classes on that path. A Record lists its fields as annotations, with a
default or field(...) as a dataclass does, and gets __init__, __repr__ and __eq__ (and
__hash__ and read-only fields when frozen) from this one shared implementation:

    class AccountSpec(Record, frozen=True):
        user: str
        expires: int = 3600
        headers: dict = field(default_factory=dict)

`frozen=True` and `eq=False` mean what they mean for a dataclass. Left out on purpose:
__post_init__, InitVar, ClassVar, kw_only, slots, ordering. fields(),
replace() and asdict() here take Records. Modules imported after the first REGISTER use
dataclasses as usual.
"""
from __future__ import annotations

from collections.abc import Callable

MISSING = object()


class Field:
    """One field of a Record: its name, default (or default factory) and metadata."""

    __slots__ = ("name", "default", "default_factory", "metadata")

    def __init__(self, default: object = MISSING, *,
                 default_factory: Callable[[], object] | object = MISSING,
                 metadata: dict | None = None) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.metadata = metadata if metadata is not None else {}

    def __repr__(self) -> str:
        return f"Field({self.name!r}, default={self.default!r})"


def field(*, default: object = MISSING, default_factory: Callable[[], object] | object = MISSING,
          metadata: dict | None = None):
    """A field with a default factory or metadata (dataclasses.field's words)."""
    return Field(default, default_factory=default_factory, metadata=metadata)


class FrozenRecordError(AttributeError):
    """A field of a frozen Record was assigned."""


class Record:
    """Base class; see the module doc."""

    _fields: dict[str, Field] = {}
    _names: tuple[str, ...] = ()
    _frozen = False
    __hash__ = None     # mutable and compared by value, as a dataclass

    def __init_subclass__(cls, frozen: bool = False, eq: bool = True, **kw) -> None:
        super().__init_subclass__(**kw)
        fields = dict(cls._fields)
        for name in cls.__dict__.get("__annotations__", {}):
            value = cls.__dict__.get(name, MISSING)
            f = value if isinstance(value, Field) else Field(value)
            f.name = name
            fields[name] = f
            if isinstance(value, Field):        # the class keeps a plain default only
                if f.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
        cls._fields, cls._names = fields, tuple(fields)
        cls.__match_args__ = cls._names
        if frozen or cls._frozen:
            cls._frozen = True
            cls.__hash__ = Record._hash
            cls.__setattr__ = Record._read_only
            cls.__delattr__ = Record._read_only
        if not eq:                      # compared and hashed as objects (eq=False)
            cls.__eq__, cls.__hash__ = object.__eq__, object.__hash__

    def __init__(self, *args, **kwargs) -> None:
        names, put = self._names, object.__setattr__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, "
                            f"{len(args)} were given")
        for name, value in zip(names, args):
            put(self, name, value)
        for name, value in kwargs.items():
            if name not in self._fields or name in names[:len(args)]:
                raise TypeError(f"{type(self).__name__}() got an unexpected or a second "
                                f"value for {name!r}")
            put(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                continue
            f = self._fields[name]
            if f.default is not MISSING:
                put(self, name, f.default)
            elif f.default_factory is not MISSING:
                put(self, name, f.default_factory())
            else:
                raise TypeError(f"{type(self).__name__}() is missing {name!r}")

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._names)

    def _hash(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._names))

    def _read_only(self, name: str, *_) -> None:
        raise FrozenRecordError(f"{type(self).__name__} is frozen: {name!r} cannot change "
                                f"(record.replace makes a changed copy)")


def fields(record: Record | type[Record]) -> tuple[Field, ...]:
    """The fields of a Record (class or instance), in order."""
    return tuple(record._fields.values())


def remembered(record: Record, key, work: Callable[[], object], *, limit: int = 256):
    """What `work()` gives for `key`, worked out once per frozen `record` and kept on it (not
    a field: replace() makes a record without it). Bounded: past `limit` keys it starts
    afresh (a scan of many sources cannot grow it)."""
    memo = record.__dict__.get("_remembered")
    if memo is None:
        memo = {}
        object.__setattr__(record, "_remembered", memo)
    if key not in memo:
        if len(memo) >= limit:
            memo.clear()
        memo[key] = work()
    return memo[key]


def recalled(record: Record, key):
    """What remembered() keeps on `record` for `key`, or None: a lookup without the work
    (for a path where each Python call counts: the SIP thread before a 180)."""
    memo = record.__dict__.get("_remembered")
    return memo.get(key) if memo is not None else None


def replace(record: Record, **changes) -> Record:
    """A copy of `record` with `changes` (a shallow copy when there are none)."""
    values = {n: getattr(record, n) for n in record._names}
    values.update(changes)
    return type(record)(**values)


def asdict(record: Record) -> dict:
    """Field name -> value (Records inside are turned into dicts too)."""
    return {n: _plain(getattr(record, n)) for n in record._names}


def _plain(value):
    if isinstance(value, Record):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
