"""Advance > Phone Setting / Call (manual §7) settings that were missing, walked on the
in-process rig as a desk user meets them: the DND soft key shown or not (phone.dnd_softkey),
the tone after the far end hangs up or silence (phone.hangup_tone), the call lists kept on
flash or in memory only (phone.call_log_save). docs/web-settings.md lists every field of the
two pages and where it lives."""
from __future__ import annotations

import json

from tests.fakes.rig import build
from tests.test_manual_s4 import B, call_out


def test_the_dnd_soft_key_can_be_taken_off_the_idle_screen(tmp_path):
    rig = build(data_dir=tmp_path)
    assert rig.softkeys[1] == "DND"
    rig.soft("DND")
    assert rig.state.dnd and rig.softkeys[1] == "No DND"
    rig.update({"phone.dnd_softkey": False})
    rig.settle()
    assert rig.softkeys[1] == "", "no DND soft key: soft key 2 does nothing"
    rig.press("soft2")
    assert rig.state.dnd, "soft key 2 no longer toggles DND"
    rig.update({"phone.dnd_softkey": True})
    rig.settle()
    assert rig.softkeys[1] == "No DND"


def test_the_hang_up_tone_plays_after_the_far_end_ends_the_call_unless_turned_off(tmp_path):
    rig = build(data_dir=tmp_path)
    call = call_out(rig, B)
    rig.far(rig.sip.hangs_up, call)
    assert (rig.screen, rig.tone) == ("ended", "reorder")
    rig.hook(False)
    rig.update({"phone.hangup_tone": False})
    rig.settle()
    call = call_out(rig, B)
    rig.far(rig.sip.hangs_up, call)
    assert (rig.screen, rig.tone) == ("ended", None), "silence after the far end hung up"
    assert "ended by far end" in rig.lcd
    rig.hook(False)
    # a call that never talked still says why with its tone (busy: 486)
    call = call_out(rig, B, answer=False)
    rig.far(rig.sip.rejects, call, 486)
    assert (rig.screen, rig.tone) == ("ended", "busy")


def missed_call(rig) -> None:
    call = rig.incoming("1003")
    rig.far(rig.sip.hangs_up, call)


def test_call_list_save_off_keeps_the_lists_in_memory_and_removes_the_file(tmp_path):
    path = tmp_path / "calllog.json"
    rig = build(data_dir=tmp_path)
    missed_call(rig)
    rig.calllog.flush()
    assert json.loads(path.read_text())["missed"][0]["number"] == "1003"
    rig.update({"phone.call_log_save": False})
    rig.settle()
    rig.calllog.flush()
    assert not path.exists(), "turned off: the file goes"
    missed_call(rig)
    rig.calllog.flush()
    assert not path.exists() and len(rig.calllog.lists["missed"]) == 2, "kept in memory"
    rig.update({"phone.call_log_save": True})
    rig.settle()
    rig.calllog.flush()
    assert len(json.loads(path.read_text())["missed"]) == 2, "on again: written at once"


def test_with_call_list_save_off_a_restart_starts_with_empty_lists(tmp_path):
    rig = build(data_dir=tmp_path)
    missed_call(rig)
    rig.calllog.flush()
    assert (tmp_path / "calllog.json").exists()
    again = build({"phone.call_log_save": False}, data_dir=tmp_path)
    assert again.calllog.lists["missed"] == [] and not (tmp_path / "calllog.json").exists()


def test_an_immediate_hot_line_dials_as_the_handset_is_lifted(tmp_path):
    rig = build({"phone.hotline": "1009"}, data_dir=tmp_path)
    rig.hook(True)
    assert rig.sip.invited("1009") and rig.screen == "calling"


def test_a_delayed_hot_line_dials_after_its_delay_unless_a_digit_comes_first(tmp_path):
    rig = build({"phone.hotline": "1009", "phone.hotline_delay": 4}, data_dir=tmp_path)
    rig.hook(True)
    assert (rig.screen, rig.tone) == ("dialing", "dial")
    rig.advance(3.9)
    assert rig.sip.commands("make_call") == [], "not before its delay"
    rig.advance(0.2)
    assert rig.sip.invited("1009")
    rig.hook(False)
    rig.hook(True).dial("12")
    rig.advance(5)
    assert all("1009" not in c["uri"] for c in rig.sip.commands("make_call")[1:]), \
        "a digit typed first: the hot line waits for the person's number"
