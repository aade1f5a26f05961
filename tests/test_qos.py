"""Advance > Phone Setting > QoS (manual §7: Sip QoS 0-63, default 26; Voice QoS 0-63,
default 46): a real phone (pjsua2) marks what it sends with these DSCP values, read here
from the IP header of each packet (IP_RECVTOS) — its answer to an OPTIONS (SIP) and the
RTP of a call it answered (voice)."""
from __future__ import annotations

import re
import secrets
import socket

import pytest

from tests.phone import PhoneProcess
from tests.test_sip_gate import request, sdp

IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)


def listener() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
    s.settimeout(10)
    return s


def receive(s: socket.socket) -> tuple[bytes, int]:
    """A packet and the DSCP of its IP header."""
    data, anc, _, _ = s.recvmsg(65535, socket.CMSG_SPACE(1))
    tos = [c[2][0] for c in anc if c[0] == socket.IPPROTO_IP and c[1] == socket.IP_TOS]
    assert tos, f"no TOS with the packet (IP_RECVTOS): {anc}"
    return data, tos[0] >> 2


def sip_dscp_and_rtp_dscp(phone: PhoneProcess) -> tuple[int, int]:
    with listener() as sig, listener() as rtp:
        offer = sdp(f"m=audio {rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
        invite = request(phone, "INVITE", sock=sig, body=offer)
        sig.sendto(invite, ("127.0.0.1", phone.sip_port))
        phone.wait(lambda st: st["screen"] == "ringing", 10, "ringing")
        phone.key("soft1")                                     # Answer
        while True:
            answer, sip_dscp = receive(sig)
            if answer.startswith(b"SIP/2.0 200"):
                break
        head = answer.decode().split("\r\n\r\n", 1)[0]
        to = re.search(r"^To: (.*)$", head, re.M | re.I).group(1)
        lines = invite.decode().split("\r\n")
        keep = {ln.split(":", 1)[0]: ln for ln in lines[1:] if ":" in ln}
        ack = (f"ACK sip:1000@{phone.addr} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{sig.getsockname()[1]};branch=z9hG4bK"
               f"{secrets.token_hex(6)}\r\n{keep['From']}\r\nTo: {to}\r\n{keep['Call-ID']}\r\n"
               "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        sig.sendto(ack.encode(), ("127.0.0.1", phone.sip_port))
        packet, rtp_dscp = receive(rtp)
        assert packet[0] >> 6 == 2, "an RTP packet (version 2)"
        phone.key("soft4")                                     # End
        phone.wait(lambda st: not st["calls"] or st["screen"] in ("ended", "idle"), 10,
                   "the call ended")
        return sip_dscp, rtp_dscp


@pytest.mark.parametrize("settings, want", [
    ({}, (26, 46)),                                            # as from the factory
    ({"sip.qos_sip": 24, "sip.qos_voice": 0}, (24, 0)),        # 0 = unmarked
], ids=["factory", "changed"])
def test_the_phone_marks_sip_and_voice_with_their_dscp(tmp_path, settings, want):
    with PhoneProcess(tmp_path, settings=settings) as phone:
        assert sip_dscp_and_rtp_dscp(phone) == want
