"""Keys pressed in a call reach the far end in each DTMF mode (manual §7 Phone Setting:
DTMF RFC2833 / Inband / SIP Info / Auto), peer to peer between two of our phones."""
from __future__ import annotations

import pytest

from tests import audio
from tests.helpers import talking

ROW = {"1": 697, "4": 770, "7": 852, "*": 941}
COL = {"1": 1209, "2": 1336, "3": 1477}


def call(p2p_phones, mode: str):
    a = p2p_phones.start("1001", server=False, settings={"phone.dtmf_mode": mode})
    b = p2p_phones.start("1002", server=False)
    a.dial(b.uri("1002"))
    b.wait(lambda s: s["screen"] == "ringing")
    b.hook(True)
    a.wait(talking)
    b.wait(talking)
    return a, b


@pytest.mark.parametrize("mode", ["rfc2833", "info", "auto"])
def test_keys_in_a_call_arrive_as_dtmf(p2p_phones, mode):
    a, b = call(p2p_phones, mode)
    a.keys("159#")
    b.wait(lambda s: s["calls"][0]["dtmf"] == "159#", what=f"159# by {mode}")


def test_in_band_dtmf_is_heard_as_the_two_tones(p2p_phones):
    a, b = call(p2p_phones, "inband")
    a.keys("5" * 8)                         # 8 x (120 ms on + 60 ms off): ~1.4 s of tones
    heard = b.listen(1.0)
    assert audio.tones(heard, (697, 770, 852, 1209, 1336, 1477)) == {770, 1336}   # "5"
    assert b.state()["calls"][0]["dtmf"] == ""     # not sent as RTP events or SIP INFO


@pytest.mark.parametrize("payload", [101, 100])
def test_our_offer_carries_rfc2833_events_on_the_payload_type_set(p2p_phones, tmp_path,
                                                                  payload):
    from tests.peers.sipp import Sipp
    a = p2p_phones.start("1001", server=False, settings={"phone.dtmf_payload": payload})
    with Sipp(tmp_path / f"sipp{payload}", scenario="uas_answer.xml") as far:
        a.dial(f"sip:bob@{far.addr}")
        a.wait(talking)
        a.key("soft4")
        assert far.wait() == 0
        invite = far.messages().split("INVITE sip:", 1)[1].split("------", 1)[0]
    mline = next(line for line in invite.splitlines() if line.startswith("m=audio"))
    assert str(payload) in mline.split()[3:]
    assert f"a=rtpmap:{payload} telephone-event/8000" in invite
