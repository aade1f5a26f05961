"""The manual's §6 ("Use phone keypad to setting") on the LCD, walked in-process as a person
walks it: MENU, arrows or a digit, OK, C; what the LCD shows and what was saved.

Each test names the manual's path. The settings go through the same checks as every other
way in (firmware/settings: a refused value says why and nothing is saved); the real-phone
path (SettingsService, the file, Kamailio) is in test_menu.py.
"""
from __future__ import annotations

import pytest

from firmware import menus, present
from tests.fakes import build
from ui.textentry import MULTITAP_S


@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


def test_menu_or_ok_opens_the_tree_in_the_manuals_order(rig):
    rig.press("menu")
    assert rows(rig)[1:6] == ["> 1 Phone book", "2 Call history", "3 Function setting",
                              "4 System setting", "5 View status"]
    rig.press("cancel")
    assert rig.screen == "idle"
    rig.press("ok")                                    # OK on the standby screen too
    assert rig.state.menu[-1].title == "Menu"


def test_function_setting_auto_answer_enable(rig):
    """§4 "Auto-answer": MENU > Function setting > Auto answer > Enable."""
    rig.walk("Function setting").press("1")
    assert "1 Auto answer Disable" in rig.lcd
    rig.press("ok")
    assert rig.softkeys == ["OK", "", "", "Back"] and "> 2 Disable" in rig.lcd
    rig.press("up", "ok")
    assert rig.settings.phone.auto_answer is True
    assert "> 1 Auto answer Enable" in rig.lcd         # back on the page, the new value
    rig.press("down", "ok", "down", "ok")                # Mode: handset
    assert rig.settings.phone.auto_answer_mode == "handset"


def test_function_setting_dnd_on_a_single_line(rig):
    """§4 "Enable DND on a single line": MENU > Function setting > DND > (line) Enable."""
    rig.walk("Function setting").press("2")
    assert "2 Line 1 Disable" in rig.lcd
    rig.press("2", "1")                                  # Line 1, Enable
    assert rig.settings.account[1].dnd is True and rig.settings.phone.dnd is False
    assert rig.saved[-1] == {"account.1.dnd": True}


def test_call_forwarding_number_typed_on_the_keypad(rig):
    """§4 "Unconditional transfer": MENU > Function setting > VOIP call forwarding >
    unconditional, the number typed and saved."""
    rig.walk("Function setting").press("3", "1")
    assert rig.softkeys == ["123", "Save", "<-", "Cancel"]  # a number: digits first
    rig.press("2", "0", "0", "8", "soft2")
    assert rig.settings.forward.always == "2008"
    assert "1 Unconditional 2008" in rig.lcd


def test_a_refused_value_says_why_and_nothing_is_saved(rig):
    rig.walk("Function setting").press("1", "3")       # Auto answer > Answer after
    rig.press("cancel", "9", "9", "9", "9", "ok")
    assert rig.state.menu[-1].kind == "edit"             # still typing
    assert "at most" in rig.lcd                          # the schema's reason, on the LCD
    assert rig.settings.phone.auto_answer_delay == 3 and rig.saved == []
    rig.press("soft4")
    assert "3 Answer after 3" in rig.lcd


def test_create_a_sip_account_and_submit_changes(rig):
    """§6 "Create an SIP account": System setting > Advanced setting > (password, empty)
    > SIP > Account > the fields > Submit changes."""
    rig.walk("System setting").press("2")
    assert rig.state.menu[-1].title == "Advanced password"
    rig.press("ok")                                      # empty, as from the factory
    rig.press("1", "2")                                  # SIP accounts > Account 2
    assert "> 1 Enable account" in rig.lcd and "> Disable" in rig.seen  # row in turns
    rig.press("1", "1")                                  # Enable account: Enable
    rig.press("3")                                       # User name, in 123 from the start
    rig.press("2", "0", "0", "9", "ok")
    rig.press("5")                                       # User password: letters
    rig.press("7", "2", "7", "7", "7", "7")              # p, a, s (7 four times)
    assert "[**s]" in rig.lcd                            # masked but for the letter chosen
    rig.press("ok")
    rig.press("7")                                       # SIP1: letters first, then 123
    rig.press("soft1", "soft1", *"10*0*0*7", "ok")       # in 123, * is the dot
    assert "7 SIP1 10.0.0.7" in rig.lcd
    assert rig.settings.account[2].enable is False       # nothing saved before Submit
    rig.press("up", "up", "up", "up", "up", "up", "up")  # from SIP1 (7) round to 11
    assert "> 11 Submit changes" in rig.lcd
    rig.press("ok")
    assert rig.settings.account[2].user == "2009" and rig.settings.account[2].enable
    assert rig.settings.account[2].password == "pas"
    assert rig.saved[-1] == {"account.2.enable": True, "account.2.user": "2009",
                             "account.2.password": "pas", "account.2.server": "10.0.0.7"}
    assert "saved" in rig.state.notice


def test_leaving_an_account_page_without_submit_changes_saves_nothing(rig):
    rig.walk("System setting").press("2", "ok", "1", "1", "3")  # Account 1 > User name
    rig.press("4", "ok")
    rig.press("cancel")                                  # leaving: asked first
    assert "Submit changes?" in rig.lcd and rig.softkeys == ["OK", "", "", "Back"]
    rig.press("soft4")                                   # Back: discarded
    assert rig.state.menu[-1].title == "SIP accounts"
    assert rig.settings.account[1].user == "1001" and rig.saved == []
    rig.press("1")
    assert "3 User name 1001" in rig.lcd


def test_the_advanced_password_once_set_is_asked_for(rig):
    rig.walk("System setting").press("2", "ok", "3")  # Advanced password
    rig.press("soft1", "soft1", "4", "2", "soft2")       # "42"
    assert rig.settings.lcd.advanced_password == "42"
    rig.press("menu")                                    # closed: asked again next time
    rig.walk("System setting").press("2", "soft1", "soft1", "4", "1", "ok")
    assert "Wrong password" in rig.lcd and rig.state.menu[-1].kind == "edit"
    rig.press("4", "2", "ok")
    assert rig.state.menu[-1].title == "Advanced setting"


def test_multi_tap_letters_stay_after_the_pause(rig):
    rig.walk("System setting").press("2", "ok", "1", "1", "2")  # Account 1 > Display name
    rig.hold_key("cancel")                               # C held clears
    assert "[]" in rig.lcd
    rig.press("5", "5", "5")                             # l
    rig.advance(MULTITAP_S + 0.1)
    rig.press("5", "5", "5")                             # l again, after the pause
    assert "[ll]" in rig.lcd


def test_a_ringing_call_takes_the_screen_from_an_editor(rig):
    rig.walk("Function setting").press("3", "1", "2")
    rig.incoming("1002")
    assert rig.screen == "ringing" and rig.state.menu == []
    rig.press("soft1")                                   # Answer
    assert rig.calls() == {"1002": "connected"}
    assert rig.settings.forward.always == ""


def test_a_minute_without_a_key_goes_back_to_idle_and_the_call_goes_on(rig):
    """Issue 12: "a timeout back to idle that never loses a call"; typed changes wait."""
    from firmware.features.menu import IDLE_S
    rig.walk("Function setting", "DND")
    rig.advance(IDLE_S - 1).press("down").advance(IDLE_S - 1)   # a key: a minute more
    assert rig.state.menu[-1].title == "DND"
    rig.advance(2)
    assert rig.state.menu == [] and rig.screen == "idle"
    rig.incoming("1002")
    rig.press("soft1")                                   # Answer
    rig.walk("Phone book", "Call history")
    rig.advance(IDLE_S + 1)
    assert rig.state.menu == [] and rig.calls() == {"1002": "connected"}
    assert rig.screen == "talking"
    rig.hook(False)
    rig.walk("Function setting", "Call forwarding", "Unconditional").press("2")
    rig.advance(IDLE_S + 1)                              # an editor with text waits
    assert "[2" in rig.lcd


def test_every_setting_the_tree_names_exists_and_every_page_is_reachable():
    reached, todo = set(), ["main", "services"]       # what MENU and SERVICE open
    while todo:
        name = todo.pop()
        reached.add(name)
        for e in menus.TREE[name].entries:
            if e.setting:
                assert e.setting in menus.FIELDS, e.setting
                menus.kind(e.setting)
            if e.page and e.page not in reached:
                todo.append(e.page)
    assert reached == set(menus.TREE)


def test_ring_type_rings_while_the_cursor_moves_and_ok_keeps_it(rig):
    """§6 "Change the ring tone": System setting > Phone setting > Ring type; it rings the
    type under the cursor, OK sets it, Back leaves it as it was (and stops ringing)."""
    rig.walk("System setting").press("1", "1", "1")  # ... Ring type > All lines
    assert rig.tone == "ring" and rig.state.ring_preview == 1
    rig.press("down", "down")
    assert rig.state.ring_preview == 3 and present.ring_plan(rig.state) == "ring3"
    rig.press("soft4")                                  # Back: nothing kept, quiet
    assert rig.tone is None and rig.settings.volume.ring_type == 1
    rig.press("2", "down", "down", "ok")                # Line 1: Ring 2
    assert rig.settings.account[1].ring_type == 2 and rig.tone is None
    rig.press("menu")
    rig.incoming("1002")                                # a call on line 1 rings type 2
    assert rig.tone == "ring" and present.ring_plan(rig.state) == "ring2"


def test_volume_setting_nine_levels_saved(rig):
    """§6 "Adjust the volume level": System setting > Phone setting > Volume setting."""
    rig.walk("System setting").press("1", "2")
    assert rows(rig)[1:3] == ["> 1 Ring volume 5", "2 Handset volume 5"]
    rig.press("2", "9")                                 # Handset volume: 9
    assert rig.settings.volume.handset == 9 and rig.saved[-1] == {"volume.handset": 9}
    assert rig.state.volumes["handset"] == 9
    rig.press("3", "1")                                 # Handset mic: 1
    assert rig.settings.volume.handset_mic == 1
    rig.press("menu")
    rig.hook(True)                                      # the handset is loud, its mic low
    assert present.volume(rig.state) == pytest.approx(10 ** (8 / 20), rel=1e-3)
    assert present.mic_volume(rig.state) == pytest.approx(10 ** (-8 / 20), rel=1e-3)


def test_up_at_idle_turns_the_ringer_up_and_it_is_kept(rig):
    """§3: the volume (Up/Down at idle, VOL+/VOL-) sets the ring volume; it is saved."""
    rig.press("up", "up")
    assert rig.settings.volume.ring == 7 and "Volume ring 7/9" in rig.state.notice
    rig.press("down", "down", "down")                   # right after Up, Down turns it down
    assert rig.settings.volume.ring == 4 and rig.screen == "idle"
    rig.advance(4)                                      # a moment later Down is the call log
    rig.press("down")
    assert rig.screen == "menu" and rig.settings.volume.ring == 4
    rig.press("menu", "voldown")                        # VOL- at idle: the ringer too
    assert rig.settings.volume.ring == 3
    rig.walk("Function setting").press("down")        # in a menu the arrows move the cursor
    assert rig.settings.volume.ring == 3


def test_load_default_settings_asks_then_restarts_with_the_factory_settings(rig):
    """§6 "Load default settings": Advanced setting > Load default settings > OK."""
    rig.walk("Function setting").press("2", "2", "1", "menu")  # line 1 in DND: not a default
    rig.walk("System setting").press("2", "ok")  # Advanced setting (password empty)
    entries = rig.state.menu[-1].items
    rig.press(str(entries.index("Load default settings") + 1))
    assert "factory's" in rig.lcd and "restarts." in rig.lcd     # the whole question shows
    assert rig.softkeys == ["OK", "", "", "Back"]
    rig.press("soft4")                                  # Back: nothing happens
    assert rig.settings.account[1].dnd is True and rig.restarts == 0
    rig.press(str(entries.index("Load default settings") + 1), "ok")
    assert rig.restarts == 1 and rig.state.menu == []
    assert rig.settings.account[1].dnd is False and rig.settings.account[1].user == ""


def test_reboot_asks_first(rig):
    rig.walk("System setting").press("2", "ok")
    entries = rig.state.menu[-1].items
    rig.press(str(entries.index("Reboot") + 1))
    assert "restarts" in rig.lcd
    rig.press("cancel")
    assert rig.restarts == 0 and rig.state.menu[-1].title == "Advanced setting"
    rig.press(str(entries.index("Reboot") + 1), "soft1")
    assert rig.restarts == 1 and rig.settings.account[1].user == "1001"


def test_a_code_to_dial_takes_star_and_hash_as_typed(rig):
    """SERVICE > Voicemail number: *97 typed as it is dialled (no letters, no dot)."""
    rig.press("service")
    entries = rig.state.menu[-1].items
    rig.press(str(entries.index("Voicemail number") + 1))
    assert rig.softkeys[0] == "123"
    rig.press("*", "9", "7", "#", "ok")
    assert rig.settings.phone.voicemail == "*97#"
