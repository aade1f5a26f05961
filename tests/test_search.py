"""Fuzzy search from idle (issue 14 item 4; manual §7 Call "Fuzzy Search"): digits typed
at idle show the names they spell on the keypad and the numbers they are in, across the
personal book, the enterprise book and the call log (firmware/features/search.py over
firmware/directory_index.py), and never change what the typed digits dial.
"""
from __future__ import annotations

import pytest

from firmware.directory_index import Index, t9
from provisioning.phonebook import Contact, Group, Phonebook
from tests.fakes import build
from tests.test_directory_lcd import stored

ENTERPRISE = Phonebook(groups=[Group("Sales")], contacts=[
    Contact("Kim", "Lee", office="2002", group="Sales"),
    Contact("Zoë", "Jones", mobile="13800138000"),
    Contact("Bob", "Builder", office="2001")])
PERSONAL = Phonebook(contacts=[Contact("Joanna", "Smith", mobile="5551234", account=2)])
LINE2 = {"account.2.enable": True, "account.2.user": "2001", "account.2.server": "192.0.2.10"}


@pytest.fixture
def rig(tmp_path):
    stored(tmp_path, "enterprise", ENTERPRISE)
    stored(tmp_path, "personal", PERSONAL)
    return build(LINE2, data_dir=tmp_path)


def bottom(rig) -> str:
    return rig.lcd.splitlines()[-2]


def test_t9_finds_names_by_any_word_and_numbers_by_any_part():
    index = Index([("Joanna Smith", ("5551234",), "personal", None),
                   ("John Doe", ("3003",), "personal", None),
                   ("Kim Lee", ("2002",), "enterprise", None),
                   ("Zoë Jones", ("13800138000",), "enterprise", None)])
    assert t9("Zoë") == "963"
    assert [h.name for h in index.search("56")] == ["Joanna Smith", "John Doe", "Zoë Jones"]
    assert [h.name for h in index.search("564")] == ["John Doe"]       # J-o-h
    assert [h.name for h in index.search("546")] == ["Kim Lee"]        # K-i-m
    assert [h.name for h in index.search("5663")] == ["Zoë Jones"]      # J-o-n-e, again
    assert [h.number for h in index.search("0013")] == ["13800138000"]
    assert index.search("") == []


def test_typing_shows_matches_and_ok_still_dials_the_digits(rig):
    rig.dial("546")
    assert rig.screen == "predial" and rig.state.predial == "546"
    assert [h.name for h in rig.state.search] == ["Kim Lee"]
    assert "1/1 Kim Lee 2002" in rig.seen
    rig.press("ok")                                       # nothing picked: the digits
    assert rig.sip.invited("546") and rig.state.search == []


def test_the_dial_timer_and_send_key_dial_what_was_typed(rig):
    rig.hook(True).dial("56")                             # off-hook: the dial screen
    assert len(rig.state.search) == 2                     # Joanna, Jones
    rig.advance(6)                                        # phone.dial_timeout 5 s
    assert rig.sip.invited("56")


def test_an_arrow_picks_a_match_then_ok_dials_it(rig):
    rig.dial("5")
    assert [h.name for h in rig.state.search] == ["Joanna Smith", "Kim Lee", "Zoë Jones"]
    rig.press("down", "down")
    assert rig.state.search_pick == 1 and ">2/3 Kim Lee 2002" in rig.seen
    rig.press("ok")
    assert rig.sip.invited("2002") and rig.state.calls[0].name == "Kim Lee"


def test_a_picked_personal_contact_goes_out_on_its_line_with_the_send_key(rig):
    rig.dial("5")
    rig.press("down")                                     # Joanna, personal, line 2
    assert rig.state.search[0].name == "Joanna Smith"
    rig.press("#")
    assert rig.sip.invited("5551234") and rig.state.calls[0].account == 2


def test_the_call_log_is_searched_and_off_means_no_search(rig):
    rig.incoming("7001", name="Vendor")
    rig.far(rig.sip.hangs_up, rig.state.calls[0].id)      # a missed call
    rig.dial("700")
    assert [h.label for h in rig.state.search] == ["Vendor 7001"]
    rig.press("cancel", "cancel", "cancel")
    rig.set({"phone.fuzzy_search": False})
    rig.dial("546")
    assert rig.state.search == [] and "Kim" not in rig.lcd


def test_a_contact_added_is_found_at_once(rig):
    rig.dial("232")
    assert rig.state.search == []
    rig.press("cancel", "cancel", "cancel")
    assert rig.screen == "idle"
    rig.features.get("directory").books.add(Contact("Ada", mobile="999"))
    rig.dial("232")
    assert [h.name for h in rig.state.search] == ["Ada"]


def test_a_call_logged_is_found_and_the_books_are_not_read_again(rig):
    search = rig.features.get("search")
    rig.dial("9")
    books = search.books_index[1]
    rig.press("cancel")
    rig.incoming("9123", name="Late")
    rig.far(rig.sip.hangs_up, rig.state.calls[0].id)
    rig.dial("528")                                       # L-a-t
    assert [h.label for h in rig.state.search] == ["Late 9123"]
    assert search.books_index[1] is books                 # only the calls' rows rebuilt


def test_the_index_is_built_ahead_not_on_the_first_digit(rig):
    search = rig.features.get("search")
    assert search.index is None
    rig.advance(11)                                       # a quiet moment after start
    built = search.index
    assert built is not None and len(built) == 4          # 4 contacts, a number each
    rig.dial("5")
    assert search.index is built and rig.state.search


def test_a_number_typed_by_hand_is_named_from_the_books_when_it_goes_out(rig):
    rig.hook(True).dial("2002").press("ok")               # Kim Lee's office, typed
    assert rig.sip.invited("2002") and "Kim Lee" in rig.lcd
    rig.hook(False)
    assert rig.features.get("calllog").lists["dialled"][0].name == "Kim Lee"
