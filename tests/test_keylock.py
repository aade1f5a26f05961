"""Keyboard lock (manual §7 Advance > Phone Setting > Basic, "Key Board Lock"), walked
in-process as a person meets it: the four modes ([Menu Key], [Function Keys], [All keys],
[Lock & Answer]), the password that unlocks, a long # that locks again, and what a locked
phone still does: answer a ringing call, end a call, dial an emergency number.
"""
from __future__ import annotations

import pytest

from tests.fakes import build

MODES = ("menu key", "function keys", "all keys", "lock & answer")


def locked(mode: str, tmp_path, **settings):
    """A phone on the desk with `mode` set: it arrives locked (the setting locks)."""
    rig = build({"phone.keylock": mode, **settings}, data_dir=tmp_path)
    assert rig.state.keylock == mode and "[lock]" in rig.lcd.splitlines()[0]
    return rig


def unlock_page(rig) -> bool:
    return bool(rig.state.menu) and rig.state.menu[-1].title == "Unlock keys"


def long_hash(rig):
    """A long press of #: its press, then held."""
    return rig.press("#").hold_key("#")


# -- the four modes -------------------------------------------------------------------------

def test_menu_key_locks_only_the_menu(tmp_path):
    """[Menu Key]: "only lock the Menu function, others can normal work"."""
    rig = locked("menu key", tmp_path)
    rig.press("menu")
    assert unlock_page(rig) and "Function setting" not in rig.lcd
    rig.press("menu")                                    # MENU again: the page closes
    assert rig.screen == "idle"
    rig.press("ok")                                      # OK on idle opens the menu: locked
    assert unlock_page(rig)
    rig.press("cancel")                                  # C on an empty field: still locked
    assert rig.screen == "idle" and rig.state.keylock == "menu key"
    rig.soft("DND")                                      # other keys work as ever
    assert rig.settings.phone.dnd is True
    rig.press("1", "0", "0", "2").hook(True)
    assert rig.calls() == {"1002": "calling"}
    rig.press("hold")                                    # (not connected: nothing to hold)
    assert not unlock_page(rig)


def test_function_keys_leave_digits_speaker_and_calls(tmp_path):
    """[Function Keys]: "include Menu/Redial/Transfer/Hold etc. you just can use the number
    keys and speaker key"."""
    rig = locked("function keys", tmp_path, **{"phone.dnd": False})
    assert rig.softkeys == ["", "", "", ""]              # no DND, no Redial to offer
    rig.press("soft2")                                   # DND's soft key: locked
    assert rig.settings.phone.dnd is False and rig.state.notice.startswith("Keys locked")
    rig.press("3", "redial", "directory", "service", "up")
    assert rig.screen == "predial" and rig.state.predial == "3"   # nothing opened
    rig.press("cancel", "1", "0", "0", "2", "speaker")    # digits and SPEAKER dial
    call = rig.sip.invited("1002")
    rig.far(rig.sip.answers, call)
    assert rig.screen == "talking" and rig.softkeys == ["", "", "", "End"]
    rig.press("hold", "transfer", "conference")
    assert rig.calls() == {"1002": "connected"} and rig.state.notice.startswith("Keys locked")
    rig.soft("End")
    assert rig.calls() == {}


def test_all_keys_lock_everything_but_calls(tmp_path):
    """[All keys]: "as the name implies" — digits do not type, the soft keys are blank."""
    rig = locked("all keys", tmp_path)
    rig.press("5", "7", "redial", "speaker")
    assert rig.state.predial == "" and rig.calls() == {"": "dialing"}
    rig.press("2", "0", "0")                             # the dial screen takes no digits
    assert rig.calls() == {"": "dialing"}
    rig.press("speaker")                                 # SPEAKER hangs up
    assert rig.calls() == {} and rig.screen == "idle"
    cid = rig.incoming("1002")
    rig.press("speaker")                                 # and answers
    assert rig.calls() == {"1002": "connected"}
    rig.press("hold", "mute", "5")
    assert rig.calls() == {"1002": "connected"} and not rig.state.mute
    assert rig.softkeys == ["", "", "", "End"]
    rig.soft("End")
    assert rig.state.call(cid) is None or rig.calls() == {"1002": "ended"}


def test_lock_and_answer_answers_by_itself(tmp_path):
    """[Lock & Answer]: "Auto open Auto-answer and lock the keys"; unlocking gives auto
    answer back as it was."""
    rig = locked("lock & answer", tmp_path, **{"phone.auto_answer_delay": 2})
    assert rig.settings.phone.auto_answer is True and "AA" in rig.lcd.splitlines()[0]
    rig.incoming("1002")
    rig.advance(3)
    assert rig.calls() == {"1002": "connected"} and rig.screen == "talking"
    rig.press("hold")
    assert rig.calls() == {"1002": "connected"}
    rig.soft("End")
    rig.press("menu", "ok")                              # empty password: OK unlocks
    assert rig.state.keylock == "" and rig.settings.phone.auto_answer is False


def test_all_keys_refuse_a_number_from_anywhere_but_emergency(tmp_path):
    """Nothing but an emergency number goes out while all keys are locked (the API too)."""
    rig = locked("all keys", tmp_path)
    rig.request_dial("1002")
    assert rig.calls() == {} and rig.state.notice == "Keys locked: only emergency numbers"
    rig.press("1", "1", "speaker")                       # "11" may become 112: typed...
    assert rig.calls() == {}                             # ...but does not go out


# -- emergency numbers and ringing calls, in every mode ----------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_an_emergency_number_dials_while_locked(mode, tmp_path):
    """phone.emergency always dials: typed on the standby screen, then the handset."""
    rig = locked(mode, tmp_path)
    rig.press("1", "1", "2").hook(True)
    assert rig.calls() == {"112": "calling"}
    rig.sip.invited("112")


def test_an_emergency_number_dials_on_the_dial_screen_and_takes_digits(tmp_path):
    rig = locked("all keys", tmp_path, **{"phone.emergency": ("911", "11*")})
    rig.hook(True).press("9", "1", "1")                  # the dial plan sends it at once
    call = rig.sip.invited("911")
    rig.far(rig.sip.answers, call)
    assert rig.screen == "talking"
    rig.press("2")                                       # the service's menu hears it
    assert rig.sip.sent[-1].command == "dtmf"
    rig.hook(False).hook(True).press("1", "1")           # a prefix pattern: 11* dials
    rig.sip.invited("11")


@pytest.mark.parametrize("mode", MODES)
def test_a_ringing_call_is_answered_with_the_handset(mode, tmp_path):
    rig = locked(mode, tmp_path)
    rig.incoming("1002")
    rig.hook(True)
    assert rig.calls() == {"1002": "connected"}
    rig.hook(False)
    assert rig.calls() in ({}, {"1002": "ended"})


# -- locking and unlocking -----------------------------------------------------------------------

def test_the_right_password_unlocks_a_wrong_one_does_not(tmp_path):
    rig = locked("all keys", tmp_path, **{"phone.keylock_password": "2580"})
    rig.press("menu")
    assert "Type the unlock" in rig.lcd
    assert rig.softkeys == ["123", "Unlock", "<-", "Cancel"]
    rig.press("1", "2", "3", "4")
    assert "[****]" in rig.lcd                           # masked
    rig.soft("Unlock")
    assert "Wrong password" in rig.lcd and rig.state.keylock == "all keys"
    rig.press("2", "5", "8", "0", "ok")
    assert rig.screen == "idle" and rig.state.keylock == ""
    assert "[lock]" not in rig.lcd and "Keys unlocked" in rig.lcd
    rig.press("redial", "5")                             # keys work again
    assert rig.state.predial == "5"


def test_long_hash_locks_again_with_the_mode_set(tmp_path):
    rig = locked("function keys", tmp_path)
    rig.press("menu", "ok")                              # factory password: empty
    assert rig.state.keylock == ""
    long_hash(rig)
    assert rig.state.keylock == "function keys" and rig.state.predial == ""
    assert "[lock]" in rig.lcd


def test_long_hash_does_nothing_with_the_lock_off(tmp_path):
    rig = build(data_dir=tmp_path)
    long_hash(rig)
    assert rig.state.keylock == "" and rig.state.predial == "#"


def test_a_call_key_closes_the_unlock_page_and_a_call_takes_the_screen(tmp_path):
    rig = locked("all keys", tmp_path)
    rig.press("menu", "1")
    rig.incoming("1002")
    assert rig.screen == "ringing" and not rig.state.menu
    rig.soft("Answer")
    assert rig.calls() == {"1002": "connected"}


def test_the_menu_sets_the_mode_and_it_locks(tmp_path):
    """MENU > Function setting > Keyboard lock > all keys: saved, and it locks once the
    menu is left; System setting > Advanced setting > Unlock password sets the password."""
    rig = build(data_dir=tmp_path)
    rig.walk("System setting").press("2", "ok")  # Advanced setting (empty password)
    entries = rig.state.menu[-1].items
    rig.press(str(entries.index("Unlock password") + 1))
    rig.soft("abc").soft("ABC").press("4", "2", "ok")     # 123 mode, then the digits
    assert rig.settings.phone.keylock_password == "42"
    rig.press("menu").walk("Function setting")
    entries = rig.state.menu[-1].items
    rig.press(str(entries.index("Keyboard lock") + 1))
    assert rig.state.menu[-1].items == ["off", "menu key", "function keys", "all keys",
                                        "lock & answer"]
    rig.press("4")
    assert rig.settings.phone.keylock == "all keys"
    rig.press("menu")                                    # leave the menu: locked
    assert rig.screen == "idle" and "[lock]" in rig.lcd
    rig.press("menu", "4", "2", "ok")
    assert rig.state.keylock == ""


def test_setting_it_off_unlocks(tmp_path):
    rig = locked("all keys", tmp_path)
    rig.set({"phone.keylock": "off"})
    assert rig.state.keylock == "" and "[lock]" not in rig.lcd


def test_the_lock_survives_a_restart(tmp_path):
    rig = locked("all keys", tmp_path)
    again = build({"phone.keylock": "all keys"}, data_dir=tmp_path)
    assert again.state.keylock == "all keys"
    rig.press("menu", "ok")                              # unlocked, then restarted
    again = build({"phone.keylock": "all keys"}, data_dir=tmp_path)
    assert again.state.keylock == ""


def test_a_password_with_letters_is_typed_multi_tap(tmp_path):
    """The one editor: the mode soft key to abc, multi-tap letters, each staying by itself."""
    rig = locked("all keys", tmp_path, **{"phone.keylock_password": "ab"})
    rig.press("menu").soft("123").soft("Sym").press("2")   # 123 -> Sym -> abc: "a"
    rig.advance(2).press("2", "2")                       # "a" stays; "b" by two taps
    assert "[*b]" in rig.lcd                             # the letter being chosen shows
    rig.advance(2)
    assert "[**]" in rig.lcd
    rig.soft("Unlock")
    assert rig.state.keylock == ""


def test_lock_and_answer_locks_even_when_auto_answer_cannot_be_saved(tmp_path):
    rig = build(data_dir=tmp_path)

    def full_disk(values):
        raise OSError(28, "No space left on device")
    rig.features.get("keylock").update = full_disk
    rig.set({"phone.keylock": "lock & answer"})
    assert rig.state.keylock == "lock & answer" and "could not be saved" in rig.state.notice


def test_a_lock_set_elsewhere_closes_an_open_menu(tmp_path):
    """The web (or provisioning) sets a mode while a menu is open on the LCD: the menu
    closes at once, so its Keyboard lock > off cannot unlock without the password."""
    rig = build(data_dir=tmp_path)
    rig.walk("Function setting", "Keyboard lock")
    rig.set({"phone.keylock": "all keys"})
    assert rig.state.keylock == "all keys" and rig.screen == "idle"
    assert "[lock]" in rig.lcd
    rig.press("menu")                                    # MENU: the unlock page, no menu
    assert unlock_page(rig) and "Function setting" not in rig.lcd
    rig.press("cancel")
    assert rig.settings.phone.keylock == "all keys" and rig.state.keylock == "all keys"


def test_a_lock_set_in_the_menu_waits_until_it_is_left(tmp_path):
    """Keyboard lock > menu key chosen in the menu: the menu stays until it is left."""
    rig = build(data_dir=tmp_path)
    rig.walk("Function setting", "Keyboard lock", "menu key")
    assert rig.state.keylock == "menu key" and rig.state.menu[-1].title == "Function setting"
    rig.press("menu")
    assert rig.screen == "idle"
    rig.press("menu")
    assert unlock_page(rig)


def test_directory_on_the_unlock_page_does_what_the_mode_allows(tmp_path):
    """[Menu Key] leaves every other key working: DIRECTORY on the unlock page opens the
    phone book as on the standby screen. [Function Keys] locks it: "Keys locked"."""
    rig = locked("menu key", tmp_path)
    rig.press("menu")
    assert unlock_page(rig)
    rig.press("directory")
    assert rig.state.menu[-1].title == "Phone book" and rig.state.keylock == "menu key"
    rig.press("directory")                               # pressed again: closed
    assert rig.screen == "idle"
    rig = locked("function keys", tmp_path / "f")
    rig.press("menu", "directory")
    assert rig.state.menu == [] and rig.state.notice.startswith("Keys locked")
