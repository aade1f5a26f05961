"""Multicast paging (manual §7 "Paging Setting"): G.711 RTP sent to group addresses on
127.0.0.1 plays on the speaker; the first group in paging.multicast has the highest
priority and pre-empts the others; a call is held for a page only when its priority may
interrupt calls; garbage on a group is dropped; a Paging key (API) sends the microphone."""
from __future__ import annotations

import math
import random
import socket
import struct
import threading
import time
import wave
import io
import array

import pytest

from firmware.features.multicast import (PCMA, PCMU, BadPacket, JitterBuffer, alaw_to_linear, decode,
                                encode, parse_rtp, ulaw_to_linear)
from tests import audio
from tests.helpers import idle, talking
from tests.peers.ports import free_port

LOW_TONE, HIGH_TONE, A_TONE, B_TONE = 700, 1500, 1000, 440


def groups(n: int) -> list[str]:
    """n groups of our own (random addresses: parallel runs do not hear each other)."""
    base = f"239.{random.randrange(100, 250)}.{random.randrange(0, 250)}"
    return [f"{base}.{i + 1}:{free_port('udp')}" for i in range(n)]


def rtp(seq: int, pt: int, payload: bytes, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, seq * 160, ssrc) + payload


def tone_frames(freq: int, pt: int):
    """20 ms G.711 frames of a tone, for ever."""
    n = 0
    while True:
        pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * (n + i) / 8000))
                                for i in range(160))).tobytes()
        yield encode(pcm, pt)
        n += 160


class Pager:
    """Sends a tone as RTP to a group on 127.0.0.1, paced at 20 ms, until stopped."""

    def __init__(self, group: str, freq: int, pt: int = PCMU):
        host, _, port = group.rpartition(":")
        self.dest = (host, int(port))
        self.freq, self.pt = freq, pt
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                             socket.inet_aton("127.0.0.1"))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.dest)

    def _run(self) -> None:
        frames = tone_frames(self.freq, self.pt)
        start = time.monotonic()
        for seq in range(60 * 50):          # at most a minute
            if self._stop.is_set():
                return
            self.send(rtp(seq, self.pt, next(frames)))
            self._stop.wait(max(0.0, start + (seq + 1) * 0.02 - time.monotonic()))

    def __enter__(self) -> Pager:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def __exit__(self, *exc) -> None:
        self.stop()
        self.sock.close()


# --- G.711 and RTP, by themselves ------------------------------------------------------------

def test_g711_decodes_the_reference_values():
    assert ulaw_to_linear(0xFF) == 0 and ulaw_to_linear(0x80) == 32124
    assert ulaw_to_linear(0x00) == -32124
    assert alaw_to_linear(0xD5) == 8 and alaw_to_linear(0x55) == -8
    assert alaw_to_linear(0xAA) == 32256


@pytest.mark.parametrize("pt", [PCMU, PCMA])
def test_g711_round_trip_keeps_a_tone(pt):
    pcm = array.array("h", (int(8000 * math.sin(i / 5)) for i in range(160)))
    back = array.array("h")
    back.frombytes(decode(encode(pcm.tobytes(), pt), pt))
    assert max(abs(a - b) for a, b in zip(pcm, back)) < 8000 * 0.07


@pytest.mark.parametrize("packet, why", [
    (b"\x80\x00\x00", "shorter than an RTP header"),
    (b"\x40" + bytes(20), "not RTP version 2"),
    (rtp(1, 18, bytes(20)), "not G.711"),
    (rtp(1, PCMU, b""), "no payload"),
    (b"\x8f" + bytes(13), "no payload"),          # 15 CSRCs announced, none there
])
def test_bad_rtp_is_refused_with_a_reason(packet, why):
    with pytest.raises(BadPacket, match=why):
        parse_rtp(packet)


def test_rtp_with_csrcs_extension_and_padding_gives_the_payload():
    head = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 1, PCMA, 7, 0, 1) + b"CSRC"
    packet = head + b"\xbe\xde\x00\x01" + b"EXT!" + b"voice" + b"\x00\x00\x03"
    r = parse_rtp(packet)
    assert (r.pt, r.seq, r.payload) == (PCMA, 7, b"voice")


def test_the_jitter_buffer_waits_for_three_frames_then_plays_in_order():
    jb = JitterBuffer(prefill=3)
    jb.push(b"\x01" * 320)
    assert jb.pull(320) == bytes(320)             # still filling: silence
    jb.push(b"\x02" * 320)
    jb.push(b"\x03" * 320)
    assert jb.pull(320) == b"\x01" * 320
    assert jb.pull(320) == b"\x02" * 320


# --- pages heard by a phone -------------------------------------------------------------------

def wait_paging(p, label: str) -> dict:
    return p.wait(lambda s: s["screen"] == "paging" and label in p.screen(),
                  what=f"the page {label}")


def test_a_page_plays_on_the_speaker_and_a_higher_priority_one_pre_empts_it(p2p_phones):
    g = groups(3)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast": g})
    with Pager(g[2], LOW_TONE, PCMA):
        s = wait_paging(a, g[2])
        assert s["route"] == "speaker" and "P3" in a.screen()
        assert audio.tones(a.listen(1.0), (LOW_TONE, HIGH_TONE)) == {LOW_TONE}
        with Pager(g[0], HIGH_TONE):
            wait_paging(a, g[0])
            assert audio.tones(a.listen(1.0), (LOW_TONE, HIGH_TONE)) == {HIGH_TONE}
        wait_paging(a, g[2])                      # the low one is still going: back to it
        assert audio.tones(a.listen(1.0), (LOW_TONE, HIGH_TONE)) == {LOW_TONE}
    a.wait(lambda s: idle(s) and s["route"] == "none", what="idle after the page")


def test_a_lower_priority_page_does_not_interrupt_a_higher_one(p2p_phones):
    g = groups(2)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast": g})
    with Pager(g[0], HIGH_TONE):
        wait_paging(a, g[0])
        with Pager(g[1], LOW_TONE):
            heard = a.listen(1.0)
            assert audio.tones(heard, (LOW_TONE, HIGH_TONE)) == {HIGH_TONE}
            assert g[0] in a.screen()


def call_between(phones, settings):
    a = phones.start("1001", server=False, settings=settings)
    b = phones.start("1002", server=False)
    a.hook(True)
    a.dial(b.uri("1002"))
    b.wait(lambda s: s["screen"] == "ringing")
    b.hook(True)
    a.wait(lambda s: talking(s) and s["calls"][0]["media"], what="A and B talking")
    return a, b


def test_a_page_allowed_to_interrupt_holds_the_call_and_resumes_it_after(p2p_phones):
    g = groups(2)
    a, b = call_between(p2p_phones, {"paging.multicast": g, "paging.multicast_interrupt": 1})
    with Pager(g[0], HIGH_TONE):
        wait_paging(a, g[0])
        b.wait(lambda s: s["calls"][0]["remote_hold"], what="B held by the page")
        assert audio.hears(a.listen(1.0), HIGH_TONE)
    a.wait(lambda s: s["screen"] == "talking" and s["calls"][0]["state"] == "connected",
           what="the call resumed after the page")
    b.wait(lambda s: not s["calls"][0]["remote_hold"])
    b.mic(B_TONE)
    assert audio.hears(a.listen(1.0), B_TONE)


def test_a_page_not_allowed_to_interrupt_is_not_played_during_a_call(p2p_phones):
    g = groups(2)
    a, b = call_between(p2p_phones, {"paging.multicast": g, "paging.multicast_interrupt": 1})
    b.mic(B_TONE)
    with Pager(g[1], LOW_TONE):
        heard = a.listen(1.5)
        assert audio.tones(heard, (LOW_TONE, B_TONE)) == {B_TONE}
        s = a.state()
        assert s["screen"] == "talking" and s["calls"][0]["state"] == "connected"


def test_c_stops_hearing_a_page(p2p_phones):
    g = groups(1)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast": g})
    with Pager(g[0], HIGH_TONE):
        wait_paging(a, g[0])
        a.key("cancel")
        a.wait(lambda s: s["screen"] == "idle" and s["route"] == "none")
        heard = a.listen(1.0)                    # (an idle bridge records nothing at all)
        assert not heard or not audio.hears(heard, HIGH_TONE)
        assert a.state()["screen"] == "idle"     # the page goes on, unheard


def test_garbage_on_a_group_is_dropped_counted_logged_once_and_pages_still_play(p2p_phones):
    g = groups(1)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast": g})
    p = Pager(g[0], HIGH_TONE)
    for i in range(20):
        p.send(b"\x80\x00garbage" if i % 2 else bytes(5))
    with_log = lambda: (a.data_dir / "logs" / "phone.log").read_text()   # noqa: E731
    a.wait(lambda s: "dropped a bad packet" in with_log(), what="the log line")
    assert a.state()["screen"] == "idle"
    with p:
        wait_paging(a, g[0])
        assert audio.hears(a.listen(1.0), HIGH_TONE)
    lines = [x for x in with_log().splitlines() if "dropped a bad packet" in x]
    assert len(lines) == 1 and "WARNING" in lines[0], lines


def udp_bound(port: int) -> bool:
    """Is anything on this machine bound to UDP `port` (any address)?"""
    rows = open("/proc/net/udp").read().splitlines()[1:]
    return any(r.split()[1].endswith(f":{port:04X}") for r in rows)


def test_groups_are_listened_to_only_while_the_settings_name_them(p2p_phones):
    g = groups(1)
    port = int(g[0].rpartition(":")[2])
    a = p2p_phones.start("1001", server=False)
    assert not udp_bound(port)
    a.settings({"paging.multicast": g})
    with Pager(g[0], HIGH_TONE):
        wait_paging(a, g[0])
        a.settings({"paging.multicast": []})
        a.wait(lambda s: s["screen"] == "idle", what="the page dropped with its group")
    assert not udp_bound(port)


def test_settings_refuse_a_group_that_is_not_multicast_and_more_than_ten(p2p_phones):
    a = p2p_phones.start("1001", server=False)
    code, body = a.status("PATCH", "/api/settings", {"paging.multicast": ["10.0.0.1:5000"]})
    assert code == 400 and "multicast" in str(body)
    code, body = a.status("PATCH", "/api/settings",
                          {"paging.multicast": [f"239.1.1.{i}:5000" for i in range(11)]})
    assert code == 400 and "at most 10" in str(body)


# --- pages sent by a phone ------------------------------------------------------------------

def listen_group(group: str) -> socket.socket:
    host, _, port = group.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(host) + socket.inet_aton("127.0.0.1"))
    sock.settimeout(5)
    return sock


def as_wav(pcm: bytes) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return buf.getvalue()


def test_a_paging_key_sends_the_microphone_to_the_group_and_a_second_press_stops(p2p_phones):
    g = groups(1)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast_codec": "pcma"})
    a.mic(A_TONE)
    with listen_group(g[0]) as sock:
        a.request("POST", "/api/page", {"multicast": g[0]})
        a.wait(lambda s: s["screen"] == "paging")
        assert "Paging out" in a.screen()
        pcm = b""
        for _ in range(100):                     # 2 s of packets
            packet = parse_rtp(sock.recv(2048))
            assert packet.pt == PCMA
            pcm += decode(packet.payload, packet.pt)
        assert audio.hears(as_wav(pcm[8000:]), A_TONE)
        a.request("POST", "/api/page", {"multicast": g[0]})
        a.wait(idle)
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            for _ in range(100):                 # drain what was in flight
                sock.recv(2048)


def test_one_phone_pages_another_over_multicast(p2p_phones):
    g = groups(1)
    a = p2p_phones.start("1001", server=False)
    b = p2p_phones.start("1002", server=False, settings={"paging.multicast": g})
    a.mic(A_TONE)
    a.request("POST", "/api/page", {"multicast": g[0]})
    wait_paging(b, g[0])
    assert audio.hears(b.listen(1.0), A_TONE)
    a.key("cancel")
    b.wait(idle, what="the page to end on B")


def test_paging_another_group_starts_a_new_stream_and_the_first_group_goes_quiet(p2p_phones):
    """The Sender port outlives a page (firmware/sip/media.py attach_port): each page is a
    stream of its own, and the group paged before hears nothing more."""
    g = groups(2)
    a = p2p_phones.start("1001", server=False)
    a.mic(A_TONE)
    with listen_group(g[0]) as first, listen_group(g[1]) as second:
        a.request("POST", "/api/page", {"multicast": g[0]})
        old = {parse_rtp(first.recv(2048)).ssrc for _ in range(25)}
        a.request("POST", "/api/page", {"multicast": g[1]})      # from one group to another
        a.wait(lambda s: s["screen"] == "paging" and g[1] in a.screen(), what="paging g[1]")
        packets = [parse_rtp(second.recv(2048)) for _ in range(100)]
        assert len({p.ssrc for p in packets}) == 1 and not old & {p.ssrc for p in packets}
        assert all((q.seq - p.seq) & 0xFFFF == 1 for p, q in zip(packets, packets[1:]))
        assert audio.hears(as_wav(b"".join(decode(p.payload, p.pt) for p in packets[50:])),
                           A_TONE)
        first.settimeout(1.0)
        with pytest.raises(socket.timeout):
            for _ in range(100):                 # drain what was in flight
                first.recv(2048)
        a.key("cancel")
        a.wait(idle)


def test_a_second_page_is_heard_like_the_first(p2p_phones):
    g = groups(1)
    a = p2p_phones.start("1001", server=False, settings={"paging.multicast": g})
    for freq in (LOW_TONE, HIGH_TONE):
        with Pager(g[0], freq):
            wait_paging(a, g[0])
            assert audio.tones(a.listen(1.0), (LOW_TONE, HIGH_TONE)) == {freq}
        a.wait(lambda s: idle(s) and s["route"] == "none", what="idle after the page")
