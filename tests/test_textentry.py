"""ui/textentry.py: typing on the 12-key pad as a person does (multi-tap, modes, C)."""
from __future__ import annotations

import pytest

from ui.textentry import MULTITAP_S, TextEntry


def typed(entry: TextEntry, keys: str, start: float = 0.0, gap: float = 0.2) -> float:
    """Press `keys` (one character each; '_' waits out the multi-tap pause)."""
    now = start
    for k in keys:
        if k == "_":
            now += MULTITAP_S + 0.1
            entry.tick(now)
            continue
        assert entry.press(k, now)
        now += gap
    return now


def test_multi_tap_spells_a_name_and_a_pause_lets_a_letter_stay():
    e = TextEntry()
    typed(e, "4_444_")                  # g, then i (4 three times)
    assert e.text == "gi"
    typed(e, "2_2", start=10)           # a, a: the pause separates two a's
    assert e.text == "giaa" and e.choosing


def test_another_key_lets_the_letter_stay_at_once_and_the_cycle_wraps():
    e = TextEntry()
    typed(e, "5666")                     # j, then o (6 three times)
    assert e.text == "jo"
    typed(e, "22222", start=5)           # a b c 2 a
    assert e.text == "joa"


def test_the_mode_soft_key_switches_abc_ABC_123_symbols():
    e = TextEntry()
    assert e.label == "abc"
    assert [e.next_mode() for _ in range(4)] == ["ABC", "123", "sym", "abc"]
    e.next_mode()                                        # ABC
    typed(e, "7777_")
    e.next_mode()                                        # 123
    typed(e, "1003")
    e.next_mode()                                        # symbols: 1 is . : @ /
    typed(e, "111_")
    assert e.text == "S1003@"


def test_a_sip_uri_can_be_typed_in_letters_mode():
    e = TextEntry()
    typed(e, "7777_444_7_")        # s i p
    typed(e, "***", start=20)      # * cycles * . : -> ':'
    e.press("right", 30)
    assert e.text == "sip:"


def test_c_erases_before_the_cursor_and_held_c_clears_all():
    e = TextEntry("1003", kind="number")
    e.press("left", 0)
    e.press("cancel", 0)
    assert (e.text, e.cursor) == ("103", 2)
    e.press("9", 1)
    assert e.text == "1093"
    assert e.hold("cancel") and (e.text, e.cursor) == ("", 0)


def test_an_ip_field_takes_digits_and_star_for_the_dot():
    e = TextEntry(kind="ip")
    assert e.modes() == ("123",) and e.next_mode() == "123"
    typed(e, "192*168*0*2#")      # '#' types nothing in an address
    assert e.text == "192.168.0.2"


def test_a_password_is_masked_but_for_the_letter_being_chosen():
    e = TextEntry(secret=True)
    typed(e, "7_2")
    assert e.text == "pa" and e.shown() == "*a"
    e.tick(100)
    assert e.shown() == "**"


def test_max_len_bounds_what_is_typed():
    e = TextEntry("12345", kind="number", max_len=6)
    typed(e, "678")
    assert e.text == "123456"


def test_due_says_when_the_pending_letter_stays():
    e = TextEntry()
    e.press("2", 3.0)
    assert e.due() == pytest.approx(3.0 + MULTITAP_S)
    assert not e.tick(3.5) and e.tick(3.0 + MULTITAP_S)
    assert e.due() is None


def test_unknown_keys_are_left_to_the_page():
    e = TextEntry()
    assert not e.press("ok", 0) and not e.press("soft1", 0) and e.text == ""
    with pytest.raises(ValueError):
        TextEntry(kind="colour")
