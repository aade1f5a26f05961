"""What happens to a call coming in (manual §4 "VOIP Call Forwarding", "Do Not Disturb",
§7 Call: auto answer, anonymous call rejection, ban list, IP strategy) and the hot line,
between real phones registered to Kamailio."""
from __future__ import annotations

from tests.helpers import idle, states_by_number, talking


def ended_with(p, code: int) -> dict:
    return p.wait(lambda s: s["screen"] == "ended" and s["calls"][0]["code"] == code,
                  what=f"the call to end with {code}")


# --- forwarding ---------------------------------------------------------------------------

def test_forward_always_sends_the_call_on_before_it_rings(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"forward.always": "1003"})
    c = phones.start("1003")
    a.dial("1002")
    s = c.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1001"                   # Alice, reaching Carol
    assert b.state()["calls"] == [] and b.state()["missed"] == 0
    c.hook(True)
    a.wait(talking)


def test_forward_when_busy_with_dnd(phones):
    a = phones.start("1001")
    phones.start("1002", settings={"phone.dnd": True, "forward.busy": "1003"})
    c = phones.start("1003")
    a.dial("1002")
    c.wait(lambda s: s["screen"] == "ringing")


def test_forward_when_not_answered(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"forward.no_answer": "1003",
                                       "forward.no_answer_seconds": 1})
    c = phones.start("1003")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    c.wait(lambda s: s["screen"] == "ringing", 5)
    b.wait(idle)
    assert b.state()["missed"] == 0                             # forwarded, not missed


def test_a_forwarding_loop_does_not_loop_forever(phones, kamailio):
    """B forwards to C and C back to B: the caller stops following and says why."""
    a = phones.start("1001")
    phones.start("1002", settings={"forward.always": "1003"})
    phones.start("1003", settings={"forward.always": "1002"})
    before = len(kamailio.events())
    a.dial("1002")
    s = a.wait(lambda s: s["screen"] == "ended", 15)
    sent = [e for e in kamailio.events()[before:] if e["kind"] == "SIPREQ"
            and e.get("m") == "INVITE" and e.get("fu") == "1001"]
    assert 2 <= len(sent) <= 6, f"{len(sent)} INVITEs"       # B, C, and no going round
    assert s["calls"][0]["code"] == 302
    assert "Forwarding loop" in a.screen()


# --- refusing -------------------------------------------------------------------------------

def test_dnd_answers_with_the_dnd_return_code(phones):
    a = phones.start("1001")
    phones.start("1002", settings={"phone.dnd": True, "phone.dnd_code": 603})
    a.dial("1002")
    s = ended_with(a, 603)
    assert "Declined (603)" in a.screen()


def test_reject_answers_with_the_refuse_return_code(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.reject_code": 480})
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("soft2")
    ended_with(a, 480)


def test_an_anonymous_call_hides_our_number(phones):
    a = phones.start("1001", account={"anonymous": True})
    b = phones.start("1002")
    a.dial("1002")
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "anonymous"
    assert "1001" not in b.screen() and "Alice" not in b.screen()


def test_anonymous_calls_are_refused_when_asked(phones):
    a = phones.start("1001", account={"anonymous": True})
    b = phones.start("1002", account={"anonymous_reject": True})
    c = phones.start("1003")
    a.dial("1002")
    ended_with(a, 433)
    assert b.state()["calls"] == []
    c.dial("1002")                                             # a caller who shows up
    b.wait(lambda s: s["screen"] == "ringing")


def test_a_blacklisted_caller_is_refused(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.blacklist": ["1001"]})
    c = phones.start("1003")
    a.dial("1002")
    ended_with(a, 486)
    c.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")


def test_ip_strategy_accepts_only_the_listed_addresses(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.ip_strategy": True,
                                       "phone.ip_allow": ["10.9.9.0/24"]})
    a.dial("1002")
    ended_with(a, 403)
    b.settings({"phone.ip_allow": ["127.0.0.1"]})
    a.key("soft4")
    a.wait(idle)
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")


# --- answering by itself --------------------------------------------------------------------

def test_auto_answer_after_the_delay_on_the_speaker(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.auto_answer": True,
                                       "phone.auto_answer_delay": 1})
    assert "AA" in b.screen()                                  # manual §3: "AA" when idle
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    s = b.wait(talking, 5)
    assert s["audio"] == "speaker"
    a.wait(talking)


def test_auto_answer_on_the_headset(phones):
    a = phones.start("1001")
    b = phones.start("1002", settings={"phone.auto_answer": True, "phone.auto_answer_delay": 0,
                                       "phone.auto_answer_mode": "headset"})
    a.dial("1002")
    s = b.wait(talking, 5)
    assert s["audio"] == "headset" and s["headset_mode"]


# --- hot line -------------------------------------------------------------------------------

def test_the_hot_line_dials_as_soon_as_the_handset_is_lifted(phones):
    a = phones.start("1001", settings={"phone.hotline": "1002"})
    b = phones.start("1002")
    a.hook(True)
    b.wait(lambda s: s["screen"] == "ringing")


def test_the_delayed_hot_line_waits_for_a_digit_first(phones):
    a = phones.start("1001", settings={"phone.hotline": "1002", "phone.hotline_delay": 1})
    b, c = phones.start("1002"), phones.start("1003")
    a.hook(True)
    a.keys("1003#")                                           # typed in time: no hot line
    c.wait(lambda s: s["screen"] == "ringing")
    assert b.state()["calls"] == []
    a.hook(False)
    a.wait(idle)
    a.hook(True)                                              # nothing typed: the hot line
    b.wait(lambda s: s["screen"] == "ringing", 5)
    assert states_by_number(a.state()) == {"1002": "ringback"} or a.state()["calls"]
