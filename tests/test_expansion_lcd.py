"""Function setting > Expansion and View status > Expansion (manual §6 "Expansion Installation",
"Expansion Settings", "View status"; §7 "Expansion Module"), walked in-process as a person walks
them: a module, a key, its Mode / Account / Name / Number, Submit changes. What is saved is
DATA/keys.json through memkeys' replace_layout, the path and checks of PUT /api/keys/layout
(the real-phone tests of that path are in test_memkeys.py); a key set on the LCD works at once.
"""
from __future__ import annotations

import json

import pytest

from firmware import menus
from tests.fakes import build
from tests.phone import PhoneProcess
from ui.lcd import render


class Watcher:
    """The pjsua-thread half of BLF (firmware/sip/pjblf.py), recording what it is asked."""

    def __init__(self):
        self.watching: list[tuple[str, int, str]] = []

    def watch(self, uri: str, account: int, event: str) -> None:
        self.watching.append((uri, account, event))

    def unwatch(self, uri: str) -> None:
        self.watching = [w for w in self.watching if w[0] != uri]


@pytest.fixture
def rig(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.features.setup(("memkeys",))      # not in the rig by default (it needs the SIP thread)
    rig.keys = rig.features.get("memkeys")
    rig.keys.blf._watcher = Watcher()
    return rig


def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


def turns(rig) -> str:
    """The LCD's text over every turn of its long lines (ui/lcd.py `_turn`), joined."""
    first = render(rig.state.snapshot())
    frames = [first] + [render(rig.state.snapshot(), k) for k in range(1, first.turns)]
    return " ".join(" ".join(f.text.split()) for f in frames)


def saved(rig) -> list[dict]:
    path = rig.data_dir / "keys.json"
    return json.loads(path.read_text())["memory"] if path.exists() else []


def set_key(rig, module: str, key: str, mode: str, number: str = "", line: str = "",
            name: tuple = ()) -> None:
    """Function setting > Expansion > module > key: Mode, Account, Name, Number as typed."""
    rig.walk("Function setting", "Expansion", module, key, "Mode", mode)
    if line:
        rig.walk("Account", line)
    if name:                                             # keys as pressed, abc mode first
        rig.walk("Name").press(*name, "ok")
    if number:
        rig.walk("Number").press(*number, "ok")          # 123 mode first for a number


def test_a_speed_dial_key_set_on_the_lcd_dials_its_number(rig):
    """MENU > Function setting > Expansion > Module 1 > Key 1: Speed dial, Line 1, 1003."""
    rig.walk("Function setting", "Expansion")
    assert rows(rig)[1:4] == ["> 1 Install", "2 Memory keys 0/12", "3 Module 1"]
    rig.walk("Module 1")
    assert rows(rig)[:2] == ["Module 1 1/32", "> 1 Key 1"]
    rig.walk("Key 1")
    assert rows(rig)[1:6] == ["> 1 Mode None", "2 Account Auto", "3 Name (none)",
                              "4 Number (none)", "5 Submit changes"]
    rig.walk("Mode")
    assert {"None", "Speed dial", "Asterisk BLF", "Speed dial prefix", "DTMF", "BLA"} <= \
        set(rig.state.menu[-1].items)
    rig.walk("Speed dial").walk("Account", "Line 1").walk("Number").press("1", "0", "0", "3")
    rig.press("ok")
    assert "4 Number 1003" in rig.lcd and "2 Account Line 1" in rig.lcd
    assert saved(rig) == []                              # nothing before Submit changes
    rig.walk("Submit changes")
    assert saved(rig) == [{"index": 0, "module": 1, "type": "speed_dial", "number": "1003",
                           "label": "", "account": 1}]
    assert rows(rig)[:2] == ["Key e1.1 saved", "> 1 Key 1 Dial: 1003"]  # back on the
    # list (Module 1), saying so in its title a while (firmware/presenter.py clears it)
    rig.press("cancel")
    assert "3 Module 1 1/32" in rig.lcd                  # the module is in use now
    assert rig.keys.modules() == [1] and "e1.1" in rig.state.key_lamps   # the panel shows it
    rig.press("menu")
    rig.press("e1.1")                                    # the key on the module
    assert rig.sip.invited("1003") is not None
    assert rig.calls() == {"1003": "calling"}


def test_a_blf_key_set_on_the_lcd_watches_its_number(rig):
    set_key(rig, "Module 2", "Key 5", "Asterisk BLF", number="1004",
            name=("soft1", "2", "2", "soft1", "soft1", "soft1", "6", "6", "6", "2", "2"))
    assert "3 Name Bob" in rig.lcd                       # ABC: B, back to abc: o, b
    rig.walk("Submit changes")
    assert saved(rig) == [{"index": 4, "module": 2, "type": "blf", "number": "1004",
                           "label": "Bob", "account": None}]
    assert "> 5 Key 5 BLF: Bob" in rig.lcd
    rig.advance(0.1)                                     # subscriptions leave paced
    assert [(uri.split("@")[0], event) for uri, _, event in
            rig.keys.blf._watcher.watching] == [("sip:1004", "dialog")]


def test_a_bad_number_is_refused_with_the_reason_and_nothing_is_saved(rig):
    set_key(rig, "Module 1", "Key 1", "Speed dial", number="1003")
    rig.walk("Submit changes")
    before = (rig.data_dir / "keys.json").read_bytes()
    rig.walk("Key 2", "Mode", "Speed dial").walk("Submit changes")     # no number typed
    assert rig.state.menu[-1].title == "Not saved"
    assert rig.state.menu[-1].items[0] == "e1.2: a Speed dial key needs a number"
    shown = turns(rig)                                   # the long line, in turns
    assert "e1.2: a Speed dial key" in shown and "needs a number" in shown
    assert (rig.data_dir / "keys.json").read_bytes() == before
    rig.press("cancel")                                  # back to the key, the draft kept
    assert rig.state.menu[-1].title == "Module 1 Key 2" and "1 Mode Speed dial" in rig.lcd
    # a paging key takes a multicast address as text: what the file cannot hold is refused
    rig.walk("Mode", "Paging").walk("Number")
    rig.press(*"224*0*1*1", "soft1", "4", "ok")          # then Sym: "<"
    assert "4 Number 224.0.1.1<" in rig.lcd
    rig.walk("Submit changes")
    assert "number must be one line of text without <>" in rig.state.menu[-1].items[0]
    assert (rig.data_dir / "keys.json").read_bytes() == before
    rig.press("cancel")
    rig.walk("Number").press("cancel", "ok").walk("Submit changes")    # mended: saved
    assert saved(rig)[-1]["number"] == "224.0.1.1" and saved(rig)[-1]["type"] == "paging"


def test_leaving_a_key_with_changes_asks_to_submit_them(rig):
    """Back or MENU on a key page with changes asks "Submit changes?", as an account page
    does: Back drops them, OK saves them; a key left unchanged asks nothing."""
    set_key(rig, "Memory keys", "P3", "Asterisk BLF", number="1002")
    rig.press("cancel")                                  # Back: the question
    assert "Submit changes?" in rig.seen and rig.softkeys == ["OK", "", "", "Back"]
    rig.press("cancel")                                  # Back again: dropped
    assert saved(rig) == [] and "> 3 P3" in rig.lcd and "BLF" not in rig.lcd
    rig.walk("P3")
    assert "1 Mode None" in rig.lcd and "4 Number (none)" in rig.lcd
    rig.press("cancel")                                  # nothing changed: no question
    assert rig.state.menu[-1].title == "Memory keys"
    rig.walk("P3", "Mode", "Speed dial").walk("Number").press("1", "0", "0", "2", "ok")
    rig.walk("Name").press("menu")                       # MENU on an editor: the question
    assert "Submit changes?" in rig.seen
    rig.press("ok")                                      # OK: saved, and the menu closes
    assert saved(rig) == [{"index": 2, "module": 0, "type": "speed_dial", "number": "1002",
                           "label": "", "account": None}]
    assert rig.screen == "idle" and rig.state.notice == "Key p3 saved"


def test_a_refused_key_asked_on_leaving_stays_with_the_reason(rig):
    set_key(rig, "Module 1", "Key 2", "Speed dial")      # no number: refused on submit
    rig.press("menu", "ok")
    assert rig.state.menu[-1].title == "Not saved" and saved(rig) == []
    rig.press("cancel")                                  # back to the key, the draft kept
    assert rig.state.menu[-1].title == "Module 1 Key 2" and "1 Mode Speed dial" in rig.lcd


def test_mode_none_clears_a_key_and_the_other_keys_stay(rig):
    set_key(rig, "Memory keys", "P1", "Speed dial", number="1002")
    rig.walk("Submit changes")
    rig.walk("P2", "Mode", "DTMF").walk("Number").press("*", "9", "ok")
    rig.walk("Submit changes")
    assert [k["index"] for k in saved(rig)] == [0, 1]
    rig.walk("P1", "Mode", "None").walk("Submit changes")
    assert saved(rig) == [{"index": 1, "module": 0, "type": "dtmf", "number": "*9",
                           "label": "", "account": None}]


def test_install_says_what_it_means_on_this_board(rig):
    rig.walk("Function setting", "Expansion", "Install")
    assert rig.state.menu[-1].text
    assert any("front panel" in line for line in rig.state.menu[-1].items)


def test_view_status_expansion_counts_the_keys_set(rig):
    set_key(rig, "Module 3", "Key 1", "Speed dial", number="1003")
    rig.walk("Submit changes")
    rig.walk("Key 2", "Mode", "Asterisk BLF").walk("Account", "Line 2")   # line 2 is off
    rig.walk("Number").press(*"1005", "ok").walk("Submit changes")
    rig.press("menu")
    rig.walk("View status", "Expansion")
    assert rig.state.menu[-1].items == ["Modules in use: 1 of 6", "Module 3: 2 of 32 keys",
                                        "P1-P12: 0 of 12 keys",
                                        "e3.2: line 2 has no server to watch 1005 on"]
    assert "Module 3: 2 of 32 keys" in rig.lcd


def test_before_the_programmable_keys_run_the_page_says_so(tmp_path):
    rig = build(data_dir=tmp_path)                       # memkeys not set up yet
    rig.walk("Function setting", "Expansion")
    assert rig.state.menu[-1].items == ["Programmable keys start once the lines have registered"]
    assert "Programmable keys" in rig.lcd and rig.state.menu[-1].text


def test_the_expansion_pages_in_chinese(tmp_path):
    rig = build(settings={"phone.language": "zh"}, data_dir=tmp_path)
    rig.features.setup(("memkeys",))
    rig.walk("Function setting", "Expansion", "Module 1", "Key 1")
    assert rows(rig)[0].startswith("扩展台 1 按键 1") and "> 1 模式 无" in rig.lcd


# --- the real phone (its App, web API and files): one walk, by digits as a person may ----------

def _digit(page: str, label: str) -> str:
    return str([e.label for e in menus.TREE[page].entries].index(label) + 1)


def test_a_key_set_on_the_real_phones_lcd_is_the_layout_the_api_and_panel_see(tmp_path):
    with PhoneProcess(tmp_path / "a", account={"user": "1001"}) as phone:
        phone.key("menu", _digit("main", "Function setting"),
                  _digit("function", "Expansion"))
        phone.wait_screen("Install")
        phone.key("3", "1")                               # Module 1 > Key 1
        phone.wait_screen("Module 1 Key 1")
        phone.key("1", "2")                               # Mode: Speed dial
        phone.wait_screen("Mode Speed dial")
        phone.key("4", *"1003", "ok")                     # Number
        phone.wait_screen("Number 1003")
        phone.key("5")                                    # Submit changes
        phone.wait_screen("Key 1 Dial: 1003")
        assert phone.request("GET", "/api/keys/layout")["memory"] == [
            {"index": 0, "module": 1, "type": "speed_dial", "number": "1003", "label": "",
             "account": None}]
        assert phone.request("GET", "/api/keys/state")["modules"] == [1]   # the panel's
        assert "e1.1" in phone.leds()
