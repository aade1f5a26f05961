"""What a newcomer met walking the LCD menu (tests/test_newcomer.py's findings), walked
in-process as a person walks it: the standby screen says where an account is added, an
extension number is typed in 123 at once, ':' has a key, a long row is read whole, Submit
says what happened (saved, disabled, registering, registered), changes are never dropped
without asking, the editor's soft keys say what they do and the letter still being chosen
stands out. Also the translation rule that the most specific message wins.
"""
from __future__ import annotations

import pytest

from firmware import i18n
from firmware.call.state import PhoneState
from firmware.events import RegistrationChanged
from tests.fakes import build
from ui import lcd
from ui.textentry import TextEntry


@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


def said(rig_or_state) -> str:
    """The words shown over the turns, however they were wrapped."""
    return " ".join(seen(rig_or_state).split())


def shows(rig_or_state, text: str) -> bool:
    """Is `text` on the LCD: on a row, or as a long text shown in turns (Frame.paged), its
    every word seen over the turns?"""
    snap = getattr(rig_or_state, "state", rig_or_state)
    snap = snap.snapshot() if hasattr(snap, "snapshot") else snap
    frame = lcd.render(snap)
    if text in frame.text:
        return True
    words = said(snap).split()
    return any(t == text for t, _ in frame.paged) and all(w in words for w in text.split())


def seen(rig_or_state) -> str:
    """Everything the LCD shows over the turns of its long texts (ui/lcd.py Frame.paged)."""
    snap = getattr(rig_or_state, "state", rig_or_state)
    snap = snap.snapshot() if hasattr(snap, "snapshot") else snap
    return "\n".join(lcd.render(snap, step).text for step in range(lcd.render(snap).turns))


def account(rig, n: int):
    """MENU > System setting > Advanced setting (password empty) > SIP accounts > Account n."""
    rig.walk("System setting", "Advanced setting")
    rig.press("ok")                                      # the factory's empty password
    return rig.walk("SIP accounts", f"Account {n}")


# -- 1: the standby screen of a phone with no account -----------------------------------------

def test_no_account_says_where_one_is_added():
    assert lcd.render(PhoneState()).lines[0] == "No account"
    assert shows(PhoneState(), lcd.ADD_ACCOUNT)          # in turns, whole words
    assert "MENU > System setting > Advanced setting > SIP accounts" in lcd.ADD_ACCOUNT


# -- 4, 5: typing an extension number, a host:port ---------------------------------------------

def test_user_name_starts_in_123_even_when_empty(rig):
    account(rig, 2).walk("User name")
    assert rig.softkeys[0] == "123" and rig.lcd.splitlines()[0].endswith("123")
    rig.press("2", "0", "0", "9")
    assert "[2009]" in rig.lcd
    rig.press("soft4")
    rig.walk("Authen user")
    assert rig.softkeys[0] == "123"


def test_star_types_a_colon_in_123_and_the_help_says_so(rig):
    account(rig, 2).walk("SIP1")
    assert shows(rig, "registrar host[:port]; empty = peer-to-peer calls only; "
                      "In 123, * is . then * then :")
    rig.press("soft1", "soft1")                          # abc -> ABC -> 123
    rig.press(*"10*0*0*7")
    rig.press("*", "*", "*")                             # . * : (one quick tap each)
    rig.press(*"5060")
    assert "[10.0.0.7:5060]" in rig.lcd
    editor = TextEntry(mode="123")
    for tap in range(3):
        editor.press("*", 0.1 * tap)
    assert editor.text == ":"


# -- 6: long rows read whole -------------------------------------------------------------------

def test_the_selected_row_shows_label_and_value_whole_in_turns(rig):
    account(rig, 1)
    shown = seen(rig)
    assert "> 1 Enable account" in shown and "> Enable" in shown
    assert "> 1 Enable\n" not in shown                  # never the label cut to a word


def test_a_long_value_on_the_selected_row_is_never_cut(tmp_path):
    rig = build({"account.1.server": "sip.pbx-example.com:15060"}, data_dir=tmp_path)
    account(rig, 1).walk("SIP2").press("soft4")
    assert "7 SIP1 sip.pbx-ex…" in rig.lcd.splitlines()  # not selected: cut
    rig.press("up")                                       # the cursor on it: whole, in turns
    assert "> 7 SIP1" in seen(rig) and "> sip.pbx-example.com" in seen(rig)
    assert "> :15060" in seen(rig)                       # an address breaks before its port


# -- 7, 8: Submit changes says what happened ----------------------------------------------------

def test_a_new_account_is_enabled_when_its_user_and_server_are_typed(rig):
    account(rig, 2).walk("User name").press(*"2009", "ok")
    assert rig.state.menu[-1].data[0] == "Disable"       # a server still missing
    rig.walk("SIP1").press("soft1", "soft1", *"10*0*0*7", "ok")
    assert rig.state.menu[-1].data[0] == "Enable"        # shown before Submit
    assert rig.saved == []
    rig.walk("Submit changes")
    assert rig.settings.account[2].enable is True
    assert shows(rig, "Account 2 saved; Line 2: registering...")
    rig.post(RegistrationChanged(account=2, server="10.0.0.7", code=200, reason="OK",
                                 active=True, expires=3600))
    assert rig.lcd.splitlines()[0].startswith("Line 2: registered")


def test_the_line_says_why_it_did_not_register(rig):
    account(rig, 1).walk("User password").press("7", "ok").walk("Submit changes")
    assert shows(rig, "Account 1 saved; Line 1: registering...")
    rig.post(RegistrationChanged(account=1, server="x", code=403, reason="Forbidden",
                                 active=False, expires=0))
    assert shows(rig, "Line 1: Forbidden (403)")


def test_submit_with_the_account_disabled_says_so(rig):
    account(rig, 1).walk("Enable account", "Disable").walk("Submit changes")
    assert rig.settings.account[1].enable is False
    assert shows(rig, "Account 1 saved but disabled: set Enable account")


# -- 9: changes are never dropped without asking -----------------------------------------------

def test_leaving_with_changes_asks_and_ok_submits_them(rig):
    account(rig, 1).walk("User name").press("9", "ok")   # 1001 -> 10019
    rig.press("cancel")
    assert "Submit changes?" in seen(rig) and rig.softkeys == ["OK", "", "", "Back"]
    rig.press("ok")
    assert rig.settings.account[1].user == "10019"
    assert rig.state.menu[-1].title == "SIP accounts"


def test_menu_on_a_field_of_a_changed_account_asks_too(rig):
    account(rig, 1).walk("User name").press("9", "ok")
    rig.walk("Display name").press("menu")               # MENU in the editor
    assert "Submit changes?" in seen(rig) and rig.saved == []
    rig.press("soft4")                                   # Back: discarded, and closed
    assert rig.state.menu == [] and rig.saved == []


def test_menu_on_a_choice_list_or_view_of_a_changed_page_asks_too(rig):
    """MENU on Enable account's list (or Network > View) under typed changes: the page
    comes back and asks; it closed and dropped them."""
    account(rig, 1).walk("User name").press("9", "ok")
    rig.walk("Enable account").press("menu")            # MENU on a choice list
    assert "Submit changes?" in seen(rig) and rig.saved == []
    rig.press("ok")
    assert rig.settings.account[1].user == "10019" and rig.state.menu == []
    rig.walk("System setting", "Advanced setting").press("ok")
    rig.walk("Network", "DNS2").press(*"9*9*9*9", "ok")      # 9.9.9.9
    rig.walk("View").press("menu")                      # MENU on the status it opens
    assert "Submit changes?" in seen(rig) and len(rig.saved) == 1


def test_leaving_without_changes_asks_nothing(rig):
    account(rig, 1).press("cancel")
    assert rig.state.menu[-1].title == "SIP accounts"


# -- 10, 11: the editor -------------------------------------------------------------------------

def test_the_editor_soft_keys_say_what_they_do(rig):
    account(rig, 1).walk("Display name")
    assert rig.softkeys == ["abc", "Save", "<-", "Cancel"]
    assert rig.lcd.splitlines()[0].endswith(" abc")     # the mode in use, as on the key
    rig.press("soft1")
    assert rig.softkeys[0] == "ABC" and rig.lcd.splitlines()[0].endswith(" ABC")
    rig.press("2", "soft4")                              # Cancel: nothing kept
    assert rig.settings.account[1].display_name == "Alice" and rig.saved == []


def test_the_letter_being_chosen_is_inverted(rig):
    account(rig, 1).walk("Display name")
    rig.hold_key("cancel")
    rig.press("2")                                       # "a", still being chosen
    choosing = lcd.render(rig.state.snapshot()).image
    rig.press("right")                                   # it stays
    typed = lcd.render(rig.state.snapshot()).image
    y = lcd.GRIDS[8].rows[0]
    left = [(1, y + dy) for dy in range(-1, 8)]          # the column left of the letter
    assert all(choosing.getpixel(p) == lcd.INK for p in left)     # a dark cell
    assert all(typed.getpixel(p) == lcd.PAPER for p in left)


# -- i18n: the most specific message wins ------------------------------------------------------

def test_the_most_specific_translation_wins_whatever_the_catalog_order():
    assert i18n.tr("Line 1 ended by far end", "zh") == "线路 1 对方已挂断"
    assert i18n.tr("Line 1", "zh") == "线路 1"
    cat = i18n.Catalog({"Line {n}": "L{n}", "Line {n} ended by far end": "E{n}"}, {})
    assert [m for _, m in cat.formats] == ["E{n}", "L{n}"]
