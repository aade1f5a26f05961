"""The call log (manual §3 item 18, §4 "Redial" / "Dial from a call log", §5 "Using Call
Logs"): first the module on its own (a bus, a temp dir, a fake clock), then real phones
calling each other peer-to-peer, driven through their keys and API like a person would.
"""
from __future__ import annotations

import asyncio
import calendar
import json
import logging

import pytest

from firmware.bus import Bus
from firmware.call.controls import Controls
from firmware.features.calllog import CallLog
from firmware.events import (CallEnded, CallIncoming, DialRequested, HookChanged, KeyPressed,
                             PageRequested)
from firmware.settings import Settings
from firmware.call.state import AudioDevice, Call, CallState, PhoneState
from tests.phone import PhoneProcess
from ui.lcd import render

pytestmark = pytest.mark.usefixtures("utc")      # tests/conftest.py

NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))   # Mon 03 Jun 2024 14:05 UTC
MONO = 5000.0


# --- the module on its own ---------------------------------------------------------------

class Rig:
    """A CallLog on a bus of its own; events are dispatched at once, posted ones queue.
    It stands in for the Phone: keys and the hook go where its keypad sends them
    (firmware/call/keypad.py), the modes on its stack first (an open list), then the key's
    handler; `predial` is its command, without going off-hook."""

    def __init__(self, data_dir, settings: Settings | None = None):
        self.loop = asyncio.new_event_loop()
        self.bus = Bus(self.loop)
        self.state = PhoneState(now=NOW, mono=MONO)
        self.settings = settings or Settings()
        self.controls = Controls(self.state)
        self.bus.on(KeyPressed, self.phone_key)
        self.bus.on(HookChanged, self.phone_hook)
        self.log = CallLog(bus=self.bus, state=self.state, settings=self.settings,
                           data_dir=data_dir, phone=self,
                           clock=lambda: (NOW, MONO))
        self._id = 0

    def phone_key(self, ev: KeyPressed) -> None:
        if self.controls.ask("pressed", ev):
            ev.consumed = True
        else:
            self.controls.press(ev.key)

    def phone_hook(self, ev: HookChanged) -> None:
        ev.consumed = self.controls.ask("hook", ev.offhook)

    def predial(self, number: str, line: int) -> None:
        self.state.predial, self.state.predial_line = number, line

    def ended(self, direction: str, number: str, *, answered: bool = False,
              missed: bool = False, name: str = "", account: int = 1, uri: str = "",
              ago: float = 60.0, talked: float = 0.0, contact: str = "") -> None:
        self._id += 1
        if direction == "in":
            self.bus.dispatch(CallIncoming(self._id, account, uri or f"sip:{number}@pbx",
                                           name, number, {"contact": contact}))
        call = Call(id=self._id, line=account or 1, account=account, direction=direction,
                    state=CallState.CONNECTED if answered else CallState.RINGING,
                    number=number, name=name, uri=uri or f"sip:{number}@pbx",
                    started=MONO - ago, connected_at=MONO - talked if answered else 0.0)
        self.bus.dispatch(CallEnded(call, answered, missed))

    def key(self, *keys: str) -> None:
        for k in keys:
            self.bus.dispatch(KeyPressed(k, "api"))

    def posted(self) -> list:
        out = []
        while not self.bus.queue.empty():
            out.append(self.bus.queue.get_nowait())
        return out

    def screen(self) -> list[str]:
        snap = self.state.snapshot()
        return render(snap).lines

    def close(self) -> None:
        self.log.flush()
        self.loop.close()


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def test_each_call_goes_to_its_list_newest_first(rig):
    rig.ended("in", "1002", missed=True, name="Bob", ago=120)
    rig.ended("in", "1003", answered=True, talked=42, ago=100)
    rig.ended("out", "sip:carol@10.0.0.9", ago=30, talked=0)
    rig.ended("out", "1004", answered=True, talked=5)
    rig.ended("in", "1005")                                   # refused by us: nowhere
    doc = rig.log.document()
    assert doc["missed"] == [{"number": "1002", "name": "Bob", "uri": "sip:1002@pbx",
                              "contact": "", "line": 1, "start": NOW - 120, "duration": 0,
                              "seen": False}]
    assert [(e["number"], e["duration"]) for e in doc["received"]] == [("1003", 42)]
    assert [(e["number"], e["duration"]) for e in doc["dialled"]] == [
        ("1004", 5), ("sip:carol@10.0.0.9", 0)]
    assert rig.state.missed == 1


def test_the_log_and_the_unseen_count_survive_a_restart_and_redial_comes_back(tmp_path):
    r = Rig(tmp_path)
    r.ended("in", "1002", missed=True)
    r.ended("in", "1003", missed=True)
    r.ended("out", "1007")
    r.close()
    assert json.loads((tmp_path / "calllog.json").read_text())["missed"][0]["number"] == "1003"
    again = Rig(tmp_path)
    assert again.state.missed == 2 and again.state.redial == "1007"
    assert again.log.document() == r.log.document()
    again.close()


def test_a_damaged_file_is_kept_aside_and_the_log_starts_empty(tmp_path, caplog):
    (tmp_path / "calllog.json").write_text('{"missed": [{"number": "1002", "sta')
    with caplog.at_level(logging.WARNING, "deskphone.calllog"):
        r = Rig(tmp_path)
    assert r.log.document() == {"missed": [], "received": [], "dialled": []}
    assert "damaged" in caplog.text and "calllog.json.bad" in caplog.text
    assert (tmp_path / "calllog.json.bad").read_text().startswith('{"missed"')
    r.ended("in", "1002", missed=True)                        # and it works on
    r.close()
    assert json.loads((tmp_path / "calllog.json").read_text())["missed"][0]["number"] == "1002"


def test_a_damaged_entry_is_skipped_the_rest_is_kept(tmp_path):
    (tmp_path / "calllog.json").write_text(json.dumps(
        {"missed": [{"number": "1002", "start": NOW, "seen": False}, {"start": "x"}, 7]}))
    r = Rig(tmp_path)
    assert [e["number"] for e in r.log.document()["missed"]] == ["1002"]
    assert r.state.missed == 1
    r.close()


def test_each_list_keeps_at_most_call_log_size_entries(tmp_path):
    settings = Settings()
    settings.phone.call_log_size = 10
    r = Rig(tmp_path, settings)
    for n in range(12):
        r.ended("out", f"10{n:02d}")
    assert [e["number"] for e in r.log.document()["dialled"]] == \
        [f"10{n:02d}" for n in range(11, 1, -1)]
    r.close()


def test_arrows_on_the_standby_screen_open_the_lists_and_left_right_switch(rig):
    rig.ended("in", "1002", missed=True, name="Bob", ago=300)
    rig.ended("in", "1003", answered=True, ago=2 * 86400)
    rig.key("down")
    lines = rig.screen()
    assert lines[0] == "Missed calls 1/1"
    assert lines[1] == "> Bob 14:00"
    assert lines[-1] == "Dial Delete Add Back"
    assert rig.state.missed == 0                              # opening it marks them seen
    rig.key("left")
    assert rig.screen()[:2] == ["Received calls 1/1", "> 1003 Sat 14:05"]
    rig.key("left")
    assert rig.screen()[:2] == ["Dialled numbers", "No dialled numbers"]
    assert rig.screen()[-1] == "Back"
    rig.key("right")                                          # round again
    assert rig.screen()[0] == "Received calls 1/1"
    rig.key("right")
    assert rig.screen()[0] == "Missed calls 1/1"
    rig.key("cancel")                                         # back to the standby screen
    assert rig.state.menu == [] and rig.state.screen() == "idle"
    rig.key("right")
    assert rig.state.menu[-1].title == "Dialled numbers"


def test_ok_dials_the_entry_on_its_line_and_delete_removes_it(rig):
    for n in (1, 2):
        rig.settings.account[n].enable = True
        rig.settings.account[n].server = "pbx"
    rig.ended("in", "1002", missed=True, account=2)
    rig.ended("in", "1003", missed=True, account=3)           # line 3 is off
    rig.key("down", "down")                                   # the second (older) entry
    assert rig.screen()[2] == "> 1002 14:04"
    rig.key("soft1")                                          # Dial
    assert rig.posted() == [DialRequested("1002", 2)]
    assert rig.state.menu == []
    rig.key("down")
    rig.key("ok")
    assert rig.posted() == [DialRequested("1003", 0)]         # the default line
    rig.key("down", "soft2")                                  # Delete
    assert [e["number"] for e in rig.log.document()["missed"]] == ["1002"]
    assert rig.screen()[:2] == ["Missed calls 1/1", "> 1002 14:04"]


def test_a_peer_to_peer_caller_is_called_back_on_its_contact(rig):
    rig.settings.account[1].enable = True                     # no server: P2P only
    rig.ended("in", "1002", missed=True, uri="sip:1002@192.168.1.20",
              contact="<sip:1002@192.168.1.20:5062;ob>")
    rig.ended("in", "1003", missed=True, uri="sip:1003@192.168.1.30:5062")
    rig.key("down", "ok")
    assert rig.posted() == [DialRequested("sip:1003@192.168.1.30:5062", 1)]   # no Contact
    rig.key("down", "down", "ok")
    assert rig.posted() == [DialRequested("sip:1002@192.168.1.20:5062;ob", 1)]


def test_lifting_the_handset_on_an_entry_pre_dials_it_for_the_phone(rig):
    rig.settings.account[1].enable = True
    rig.settings.account[1].server = "pbx"
    rig.ended("out", "1009")
    rig.key("right")
    ev = HookChanged(True)
    rig.bus.dispatch(ev)
    assert not ev.consumed                   # the Phone goes off-hook and dials the pre-dial
    assert rig.state.predial == "1009" and rig.state.predial_line == 1
    assert rig.state.menu == []
    rig.state.predial = ""
    rig.state.audio = AudioDevice.SPEAKER    # something in progress: the phone acts alone
    rig.key("right")
    rig.key("headset")
    assert rig.state.predial == ""


def test_call_history_in_the_menu_opens_the_lists(rig):
    rig.bus.dispatch(PageRequested("calllog:received"))
    assert rig.state.menu[-1].title == "Received calls"


def test_c_on_the_standby_screen_marks_missed_calls_seen(rig):
    rig.ended("in", "1002", missed=True)
    rig.key("cancel")
    assert rig.state.missed == 0
    assert rig.log.document()["missed"][0]["seen"] is True


def test_times_in_a_list_are_today_this_week_or_a_date(rig):
    for ago in (40 * 86400, 3 * 86400, 3600):
        rig.ended("in", "1002", answered=True, ago=ago)
    rig.state.time_format = 12
    rig.key("left")
    assert rig.screen()[1:4] == ["> 1002 1:05pm", "1002 Fri 2:05pm", "1002 24 Apr"]


# --- real phones ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Alice (1001) and Bob (1002), peer-to-peer; each test starts with empty logs."""
    root = tmp_path_factory.mktemp("calllog")
    with PhoneProcess(root / "a", account={"user": "1001"}) as a, \
            PhoneProcess(root / "b", account={"user": "1002"}) as b:
        yield a, b


@pytest.fixture
def ab(pair):
    a, b = pair
    for p in (a, b):                           # back to the standby screen, empty logs
        s = p.state()
        if s["offhook"]:
            p.hook(False)
        if s["menu"]:
            p.key("menu")
        if s["calls"]:
            p.key("soft4")
        p.wait(lambda s: s["calls"] == [] and s["screen"] == "idle", what="idle")
        p.request("DELETE", "/api/calllog")
    return pair


def missed_call(caller: PhoneProcess, callee: PhoneProcess, user: str) -> None:
    caller.dial(callee.uri(user))
    callee.wait(lambda s: s["screen"] == "ringing")
    caller.key("soft4")                                       # End while it rings
    callee.wait(lambda s: s["screen"] == "idle" and s["missed"] >= 1)
    caller.wait(lambda s: s["calls"] == [])


def calllog(p: PhoneProcess) -> dict:
    return p.request("GET", "/api/calllog")


def test_a_call_nobody_answered_shows_in_missed_calls_and_the_idle_screen_counts_it(ab):
    a, b = ab
    missed_call(b, a, "1001")
    assert "1 Missed" in a.screen()
    entry = calllog(a)["missed"][0]
    assert entry["number"] == "1002" and entry["seen"] is False and entry["duration"] == 0
    assert calllog(b)["dialled"][0]["number"] == a.uri("1001")
    a.key("down")
    text = a.wait_screen("Missed calls")
    assert "> 1002" in text and "Dial Delete Add Back" in text


def test_opening_missed_calls_marks_them_seen(ab):
    a, b = ab
    missed_call(b, a, "1001")
    a.key("menu")
    a.key("2")                                                # Call history
    a.wait_screen("Call history")
    a.key("1")                                                # Missed calls
    a.wait_screen("> 1002")
    assert a.wait(lambda s: s["missed"] == 0)["menu"] == ["Menu", "Call history",
                                                          "Missed calls"]
    assert calllog(a)["missed"][0]["seen"] is True
    a.key("cancel")
    a.key("cancel")
    a.key("cancel")
    a.wait(lambda s: s["screen"] == "idle")
    assert "Missed" not in a.screen()


def test_ok_on_a_missed_call_calls_it_back(ab):
    a, b = ab
    missed_call(b, a, "1001")
    a.key("down")
    a.wait_screen("> 1002")
    a.key("ok")
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1001"
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["state"] in ("calling", "ringback"))
    assert s["audio"] == "speaker" and s["menu"] == []
    a.key("soft4")
    b.wait(lambda s: s["calls"] == [])


def test_lifting_the_handset_on_an_entry_calls_it_on_the_handset(ab):
    a, b = ab
    missed_call(b, a, "1001")
    a.key("down")
    a.wait_screen("> 1002")
    a.hook(True)
    b.wait(lambda s: s["screen"] == "ringing")
    assert a.state()["audio"] == "handset"
    a.hook(False)
    b.wait(lambda s: s["calls"] == [])


def test_received_and_dialled_calls_are_listed(ab):
    a, b = ab
    b.dial(a.uri("1001"))
    a.wait(lambda s: s["screen"] == "ringing")
    a.hook(True)                                              # answered
    a.wait(lambda s: s["screen"] == "talking")
    a.hook(False)
    b.wait(lambda s: s["calls"] == [] or s["screen"] == "ended")
    a.wait(lambda s: s["calls"] == [])
    assert [e["number"] for e in calllog(a)["received"]] == ["1002"]
    assert calllog(a)["missed"] == [] and a.state()["missed"] == 0
    assert [e["number"] for e in calllog(b)["dialled"]] == [a.uri("1001")]
    a.key("left")
    assert "> 1002" in a.wait_screen("Received calls")
    b.key("cancel")                                           # leave the ended screen
    b.wait(lambda s: s["screen"] == "idle")
    b.key("right")
    assert "> 1001" in b.wait_screen("Dialled numbers")       # a sip: URI shows its user


def test_left_and_right_switch_lists_and_c_goes_back(ab):
    a, _ = ab
    a.key("down")
    a.wait_screen("No missed calls")
    a.key("left")
    a.wait_screen("No received calls")
    a.key("right")
    a.key("right")
    a.wait_screen("No dialled numbers")
    a.key("right")
    a.wait_screen("No received calls")
    a.key("cancel")
    a.wait(lambda s: s["screen"] == "idle" and s["menu"] == [])


def test_the_call_log_api_lists_and_clears_behind_the_login(ab):
    a, b = ab
    missed_call(b, a, "1001")
    code, body = a.status("GET", "/api/calllog", auth="Basic " + "x")
    assert code == 401
    code, body = a.status("DELETE", "/api/calllog?list=lost")
    assert code == 400 and "missed, received or dialled" in body["error"]
    a.request("DELETE", "/api/calllog?list=dialled")
    assert len(calllog(a)["missed"]) == 1
    a.request("DELETE", "/api/calllog")
    assert calllog(a) == {"missed": [], "received": [], "dialled": []}
    a.wait(lambda s: s["missed"] == 0)
    assert "Missed" not in a.screen()


def test_the_call_log_survives_a_restart_and_so_does_redial(tmp_path, pair):
    _, b = pair
    with PhoneProcess(tmp_path / "c", account={"user": "1003"}) as c:
        missed_call(b, c, "1003")
        c.dial(b.uri("1002"))
        b.wait(lambda s: s["screen"] == "ringing")
        c.key("soft4")
        b.wait(lambda s: s["calls"] == [])
        c.wait(lambda s: s["calls"] == [])
        before = calllog(c)
        c.stop()
        c.start(write=False)
        assert calllog(c) == before
        s = c.state()
        assert s["missed"] == 1 and s["redial"] == b.uri("1002")
        assert "1 Missed" in c.screen()
        c.key("redial")                                       # REDIAL after the restart
        b.wait(lambda s: s["screen"] == "ringing")
        c.key("soft4")
        b.wait(lambda s: s["calls"] == [])


def test_a_corrupt_calllog_json_does_not_stop_the_phone(tmp_path, pair):
    _, b = pair
    d = tmp_path / "c"
    d.mkdir()
    (d / "calllog.json").write_bytes(b"\x00\xffnot json at all")
    with PhoneProcess(d, account={"user": "1003"}) as c:
        assert calllog(c) == {"missed": [], "received": [], "dialled": []}
        assert (d / "calllog.json.bad").exists()
        assert "calllog.json is damaged" in c.log_tail()
        missed_call(b, c, "1003")                             # and it keeps calls again
        assert calllog(c)["missed"][0]["number"] == "1002"


def test_the_list_keeps_at_most_call_log_size_entries(tmp_path, pair):
    _, b = pair
    d = tmp_path / "c"
    d.mkdir()
    old = [{"number": f"20{n:02d}", "start": NOW - n, "seen": True} for n in range(10)]
    (d / "calllog.json").write_text(json.dumps({"missed": old}))
    with PhoneProcess(d, account={"user": "1003"}, settings={"phone.call_log_size": 10}) as c:
        missed_call(b, c, "1003")
        numbers = [e["number"] for e in calllog(c)["missed"]]
        assert numbers == ["1002"] + [f"20{n:02d}" for n in range(9)]
        assert c.state()["missed"] == 1
