"""The phone's SIP on the wire, as the Welltech LP-388 note describes it, with sipp as the
far end (peer to peer, straight to the phone's SIP port).

- PRACK, RFC 3262 (LP-388 feature 9): reliable provisional responses both ways.
- UPDATE, RFC 3311 (feature 10): taken in an established call, with and without SDP.
- Session timers off by default (LP-388 "known bugs" 1): no Session-Expires asked for or
  granted, and no refresh of our own even when the far end names us the refresher.
- No "ptime" in our SDP (bug fix 3).
- A video offer is answered, video refused with port 0 (bug fix 2).
- Bad input from the network gets a 4xx (or is dropped) and the phone keeps working.

Every check reads the messages sipp sent and received (its -trace_msg log), parsed into
headers and SDP.  The session-timer refresh window has to cover the moment a refresher would
act (Session-Expires / 2 = 45 s for 90 s), so those four calls run in the background from the
start of the module while the other tests run; the last two tests collect them.  Two of the
four are phones with session timers on: they must refresh inside the same window, which
shows the check can fail.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Phones
from tests.helpers import idle, talking
from tests.peers.sipp import Sipp, parse_messages

SE = 90                 # Session-Expires the far end offers; RFC 4028's smallest Min-SE
WINDOW_MS = 47_000      # how long the refresh watch looks: a refresher acts at SE/2 = 45 s
TIMERS_ON = {"sip.session_timers": True, "sip.session_expires": SE}


# --- what sipp saw, parsed -------------------------------------------------------------

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "k": "supported", "t": "to", "v": "via",
           "x": "session-expires", "s": "subject", "o": "event", "u": "allow-events"}


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    fmts: list[str]
    attrs: list[str] = field(default_factory=list)      # "rtpmap:0 PCMU/8000", "sendrecv"


@dataclass
class Msg:
    """One SIP message from sipp's trace; `direction` is sipp's ("sent" = sipp sent it)."""
    direction: str
    time: float
    first_line: str
    method: str | None
    code: int | None
    headers: list[tuple[str, str]]
    body: str

    @property
    def from_phone(self) -> bool:
        return self.direction == "received"

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def tags(self, name: str) -> set[str]:
        """Option tags / methods of every `name` header (Supported, Require, Allow)."""
        return {t.strip().lower() for v in self.all(name) for t in v.split(",") if t.strip()}

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, METHOD); (0, "") when there is no CSeq (the garbage INVITE)."""
        parts = (self.get("cseq") or "0").split()
        return int(parts[0]), parts[-1].upper() if len(parts) > 1 else ""

    @property
    def to_tag(self) -> str | None:
        m = re.search(r";\s*tag=([^;>\s]+)", self.get("to") or "")
        return m.group(1) if m else None

    @property
    def sdp_lines(self) -> list[str]:
        if not self.body.strip():
            return []
        assert (self.get("content-type") or "").lower().startswith("application/sdp"), self
        return [ln.strip() for ln in self.body.splitlines() if ln.strip()]

    @property
    def media(self) -> list[Media]:
        out: list[Media] = []
        for ln in self.sdp_lines:
            if ln.startswith("m="):
                kind, port, proto, *fmts = ln[2:].split()
                out.append(Media(kind, int(port.split("/")[0]), proto, fmts))
            elif ln.startswith("a=") and out:
                out[-1].attrs.append(ln[2:])
        return out

    def __str__(self) -> str:
        hdrs = "\n".join(f"{n}: {v}" for n, v in self.headers)
        return f"[{self.direction} by sipp]\n{self.first_line}\n{hdrs}\n\n{self.body}"


def parse(raw: dict) -> Msg:
    text = raw["text"].replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    headers: list[tuple[str, str]] = []
    for ln in lines[1:]:
        if ln[:1] in (" ", "\t") and headers:           # folded continuation line
            n, v = headers[-1]
            headers[-1] = (n, f"{v} {ln.strip()}")
        elif ":" in ln:
            n, v = ln.split(":", 1)
            n = n.strip().lower()
            headers.append((COMPACT.get(n, n), v.strip()))
    return Msg(raw["direction"], raw["time"], lines[0].strip(), raw["method"], raw["code"],
               headers, body.strip("\n"))


def trace(sipp: Sipp) -> list[Msg]:
    return [parse(m) for m in parse_messages(sipp.messages())]


def dump(msgs: list[Msg]) -> str:
    return "\n----\n".join(str(m) for m in msgs)[-6000:]


def one(msgs: list[Msg], pred, what: str) -> Msg:
    found = [m for m in msgs if pred(m)]
    assert found, f"no {what} in the trace:\n{dump(msgs)}"
    return found[0]


def request(msgs: list[Msg], method: str, *, from_phone: bool = True) -> Msg:
    return one(msgs, lambda m: m.method == method and m.from_phone == from_phone,
               f"{method} {'from the phone' if from_phone else 'from sipp'}")


def response(msgs: list[Msg], code: int, method: str, *, from_phone: bool) -> Msg:
    return one(msgs, lambda m: m.code == code and m.cseq[1] == method
               and m.from_phone == from_phone,
               f"{code} to {method} {'from the phone' if from_phone else 'from sipp'}")


def wait_trace(sipp: Sipp, pred, what: str, timeout: float = 5.0) -> list[Msg]:
    """Poll sipp's trace until one message matches; return the whole trace."""
    deadline = time.monotonic() + timeout
    msgs: list[Msg] = []
    while time.monotonic() < deadline:
        msgs = trace(sipp)
        if any(pred(m) for m in msgs):
            return msgs
        time.sleep(0.03)
    raise AssertionError(f"sipp never saw {what} in {timeout} s:\n{dump(msgs)}\n"
                         f"{sipp.errors()[-1500:]}")


def finished(sipp: Sipp, timeout: float = 10.0) -> list[Msg]:
    """Wait for sipp to end, insist it succeeded, return its trace."""
    rc = sipp.wait(timeout)
    msgs = trace(sipp)
    assert rc == 0, f"sipp exit {rc}\n{sipp.errors()[-2000:]}\n{dump(msgs)}"
    return msgs


# --- phones --------------------------------------------------------------------------------

@pytest.fixture
def ph(module_phone):
    """The shared phone, put back on hook and idle after each test."""
    yield module_phone
    if module_phone.proc.poll() is None and not idle(module_phone.state()):
        module_phone.hook(False)
        module_phone.wait(idle, 8, "idle after the test")


def ringing(s: dict) -> bool:
    return s["screen"] == "ringing"


def sipp(tmp_path: Path, scenario: str, phone=None, **kw) -> Sipp:
    """A sipp run: a caller to `phone` when given, else a callee waiting on its own port."""
    if phone is not None:
        kw.update(remote=phone.addr, service="1001")
    return Sipp(tmp_path / "sipp", scenario=scenario, timeout=kw.pop("timeout", 20), **kw)


# --- session timers: four calls watched for refreshes in the background -----------------

@dataclass
class Watch:
    phone: object
    sipp: Sipp
    role: str             # "caller": the phone calls sipp; "callee": sipp calls the phone

    def invite(self, timeout: float = 5.0) -> Msg:
        msgs = wait_trace(self.sipp, lambda m: m.method == "INVITE", "the INVITE", timeout)
        return request(msgs, "INVITE", from_phone=self.role == "caller")

    def answer(self, timeout: float = 5.0) -> Msg:
        from_phone = self.role == "callee"
        msgs = wait_trace(self.sipp, lambda m: m.code == 200 and m.cseq[1] == "INVITE",
                          "the 200 to the INVITE", timeout)
        return response(msgs, 200, "INVITE", from_phone=from_phone)

    def result(self) -> tuple[int, list[Msg], list[Msg]]:
        """(sipp exit code, whole trace, requests from the phone after the ACK other than
        the ACK/BYE/200s that end the call)."""
        rc = self.sipp.wait(WINDOW_MS / 1000 + 15)
        msgs = trace(self.sipp)
        acks = [i for i, m in enumerate(msgs) if m.method == "ACK"]
        assert acks, f"the call never got its ACK:\n{dump(msgs)}"
        after = [m for m in msgs[acks[0] + 1:] if m.from_phone and m.method
                 and m.method not in ("ACK", "BYE")]
        return rc, msgs, after

    def ack_time(self, msgs: list[Msg]) -> float:
        return one(msgs, lambda m: m.method == "ACK", "ACK").time


@pytest.fixture(scope="module", autouse=True)
def refresh_watches(tmp_path_factory):
    """Start, at once, four calls whose far end asks for session timers with
    Session-Expires 90 and names the phone the refresher, each watched for 47 s:
    phone calling (uas_timer: the 200 says refresher=uac) and phone called (uac_timer: the
    INVITE says refresher=uas), each with factory settings and with session timers on."""
    work = tmp_path_factory.mktemp("timers")
    ph = Phones(work, None)
    watches: dict[str, Watch] = {}
    try:
        for name, role, settings in (("off_caller", "caller", {}),
                                     ("on_caller", "caller", TIMERS_ON),
                                     ("off_callee", "callee", {}),
                                     ("on_callee", "callee", TIMERS_ON)):
            settings = dict(settings)
            if role == "callee":
                settings.update({"phone.auto_answer": True, "phone.auto_answer_delay": 0})
            phone = ph.start("1001", server=False, settings=settings)
            common = dict(keys={"se": SE}, variables={"window_ms": WINDOW_MS},
                          timeout=WINDOW_MS / 1000 + 10, name=name)
            if role == "caller":
                s = Sipp(work / "sipp", scenario="uas_timer.xml", **common).start()
                phone.dial(f"sip:timer@{s.addr}")
            else:
                s = Sipp(work / "sipp", scenario="uac_timer.xml", remote=phone.addr,
                         service="1001", **common).start()
            watches[name] = Watch(phone, s, role)
        yield watches
    finally:
        for w in watches.values():
            w.sipp.stop()
        ph.close()


# --- 1. PRACK (RFC 3262) ----------------------------------------------------------------

def check_reliable_183_pracked(msgs: list[Msg]) -> None:
    invite = request(msgs, "INVITE")
    p183 = response(msgs, 183, "INVITE", from_phone=False)
    assert "100rel" in p183.tags("require")
    rseq = int(p183.get("rseq"))
    pracks = [m for m in msgs if m.method == "PRACK" and m.from_phone]
    assert pracks, f"the phone never sent PRACK:\n{dump(msgs)}"
    for prack in pracks:                                      # (a retransmission is alike)
        assert prack.get("rack").split() == [str(rseq), str(invite.cseq[0]), "INVITE"]
        assert prack.get("call-id") == invite.get("call-id")
        assert prack.to_tag == p183.to_tag                    # within the early dialog
        assert prack.cseq[1] == "PRACK" and prack.cseq[0] > invite.cseq[0]
    ok_prack = response(msgs, 200, "PRACK", from_phone=False)
    ok_invite = response(msgs, 200, "INVITE", from_phone=False)
    assert msgs.index(pracks[0]) < msgs.index(ok_prack) < msgs.index(ok_invite)
    ack = request(msgs, "ACK")
    assert ack.cseq == (invite.cseq[0], "ACK") and ack.to_tag == ok_invite.to_tag


def test_prack_a_reliable_183_is_pracked_then_the_call_connects(ph, tmp_path):
    """Factory setting (prack = supported): the INVITE offers 100rel; a callee's 183 with
    Require: 100rel + RSeq + SDP gets a PRACK with RAck "<RSeq> <INVITE CSeq> INVITE";
    then the 200 (INVITE) is ACKed and the call is up."""
    with sipp(tmp_path, "uas_prack.xml") as far:
        ph.hook(True)
        ph.dial(f"sip:bob@{far.addr}")
        s = ph.wait(talking, what="connected")
        assert s["calls"][0]["state"] == "connected"
        ph.hook(False)
        msgs = finished(far)
    invite = request(msgs, "INVITE")
    assert "100rel" in invite.tags("supported")
    assert "100rel" not in invite.tags("require")             # only when asked
    check_reliable_183_pracked(msgs)


def test_prack_required_puts_100rel_in_require(p2p_phones, tmp_path):
    a = p2p_phones.start("1001", server=False, settings={"sip.prack": "required"})
    with sipp(tmp_path, "uas_prack.xml") as far:
        a.hook(True)
        a.dial(f"sip:bob@{far.addr}")
        a.wait(talking, what="connected")
        a.hook(False)
        msgs = finished(far)
    invite = request(msgs, "INVITE")
    assert "100rel" in invite.tags("require") and "100rel" in invite.tags("supported")
    check_reliable_183_pracked(msgs)


def test_prack_required_refuses_a_caller_without_100rel(p2p_phones, tmp_path):
    """RFC 3262: with prack = required a caller that does not support 100rel gets 421."""
    a = p2p_phones.start("1001", server=False, settings={"sip.prack": "required"})
    caller = Sipp(tmp_path / "caller", scenario="uac_call.xml", remote=a.addr, service="1001")
    caller.start()
    try:
        caller.wait()
    finally:
        caller.stop()
    assert "SIP/2.0 421" in caller.messages()
    assert a.state()["calls"] == []


def test_prack_a_caller_requiring_100rel_gets_a_reliable_180(ph, tmp_path):
    """sipp calls with Require: 100rel: the phone's 180 carries Require: 100rel and an
    RSeq; sipp's PRACK gets 200; lifting the handset then gives the 200 (INVITE)."""
    with sipp(tmp_path, "uac_prack.xml", ph) as caller:
        ph.wait(ringing, what="ringing")
        wait_trace(caller, lambda m: m.code == 200 and m.cseq[1] == "PRACK",
                   "the phone's 200 to PRACK")
        ph.hook(True)
        ph.wait(talking, what="connected")
        ph.hook(False)
        msgs = finished(caller)
    r180 = response(msgs, 180, "INVITE", from_phone=True)
    assert "100rel" in r180.tags("require"), r180
    rseq = int(r180.get("rseq"))
    assert 1 <= rseq < 2 ** 31
    prack = request(msgs, "PRACK", from_phone=False)
    assert prack.get("rack").split() == [str(rseq), "1", "INVITE"]
    ok_prack = response(msgs, 200, "PRACK", from_phone=True)
    assert ok_prack.to_tag == r180.to_tag
    ok_invite = response(msgs, 200, "INVITE", from_phone=True)
    assert msgs.index(ok_prack) < msgs.index(ok_invite)
    assert ok_invite.to_tag == r180.to_tag


# --- 2 and 4. Allow: UPDATE, and no ptime, in a plain call each way ------------------------

@pytest.fixture(scope="module")
def plain_calls(module_phone, tmp_path_factory):
    """One call from the phone (to uas_answer) and one to it (from uac_call): the traces."""
    p, work = module_phone, tmp_path_factory.mktemp("plain")
    with Sipp(work, scenario="uas_answer.xml", timeout=20) as far:
        p.hook(True)
        p.dial(f"sip:bob@{far.addr}")
        p.wait(talking, what="connected")
        p.hook(False)
        out = finished(far)
    p.wait(idle)
    with Sipp(work, scenario="uac_call.xml", remote=p.addr, service="1001", timeout=20,
              variables={"pause_ms": 300}) as caller:
        p.wait(ringing, what="ringing")
        p.hook(True)
        p.wait(lambda s: s["screen"] == "ended", what="sipp's BYE")
        p.hook(False)
        inc = finished(caller)
    p.wait(idle)
    return {"invite": request(out, "INVITE"),
            "answer": response(inc, 200, "INVITE", from_phone=True)}


def test_update_and_prack_are_in_allow_of_the_invite_and_the_200(plain_calls):
    for what in ("invite", "answer"):
        allow = plain_calls[what].tags("allow")
        assert {"update", "prack", "invite", "ack", "bye", "cancel"} <= allow, what


def test_no_ptime_in_the_sdp_offer_or_answer(plain_calls):
    """LP-388 bug fix 3: no a=ptime in the INVITE's SDP (nor in our answers)."""
    for what in ("invite", "answer"):
        msg = plain_calls[what]
        assert msg.media and msg.media[0].kind == "audio", msg
        assert not [ln for ln in msg.sdp_lines if ln.lower().startswith("a=ptime")], msg


# --- 2. UPDATE (RFC 3311) ---------------------------------------------------------------

def test_update_with_and_without_sdp_keeps_the_call_up(ph, tmp_path):
    with sipp(tmp_path, "uac_update.xml", ph) as caller:
        ph.wait(ringing, what="ringing")
        ph.hook(True)
        ph.wait(talking, what="connected")
        wait_trace(caller, lambda m: m.code == 200 and m.cseq == (3, "UPDATE"),
                   "the phone's 200 to the UPDATE with SDP")
        for _ in range(5):                                    # still up for a while
            s = ph.state()
            assert s["calls"] and s["calls"][0]["state"] == "connected", s["calls"]
            time.sleep(0.1)
        ph.hook(False)
        msgs = finished(caller)
    plain = one(msgs, lambda m: m.from_phone and m.cseq == (2, "UPDATE"), "200 to UPDATE 2")
    assert plain.code == 200 and not plain.body.strip(), plain      # no offer, no answer
    answer = one(msgs, lambda m: m.from_phone and m.cseq == (3, "UPDATE"), "200 to UPDATE 3")
    assert answer.code == 200, answer
    audio = [m for m in answer.media if m.kind == "audio"]
    assert len(audio) == 1 and audio[0].port != 0 and "0" in audio[0].fmts, answer
    assert not [ln for ln in answer.sdp_lines if ln.startswith("a=ptime")]
    first = response(msgs, 200, "INVITE", from_phone=True)
    assert plain.to_tag == answer.to_tag == first.to_tag     # in the call's dialog
    assert msgs.index(request(msgs, "BYE")) > msgs.index(answer)   # ended by us, after


# --- 3. session timers off by default (RFC 4028) -------------------------------------------

def test_session_timers_are_not_asked_for_by_default(refresh_watches):
    invite = refresh_watches["off_caller"].invite()
    assert invite.get("session-expires") is None, invite
    assert invite.get("min-se") is None, invite
    assert "timer" not in invite.tags("require") | invite.tags("supported"), invite


def test_with_session_timers_on_the_invite_asks_for_them(refresh_watches):
    invite = refresh_watches["on_caller"].invite()
    assert int(invite.get("session-expires").split(";")[0]) == SE, invite
    assert "timer" in invite.tags("supported"), invite


def test_a_call_asking_for_session_timers_is_answered_without_them(refresh_watches):
    """sipp's INVITE: Supported: timer, Session-Expires: 90;refresher=uas.  With timers
    off the 200 grants none (a phone with them on does: the same check sees it)."""
    off = refresh_watches["off_callee"].answer()
    assert off.get("session-expires") is None, off
    assert "timer" not in off.tags("require") | off.tags("supported"), off
    on = refresh_watches["on_callee"].answer()
    assert int(on.get("session-expires").split(";")[0]) == SE, on


# --- 5. a video offer (LP-388 bug fix 2) ------------------------------------------------

def test_a_video_offer_is_answered_with_video_refused(ph, tmp_path):
    with sipp(tmp_path, "uac_video.xml", ph) as caller:
        ph.wait(ringing, what="ringing")
        ph.hook(True)
        s = ph.wait(talking, what="connected")
        assert s["calls"][0]["state"] == "connected"
        ph.hook(False)
        msgs = finished(caller)
    offer = request(msgs, "INVITE", from_phone=False)
    answer = response(msgs, 200, "INVITE", from_phone=True)
    assert [m.kind for m in answer.media] == [m.kind for m in offer.media] == ["audio", "video"]
    audio, video = answer.media
    assert audio.port != 0 and "0" in audio.fmts, answer            # PCMU accepted
    assert video.port == 0, answer                                   # "m=video 0 ..."
    assert not [m for m in msgs if m.code and m.code >= 300]


def test_hanging_up_before_the_ack_sends_one_bye_after_it(ph, tmp_path):
    """RFC 3261 §15: the callee sends no BYE before the ACK of its 200. Hanging up in that
    window must end the call with one BYE once the ACK is in (pjsua 2.15 alone sends two)."""
    with sipp(tmp_path, "uac_slow_ack.xml", ph) as caller:
        ph.wait(ringing, what="ringing")
        ph.hook(True)
        wait_trace(caller, lambda m: m.code == 200 and m.from_phone, "the phone's 200")
        ph.hook(False)                        # sipp holds its ACK back 300 ms
        ph.wait(idle, what="the phone idle at once")
        msgs = finished(caller)               # a second BYE would have aborted sipp's call
    byes = [m for m in msgs if m.method == "BYE" and m.from_phone]
    ack = next(m for m in msgs if m.method == "ACK" and not m.from_phone)
    assert len(byes) == 1 and byes[0].time >= ack.time, dump(msgs)


# --- 6. bad input from the network ---------------------------------------------------------

def still_takes_calls(ph, tmp_path) -> None:
    """A normal INVITE right after rings (sipp sees 180, cancels, gets 487)."""
    assert ph.proc.poll() is None, "the phone process died"
    caller = sipp(tmp_path, "uac_ring_cancel.xml", ph)
    rc = caller.run(timeout=15, check=False)
    msgs = trace(caller)
    assert rc == 0, f"sipp exit {rc}\n{caller.errors()[-1500:]}\n{dump(msgs)}"
    response(msgs, 180, "INVITE", from_phone=True)
    response(msgs, 487, "INVITE", from_phone=True)
    ph.wait(idle, what="idle after the cancelled call")


def test_an_invite_without_cseq_gets_no_call_and_the_phone_keeps_working(ph, tmp_path):
    """RFC 3261 makes CSeq mandatory.  A 400 would be fine; pjsip 2.15 drops the request
    (it logs PJSIP_EMISSINGHDR) -- either way nothing rings and nothing breaks."""
    caller = sipp(tmp_path, "uac_invite_no_cseq.xml", ph)
    rc = caller.run(timeout=10, check=False)
    msgs = trace(caller)
    assert rc == 0, f"sipp exit {rc}\n{caller.errors()[-1500:]}\n{dump(msgs)}"
    answers = [m for m in msgs if m.from_phone]
    assert all(m.code and 400 <= m.code < 500 for m in answers), dump(msgs)
    assert idle(ph.state())
    still_takes_calls(ph, tmp_path)


@pytest.mark.parametrize("scenario, codes", [("uac_invite_bad_sdp.xml", {400, 488}),
                                             ("uac_invite_no_codec.xml", {488})])
def test_an_invite_with_sdp_the_phone_cannot_use_is_refused(ph, tmp_path, scenario, codes):
    caller = sipp(tmp_path, scenario, ph)
    rc = caller.run(timeout=10, check=False)
    msgs = trace(caller)
    assert rc == 0, f"sipp exit {rc}\n{caller.errors()[-1500:]}\n{dump(msgs)}"
    finals = [m for m in msgs if m.from_phone and m.code and m.code >= 200]
    assert finals and {m.code for m in finals} <= codes, dump(msgs)
    assert not [m for m in msgs if m.from_phone and m.code in (180, 183)]   # never rang
    assert idle(ph.state())
    still_takes_calls(ph, tmp_path)


# --- 3 (continued). the refresh watch: collected last --------------------------------------

def test_with_session_timers_off_the_phone_never_refreshes(refresh_watches):
    """The far end named the phone refresher (as caller: the 200 says refresher=uac with
    Require: timer; as callee: the INVITE says refresher=uas) with Session-Expires 90.  In
    47 s -- past the 45 s at which a refresher acts -- no re-INVITE or UPDATE comes; the
    call stays up until sipp's BYE."""
    for name in ("off_caller", "off_callee"):
        w = refresh_watches[name]
        rc, msgs, refreshes = w.result()
        assert not refreshes, f"{name}: the phone refreshed:\n{dump(refreshes)}"
        assert rc == 0, f"{name}: sipp exit {rc}\n{w.sipp.errors()[-1500:]}\n{dump(msgs)}"
        bye = request(msgs, "BYE", from_phone=False)
        assert bye.time - w.ack_time(msgs) >= WINDOW_MS / 1000 - 0.5
        assert response(msgs, 200, "BYE", from_phone=True)


def test_the_refresh_watch_sees_a_phone_that_refreshes(refresh_watches):
    """Control for the test above: phones with session timers on refresh (UPDATE or
    re-INVITE with Session-Expires) about 45 s after the ACK, inside the same window."""
    for name in ("on_caller", "on_callee"):
        w = refresh_watches[name]
        _, msgs, refreshes = w.result()
        assert refreshes, f"{name}: no refresh in {WINDOW_MS} ms:\n{dump(msgs)}"
        first = refreshes[0]
        assert first.method in ("UPDATE", "INVITE"), first
        assert int(first.get("session-expires").split(";")[0]) == SE, first
        assert 40 <= first.time - w.ack_time(msgs) <= WINDOW_MS / 1000, first
