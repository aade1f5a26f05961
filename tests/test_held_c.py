"""C held down (README: "C held clears the field / every digit"), pressed as a finger does:
`rig.hold` gives the events the keypad driver makes for a key kept down (the press, the long
press, any auto-repeat, the release; drivers/keypad.py). C clears and the page stays: a
repeat of C would be a second, third... C — Cancel, then Back, Back — and a person holding
C to clear a half-typed contact found the idle screen and the contact gone.
"""
from __future__ import annotations

from tests.fakes import build

HOLD_S = 1.5           # well past hardware.long_press_ms (800) and several repeat_ms (120)


def test_c_held_on_a_new_contacts_field_clears_it_and_the_draft_stays(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.press("directory", "ok", "down", "ok")                # Personal > Add contact
    assert rig.state.menu[-1].title == "Add contact"
    rig.press("ok")                                           # First name
    editor = rig.state.menu[-1].data[0]
    rig.press(*"222333")
    assert editor.text
    rig.hold("cancel", HOLD_S)
    assert rig.screen == "menu" and rig.state.menu[-1].kind == "edit"
    assert editor.text == ""                                  # cleared, still typing
    rig.press(*"5")
    rig.advance(1.1)
    rig.press("ok")                                           # the field takes "j"
    assert rig.state.menu[-1].title == "Add contact"
    rig.press("cancel")                                       # leaving asks first
    assert "Submit changes?" in rig.lcd


def test_c_held_in_a_plain_menu_goes_back_one_level_only(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book")
    rig.hold("cancel", HOLD_S)
    assert rig.screen == "menu" and rig.state.menu[-1].title == "Phone book"


def test_c_held_on_the_ldap_search_clears_what_was_typed_and_stays(tmp_path):
    rig = build({"ldap.server": "127.0.0.1", "ldap.base": "dc=example,dc=com"},
                data_dir=tmp_path)
    rig.features.get("ldap")._submit = lambda fn, *args: None     # no server asked
    rig.walk("Phone book", "LDAP", "Search name")
    editor = rig.state.menu[-1].data[0]
    rig.press(*"222333")
    assert editor.text
    rig.hold("cancel", HOLD_S)
    assert rig.screen == "menu" and rig.state.menu[-1].data[0] is editor
    assert editor.text == ""


def test_c_held_while_dialling_on_the_speaker_clears_every_digit_and_the_call_stays(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.press("speaker", *"12345")
    assert rig.state.focused.number == "12345"
    rig.hold("cancel", HOLD_S)
    assert rig.screen == "dialing" and rig.state.focused.number == ""


def test_an_arrow_held_still_repeats(tmp_path):
    """The arrows keep their auto-repeat: Down held walks a list."""
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book")
    page = rig.state.menu[-1]
    hw = rig.settings.hardware
    rig.hold("down", (hw.long_press_ms + 2 * hw.repeat_ms + 10) / 1000)   # press + 3 repeats
    assert page.index == 4 % len(page.items)


def test_c_held_at_idle_clears_every_digit_typed(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.press(*"12345")
    assert rig.state.predial == "12345"
    rig.hold("cancel", HOLD_S)
    assert rig.state.predial == "" and rig.screen == "idle"
    assert rig.state.menu == []
