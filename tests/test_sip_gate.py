"""What a stranger's packets can do to the phone (issue 10 items 1 and 4): bursts of INVITEs
are refused fast and never crash it, odd requests get the answer RFC 3261 asks for.

Before the gate (firmware/sip/gate.py) 40 INVITEs back to back aborted the process in
pj_ioqueue_register_sock2, and a REGISTER, FOO or an out-of-dialog BYE got no answer.
"""
from __future__ import annotations

import secrets
import select
import socket
import time

import pytest

from tests.peers.sipp import Sipp
from tests.phone import PhoneProcess

SDP_PCMU = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def sdp(media: str) -> str:
    return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + media


def request(phone: PhoneProcess, method: str, *, sock: socket.socket, cseq_method: str = "",
            to_tag: str = "", body: str = "", extra: str = "") -> bytes:
    port = sock.getsockname()[1]
    t = secrets.token_hex(6)
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:1000@{phone.addr} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{t}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:stranger@127.0.0.1>;tag={t}\r\n"
            f"To: <sip:1000@{phone.addr}>{to_tag}\r\nCall-ID: {t}@stranger\r\n"
            f"CSeq: 1 {cseq_method or method}\r\nContact: <sip:stranger@127.0.0.1:{port}>\r\n"
            f"{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}").encode()


def final_answer(sock: socket.socket, timeout: float = 3.0) -> str:
    """Status line of the first final response (skipping 1xx); "" when none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            line = sock.recv(65535).split(b"\r\n", 1)[0].decode()
        except socket.timeout:
            break
        if not line.startswith("SIP/2.0 1"):
            return line
    return ""


def final_answers(socks: list[socket.socket], timeout: float, ringing: int = 0) -> list[str]:
    """final_answer for many sockets at once: one shared deadline, not one each. The phone
    answers in order: once the last socket has its answer, at most `ringing` left without
    one are ringing calls, not late answers."""
    got = {s: "" for s in socks}
    deadline = time.monotonic() + timeout
    waiting = set(socks)
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [], deadline - time.monotonic())
        for s in ready:
            line = s.recv(65535).split(b"\r\n", 1)[0].decode()
            if not line.startswith("SIP/2.0 1"):
                got[s] = line
                waiting.discard(s)
        if len(waiting) <= ringing and socks[-1] not in waiting:
            break
    return [got[s] for s in socks]


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def answers_options(phone: PhoneProcess) -> bool:
    with udp() as s:
        s.sendto(request(phone, "OPTIONS", sock=s), ("127.0.0.1", phone.sip_port))
        return final_answer(s).startswith("SIP/2.0 200")


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    p = PhoneProcess(tmp_path_factory.mktemp("gate"))
    p.start()
    yield p
    p.stop()


ODD = [
    # (method, CSeq method, To tag, body) -> status a RFC 3261 UAS gives
    pytest.param("REGISTER", "", "", "", 405, id="REGISTER-405"),
    pytest.param("PUBLISH", "", "", "", 405, id="PUBLISH-405"),
    pytest.param("FOO", "", "", "", 501, id="unknown-method-501"),
    pytest.param("BYE", "", "", "", 481, id="BYE-out-of-dialog-481"),
    pytest.param("INFO", "", "", "", 481, id="INFO-out-of-dialog-481"),
    pytest.param("REFER", "", "", "", 481, id="REFER-out-of-dialog-481"),
    pytest.param("PRACK", "", "", "", 481, id="PRACK-out-of-dialog-481"),
    pytest.param("UPDATE", "", "", "", 481, id="UPDATE-out-of-dialog-481"),
    pytest.param("BYE", "", ";tag=gone", "", 481, id="BYE-unknown-dialog-481"),
    pytest.param("INVITE", "OPTIONS", "", SDP_PCMU, 400, id="CSeq-mismatch-INVITE-400"),
    pytest.param("OPTIONS", "INVITE", "", "", 400, id="CSeq-mismatch-OPTIONS-400"),
    pytest.param("INVITE", "", "", sdp("m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"),
                 488, id="INVITE-only-G729-488"),
    pytest.param("INVITE", "", "", sdp("m=video 4000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"),
                 488, id="INVITE-video-only-488"),
    pytest.param("INVITE", "", "", sdp("m=audio 0 RTP/AVP 0\r\n"), 488,
                 id="INVITE-audio-disabled-488"),
    pytest.param("INVITE", "", "", sdp("m=audio 4000 RTP/SAVP 0\r\n"), 488,
                 id="INVITE-SRTP-only-488"),
    pytest.param("INVITE", "", "", sdp(""), 488, id="INVITE-no-m-line-488"),
]


@pytest.mark.parametrize("method, cseq, tag, body, code", ODD)
def test_an_odd_request_gets_the_answer_rfc3261_asks_for(phone, method, cseq, tag, body, code):
    with udp() as s:
        s.sendto(request(phone, method, sock=s, cseq_method=cseq, to_tag=tag, body=body),
                 ("127.0.0.1", phone.sip_port))
        got = final_answer(s)
        # 488 and the like come before ringing: the first answer is already final
    assert got.startswith(f"SIP/2.0 {code} "), got or "no answer"
    assert phone.call_state() is None, "a refused request must not ring"


def test_an_offer_with_no_usable_audio_is_refused_before_it_rings(phone):
    with udp() as s:
        s.sendto(request(phone, "INVITE", sock=s,
                         body=sdp("m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")),
                 ("127.0.0.1", phone.sip_port))
        s.settimeout(3)
        first = s.recv(65535).split(b"\r\n", 1)[0].decode()
    assert first.startswith("SIP/2.0 488"), f"first answer {first!r}: it rang first"


def test_forty_invites_back_to_back_are_refused_fast_and_the_phone_lives(phone):
    socks = [udp() for _ in range(60)]
    try:
        for s in socks:           # one INVITE each from 60 source ports, no pause
            s.sendto(request(phone, "INVITE", sock=s, body=SDP_PCMU),
                     ("127.0.0.1", phone.sip_port))
        # the phone answers the INVITEs in order: once the last is refused, those still
        # without a final answer are ringing
        answers = final_answers(socks, timeout=5, ringing=3)
    finally:
        for s in socks:
            s.close()
    assert phone.proc.poll() is None, phone.output()[-3000:]
    codes = [a.split()[1] if a else "rings" for a in answers]
    # one call per line key rings (a provisional answer only), every other one is refused
    assert codes.count("rings") == 3, codes
    assert set(codes) <= {"rings", "486", "503"}, codes
    assert answers_options(phone)
    phone.wait(lambda s: len(s.get("calls", [])) > 0, what="the first calls ring")


def test_a_caller_ringing_and_cancelling_at_200_per_second_never_crashes_it(tmp_path):
    p = PhoneProcess(tmp_path / "phone")
    p.start()
    try:
        sipp = Sipp(tmp_path / "sipp", scenario="uac_ring_cancel", remote=p.addr,
                    service="1000", calls=600, rate=200, transport="un", timeout=30,
                    extra_args=["-max_socket", "4096"])
        sipp.run(check=False)
        answered = sipp.messages()
        assert answered.count("SIP/2.0 180") >= 3, "the storm never rang the phone"
        assert p.proc.poll() is None, p.output()[-3000:]
        assert answers_options(p)
        # once the storm is over the phone is an idle phone: a new call (from another host:
        # the storm's own is refused for a while, sip.flood_limit) rings
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.2", 0))
        with other:
            other.sendto(request(p, "INVITE", sock=other, body=SDP_PCMU),
                         ("127.0.0.1", p.sip_port))
            p.wait(lambda st: any(c.get("state") == "ringing" for c in st.get("calls", [])),
                   timeout=15, what="a call after the storm rings")
    finally:
        p.stop()


def test_a_scanner_stops_ringing_the_phone_and_others_still_get_through(tmp_path):
    """A host whose calls are cancelled as soon as they ring (a scan, a flood) takes the
    screen and the ringer over and over and fills the missed-call list, until it has left
    sip.flood_limit calls unanswered: then its INVITEs get 503 at once, while a caller on
    another address still rings."""
    p = PhoneProcess(tmp_path / "phone", settings={"sip.flood_limit": 10})
    p.start()
    try:
        scan = Sipp(tmp_path / "sipp", scenario="uac_flood", remote=p.addr, service="1000",
                    calls=400, rate=200, transport="un", timeout=30, name="scan",
                    extra_args=["-d", "50", "-max_socket", "4096"])
        scan.run(check=False)
        refused = scan.messages().count("SIP/2.0 503 Too many unanswered calls")
        assert refused > 300, f"the scan kept ringing the phone: {refused} refused"
        assert p.proc.poll() is None
        st = p.wait(lambda s: not s["calls"], what="the scan's last calls gone")
        assert st["missed"] <= 10 + 4, f"{st['missed']} missed calls from one scan"
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.2", 0))
        with other:
            other.sendto(request(p, "INVITE", sock=other, body=SDP_PCMU),
                         ("127.0.0.1", p.sip_port))
            p.wait(lambda st: any(c["state"] == "ringing" for c in st["calls"]),
                   what="a call from another address rings")
        with udp() as s:                      # the scanner's address is still refused
            s.sendto(request(p, "INVITE", sock=s, body=SDP_PCMU), ("127.0.0.1", p.sip_port))
            assert final_answer(s).startswith("SIP/2.0 503"), "the scanner got through"
    finally:
        p.stop()


def test_check_sync_is_judged_by_where_the_packet_came_from_not_by_its_via(tmp_path):
    """A NOTIFY Event: check-sync makes the phone fetch its configuration (and reboot with
    ;reboot=true). A stranger writing the server's address into its Via is still a
    stranger: 403. The server itself gets 200."""
    p = PhoneProcess(tmp_path / "phone", account={"user": "1000", "server": "127.0.0.1:9"})
    p.start()
    try:
        def check_sync(src: str) -> str:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((src, 0))
                port = s.getsockname()[1]
                t = secrets.token_hex(6)
                msg = (f"NOTIFY sip:1000@{p.addr} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{t}\r\n"
                       f"Max-Forwards: 70\r\nFrom: <sip:pbx@127.0.0.1>;tag={t}\r\n"
                       f"To: <sip:1000@{p.addr}>\r\nCall-ID: {t}@pbx\r\nCSeq: 1 NOTIFY\r\n"
                       f"Event: check-sync\r\nContent-Length: 0\r\n\r\n")
                s.sendto(msg.encode(), ("127.0.0.1", p.sip_port))
                return final_answer(s)
        # the server's address is known once the phone has looked its servers up
        deadline = time.monotonic() + 10
        while not (got := check_sync("127.0.0.1")).startswith("SIP/2.0 200"):
            assert time.monotonic() < deadline, f"the server's check-sync: {got}"
            time.sleep(0.2)
        assert check_sync("127.0.0.2").startswith("SIP/2.0 403"), "a forged Via was believed"
    finally:
        p.stop()


TRICKY_TO = [
    # a quoted display name may hold ">" and ";tag=": pjsip reads no tag (out of dialog)
    pytest.param('To: "a>;tag=zz" <sip:1000@{addr}>', id="quoted-tag-in-display-name"),
    # two To headers, the first with a tag: pjsip keeps the last
    pytest.param('To: <sip:1000@{addr}>;tag=x1\r\nTo: <sip:1000@{addr}>', id="two-To-headers"),
]


@pytest.mark.parametrize("to", TRICKY_TO)
def test_a_to_header_that_only_looks_in_dialog_still_meets_the_gate(tmp_path, to):
    """Before: the gate judged "in dialog" from the raw To and let these INVITEs past every
    check, media budget included: 31 of them aborted the phone again."""
    p = PhoneProcess(tmp_path / "phone")
    p.start()
    try:
        socks = [udp() for _ in range(45)]
        try:
            for s in socks:
                msg = request(p, "INVITE", sock=s, body=SDP_PCMU).decode()
                msg = msg.replace(f"To: <sip:1000@{p.addr}>", to.format(addr=p.addr), 1)
                s.sendto(msg.encode(), ("127.0.0.1", p.sip_port))
            answers = final_answers(socks, timeout=5, ringing=3)
        finally:
            for s in socks:
                s.close()
        assert p.proc.poll() is None, p.output()[-3000:]
        assert answers_options(p)
        codes = [a.split()[1] if a else "rings" for a in answers]
        assert set(codes) <= {"rings", "486", "503"}, codes
    finally:
        p.stop()


def test_strangers_cannot_pass_trusted_only_or_subscribe_to_our_presence(tmp_path):
    p = PhoneProcess(tmp_path / "phone", account={"user": "1000", "server": "127.0.0.1:9"})
    p.start()
    try:
        for method, to in (("OPTIONS", TRICKY_TO[0].values[0]), ("MESSAGE", TRICKY_TO[1].values[0]),
                           ("SUBSCRIBE", "To: <sip:1000@{addr}>")):
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.bind(("127.0.0.2", 0))
            with other:
                msg = request(p, method, sock=other,
                              extra="Event: presence\r\nExpires: 600\r\n"
                              if method == "SUBSCRIBE" else "").decode()
                msg = msg.replace(f"To: <sip:1000@{p.addr}>", to.format(addr=p.addr), 1)
                other.sendto(msg.encode(), ("127.0.0.1", p.sip_port))
                got = final_answer(other)
            assert got.startswith("SIP/2.0 403"), f"{method} from a stranger: {got or 'none'}"
    finally:
        p.stop()


def test_only_the_lines_servers_may_subscribe_to_the_phone(tmp_path):
    """pjsua serves presence to any SUBSCRIBE: memory held per watcher for up to 10 min,
    and NOTIFYs sent to whatever Contact it names (a reflector)."""
    p = PhoneProcess(tmp_path / "phone")
    p.start()
    try:
        with udp() as s:
            s.sendto(request(p, "SUBSCRIBE", sock=s,
                             extra="Event: presence\r\nExpires: 600\r\n"),
                     ("127.0.0.1", p.sip_port))
            got = final_answer(s)
        assert got.startswith("SIP/2.0 403"), got or "no answer"
    finally:
        p.stop()
