"""The house of the call core (#11): the mode stack, the call model and features as
modules, in process (tests/fakes/): what a person sees is the same as on a real phone."""
from __future__ import annotations

import logging

from firmware import features
from firmware.call import model
from firmware.call.controls import BLANK, Controls, Mode
from firmware.call.state import Call, CallState, PhoneState
from firmware.events import DiagnoseRequested
from tests.fakes import build


def talking(rig, number: str = "1002") -> int:
    rig.hook(True)
    rig.dial(number + "#")
    call = rig.sip.invited(number)
    rig.far(rig.sip.answers, call)
    return call


# --- soft keys come from the active modes ---------------------------------------------------

def test_talking_shows_the_transfer_and_conference_features_soft_keys():
    rig = build()
    talking(rig)
    assert rig.softkeys == ["Hold", "Xfer", "Conf", "End"]
    assert rig.state.modes == ()


def test_transfer_is_a_mode_with_its_own_soft_keys_until_given_back():
    rig = build()
    talking(rig)
    rig.soft("Xfer")
    assert rig.state.modes == ("transfer",)
    assert rig.softkeys == ["Send", "B Xfer", "<-", "Cancel"]
    rig.soft("B Xfer")
    assert rig.softkeys == ["Send", "C Xfer", "<-", "Cancel"]
    rig.press("cancel")                       # C on the empty Transfer to screen
    assert rig.state.modes == () and rig.screen == "talking"
    assert rig.calls() == {"1002": "connected"}


def test_a_consult_transfer_joined_with_conf_leaves_only_the_conference_mode():
    rig = build()
    talking(rig)
    rig.press("transfer")
    rig.dial("1003#")
    rig.far(rig.sip.answers, rig.sip.invited("1003"))
    assert rig.softkeys == ["Xfer", "Conf", "", "End"]
    rig.soft("Conf")
    assert rig.state.modes == ("conference",)
    assert rig.state.transfer is None and len(rig.state.conference) == 2
    assert rig.softkeys == ["", "", "", "End"]
    rig.hook(False)                           # conference_exit end_all: both end
    assert rig.state.modes == () and rig.calls() == {}


def test_an_open_menu_a_call_list_and_a_test_are_modes_asked_about_keys_first():
    rig = build()
    rig.press("menu")
    assert rig.state.modes == ("menu",) and rig.screen == "menu"
    rig.press("2")                            # Call history: a digit picks, not predial
    rig.press("1")                            # Missed calls: the list on top of the menu
    assert rig.state.modes == ("call list", "menu") and rig.state.predial == ""
    rig.press("cancel")                       # back to Call history: the list left
    assert rig.state.modes == ("menu",)
    rig.press("speaker")                      # a call key closes the menu, the Phone acts
    assert rig.state.modes == () and rig.state.menu == [] and rig.screen == "dialing"
    rig.press("speaker")
    rig.bus.post(DiagnoseRequested("keys"))
    rig.settle()
    assert rig.state.modes == ("diagnose",)
    rig.hook(True)                            # the keys test shows the hook, no dial tone
    assert rig.state.diag_text == "Handset lifted" and rig.calls() == {}
    rig.press("cancel")
    rig.press("cancel")
    assert rig.state.modes == () and rig.state.diag == ""


def test_a_soft_key_whose_action_nobody_answers_is_blank():
    s = PhoneState()
    c = Controls(s)
    c.push(Mode("x", softkeys=lambda s: {"talking": {1: ("Ghost", "ghost")}}))
    assert s.soft["talking"] == (None, BLANK, None, None)


def test_newest_mode_is_asked_first_and_a_popped_mode_is_not_asked():
    s = PhoneState()
    c = Controls(s)
    asked = []
    old = Mode("old", hang_up=lambda: asked.append("old") or True)
    new = Mode("new", hang_up=lambda: asked.append("new") or False)
    c.push(old)
    c.push(new)
    assert c.ask("hang_up") and asked == ["new", "old"]
    c.pop(old)
    asked.clear()
    assert not c.ask("hang_up") and asked == ["new"]
    assert s.modes == ("new",)


def test_a_mode_reserves_line_keys_no_call_takes():
    rig = build()
    rig.phone.controls.push(Mode("keys", reserves=frozenset({1})))
    rig.hook(True)
    assert rig.state.focused.line == 2


# --- the call model ----------------------------------------------------------------------------

def test_the_call_model_takes_the_moves_of_the_diagram():
    call = Call(id=1, line=1, account=1, direction="out", state=CallState.DIALING)
    for move, state in (("send", CallState.CALLING), ("early", CallState.RINGBACK),
                        ("confirmed", CallState.CONNECTED), ("hold", CallState.HELD),
                        ("resume", CallState.CONNECTED), ("end", CallState.ENDED)):
        assert model.move(call, move)
        assert call.state is state


def test_an_illegal_move_is_logged_and_not_taken(caplog):
    call = Call(id=7, line=1, account=1, direction="in", state=CallState.RINGING)
    with caplog.at_level(logging.WARNING, "deskphone.call"):
        assert not model.move(call, "hold")
    assert call.state is CallState.RINGING
    assert "call 7: no move 'hold' from ringing" in caplog.text


def test_holding_a_call_that_is_not_connected_sends_no_hold():
    rig = build()
    rig.incoming("1005")
    ringing = rig.state.ringing()[0]
    rig.phone.hold(ringing)
    assert ringing.state is CallState.RINGING and rig.sip.commands("hold") == []


# --- features as modules -----------------------------------------------------------------------

def test_which_features_load_is_data_and_each_has_setup():
    import importlib
    for name in features.SCREENS + features.AFTER_REGISTER:
        assert callable(importlib.import_module(f"firmware.features.{name}").setup), name


def test_the_call_features_are_set_up_only_after_the_first_register():
    rig = build()
    loaded = features.load(bus=rig.bus, timers=rig.timers, sip=rig.sip, state=PhoneState(),
                           settings=rig.settings, data_dir=rig.data_dir, save=rig.save)
    assert set(loaded.running) == set(features.SCREENS)
    assert loaded.get("calllog") is not None and loaded.get("transfer") is None
