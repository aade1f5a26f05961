"""Programmable keys (manual §7 "Programmable Keys", "Expansion Module"): setting them, what
each mode does when pressed, and the lamps they show. Real phones on a real Kamailio."""
from __future__ import annotations

import json

import pytest

from firmware.features.blf import BadNotify, Dialog, lamp_of, parse_dialog_info, parse_pidf
from firmware.present import leds
from firmware.call.state import PhoneState

NS = 'xmlns="urn:ietf:params:xml:ns:dialog-info"'


def layout(phone, *keys: dict) -> dict:
    return phone.request("PUT", "/api/keys/layout", {"memory": list(keys)})


def connected(s) -> bool:
    return [c["state"] for c in s["calls"]] == ["connected"]


# --- setting the keys ----------------------------------------------------------------------

def test_keys_set_through_the_api_are_kept_and_shown(phones):
    a = phones.start("1001")
    assert layout(a, {"key": "p1", "type": "speed_dial", "number": "1002", "label": "Bob"},
                  {"key": "e2.32", "type": "blf", "number": "1003"}) == {"ok": True, "keys": 2}
    saved = json.loads((a.data_dir / "keys.json").read_text())
    assert [(k["module"], k["index"], k["type"]) for k in saved["memory"]] == [
        (0, 0, "speed_dial"), (2, 31, "blf")]
    state = a.request("GET", "/api/keys/state")
    assert state["modules"] == [2]                          # the panel shows module 2 only
    assert "e2.32" in a.leds() and "e1.1" not in a.leds()
    assert a.leds()["p1"]["pattern"] == "off"              # a speed dial key has no lamp


@pytest.mark.parametrize("entry,says", [
    ({"key": "p13", "type": "blf", "number": "1"}, "p1..p12, e1.1..e6.32 or line1..line3"),
    ({"key": "e7.1", "type": "blf", "number": "1"}, "p1..p12, e1.1..e6.32 or line1..line3"),
    ({"key": "line4", "type": "blf", "number": "1"}, "line1..line3"),
    ({"key": "p2", "type": "teleport", "number": "1"}, "unknown key type 'teleport'"),
    ({"key": "p2", "type": "blf"}, "p2: a blf key needs a number"),
    ({"key": "p2", "type": "speed_dial", "number": "1", "colour": "red"}, "unexpected"),
    ({"key": "p2", "type": "speed_dial", "number": "1", "account": 9}, "account must be 1-3"),
])
def test_a_bad_key_is_refused_by_name_and_the_old_keys_stay(phones, entry, says):
    a = phones.start("1001")
    layout(a, {"key": "p1", "type": "speed_dial", "number": "1002"})
    before = (a.data_dir / "keys.json").read_bytes()
    code, body = a.status("PUT", "/api/keys/layout", {"memory": [entry]})
    assert code == 400 and says in body["error"], body
    assert (a.data_dir / "keys.json").read_bytes() == before
    code, body = a.status("PUT", "/api/keys/layout", data=b"{not json")
    assert code == 400 and "JSON" in body["error"]


def test_two_settings_for_one_key_are_refused(phones):
    a = phones.start("1001")
    code, body = a.status("PUT", "/api/keys/layout", {"memory": [
        {"key": "p1", "type": "speed_dial", "number": "1"},
        {"key": "p1", "type": "blf", "number": "2"}]})
    assert code == 400 and "p1 is set twice" in body["error"]


# --- pressing them -----------------------------------------------------------------------

def test_a_speed_dial_key_calls_its_number_in_one_touch(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "p2", "type": "speed_dial", "number": "1002", "label": "Bob"})
    a.key("p2")
    b.wait(lambda s: s["screen"] == "ringing", what="Bob rings")


def test_an_expansion_module_key_works_like_a_memory_key(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "e1.7", "type": "speed_dial", "number": "1002"})
    a.key("e1.7")
    b.wait(lambda s: s["screen"] == "ringing", what="Bob rings")


def test_a_prefix_key_starts_the_number_and_the_person_finishes_it(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "p3", "type": "speed_dial_prefix", "number": "10"})
    a.key("p3")
    a.wait(lambda s: s["predial"] == "10", what="the prefix on the pre-dial screen")
    a.keys("02")
    a.key("soft1")                                          # Send
    b.wait(lambda s: s["screen"] == "ringing", what="Bob rings")


def test_a_dtmf_key_sends_its_digits_in_a_call(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "p4", "type": "dtmf", "number": "4711"})
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("soft1")
    a.wait(connected, what="the call")
    a.key("p4")
    b.wait(lambda s: s["calls"] and s["calls"][0]["dtmf"] == "4711", what="Bob hears 4711")


def test_a_park_key_parks_the_call_with_the_park_code(phones):
    """Park = blind transfer to park_code + slot; here the 'slot' is a phone (no park
    server in the test), so the parked party is seen ringing there."""
    a, b = phones.start("1001"), phones.start("1002")
    c = phones.start("1003")
    layout(a, {"key": "p5", "type": "call_park", "number": "1003"})
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("soft1")
    a.wait(connected, what="the call")
    a.key("p5")
    c.wait(lambda s: s["screen"] == "ringing", what="the parked call at the park slot")
    c.key("soft1")                                          # a park server answers at once
    a.wait(lambda s: not s["calls"], what="Alice is free again")
    b.wait(connected, what="Bob parked (talking to the slot)")


def test_pickup_keys_dial_the_pickup_codes(phones):
    a = phones.start("1001", settings={"phone.pickup_code": "*8",
                                       "phone.directed_pickup_code": "**"})
    layout(a, {"key": "p6", "type": "pickup", "number": "1002"},
           {"key": "p7", "type": "pickup", "number": ""},
           {"key": "p8", "type": "call_park", "number": "5"})
    a.key("p6")
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["state"] != "dialing")
    assert s["calls"][0]["number"] == "**1002"
    a.key("soft4")
    a.wait(lambda s: not s["calls"])
    a.key("p7")
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["number"] == "*8", what="group pickup")
    a.key("soft4")
    a.wait(lambda s: not s["calls"])
    a.settings({"phone.park_retrieve_code": "*86"})
    a.key("p8")                                             # idle: take the parked call back
    a.wait(lambda s: s["calls"] and s["calls"][0]["number"] == "*865", what="retrieve")


def test_an_intercom_key_makes_a_call_the_far_end_answers_by_itself(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "p9", "type": "intercom", "number": "1002"})
    a.key("p9")
    b.wait(connected, what="Bob's phone answers the intercom call by itself")


def test_a_key_that_is_not_programmed_does_nothing(phones):
    a = phones.start("1001")
    a.key("p12", "e6.32")
    s = a.state()
    assert s["screen"] == "idle" and not s["calls"]


# --- lamps and what they are made of ---------------------------------------------------------

def test_an_unknown_lamp_is_not_an_idle_lamp():
    s = PhoneState(key_lamps={"p1": "idle", "p2": "unknown", "p3": "ringing", "p4": "busy",
                              "e1.1": "held"})
    out = leds(s)
    assert out["p1"] == ("green", "on") and out["p3"] == ("red", "fast")
    assert out["p4"] == ("red", "on") and out["e1.1"] == ("green", "slow")
    assert out["p2"] == ("amber", "slow") != out["p1"]
    assert out["p5"] == ("", "off") and "e1.2" not in out


def test_dialog_info_with_several_dialogs_and_partial_updates():
    body = (f'<dialog-info {NS} version="3" state="full" entity="sip:1002@pbx">'
            f'<dialog id="a" call-id="c1" local-tag="L" remote-tag="R" direction="recipient">'
            f'<state>early</state><remote><identity>sip:1001@pbx</identity></remote></dialog>'
            f'<dialog id="b" direction="initiator"><state>confirmed</state></dialog>'
            f'</dialog-info>').encode()
    info = parse_dialog_info(body)
    assert (info.version, info.full, info.entity) == (3, True, "sip:1002@pbx")
    assert [d.id for d in info.dialogs] == ["a", "b"]
    a = info.dialogs[0]
    assert (a.call_id, a.local_tag, a.remote_tag, a.remote) == ("c1", "L", "R", "sip:1001@pbx")
    assert lamp_of(info.dialogs) == "ringing"              # ringing wins over busy
    assert lamp_of([info.dialogs[1]]) == "busy"
    assert lamp_of([Dialog("x", "early", "initiator")]) == "busy"   # calling out
    assert lamp_of([Dialog("x", "terminated")]) == "idle" == lamp_of([])
    assert lamp_of([Dialog("x", "confirmed", held=True)]) == "held"


@pytest.mark.parametrize("body,says", [
    (b"", "empty"), (b"<x", "not well-formed"), (b"<dialog-info/>", "not dialog-info"),
    (f'<dialog-info {NS} version="x"/>'.encode(), "not a number"),
    (f'<dialog-info {NS}><dialog id="1"/></dialog-info>'.encode(), "has no state"),
    (b'<!DOCTYPE d [<!ENTITY e "x">]><d>&e;</d>', "refused XML"),
])
def test_dialog_info_that_cannot_be_used_says_why(body, says):
    with pytest.raises(BadNotify, match=says):
        parse_dialog_info(body)


def test_presence_documents_give_idle_busy_or_unknown():
    pidf = ('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1002@x"><tuple id="t">'
            '<status><basic>{}</basic></status>{}</tuple></presence>')
    assert parse_pidf(pidf.format("open", "").encode()) == "idle"
    assert parse_pidf(pidf.format("open", "<note>On the phone</note>").encode()) == "busy"
    assert parse_pidf(pidf.format("closed", "").encode()) == "unknown"


def test_a_blf_key_in_a_call_transfers_it_there_when_blf_transfer_is_on(phones):
    a = phones.start("1001", settings={"phone.blf_transfer": "blind"})
    b, c = phones.start("1002"), phones.start("1003")
    layout(a, {"key": "p1", "type": "blf", "number": "1003"})
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("soft1")
    a.wait(connected, what="the call")
    a.key("p1")
    c.wait(lambda s: s["screen"] == "ringing", what="Bob transferred to Carol")


# --- the lamp logic on the loop, with the SIP side replaced by a recorder ---------------------

class FakeTimers:
    def __init__(self):
        self.running: dict[str, tuple[float, object]] = {}

    def start(self, name, delay, data=None):
        self.running[name] = (delay, data)

    def cancel(self, name):
        self.running.pop(name, None)

    def active(self, name):
        return name in self.running

    def fire(self, blf, name):
        from firmware.events import TimerFired
        _, data = self.running.pop(name)
        blf.on_timer(TimerFired(name, data))


class FakeSip:
    def __init__(self):
        self.sent: list[tuple] = []
        self.closers: list = []

    def submit(self, fn, *args):
        self.sent.append((getattr(fn, "__name__", ""), *args))


@pytest.fixture
def blf():
    from firmware.features.blf import Blf
    from firmware.settings import Settings
    b = Blf(bus=type("B", (), {"on": lambda *a, **k: None})(), timers=FakeTimers(),
            sip=FakeSip(), state=PhoneState(), settings=Settings())
    class Watcher:
        def watch(self, *a): pass

        def unwatch(self, *a): pass
    b._watcher = Watcher()
    return b


def test_keys_watching_one_number_share_one_subscription_and_subscribe_once_registered(blf):
    uri = "sip:1002@pbx"
    blf.want({"p1": (uri, 1), "e1.1": (uri, 1)}, {"p2": "no number set for this key"})
    assert blf.sip.sent == []                                  # line 1 not registered yet
    assert blf.state.key_lamps == {"p1": "unknown", "e1.1": "unknown", "p2": "unknown"}
    blf.registration(1, True)
    blf.timers.fire(blf, "blf.pace")
    assert [s[:2] for s in blf.sip.sent] == [("watch", uri)]
    blf.registration(1, True)                                  # a re-REGISTER: nothing new
    assert len(blf.sip.sent) == 1


def test_two_hundred_keys_subscribe_ten_at_a_time(blf):
    blf.registration(1, True)
    blf.want({f"e{m}.{k}": (f"sip:{m}{k:02}@pbx", 1) for m in range(1, 7)
              for k in range(1, 33)}, {})
    blf.timers.fire(blf, "blf.pace")
    assert len(blf.sip.sent) == 10 and blf.timers.running["blf.pace"][0] == 0.05
    for _ in range(100):
        if not blf.timers.active("blf.pace"):
            break
        blf.timers.fire(blf, "blf.pace")
    assert len({s[1] for s in blf.sip.sent}) == 192 == len(blf.sip.sent)


def test_a_silent_subscription_becomes_unknown_and_is_renewed(blf):
    from firmware.events import BlfNotified, BlfSubscriptionChanged
    uri = "sip:1002@pbx"
    blf.registration(1, True)
    blf.want({"p1": (uri, 1)}, {})
    blf.timers.fire(blf, "blf.pace")
    blf.on_subscription(BlfSubscriptionChanged(uri, 200, "OK", 600))
    blf.on_notify(BlfNotified(uri, b"", "active;expires=600"))
    assert blf.lamp("p1") == "idle"
    assert blf.timers.running["blf.lapse.1002@pbx"][0] == 610
    blf.timers.fire(blf, "blf.lapse.1002@pbx")                 # nothing came in time
    assert blf.lamp("p1") == "unknown" and "in time" in blf.why("p1")
    blf.timers.fire(blf, "blf.retry.1002@pbx")
    if blf.timers.active("blf.pace"):                          # its turn (50 ms)
        blf.timers.fire(blf, "blf.pace")
    assert len(blf.sip.sent) == 2                              # subscribed again


def test_an_older_notify_does_not_undo_a_newer_one(blf):
    from firmware.events import BlfNotified
    uri = "sip:1002@pbx"
    blf.registration(1, True)
    blf.want({"p1": (uri, 1)}, {})
    busy = (f'<dialog-info {NS} version="5" entity="sip:1002@pbx"><dialog id="a">'
            f'<state>confirmed</state></dialog></dialog-info>').encode()
    idle = f'<dialog-info {NS} version="4" entity="sip:1002@pbx"/>'.encode()
    blf.on_notify(BlfNotified(uri, busy, "active"))
    blf.on_notify(BlfNotified(uri, idle, "active"))
    assert blf.lamp("p1") == "busy"
    ended = f'<dialog-info {NS} version="6" state="partial" entity="sip:1002@pbx">' \
            f'<dialog id="a"><state>terminated</state></dialog></dialog-info>'
    blf.on_notify(BlfNotified(uri, ended.encode(), "active"))
    assert blf.lamp("p1") == "idle"
    blf.on_notify(BlfNotified(uri, b"", "terminated;reason=noresource"))
    assert blf.lamp("p1") == "unknown" and "noresource" in blf.why("p1")


def test_a_line_key_not_used_as_a_line_does_its_function_and_calls_go_elsewhere(phones):
    a, b = phones.start("1001"), phones.start("1002")
    layout(a, {"key": "line3", "type": "speed_dial", "number": "1002", "label": "Bob"},
           {"key": "line2", "type": "blf", "number": "1004"})
    # nobody serves dialog events here: line2's lamp says unknown (amber), not idle
    assert a.leds()["line2"] == {"colour": "amber", "pattern": "slow"}
    a.key("line3")
    b.wait(lambda s: s["screen"] == "ringing", what="Bob rings from the line3 key")
    b.key("soft1")
    s = a.wait(connected, what="the call")
    assert s["calls"][0]["line"] == 1                     # not on line 3: that is Bob's key
    assert a.leds()["line1"] == {"colour": "green", "pattern": "on"}
