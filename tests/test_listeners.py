"""Nothing listens that the settings do not name (issue 10, item 8).

What `ss -lntup` would show for the phone's process, read from /proc (the phone's socket
inodes in /proc/PID/fd, their addresses in /proc/PID/net): UDP sip.bind:sip.port, TCP
web.listen, and during a call RTP (and RTCP) ports inside sip.rtp_port .. +sip.rtp_ports.
A UDP socket counts as listening when it is not connected (anyone may send to it), a TCP
socket when it is in LISTEN.
"""
from __future__ import annotations

import os
import socket

from tests.helpers import connect
from tests.peers.ports import listeners
from tests.phone import PhoneProcess


def named(p: PhoneProcess) -> set[tuple[str, str, int]]:
    return {("udp", p.host, p.sip_port), ("tcp", p.host, p.http_port)}


def rtp_range(p: PhoneProcess) -> range:
    doc = p.settings_doc["sip"]
    return range(doc["rtp_port"], doc["rtp_port"] + doc["rtp_ports"])


def test_an_idle_phone_listens_on_its_sip_port_and_web_address_only(p2p_phones):
    a = p2p_phones.start("1001", server=False)
    a.wait(lambda s: s["screen"] == "idle")
    assert listeners(a.proc.pid) == named(a)


def test_in_a_call_through_a_registrar_only_rtp_ports_of_the_range_are_added(phones):
    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    for p in (a, b):
        found = listeners(p.proc.pid)
        extra = found - named(p)
        assert named(p) <= found
        assert extra, "a call in progress has RTP sockets"
        assert all(proto == "udp" and ip == p.host and port in rtp_range(p)
                   for proto, ip, port in extra), extra
    a.hook(False)
    b.wait(lambda s: s["screen"] != "talking")


def test_the_test_reads_what_ss_would_show():
    """The /proc reader finds a wildcard UDP socket and a TCP listener of this process,
    and does not count a connected UDP socket."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("0.0.0.0", 0))
        t.bind(("127.0.0.1", 0))
        t.listen()
        c.connect(("127.0.0.1", 9))
        found = listeners(os.getpid())
        assert ("udp", "0.0.0.0", u.getsockname()[1]) in found
        assert ("tcp", "127.0.0.1", t.getsockname()[1]) in found
        assert not any(port == c.getsockname()[1] for _, _, port in found)
    finally:
        for s in (u, t, c):
            s.close()
