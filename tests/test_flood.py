"""INVITE floods, as a SIP scanner or a storm of callers sends them (issue #10, item 1):
the phone must not crash, the call in progress must stay up with its audio, the keys must
still reach the screen, excess calls must be refused (486/503), and afterwards the phone
answers OPTIONS and takes a normal call.

sipp sends the flood (tests/peers/sipp/uac_flood.xml) with `-t un`: one socket per call,
so the phone sees thousands of callers on as many ports.  Each caller is well-behaved: it
ACKs a refusal and CANCELs a call that rings, so what is measured is the phone, not a pile
of half-open transactions.  The call in progress is with baresip, whose microphone plays a
tone the phone's earpiece recording must carry (as tests/test_calls.py listens).
"""
from __future__ import annotations

import collections
import re
import time
from pathlib import Path

import pytest

from tests import audio
from tests.helpers import idle, talking
from tests.peers import Baresip, Sipp
from tests.peers._process import wait_for
from tests.phone import PhoneProcess
from tests.sipwire import Wire

TONE = 1000              # Hz, baresip's microphone
REFUSED = (486, 503)     # how a busy phone may turn a caller away

pytestmark = pytest.mark.timeout(120)


def flood(tmp_path: Path, ph: PhoneProcess, *, rate: float, calls: int, name: str) -> Sipp:
    """`calls` callers at `rate`/s, one socket each; a call that rings is cancelled 50 ms
    after its 180."""
    return Sipp(tmp_path / "sipp", scenario="uac_flood", remote=ph.addr, service="1001",
                calls=calls, rate=rate, transport="un", timeout=calls / rate + 20, name=name,
                extra_args=["-d", "50", "-max_socket", "4096"])


def answers(s: Sipp) -> collections.Counter:
    """Responses sipp received, by code (its trace holds only requests it sent besides)."""
    return collections.Counter(int(c) for c in re.findall(r"^SIP/2\.0 (\d{3})", s.messages(),
                                                          re.MULTILINE))


def died(ph: PhoneProcess) -> str:
    rc = ph.proc.poll()
    return "" if rc is None else (f"the phone process exited with {rc}\n{ph.output()}\n"
                                  f"{ph.log_tail(20)}")


def answers_options(ph: PhoneProcess) -> int | None:
    with Wire(ph.host, ph.sip_port) as w:
        r = w.options(ph.uri("1001"), 5.0)
    return r.code if r else None


def still_takes_a_call(ph: PhoneProcess, tmp_path: Path, within: float = 5.0) -> None:
    """A normal caller after the storm, on another host (the flooding address itself is
    refused for a while: sip.flood_limit): within `within` s a call rings (180) and is
    cancelled; the phone is idle after.  (Right after a burst the phone may still turn a
    caller away with 503 while the burst's media sockets close: the caller tries again.)"""
    deadline = time.monotonic() + within
    tries = []
    while True:
        s = Sipp(tmp_path / "sipp", scenario="uac_ring_cancel", remote=ph.addr,
                 service="1001", timeout=10, name=f"after-{len(tries)}", host="127.0.0.2")
        rc = s.run(check=False)
        got = answers(s)
        tries.append((rc, dict(got)))
        if rc == 0 and got[180]:
            break
        assert got[503] and time.monotonic() < deadline, (
            f"no normal call rang within {within} s after the flood: sipp exit and "
            f"answers per try: {tries}\n{ph.log_tail(10)}")
        time.sleep(0.2)
    ph.wait(idle, 10, "idle after the normal call")


def press_volume(ph: PhoneProcess) -> str:
    """VOL+ then VOL-, each seen on the screen ("Volume speaker 6/9") before the next."""
    ph.key("volup")
    deadline = time.monotonic() + 5
    shown = ""
    while not (m := re.search(r"Volume (\w+) (\d)/9", shown)):
        assert time.monotonic() < deadline, f"VOL+ never reached the screen:\n{shown}"
        shown = ph.screen()
        time.sleep(0.03)
    ph.key("voldown")
    return ph.wait_screen(f"Volume {m.group(1)} {int(m.group(2)) - 1}/9", 5)


@pytest.fixture
def phone(tmp_path):
    with PhoneProcess(tmp_path / "phone", account={"user": "1001"}) as p:
        yield p


@pytest.fixture
def far_end(tmp_path):
    with Baresip(tmp_path / "baresip", user="1002", answermode="auto", tone_hz=TONE,
                 sip_trace=False) as b:
        yield b


def test_500_invites_a_second_for_10_s_leave_the_call_in_progress_up(phone, far_end,
                                                                      tmp_path):
    ph = phone
    ph.dial(far_end.uri)
    ph.wait(talking, 10, "talking to baresip")
    assert audio.hears(ph.listen(1.0), TONE), "no audio from baresip even before the flood"

    s = flood(tmp_path, ph, rate=500, calls=5000, name="flood-500")
    s.start()
    try:
        during = {}
        wait_for(lambda: sum(answers(s).values()) >= 200 or s.returncode is not None,
                 timeout=10, what="the flood under way", log=s.log_path)
        during["screen"] = press_volume(ph)
        during["heard"] = audio.hears(ph.listen(1.0), TONE)
        st = ph.state()
        during["call"] = st["calls"][0]["state"] if st["calls"] else None
        during["again"] = press_volume(ph)
        flooding = s.returncode is None      # all of the above happened inside the flood
        rc = s.wait(60)
    finally:
        s.stop()
    got = answers(s)
    assert not died(ph), died(ph)
    assert flooding, f"the flood ended before the checks were done: {dict(got)}"
    assert during["call"] == "connected", during
    assert during["heard"], "the far end's tone was not heard during the flood"
    assert sum(got[c] for c in REFUSED), f"no caller was refused with 486/503: {dict(got)}"
    assert rc == 0, (f"sipp exit {rc}: not every caller got an answer it could end\n"
                     f"{dict(got)}\n{s.errors()[-2000:]}")

    assert answers_options(ph) == 200
    st = ph.wait(talking, 5, "still talking after the flood")
    assert len(st["calls"]) == 1, st["calls"]
    calls = far_end.listcalls()
    assert "Active calls (1)" in calls and "ESTABLISHED" in calls, calls
    assert audio.hears(ph.listen(1.0), TONE), "no audio from baresip after the flood"


def test_40_invites_back_to_back(phone, tmp_path):
    """The shape that aborted the phone (ioqueue free list empty) at about 40 INVITEs."""
    s = flood(tmp_path, phone, rate=2000, calls=40, name="burst-40")
    rc = s.run(timeout=40, check=False)
    got = answers(s)
    assert not died(phone), died(phone)
    assert rc == 0, f"sipp exit {rc}: {dict(got)}\n{s.errors()[-2000:]}"
    assert sum(got[c] for c in REFUSED), f"nobody refused: {dict(got)}"
    assert answers_options(phone) == 200
    phone.wait(idle, 10, "idle after the burst")
    still_takes_a_call(phone, tmp_path)


def test_a_caller_that_cancels_every_call_at_200_a_second(phone, tmp_path):
    """Well-behaved but fast: every call that rings is cancelled 50 ms after its 180, every
    refusal ACKed; 2 s of it."""
    s = flood(tmp_path, phone, rate=200, calls=400, name="cancel-200")
    rc = s.run(timeout=40, check=False)
    got = answers(s)
    assert not died(phone), died(phone)
    assert rc == 0, f"sipp exit {rc}: {dict(got)}\n{s.errors()[-2000:]}"
    assert got[487], f"no call rang and was cancelled: {dict(got)}"
    assert answers_options(phone) == 200
    phone.wait(idle, 10, "idle after the calls")
    still_takes_a_call(phone, tmp_path)
