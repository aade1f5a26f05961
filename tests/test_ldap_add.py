"""LDAP search, a hit's "Add to phone book" (issue 14 item 5, the review): a directory
holds numbers a contact cannot ("1001 ext 5", more than 19 digits, a fourth number), the
same hit added twice, a refusal read whole. Against a real slapd whose entries have such
numbers (tests/peers/slapd.py), on the in-process rig (tests/test_ldap_search.py's)."""
from __future__ import annotations

import pytest

from provisioning.phonebook import Contact
from tests.fakes import build
from tests.peers.slapd import PEOPLE, Slapd
from tests.test_ldap_search import PEOPLE_BASE, _run_jobs

pytestmark = pytest.mark.timeout(60)

ODD = ("Zed Numbers", "Numbers", ["1001 ext 5", "1010", "123456789012345678901"],
       ["0170 555 1010", "0170 555 2020"])


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with Slapd(tmp_path_factory.mktemp("slapd"), people=[*PEOPLE, ODD]) as s:
        yield s


@pytest.fixture
def rig(slapd, tmp_path):
    rig = build({"ldap.server": "127.0.0.1", "ldap.port": slapd.port,
                 "ldap.base": PEOPLE_BASE}, tmp_path)
    rig.jobs = []
    rig.features.get("ldap")._submit = lambda fn, *args: rig.jobs.append((fn, args))
    rig.bus.post_threadsafe = rig.bus.post
    return rig


def _add(rig, number: str) -> None:
    """Search number `number`, open the one hit's numbers, Add to phone book."""
    rig.walk("Phone book", "LDAP", "Search number")
    rig.press(*number)
    _run_jobs(rig, order=[-1])                   # the search for all the digits
    rig.press("ok")
    rig.walk("Add to phone book")


def _own(rig) -> list[Contact]:
    return [x.contact for x in rig.features.get("phonebooks").listed("personal")]


def test_numbers_the_book_cannot_hold_are_left_out_and_named(rig):
    _add(rig, "1010")
    (c,) = _own(rig)
    assert (c.first_name, c.last_name, c.office, c.mobile, c.other) == (
        "Zed", "Numbers", "1010", "01705551010", "01705552020")
    page = rig.state.menu[-1]
    assert page.title == "Zed Numbers"
    assert page.items == ["Saved. Not kept:", "1001 ext 5", "123456789012345678901",
                          "A number: 1-19 digits", "C: back"]
    rig.advance(10)                              # a page to read, not a notice that goes
    assert "1001 ext 5" in rig.lcd
    rig.press("down")                            # five rows: the last one comes into sight
    assert "C: back" in rig.lcd
    rig.press("cancel")
    assert rig.state.menu[-1].items[-1] == "Add to phone book"   # the hit's numbers again


def test_a_fourth_number_and_a_repeated_one():
    from firmware.features.ldapsearch import _holdable
    assert _holdable(["1", "2", "2", "3", "4", "x"]) == (
        ["1", "2", "3"], ["4", "x"], ["A contact: 3 numbers", "A number: 1-19 digits"])


def test_the_same_hit_twice_is_already_in_the_phone_book(rig):
    _add(rig, "1002")                            # Mary Jones
    assert "Saved: Mary Jones" in rig.seen
    rig.press("cancel", "cancel")                # back to the field
    rig.hold_key("cancel")
    rig.press(*"1002")
    _run_jobs(rig, order=[-1])
    rig.press("ok")
    rig.walk("Add to phone book")
    assert rig.state.menu[-1].items == ["Already in the phone book", "C: back"]
    assert "Already in the phone" in rig.seen and "\nbook\n" in rig.seen   # in two turns
    assert [c.name for c in _own(rig)] == ["Mary Jones"]


def test_a_refusal_is_read_whole_and_stays(rig):
    books = rig.features.get("phonebooks")
    for i in range(300):
        books.add(Contact(f"C{i}", office=str(4000 + i)))
    _add(rig, "1002")
    rig.advance(10)
    assert rig.state.menu[-1].items == ["Not saved:", "Phone book full: 300 contacts",
                                        "C: back"]
    assert "Not saved:" in rig.lcd and "Phone book full:" in rig.seen
