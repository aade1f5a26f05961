"""DIRECTORY and SERVICE (manual §3 button table: "DIRECTORIES: use it to access call logs
and corporate directories", "SERVICE: Open or Close the Services menu"), walked in-process
as a person presses them: what the LCD shows, what was saved, and that a call goes on.
"""
from __future__ import annotations

import pytest

from tests.fakes import build

B = "1002"


@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


def call_out(rig) -> int:
    """Off-hook with the handset, dial, #; the far end answers. Our call id."""
    rig.hook(True).dial(B + "#")
    call = rig.sip.invited(B)
    rig.far(rig.sip.answers, call)
    assert rig.screen == "talking"
    return call


def test_directory_at_idle_opens_the_phone_book_and_the_call_history_beside_it(rig):
    rig.press("directory")
    assert rows(rig)[0] == "Phone book 1/5" and rows(rig)[4] == "4 Call history"
    rig.press("4")                                       # the call logs, one press away
    assert rows(rig)[1:4] == ["> 1 Missed calls", "2 Received calls", "3 Dialled numbers"]
    rig.press("ok")                                      # Missed calls: the list
    assert rig.state.menu[-1].kind == "calllog"
    rig.press("directory")                               # pressed again: closed
    assert rig.screen == "idle"


def test_service_opens_the_services_page_and_dnd_changes_there(rig):
    rig.press("service")
    assert rows(rig)[0] == "Services 1/6"
    assert rows(rig)[1:5] == ["> 1 DND Disable", "2 Call forwarding", "3 Call voicemail",
                              "4 Auto answer Disable"]
    rig.press("ok")                                      # DND: Enable / Disable
    assert "> 2 Disable" in rig.lcd
    rig.press("up", "ok")
    assert rig.settings.phone.dnd is True and rig.saved[-1] == {"phone.dnd": True}
    assert "> 1 DND Enable" in rig.lcd
    rig.press("service")                                 # "Open or Close the Services menu"
    assert rig.screen == "idle" and rig.softkeys[1] == "No DND"
    assert rig.incoming(B) is None                       # DND: the caller hears busy


def test_service_reaches_forwarding_auto_answer_and_line_dnd(rig):
    rig.press("service", "2", "1")                       # Call forwarding > Unconditional
    rig.press("2", "0", "0", "8", "soft2")                # a number: typed in 123 at once
    assert rig.settings.forward.always == "2008"
    rig.press("cancel", "4", "1")                        # Auto answer: Enable
    assert rig.settings.phone.auto_answer is True
    rig.press("5", "2", "1")                             # DND per line > Line 1: Enable
    assert rig.settings.account[1].dnd is True and rig.settings.phone.dnd is False


def test_call_voicemail_dials_the_voice_mail_number(tmp_path):
    rig = build({"phone.voicemail": "*97"}, data_dir=tmp_path)
    rig.press("service", "3")
    assert rig.screen != "menu" and rig.sip.invited("*97")


def test_call_voicemail_without_a_number_says_where_to_set_it_whole(rig):
    rig.press("service", "3")
    assert rig.screen == "idle" and not rig.sip.commands("make_call")
    text = " ".join(rows(rig))
    assert "No voice mail number:" in text and "account.1.voicemail" in text
    assert "…" not in text
    rig.press("service", "6", "soft1", "soft1", "8", "0", "0", "soft2")   # Voicemail number
    assert rig.settings.phone.voicemail == "800"
    assert "6 Voicemail number 800" in rig.lcd


@pytest.mark.parametrize("key", ["directory", "service"])
def test_both_keys_during_a_call_leave_the_call_as_it_is(rig, key):
    call = call_out(rig)
    heard, wire = rig.heard, list(rig.sip.wire)
    rig.press(key)                                       # the page opens over the call
    assert rig.screen == "menu"
    assert rig.calls() == {B: "connected"} and rig.heard == heard
    rig.press("cancel")                                  # C: back to the call
    assert rig.screen == "talking" and rig.heard == heard
    rig.press(key, key)                                  # open, close
    assert rig.screen == "talking" and rig.calls() == {B: "connected"}
    assert rig.sip.wire == wire                          # nothing went out: no hold, no BYE
    rig.hook(False)                                      # the call ends as calls end
    assert rig.sip.wire[-1] == f"BYE {call}"


def test_directory_does_not_take_the_screen_from_a_ringing_call(rig):
    rig.incoming(B)
    rig.press("directory")
    assert rig.screen == "ringing"
    rig.press("service")
    assert rig.screen == "ringing"
