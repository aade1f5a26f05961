"""3-way conference (manual §4 "3-way Conference"), mixed by our phone: who hears whom is
checked with tones played on each phone's microphone."""
from __future__ import annotations

from tests import audio
from tests.helpers import connect, idle, states_by_number, wait_for

A_TONE, B_TONE, C_TONE = 1000, 1500, 700
TONES = (A_TONE, B_TONE, C_TONE)


def everyone_hears_everyone(a, b, c) -> None:
    a.mic(A_TONE)
    b.mic(B_TONE)
    c.mic(C_TONE)
    # Each phone listens for a second, again (bounded) while it does not hear exactly the
    # other two. Until the phone put G.722 first (now sip.codecs' factory list) the calls spoke
    # Speex, which smeared steady tones (two or three copies beating, one of two mixed
    # tones dropped for a second); the bounded re-listen stays for the first second of a
    # leg. Which phone is connected to which is not in doubt.
    heard = {}

    def hears(p, others) -> bool:
        heard[p] = p.listen(1.0)
        return audio.tones(heard[p], TONES) == others

    for p, others in ((a, {B_TONE, C_TONE}), (b, {A_TONE, C_TONE}), (c, {A_TONE, B_TONE})):
        wait_for(lambda: hears(p, others), f"{p.uri()} hearing the other two", 15,
                 detail=lambda: f"it heard {audio.tones(heard[p], TONES)}")
    assert audio.tones(heard[a], (A_TONE, B_TONE, C_TONE)) == {B_TONE, C_TONE}
    assert audio.tones(heard[b], (A_TONE, B_TONE, C_TONE)) == {A_TONE, C_TONE}
    assert audio.tones(heard[c], (A_TONE, B_TONE, C_TONE)) == {A_TONE, B_TONE}


def conference_of_three(a, b, c) -> None:
    """In a call: CONF, dial, the third answers, CONF again."""
    connect(a, b)
    a.key("conference")
    a.wait(lambda s: s["screen"] == "dialing")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    a.wait(lambda s: states_by_number(s).get("1003") == "connected")
    a.key("conference")
    a.wait(lambda s: states_by_number(s) == {"1002": "connected", "1003": "connected"})
    a.wait_screen("Conference")


def test_conf_dial_conf_makes_a_3_way_call_where_everyone_hears_everyone(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    conference_of_three(a, b, c)
    b.wait(lambda s: not s["calls"][0]["remote_hold"])
    everyone_hears_everyone(a, b, c)


def test_when_one_party_leaves_the_other_stays_as_a_normal_call(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    conference_of_three(a, b, c)
    c.hook(False)
    s = a.wait(lambda s: states_by_number(s) == {"1002": "connected"})
    assert s["screen"] == "talking"
    a.mic(A_TONE)
    assert audio.hears(b.listen(1.0), A_TONE)


def test_hanging_up_ends_both_calls_by_default(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    conference_of_three(a, b, c)
    a.hook(False)
    a.wait(idle)
    b.wait(lambda s: s["screen"] == "ended")
    c.wait(lambda s: s["screen"] == "ended")


def test_leaving_with_conference_exit_transfer_keeps_the_other_two_talking(phones):
    a = phones.start("1001", settings={"phone.conference_exit": "transfer"})
    b, c = phones.start("1002"), phones.start("1003")
    conference_of_three(a, b, c)
    a.hook(False)
    a.wait(idle)
    b.wait(lambda s: states_by_number(s) == {"1003": "connected"})
    b.mic(B_TONE)
    assert audio.hears(c.listen(1.0), B_TONE)


def test_a_consult_transfer_becomes_a_conference_with_conf(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("transfer")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    a.wait(lambda s: states_by_number(s).get("1003") == "connected")
    a.key("conference")
    a.wait(lambda s: states_by_number(s) == {"1002": "connected", "1003": "connected"})
    everyone_hears_everyone(a, b, c)


def test_conf_then_the_held_lines_key_joins_a_held_call(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("hold")
    a.key("line2")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    a.wait(lambda s: states_by_number(s) == {"1002": "held", "1003": "connected"})
    a.key("conference")
    a.key("line1")
    a.wait(lambda s: states_by_number(s) == {"1002": "connected", "1003": "connected"})
    # B's side of the re-INVITE that takes it off hold must have landed before we listen
    b.wait(lambda s: s["calls"] and not s["calls"][0]["remote_hold"] and s["calls"][0]["media"],
           what="B taken off hold")
    everyone_hears_everyone(a, b, c)
