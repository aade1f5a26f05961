"""Ringing ends (issue 10, item 3): an INVITE nobody answers and nobody cancels rings for
phone.ring_timeout seconds, then the caller gets 480 Temporarily Unavailable, the line is
free and the call is a missed call; no-answer forwarding and auto answer still come first.

A stranger who sends three INVITEs and never cancels them fills every line appearance; the
fourth caller is refused 486 only until the ring timeout, never for ever."""
from __future__ import annotations

from tests.helpers import idle, talking
from tests.peers.sipp import Sipp, parse_messages

RING = 5          # phone.ring_timeout in these tests (its minimum)


def all_lines_ringing(s: dict) -> bool:
    return len(s["calls"]) == 3 and all(c["state"] == "ringing" for c in s["calls"])


def finals(sipp: Sipp) -> list[int]:
    """Final answers to INVITEs sipp received, one per call, in order."""
    seen: dict[str, int] = {}
    for m in parse_messages(sipp.messages()):
        if m["direction"] == "received" and m["cseq_method"] == "INVITE" \
                and (m["code"] or 0) >= 200:
            seen.setdefault(m["call_id"], m["code"])
    return list(seen.values())


def test_invites_nobody_cancels_ring_out_with_480_and_free_every_line(p2p_phones, tmp_path):
    ph = p2p_phones.start("1001", server=False, settings={"phone.ring_timeout": RING})
    scanner = Sipp(tmp_path / "sipp", scenario="uac_ring_unanswered", remote=ph.addr,
                   service="1001", calls=3, limit=3, rate=20, timeout=40, name="scanner")
    with scanner:
        ph.wait(all_lines_ringing, what="all three line appearances ringing")
        s = ph.wait(lambda s: idle(s) and s["missed"] == 3, RING + 15,
                    "the three calls rung out, missed")
        assert "3 Missed" in ph.screen()
        rc = scanner.wait()
    assert finals(scanner) == [480, 480, 480], scanner.messages()[-3000:]
    scanner.check(rc)                     # each 480 ACKed, nothing else came
    assert s["tone"] is None
    # a real caller now rings as on an idle phone (sipp: INVITE, 180, CANCEL)
    caller = Sipp(tmp_path / "sipp", scenario="uac_ring_cancel", remote=ph.addr,
                  service="1001", timeout=15, name="caller")
    caller.run()
    ph.wait(lambda s: idle(s) and s["missed"] == 4, what="the cancelled call missed")


def test_a_ringing_call_that_times_out_is_in_the_missed_call_list(p2p_phones, tmp_path):
    ph = p2p_phones.start("1001", server=False, settings={"phone.ring_timeout": RING})
    with Sipp(tmp_path / "sipp", scenario="uac_ring_unanswered", remote=ph.addr,
              service="1001", timeout=30) as caller:
        ph.wait(lambda s: s["screen"] == "ringing")
        ph.wait(lambda s: idle(s) and s["missed"] == 1, RING + 10, "the call rung out")
        assert caller.wait() == 0, caller.errors()[-1500:]
    ph.key("down")                                   # the idle screen's missed list
    screen = ph.wait_screen("Missed calls 1/1")
    assert "scanner" in screen, screen               # the caller's display name


def test_no_answer_forwarding_still_wins_over_a_shorter_ring_timeout(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.ring_timeout": RING,
                                       "forward.no_answer": "1003",
                                       "forward.no_answer_seconds": RING + 3})
    c = phones.start("1003")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    c.wait(lambda s: s["screen"] == "ringing", RING + 10, "the call forwarded to Carol")
    b.wait(idle)
    assert b.state()["missed"] == 0                 # forwarded, not missed
    c.hook(True)
    a.wait(talking)


def test_auto_answer_still_wins_over_a_shorter_ring_timeout(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.ring_timeout": RING, "phone.auto_answer": True,
                                       "phone.auto_answer_delay": RING + 2})
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    s = b.wait(talking, RING + 10, "auto answer after its delay")
    assert s["audio"] == "speaker" and s["missed"] == 0
    a.wait(talking)
