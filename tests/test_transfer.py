"""Transferring calls (manual §4; LP-388 figure 3, 'Tran button'), between real phones
registered to Kamailio, and with sipp where a scripted transferor is needed."""
from __future__ import annotations

import pytest

from tests import audio
from tests.helpers import connect, idle, states_by_number, talking
from tests.peers.sipp import Sipp


def test_consult_transfer_joins_the_two_and_drops_us(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("transfer")
    s = a.wait(lambda s: s["screen"] == "dialing")
    assert "Transfer to" in a.screen()
    b.wait(lambda s: s["calls"][0]["remote_hold"])             # B waits on hold
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    a.wait(lambda s: states_by_number(s).get("1003") == "connected")
    assert "Consult transfer" in a.screen()
    a.key("transfer")
    a.wait(idle)
    b.wait(lambda s: states_by_number(s) == {"1003": "connected"})
    c.wait(lambda s: states_by_number(s) == {"1002": "connected"})
    b.mic(1000)
    assert audio.hears(c.listen(1.0), 1000)                   # they talk to each other


def test_blind_transfer_with_the_b_xfer_soft_key(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("transfer")
    a.key("soft2")                                            # B Xfer
    assert "Blind transfer to" in a.wait_screen("Blind transfer to")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")                # B calls C on its own
    a.wait(lambda s: s["screen"] == "idle" and s["audio"] == "none")   # free at once
    b.wait(lambda s: states_by_number(s).get("1003") in ("calling", "ringback"))
    c.hook(True)
    b.wait(lambda s: states_by_number(s) == {"1003": "connected"})
    a.wait(idle)                        # our held leg ends once the target answered


def test_transfer_while_the_target_rings_is_blind_in_auto_mode(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("transfer")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    a.key("transfer")                                          # it still rings: blind
    a.wait(lambda s: s["screen"] == "idle")
    c.wait(lambda s: s["screen"] == "ringing" and s["calls"][0]["number"] == "1002")
    c.hook(True)
    b.wait(lambda s: states_by_number(s) == {"1003": "connected"})
    a.wait(idle)


def test_consult_only_mode_waits_for_the_answer(phones):
    a = phones.start("1001", settings={"phone.transfer_mode": "consult"})
    b, c = phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("transfer")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    a.key("transfer")
    a.wait_screen("Wait for the answer")
    assert len(a.state()["calls"]) == 2
    c.hook(True)
    a.wait(lambda s: states_by_number(s).get("1003") == "connected")
    a.key("transfer")
    a.wait(idle)


def test_a_failed_blind_transfer_gives_the_call_back(phones):
    """The target is busy: the transferor hears why and gets the original call back."""
    a, b = phones.start("1001"), phones.start("1002")
    c = phones.start("1003", settings={"phone.dnd": True})
    connect(a, b)
    a.key("transfer")
    a.key("soft2")
    a.keys("1003#")
    s = a.wait(lambda s: "Transfer failed" in s["notice"])
    assert "486" in s["notice"]
    a.wait(lambda s: states_by_number(s) == {"1002": "connected"})
    b.wait(lambda s: not s["calls"][0]["remote_hold"])
    a.mic(1000)
    assert audio.hears(b.listen(1.0), 1000)
    assert c.state()["calls"] == []


def test_cancel_on_the_transfer_screen_gives_the_call_back(phones):
    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    a.key("transfer")
    a.wait(lambda s: s["screen"] == "dialing")
    a.key("cancel")
    a.wait(lambda s: states_by_number(s) == {"1002": "connected"} and s["screen"] == "talking")


def test_transfer_then_the_held_line_key_joins_the_two_calls(phones):
    """Manual: 'Blind transfer to the held line: TRANSFER, then the held line's key'."""
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("hold")
    a.key("line2")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    a.wait(lambda s: states_by_number(s) == {"1002": "held", "1003": "connected"})
    a.key("transfer")
    a.key("line1")                                             # the held line
    a.wait(idle)
    b.wait(lambda s: states_by_number(s) == {"1003": "connected"})
    c.wait(lambda s: states_by_number(s) == {"1002": "connected"})


def test_the_transferee_calls_the_transferor_back_when_the_target_is_busy(phones, kamailio,
                                                                          tmp_path):
    """LP-388 figure 3, scenario 1b: the transferor REFERs us and hangs up at once; the
    target answers 486; after phone.blind_transfer_callback seconds we call back."""
    b = phones.start("1002", settings={"phone.blind_transfer_callback": 1})
    phones.start("1003", settings={"phone.dnd": True})               # busy target
    back = Sipp(tmp_path / "back", scenario="uas_answer.xml")       # takes the callback
    with back:
        transferor = Sipp(tmp_path / "xfer", scenario="uac_refer_hangup.xml",
                          remote=b.addr, service="1002",
                          keys={"refer_to": f"sip:1003@{kamailio.addr}",
                                "back_port": back.port}, extra_args=["-aa"])
        with transferor:
            b.wait(lambda s: s["screen"] == "ringing")
            b.hook(True)
            assert transferor.wait() == 0, transferor.messages()[-3000:]
        b.wait(lambda s: any("transferor" in c["number"] and c["state"] == "connected"
                             for c in s["calls"]), 10, "the call back")
        b.hook(False)
        assert back.wait() == 0, back.messages()[-2000:]
