"""firmware/record.py: Records behave like the dataclasses they stand in for, and nothing on
the way to the first REGISTER imports what they replace."""
from __future__ import annotations

import subprocess
import sys

import pytest

from firmware import record
from firmware.events import CallIncoming, HookFlashed, KeyPressed
from firmware.record import FrozenRecordError, Record, field
from tests.phone import ROOT


class Spec(Record, frozen=True):
    user: str
    expires: int = 3600
    tags: tuple = ()


class Section(Record, eq=False):
    port: int = field(default=5060, metadata={"doc": "SIP port"})
    names: list = field(default_factory=list)


def test_arguments_as_a_dataclass_takes_them():
    assert Spec("1003") == Spec(user="1003", expires=3600)
    assert Spec("1003", 60).expires == 60
    with pytest.raises(TypeError, match="missing 'user'"):
        Spec()
    with pytest.raises(TypeError, match="'colour'"):
        Spec("1003", colour="red")
    with pytest.raises(TypeError, match="second value for 'user'"):
        Spec("1003", user="1004")
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Spec("a", 1, (), "extra")


def test_frozen_records_are_read_only_hashable_and_replaced_by_copy():
    s = Spec("1003")
    with pytest.raises(FrozenRecordError):
        s.user = "1004"
    assert isinstance(FrozenRecordError(), AttributeError)
    assert hash(s) == hash(Spec("1003")) and {s, Spec("1003")} == {s}
    t = record.replace(s, expires=60)
    assert (t.user, t.expires, s.expires) == ("1003", 60, 3600)


def test_a_default_factory_gives_each_record_its_own_value():
    a, b = Section(), Section()
    a.names.append("x")
    assert b.names == [] and a.port == 5060
    assert CallIncoming(1, 1, "u", "n", "1").headers is not CallIncoming(2, 1, "u", "n",
                                                                             "1").headers


def test_eq_false_compares_as_objects_and_fields_carry_metadata():
    assert Section() != Section() and len({Section(), Section()}) == 2
    (port, names) = record.fields(Section)
    assert (port.name, port.default, port.metadata["doc"]) == ("port", 5060, "SIP port")
    assert names.default_factory is list


def test_events_compare_print_and_match_by_value():
    assert KeyPressed("1") == KeyPressed("1") != KeyPressed("2")
    assert repr(KeyPressed("1")) == ("KeyPressed(key='1', source='keypad', repeat=False, "
                                     "consumed=False)")
    assert HookFlashed() == HookFlashed() and KeyPressed("1") != HookFlashed()
    match KeyPressed("5", source="panel"):
        case KeyPressed(key, source):
            assert (key, source) == ("5", "panel")
        case _:
            pytest.fail("no match")
    assert record.asdict(Spec("1003", tags=(Spec("x"),))) == {
        "user": "1003", "expires": 3600, "tags": ({"user": "x", "expires": 3600, "tags": ()},)}


def test_the_way_to_the_first_register_imports_no_dataclasses_asyncio_or_web():
    """What `python -m firmware` imports before it sends the first REGISTER
    (firmware/startup.py): each module here was measured at milliseconds of start-up."""
    code = ("import sys, firmware.__main__, firmware.startup; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    for heavy in ("dataclasses", "inspect", "ast", "asyncio", "logging.handlers", "hashlib",
                  "tomli_w", "tomlkit", "firmware.settings.layout",
                  "firmware.app", "firmware.call.phone", "aiohttp", "PIL", "gpiozero",
                  "ldap3", "pyasn1", "firmware.directory.ldap"):
        assert heavy not in out, heavy
