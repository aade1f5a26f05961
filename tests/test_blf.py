"""BLF keys against a real Kamailio with dialog events (manual §3 "Turn on BLF", LP-388 BLI).

Three phones of this firmware register to Kamailio (presence + pua_dialoginfo): Alice
(1001) calls Bob (1002); Carol (1003) has Bob on her p1 BLF key and watches the lamp,
through her /api/leds, as a person watches the key.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import Phones
from tests.peers.kamailio import Kamailio
from tests.phone import PhoneError

LAMP = {"idle": {"colour": "green", "pattern": "on"},
        "ringing": {"colour": "red", "pattern": "fast"},
        "busy": {"colour": "red", "pattern": "on"},
        "unknown": {"colour": "amber", "pattern": "slow"},
        "held": {"colour": "green", "pattern": "slow"}}


@pytest.fixture
def blf_server(tmp_path):
    with Kamailio(tmp_path / "kamailio", presence=True, presence_max_expires=10) as k:
        yield k


@pytest.fixture
def trio(tmp_path, blf_server):
    ph = Phones(tmp_path, blf_server)
    yield ph
    ph.close()


def wait_lamp(phone, key: str, lamp: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = phone.leds().get(key)
        if seen == LAMP[lamp]:
            return
        time.sleep(0.03)
    raise PhoneError(f"{key} never showed {lamp} ({LAMP[lamp]}) in {timeout} s; it shows "
                     f"{seen}\nkeys: {phone.request('GET', '/api/keys/state')}\n"
                     f"log:\n{phone.log_tail(30)}")


def wait_log(phone, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in phone.log_tail(200).splitlines():
            if text in line:
                return line
        time.sleep(0.05)
    raise PhoneError(f"the log never said {text!r}:\n{phone.log_tail(30)}")


def blf_key(phone, number: str, key: str = "p1", **kw) -> None:
    phone.request("PUT", "/api/keys/layout", {"memory": [
        {"key": key, "type": "blf", "number": number, "label": f"Ext {number}", **kw}]})


def test_a_blf_lamp_follows_a_call_between_two_other_phones(trio):
    alice, bob, carol = trio.start("1001"), trio.start("1002"), trio.start("1003")
    blf_key(carol, "1002")
    wait_lamp(carol, "p1", "idle")
    alice.dial("1002")
    wait_lamp(carol, "p1", "ringing")
    bob.wait(lambda s: s["screen"] == "ringing", what="Bob rings")
    bob.key("soft1")                                    # Answer
    wait_lamp(carol, "p1", "busy")
    alice.key("soft4")                                  # End
    wait_lamp(carol, "p1", "idle")


def test_pressing_a_ringing_blf_key_picks_the_call_up(trio):
    alice, bob, carol = trio.start("1001"), trio.start("1002"), trio.start("1003")
    blf_key(carol, "1002")
    wait_lamp(carol, "p1", "idle")
    alice.dial("1002")
    wait_lamp(carol, "p1", "ringing")
    carol.key("p1")                                     # INVITE Alice, Replaces her call
    carol.wait(lambda s: [c["state"] for c in s["calls"]] == ["connected"],
               what="Carol talks")
    alice.wait(lambda s: [c["state"] for c in s["calls"]] == ["connected"],
               what="Alice talks (to Carol)")
    bob.wait(lambda s: not s["calls"], what="Bob stops ringing")
    wait_lamp(carol, "p1", "idle")


def test_pressing_an_idle_blf_key_calls_the_number(trio):
    bob, carol = trio.start("1002"), trio.start("1003")
    blf_key(carol, "1002")
    wait_lamp(carol, "p1", "idle")
    carol.key("p1")
    bob.wait(lambda s: s["screen"] == "ringing", what="Bob rings")
    assert "1003" in bob.state()["calls"][0]["uri"]


def test_a_key_on_a_line_without_a_server_shows_unknown_not_idle(trio):
    carol = trio.start("1003")
    blf_key(carol, "1002", account=2)                   # line 2 is not set up
    wait_lamp(carol, "p1", "unknown")
    why = carol.request("GET", "/api/keys/state")["keys"]["p1"]["why"]
    assert "line 2" in why


def test_after_a_server_restart_the_lamps_come_back(trio, blf_server):
    alice, bob, carol = trio.start("1001"), trio.start("1002"), trio.start("1003")
    blf_key(carol, "1002")
    wait_lamp(carol, "p1", "idle")
    blf_server.restart()                                # forgets every subscription
    # the next refresh (max 10 s granted) is answered 481: subscribe again at once
    alice.wait_registered()
    for p in (alice, bob):                              # the proxy forgot them too
        p.request("PATCH", "/api/settings", {"account.1.expires": 61})
    bob.wait_registered()
    alice.dial("1002")
    wait_lamp(carol, "p1", "ringing", timeout=25)


# --- bad news from the network: refused subscriptions, NOTIFYs we cannot read -------------

NS = 'xmlns="urn:ietf:params:xml:ns:dialog-info"'
BUSY = (f'<?xml version="1.0"?><dialog-info {NS} version="2" state="full" '
        f'entity="sip:1002@127.0.0.1"><dialog id="d1" call-id="c1" local-tag="t1" '
        f'remote-tag="t2" direction="recipient"><state>confirmed</state></dialog>'
        f'</dialog-info>')
IDLE = f'<?xml version="1.0"?><dialog-info {NS} version="1" state="full" entity="sip:1002@x"/>'


HELD = (f'<?xml version="1.0"?><dialog-info {NS} version="3" state="full" '
        f'entity="sip:1002@127.0.0.1"><dialog id="d1" call-id="c1" local-tag="t1" '
        f'remote-tag="t2" direction="initiator"><state>confirmed</state><local><target '
        f'uri="sip:1002@127.0.0.1"><param pname="+sip.rendering" pvalue="no"/></target>'
        f'</local><remote><identity>sip:1001@127.0.0.1</identity></remote></dialog>'
        f'</dialog-info>')


def notify_keys(first: str, second: str, event: str = "dialog") -> dict:
    ctype = "application/pidf+xml" if event == "presence" else "application/dialog-info+xml"
    return {"first": first, "second": second, "event": event, "ctype": ctype}


def watcher(tmp_path, server, name="p", kind="blf", settings: dict | None = None):
    from tests.phone import PhoneProcess
    phone = PhoneProcess(tmp_path / name, account={"user": "1003", "server": server.addr,
                                                   "mwi": False},
                         settings={"phone.blf_retry": 2, **(settings or {})})
    phone.start()
    phone.wait_registered(1)
    phone.request("PUT", "/api/keys/layout", {"memory": [
        {"key": "p1", "type": kind, "number": "1002", "label": "Shared"}]})
    return phone


@pytest.mark.parametrize("code,reason,why", [
    (403, "Forbidden", "does not let this line watch"),
    (489, "Bad Event", "phone.blf_mode = presence")])
def test_a_refused_subscription_shows_unknown_says_why_and_is_tried_again(tmp_path, code,
                                                                          reason, why):
    from tests.peers.sipp import Sipp
    from tests.peers.sipp import scenario_path
    scenario = tmp_path / "uas_blf_refuse.xml"
    scenario.write_text(scenario_path("uas_blf_refuse.xml").read_text().replace(
        "SIP/2.0 403 Forbidden", f"SIP/2.0 {code} {reason}"))
    server = Sipp(tmp_path / "srv", scenario=str(scenario), calls=20, timeout=30).start()
    phone = None
    try:
        phone = watcher(tmp_path, server)
        wait_lamp(phone, "p1", "unknown")
        state = phone.wait(lambda s: True)
        keys = phone.request("GET", "/api/keys/state")["keys"]
        deadline = time.monotonic() + 5
        while str(code) not in keys["p1"]["why"] and time.monotonic() < deadline:
            time.sleep(0.05)
            keys = phone.request("GET", "/api/keys/state")["keys"]
        assert f"{code} {reason}" in keys["p1"]["why"] and why in keys["p1"]["why"]
        assert f"SUBSCRIBE answered {code}" in phone.log_tail(50)
        assert state["screen"] == "idle"                   # the phone itself is fine
        # the server changes its mind: the next try (phone.blf_retry = 2 s) gets through
        server.stop()
        server = Sipp(tmp_path / "srv2", scenario="uas_blf_notify.xml", port=server.port,
                      timeout=30, calls=10, keys=notify_keys(IDLE, BUSY)).start()
        wait_lamp(phone, "p1", "idle", timeout=10)
        wait_lamp(phone, "p1", "busy", timeout=5)
    finally:
        if phone is not None:
            phone.stop()
        server.stop()


@pytest.mark.parametrize("body,why", [
    ("<dialog-info><dialog", "not well-formed XML"),
    ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf"/>',
     "is not dialog-info"),
    (BUSY.replace("sip:1002@", "sip:9999@"), "is about sip:9999@127.0.0.1")])
def test_a_notify_that_cannot_be_read_shows_unknown_and_the_next_good_one_counts(
        tmp_path, body, why):
    from tests.peers.sipp import Sipp
    server = Sipp(tmp_path / "srv", scenario="uas_blf_notify.xml", calls=10, timeout=30,
                  keys=notify_keys(body, BUSY)).start()
    phone = None
    try:
        phone = watcher(tmp_path, server)
        line = wait_log(phone, "NOTIFY not understood")
        assert why in line
        assert phone.leds()["p1"] == LAMP["unknown"]
        wait_lamp(phone, "p1", "busy")                     # the next NOTIFY is read
        phone.key("1")                                     # and the phone still works
        phone.wait(lambda s: s["predial"] == "1", what="a pre-dial digit")
    finally:
        if phone is not None:
            phone.stop()
        server.stop()


def test_a_bla_key_shows_the_shared_line_held_and_takes_the_held_call_over(tmp_path):
    from tests.peers.sipp import Sipp
    server = Sipp(tmp_path / "srv", scenario="uas_blf_notify.xml", calls=10, timeout=30,
                  keys=notify_keys(IDLE, HELD)).start()
    phone = None
    try:
        phone = watcher(tmp_path, server, kind="bla")
        wait_lamp(phone, "p1", "idle")
        wait_lamp(phone, "p1", "held")                      # green, slow flash
        phone.key("p1")                                     # INVITE the held party, Replaces
        s = phone.wait(lambda s: s["calls"] and s["calls"][0]["state"] != "dialing",
                       what="a call to the held party")
        assert s["calls"][0]["number"] == "1001"
        deadline = time.monotonic() + 5
        while "INVITE sip:1001@" not in server.messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Replaces: c1;to-tag=t2;from-tag=t1" in server.messages()
    finally:
        if phone is not None:
            phone.stop()
        server.stop()


PIDF = ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'entity="sip:1002@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status>'
        '{}</tuple></presence>')


def test_presence_mode_shows_idle_and_busy_for_servers_without_dialog_events(tmp_path):
    from tests.peers.sipp import Sipp
    server = Sipp(tmp_path / "srv", scenario="uas_blf_notify.xml", calls=10, timeout=30,
                  keys=notify_keys(PIDF.format(""), PIDF.format("<note>On the phone</note>"),
                                   "presence")).start()
    phone = None
    try:
        phone = watcher(tmp_path, server, settings={"phone.blf_mode": "presence"})
        wait_lamp(phone, "p1", "idle")
        wait_lamp(phone, "p1", "busy")
        assert "Event: presence" in server.messages()
    finally:
        if phone is not None:
            phone.stop()
        server.stop()
