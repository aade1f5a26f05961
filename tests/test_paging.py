"""Server paging and intercom (LP-388 figure 2 "Broadcast"): a call that asks to be
answered by itself is answered on the speaker, with a warning tone, "Broadcast" on the
LCD; during a call it barges in: the pager hears only us, the other party hears only us,
we hear both, and C ends the page. sipp sends every spelling of the request; our own
phones (each with its own microphone tone) check who hears whom."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware.record import replace
from firmware.sip import IncomingPolicy, auto_answer
from tests import audio
from tests.helpers import idle, talking
from tests.peers.sipp import Sipp
from tests.phone import PhoneProcess

A_TONE, B_TONE, C_TONE = 1000, 1500, 700


def invite(*headers: str) -> str:
    return ("INVITE sip:1001@127.0.0.1 SIP/2.0\r\nFrom: <sip:pbx@127.0.0.1>;tag=1\r\n"
            + "".join(h + "\r\n" for h in headers) + "Content-Length: 0\r\n\r\n")


# --- the spellings of "answer by yourself" -------------------------------------------------

VARIANTS = [
    ("Call-Info: <sip:127.0.0.1>;answer-after=0", 0),
    ("Call-Info: answer-after=2", 2),
    ("Alert-Info: <http://127.0.0.1>;info=alert-autoanswer;delay=2", 2),
    ("Alert-Info: info=alert-autoanswer", 0),
    ("Call-Info: <sip:127.0.0.1>;info=alert-autoanswer;delay=0", 0),
    ("Alert-Info: Auto Answer", 0),
    ("Alert-Info: <http://127.0.0.1>;info=Auto Answer", 0),
    ("Alert-Info: Ring Answer", 2),
    ("Answer-Mode: Auto", 0),
    ("Priv-Answer-Mode: Auto", 0),
    ("P-Auto-Answer: normal", 0),
]


@pytest.mark.parametrize("header, delay", VARIANTS)
def test_each_auto_answer_header_makes_a_page_with_its_delay(header, delay):
    page = auto_answer(invite(header))
    assert page is not None and page.delay == delay


@pytest.mark.parametrize("header", ["Alert-Info: <http://127.0.0.1/ring2.wav>",
                                    "Call-Info: <http://127.0.0.1/photo.jpg>;purpose=icon",
                                    "Answer-Mode: Manual", "P-Auto-Answer: off",
                                    "Subject: answer-after=0"])
def test_ordinary_calls_are_not_pages(header):
    assert auto_answer(invite(header)) is None


def test_a_page_is_an_emergency_page_with_priority_emergency_or_priv_answer_mode():
    assert not auto_answer(invite("Answer-Mode: Auto")).emergency
    assert auto_answer(invite("Answer-Mode: Auto", "Priority: emergency")).emergency
    assert auto_answer(invite("Call-Info: <sip:x>;answer-after=0;priority=emergency")).emergency
    assert auto_answer(invite("Priv-Answer-Mode: Auto")).emergency


def test_two_alert_infos_on_one_line_are_both_read():
    page = auto_answer(invite("Alert-Info: <http://x/ring.wav>, <http://x>;info=alert-"
                              "autoanswer;delay=1"))
    assert page is not None and page.delay == 1


def test_dnd_refuses_pages_except_emergency_ones_when_allowed():
    normal, urgent = auto_answer(invite("Answer-Mode: Auto")), \
        auto_answer(invite("Answer-Mode: Auto", "Priority: emergency"))
    pol = IncomingPolicy(dnd=480, pages=True)
    ask = dict(account=1, calls=0, caller="", anonymous=False, source_ip="127.0.0.1")
    assert pol.decide(**ask, page=normal) == (480, "")
    assert pol.decide(**ask, page=urgent) == (180, "")
    pol = replace(pol, page_dnd_emergency=False)
    assert pol.decide(**ask, page=urgent) == (480, "")


def test_a_page_during_a_call_rings_with_barge_in_and_is_busy_without():
    page = auto_answer(invite("Answer-Mode: Auto"))
    ask = dict(account=1, calls=1, caller="", anonymous=False, source_ip="127.0.0.1",
               page=page)
    assert IncomingPolicy(pages=True, busy_when_in_call=True).decide(**ask) == (180, "")
    assert IncomingPolicy(pages=True, page_barge_in=False).decide(**ask) == (486, "")


def test_a_page_is_never_forwarded():
    page = auto_answer(invite("Answer-Mode: Auto"))
    pol = IncomingPolicy(pages=True, forward_always="sip:1003@127.0.0.1")
    assert pol.decide(account=1, calls=0, caller="", anonymous=False,
                      source_ip="127.0.0.1", page=page) == (180, "")


# --- what a person sees and hears (pure functions of the state) ------------------------------

def page_state(**kw):
    from firmware.call.state import AudioDevice, Call, CallState, PhoneState
    s = PhoneState(audio=AudioDevice.SPEAKER, **kw)
    s.calls = [Call(id=7, line=1, account=0, direction="in", state=CallState.CONNECTED,
                    number="pager", name="Pager", connected_at=1.0)]
    s.focus, s.pages = 7, [7]
    return s


def test_a_page_shows_broadcast_and_the_caller_and_beeps_first():
    from firmware import present
    from ui import lcd
    s = page_state(page_tone=True)
    text = lcd.render(s).text
    assert "Broadcast" in text and "Pager" in text
    assert present.tone(s) == "warning" and present.route(s) == "speaker"


def test_a_page_barged_into_a_call_keeps_the_call_on_screen_and_mixes_without_crosstalk():
    from firmware import present
    from firmware.call.state import Call, CallState
    from ui import lcd
    s = page_state()
    s.calls.insert(0, Call(id=3, line=2, account=0, direction="out",
                           state=CallState.CONNECTED, number="1002", name="Bob"))
    s.focus, s.barge = 3, 7
    text = lcd.render(s).text
    assert "Talking" in text and "Bob" in text and "Broadcast: Pager" in text
    assert present.audio_path(s) == ((3, 7), False, False)     # far ends do not hear each other


def test_a_multicast_page_shows_its_priority_and_group_and_lights_the_speaker():
    from firmware import present
    from firmware.call.state import PhoneState
    from ui import lcd
    s = PhoneState(multicast="P2 239.1.1.2:5000")
    assert s.screen() == "paging"
    text = lcd.render(s).text
    assert "Paging" in text and "P2" in text and "239.1.1.2:5000" in text
    assert present.route(s) == "speaker" and present.leds(s)["speaker"] == ("red", "on")


# --- pages from sipp -------------------------------------------------------------------------

# The pagers here are sipp and our own phones on 127.0.0.1; the paged phone has no server,
# so it takes pages only from the addresses it lists (tests/test_trust.py: from others the
# page rings as an ordinary call).
PAGERS = {"paging.intercom_allow": ["127.0.0.1"]}


@pytest.fixture
def ph(module_phone):
    """The shared phone, idle again after each test, factory paging settings (pages taken
    from 127.0.0.1)."""
    module_phone.settings(PAGERS)
    yield module_phone
    if module_phone.proc.poll() is None:
        if not idle(module_phone.state()):
            module_phone.hook(False)
            if module_phone.state()["audio"] == "speaker":
                module_phone.key("speaker")
            module_phone.wait(idle, 8, "idle after the test")
        module_phone.settings({"phone.dnd": False, "paging.intercom": True, **PAGERS})


def pager(tmp_path: Path, phone: PhoneProcess, header: str, extra: str = "X-Test: 1",
          pause_ms: int = 1500, scenario: str = "uac_page.xml") -> Sipp:
    return Sipp(tmp_path / "sipp", scenario=scenario, remote=phone.addr, service="1001",
                keys={"page_header": header, "extra_header": extra},
                variables={"pause_ms": pause_ms} if scenario == "uac_page.xml" else {},
                timeout=30)


def on_the_air(s: dict) -> bool:
    return talking(s) and s["audio"] == "speaker"


@pytest.mark.parametrize("header, delay", VARIANTS)
def test_a_page_is_answered_on_the_speaker_showing_broadcast_and_the_caller(
        ph, tmp_path, header, delay):
    with pager(tmp_path, ph, header) as sipp:
        if delay:
            s = ph.wait(lambda s: s["screen"] == "ringing", what="the page ringing first")
            assert "Broadcast" in ph.screen()
        s = ph.wait(on_the_air, 10 + delay, "the page answered on the speaker")
        shown = ph.screen()
        assert "Broadcast" in shown and "Pager" in shown, shown
        assert s["tone"] in ("warning", None)
        assert sipp.wait(15) == 0, sipp.errors()[-1500:]
    ph.wait(idle, what="idle once the pager hangs up")
    assert "Call ended" not in ph.screen()


def test_the_warning_tone_plays_before_the_page_is_heard(ph, tmp_path):
    with pager(tmp_path, ph, "Answer-Mode: Auto", pause_ms=3000) as sipp:
        ph.wait(lambda s: s["tone"] == "warning", what="the warning tone")
        ph.wait(lambda s: on_the_air(s) and s["tone"] is None, what="the tone to stop")
        assert sipp.wait(15) == 0


def test_with_intercom_off_a_page_rings_like_any_call(ph, tmp_path):
    ph.settings({"paging.intercom": False})
    with pager(tmp_path, ph, "Answer-Mode: Auto", pause_ms=500):
        ph.wait(lambda s: s["screen"] == "ringing")
        assert "Broadcast" not in ph.screen()
        ph.key("speaker")                     # a person answers it
        ph.wait(on_the_air)


def test_dnd_refuses_a_page_and_an_emergency_page_gets_through(ph, tmp_path):
    ph.settings({"phone.dnd": True})
    refused = pager(tmp_path, ph, "Answer-Mode: Auto")
    assert refused.run(timeout=15, check=False) != 0      # no 200: the page was refused
    assert "486" in refused.messages() and idle(ph.state())
    with pager(tmp_path, ph, "Answer-Mode: Auto", "Priority: emergency") as sipp:
        ph.wait(on_the_air, what="the emergency page answered in DND")
        assert sipp.wait(15) == 0


def test_a_page_with_sdp_the_phone_cannot_use_is_refused_and_the_phone_goes_on(ph, tmp_path):
    bad = pager(tmp_path, ph, "Answer-Mode: Auto", scenario="uac_page_bad_sdp.xml")
    assert bad.run(timeout=15, check=False) == 0, bad.errors()[-1500:]
    assert idle(ph.state())
    log = (ph.data_dir / "logs" / "phone.log").read_text()
    assert "refused (400): Bad SDP" in log, ph.log_tail()   # the phone says why (the gate)
    with pager(tmp_path, ph, "Answer-Mode: Auto") as sipp:     # the next page is taken
        ph.wait(on_the_air)
        assert sipp.wait(15) == 0


# --- barge-in: who hears whom -----------------------------------------------------------------

def in_a_call(phones) -> tuple[PhoneProcess, PhoneProcess, PhoneProcess]:
    """A talks to B on the handset; C is ready to page A."""
    a = phones.start("1001", server=False, settings=PAGERS)
    b = phones.start("1002", server=False)
    c = phones.start("1003", server=False)
    a.hook(True)
    a.dial(b.uri("1002"))
    b.wait(lambda s: s["screen"] == "ringing")
    b.hook(True)
    a.wait(lambda s: talking(s) and s["calls"][0]["media"], what="A and B talking")
    b.wait(talking)
    return a, b, c


def barged_in(a: PhoneProcess) -> dict:
    """Both calls up with audio flowing, the warning tone over."""
    return a.wait(lambda s: len(s["calls"]) == 2 and s["tone"] is None and all(
        x["state"] == "connected" and x["media"] for x in s["calls"]), what="the page mixed in")


def page(c: PhoneProcess, target: PhoneProcess) -> None:
    c.request("POST", "/api/page", {"number": target.uri("1001")})


def test_a_page_during_a_call_is_mixed_so_each_far_end_hears_only_us(p2p_phones):
    a, b, c = in_a_call(p2p_phones)
    page(c, a)
    barged_in(a)
    c.wait(lambda s: talking(s) and s["calls"][0]["media"], what="the pager connected")
    assert "Broadcast" in a.screen()
    a.mic(A_TONE)
    b.mic(B_TONE)
    c.mic(C_TONE)
    heard = {p: p.listen(1.0) for p in (a, b, c)}
    every = (A_TONE, B_TONE, C_TONE)
    assert audio.tones(heard[a], every) == {B_TONE, C_TONE}     # we hear both
    assert audio.tones(heard[b], every) == {A_TONE}             # the other party: only us
    assert audio.tones(heard[c], every) == {A_TONE}             # the pager: only us


def test_c_ends_the_page_and_the_call_goes_on(p2p_phones):
    a, b, c = in_a_call(p2p_phones)
    page(c, a)
    barged_in(a)
    a.key("cancel")
    s = a.wait(lambda s: len(s["calls"]) == 1, what="the page ended")
    assert "1002" in s["calls"][0]["number"] and s["calls"][0]["state"] == "connected"
    c.wait(lambda s: s["screen"] in ("ended", "idle"), what="the pager hung up on")
    a.mic(A_TONE)
    b.mic(B_TONE)
    assert audio.tones(a.listen(1.0), (A_TONE, B_TONE, C_TONE)) == {B_TONE}
    assert audio.tones(b.listen(1.0), (A_TONE, B_TONE, C_TONE)) == {A_TONE}


def test_a_one_way_page_is_heard_by_the_called_phone_and_nothing_comes_back(p2p_phones):
    a = p2p_phones.start("1001", server=False, settings=PAGERS)
    c = p2p_phones.start("1003", server=False)
    c.request("POST", "/api/page", {"number": a.uri("1001"), "paging": True})
    a.wait(lambda s: on_the_air(s) and s["calls"][0]["media"])
    c.wait(lambda s: talking(s) and s["calls"][0]["media"])
    a.mic(A_TONE)
    c.mic(C_TONE)
    assert audio.hears(a.listen(1.0), C_TONE)
    back = c.listen(1.0)
    assert not back or not audio.hears(back, A_TONE)


def test_c_ends_a_page_heard_on_its_own(p2p_phones):
    a = p2p_phones.start("1001", server=False, settings=PAGERS)
    c = p2p_phones.start("1003", server=False)
    page(c, a)
    a.wait(on_the_air)
    a.key("cancel")
    a.wait(lambda s: idle(s) and s["route"] == "none", what="idle after C")
    c.wait(lambda s: s["screen"] == "ended", what="the pager told the page ended")


def test_hanging_up_during_a_barge_in_ends_the_call_and_the_page(p2p_phones):
    a, b, c = in_a_call(p2p_phones)
    page(c, a)
    barged_in(a)
    a.hook(False)
    a.wait(idle, what="A idle")
    b.wait(lambda s: s["screen"] == "ended", what="B hung up on")
    c.wait(lambda s: s["screen"] == "ended", what="the pager hung up on")


def test_when_the_other_party_leaves_the_page_goes_on_as_the_call_on_screen(p2p_phones):
    a, b, c = in_a_call(p2p_phones)
    page(c, a)
    barged_in(a)
    b.hook(False)
    s = a.wait(lambda s: len(s["calls"]) == 1 and s["screen"] == "talking",
               what="the page alone on A")
    assert "1003" in s["calls"][0]["number"] and "Broadcast" in a.screen()
    c.mic(C_TONE)
    assert audio.hears(a.listen(1.0), C_TONE)


def test_with_barge_in_off_a_page_during_a_call_is_refused_busy(p2p_phones):
    a, b, c = in_a_call(p2p_phones)
    a.settings({"paging.barge_in": False})
    page(c, a)
    s = c.wait(lambda s: s["screen"] == "ended", what="the page refused")
    assert s["calls"][0]["code"] == 486
    assert [x["number"] for x in a.state()["calls"]] == [b.uri("1002")]


def test_an_intercom_call_is_answered_by_the_called_phone_itself(p2p_phones):
    a = p2p_phones.start("1001", server=False, settings=PAGERS)
    c = p2p_phones.start("1003", server=False)
    page(c, a)
    a.wait(on_the_air, what="the intercom call answered on the speaker")
    c.wait(talking)
    a.mic(A_TONE)
    c.mic(C_TONE)
    assert audio.hears(c.listen(1.0), A_TONE)
    assert audio.hears(a.listen(1.0), C_TONE)
