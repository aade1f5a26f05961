"""Back-to-back calls (issue 10, item 10): a call that ends is gone for call handling at
once. The "call ended" screen is only a screen: it holds no line, no speaker and is no
call for call waiting, busy or auto answer; the next call rings, or is auto-answered,
as on an idle phone, and takes the ended screen's place."""
from __future__ import annotations

from tests.helpers import talking
from tests.peers.sipp import Sipp

CALLS, RATE = 150, 4.0      # sequential calls, one INVITE every 0.25 s: each new call
                            # comes while the last one's ended screen still shows
TALK_MS = 100


def caller(tmp_path, ph, name: str, **kw) -> Sipp:
    """sipp calling the phone straight at its SIP port: INVITE, ACK, pause_ms, BYE."""
    return Sipp(tmp_path / "sipp", scenario="uac_call", remote=ph.addr, service="1001",
                name=name, **kw)


def test_a_call_right_after_the_far_end_hung_up_rings_on_line_1_as_on_an_idle_phone(
        p2p_phones, tmp_path):
    ph = p2p_phones.start("1001", server=False, settings={"phone.ended_screen": 60})
    with caller(tmp_path, ph, "first", variables={"pause_ms": 300}, timeout=20) as first:
        ph.wait(lambda s: s["screen"] == "ringing")
        ph.key("speaker")                                    # answered hands-free
        ph.wait(talking)
        s = ph.wait(lambda s: s["screen"] == "ended", what="the far end hanging up")
        assert "Call ended by far end" in ph.screen() and s["audio"] == "speaker"
        assert first.wait() == 0, first.errors()[-1500:]
    with caller(tmp_path, ph, "second", variables={"pause_ms": 300}, timeout=20) as second:
        s = ph.wait(lambda s: s["screen"] == "ringing", what="the next call ringing")
        assert [(c["line"], c["state"]) for c in s["calls"]] == [(1, "ringing")]
        assert s["audio"] == "none" and s["tone"] == "ring"  # the ringer, not a waiting beep
        assert "Call ended" not in ph.screen()
        leds = ph.leds()
        assert leds["line1"]["pattern"] == "fast" and leds["speaker"]["pattern"] == "off"
        ph.key("speaker")                                    # answers, as on an idle phone
        s = ph.wait(talking)
        assert s["calls"][0]["line"] == 1
        assert second.wait() == 0, second.errors()[-1500:]


def test_150_short_calls_in_a_row_are_all_auto_answered(p2p_phones, tmp_path):
    """The issue's run: auto answer at once, 100 ms of talk, BYE, the next INVITE 0.5 s
    after the last one (15 of 150 were answered while the ended screen held line 1)."""
    ph = p2p_phones.start("1001", server=False, settings={"phone.auto_answer": True,
                                                          "phone.auto_answer_delay": 0})
    run = caller(tmp_path, ph, "sequential", calls=CALLS, rate=RATE,
                 variables={"pause_ms": TALK_MS}, timeout=CALLS / RATE + 40)
    rc = run.run(check=False)
    counts = run.call_counts()                       # sipp's own verdict
    assert counts.get("successful") == CALLS, (f"{counts} of {CALLS}\n" + run.errors()[-2000:])
    assert run.answered_calls() == CALLS             # and the wire agrees: 200, ACK, BYE, 200
    run.check(rc)
    s = ph.wait(lambda s: not s["calls"] or s["calls"][0]["state"] == "ended",
                what="no call left after the last BYE")
    assert s["missed"] == 0
