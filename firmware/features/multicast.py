"""Multicast paging (manual §7 "Paging Setting"): hear pages sent to group addresses,
and send the microphone to a group (a Paging key).

paging.multicast lists up to 10 address:port groups, highest priority first. A page is
G.711 (u-law PT 0, A-law PT 8) RTP sent to a group; it plays on the speaker. A page of a
higher priority pre-empts a lower one (which plays again if it is still going when the
higher one ends). During a call, a page of groups 1..paging.multicast_interrupt holds the
call and resumes it afterwards; other pages are not played. C stops hearing a page.

One receiver thread waits in select() on the group sockets (no timeout while nothing is
paging: an idle phone costs nothing); it parses and decodes RTP into a small jitter
buffer that a pjsua2 AudioMediaPort reads every 20 ms on pjsip's media clock. That port
is connected only while a page is heard; it is released once the media clock has stopped
(firmware/sip/media.py attach_port says why). Garbage on a group is dropped, counted and logged
once per group. Nothing listens beyond the groups the settings name.
"""
from __future__ import annotations

import array
import logging
import os
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass

from firmware.call.controls import Mode
from firmware.call.state import CallState
from firmware.events import (CallProgressed, MulticastPageEnded, MulticastPageRequested,
                             MulticastPageStarted, SettingsChanged)

log = logging.getLogger("deskphone.multicast")

RATE = 8000
FRAME = 160                    # samples per 20 ms
PCMU, PCMA = 0, 8


# --- G.711 (ITU-T G.711; audioop is gone from Python 3.13) ----------------------------------

def ulaw_to_linear(u: int) -> int:
    u = ~u & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def alaw_to_linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def linear_to_ulaw(s: int) -> int:
    s >>= 2                                 # 14 bits, as the reference g711.c
    mask = 0x7F if s < 0 else 0xFF
    s = min(-s if s < 0 else s, 8159) + 0x21
    seg = max(0, s.bit_length() - 6)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((s >> (seg + 1)) & 0x0F)) ^ mask


def linear_to_alaw(s: int) -> int:
    s >>= 3
    if s >= 0:
        mask = 0xD5
    else:
        mask, s = 0x55, -s - 1
    seg = max(0, s.bit_length() - 5)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (s >> 1) & 0x0F if seg < 2 else (s >> seg) & 0x0F
    return aval ^ mask


_DECODE = {PCMU: array.array("h", map(ulaw_to_linear, range(256))),
           PCMA: array.array("h", map(alaw_to_linear, range(256)))}
_ENCODE: dict[int, bytes] = {}     # built on first send: 65536 entries per codec


def decode(payload: bytes, pt: int) -> bytes:
    """G.711 payload -> 16-bit little-endian PCM."""
    table = _DECODE[pt]
    return array.array("h", [table[b] for b in payload]).tobytes()


def encode(pcm: bytes, pt: int) -> bytes:
    """16-bit PCM (native order) -> G.711."""
    table = _ENCODE.get(pt)
    if table is None:
        fn = linear_to_ulaw if pt == PCMU else linear_to_alaw
        table = _ENCODE[pt] = bytes(fn(v - 65536 if v >= 32768 else v) for v in range(65536))
    samples = array.array("H")
    samples.frombytes(pcm[:len(pcm) // 2 * 2])
    return bytes([table[v] for v in samples])


# --- RTP ------------------------------------------------------------------------------------

class BadPacket(ValueError):
    pass


@dataclass
class Rtp:
    pt: int
    seq: int
    ts: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> Rtp:
    """An RTP packet (RFC 3550) carrying G.711, or BadPacket saying what is wrong."""
    if len(data) < 12:
        raise BadPacket(f"{len(data)} bytes: shorter than an RTP header")
    if data[0] >> 6 != 2:
        raise BadPacket("not RTP version 2")
    off = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < off + 4:
            raise BadPacket("truncated header extension")
        off += 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
    end = len(data)
    if data[0] & 0x20:
        end -= data[-1]
    if off >= end:
        raise BadPacket("no payload (truncated)")
    pt = data[1] & 0x7F
    if pt not in (PCMU, PCMA):
        raise BadPacket(f"payload type {pt} is not G.711 (0 PCMU or 8 PCMA)")
    seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
    return Rtp(pt, seq, ts, ssrc, bytes(data[off:end]))


class JitterBuffer:
    """PCM waiting to be played: starts after `prefill` frames, at most `most` frames
    (older audio is dropped), silence while it runs dry. Any thread."""

    def __init__(self, prefill: int = 3, most: int = 10):
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._prefill, self._most = prefill * FRAME * 2, most * FRAME * 2
        self._playing = False

    def push(self, pcm: bytes) -> None:
        with self._lock:
            self._buf += pcm
            if len(self._buf) > self._most:
                del self._buf[:len(self._buf) - self._most]

    def pull(self, nbytes: int) -> bytes:
        with self._lock:
            if not self._playing and len(self._buf) < max(self._prefill, nbytes):
                return bytes(nbytes)
            self._playing = len(self._buf) >= nbytes
            out = bytes(self._buf[:nbytes])
            del self._buf[:nbytes]
        return out + bytes(nbytes - len(out))

    def reset(self) -> None:
        with self._lock:
            self._buf.clear()
            self._playing = False


# --- the receiver thread -------------------------------------------------------------------

def _group(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Receiver:
    """Listens to the groups (index 0 = priority 1); tells `post` when a page starts and
    ends; feeds the page heard into `buffer`."""

    def __init__(self, groups: list[str], *, interface: str, end_after: float, post,
                 buffer: JitterBuffer):
        self.groups = list(groups)
        self.interface = interface if interface not in ("", "0.0.0.0") else "0.0.0.0"
        self.end_after = end_after
        self.post = post
        self.buffer = buffer
        self.bad = [0] * len(groups)        # garbage packets dropped, per group
        self.packets = [0] * len(groups)
        self.active: int | None = None      # index of the group heard now
        self._last = 0.0
        self._seq: int | None = None
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._socks: list[socket.socket] = []
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        for i, text in enumerate(self.groups):
            try:
                sock = self._join(*_group(text))
            except OSError as e:
                log.error("multicast group %s not listened to: %s; check paging.multicast "
                          "and that the port is free", text, e.strerror or e)
                continue
            self._socks.append(sock)
            self._sel.register(sock, selectors.EVENT_READ, i)
        log.info("listening for multicast pages on %s", ", ".join(self.groups))
        self._thread = threading.Thread(target=self._run, name="multicast", daemon=True)
        self._thread.start()

    def _join(self, address: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))       # only this group's datagrams
            mreq = socket.inet_aton(address) + socket.inet_aton(self.interface)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def stop(self) -> None:
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(2)
        for s in self._socks + [self._wake_r, self._wake_w]:
            s.close()
        self._sel.close()

    def _run(self) -> None:
        while not self._stop:
            timeout = None if self.active is None else max(
                0.0, self._last + self.end_after - time.monotonic())
            for key, _ in self._sel.select(timeout):
                if key.data is None:
                    continue
                self._drain(key.fileobj, key.data)
            if self.active is not None and time.monotonic() - self._last >= self.end_after:
                self._end()

    def _drain(self, sock: socket.socket, index: int) -> None:
        for _ in range(64):                   # bounded: other groups get their turn
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("multicast group %s: %s", self.groups[index], e)
                return
            self._packet(index, data)

    def _packet(self, index: int, data: bytes) -> None:
        try:
            rtp = parse_rtp(data)
        except BadPacket as e:
            self.bad[index] += 1
            (log.warning if self.bad[index] == 1 else log.debug)(
                "multicast group %s: dropped a bad packet (%s); %d so far", self.groups[index],
                e, self.bad[index])
            return
        self.packets[index] += 1
        if self.active is not None and index > self.active:
            return                            # a higher priority page is heard
        if self.active is None or index < self.active:
            if self.active is not None:
                log.info("multicast page on %s pre-empts %s", self.groups[index],
                         self.groups[self.active])
            self.active, self._seq = index, None
            self.buffer.reset()
            self.post(MulticastPageStarted(self.groups[index], index + 1))
        if self._seq is not None and (rtp.seq - self._seq) & 0xFFFF >= 0x8000:
            return                            # late or repeated
        self._seq = rtp.seq
        self._last = time.monotonic()
        self.buffer.push(decode(rtp.payload, rtp.pt))

    def _end(self) -> None:
        index, self.active = self.active, None
        self.buffer.reset()
        self.post(MulticastPageEnded(self.groups[index], index + 1))


# --- pjsua2 ports (made, used and released on the SIP thread; frames on the media clock) ---

class _Stream:
    """One page we send: its socket and group, and its RTP stream (own SSRC, random first
    sequence number and timestamp)."""

    def __init__(self, sock: socket.socket, dest: tuple[str, int], pt: int):
        self.sock, self.dest, self.pt = sock, dest, pt
        self.seq, self.ts = random.randrange(65536), random.randrange(1 << 32)
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.failed = False

    def send(self, pcm: bytes) -> None:
        payload = encode(pcm, self.pt)
        head = struct.pack("!BBHII", 0x80, self.pt, self.seq, self.ts, self.ssrc)
        self.sock.sendto(head + payload, self.dest)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + len(payload)) & 0xFFFFFFFF


def _ports():
    import pjsua2 as pj

    def fmt() -> pj.MediaFormatAudio:
        f = pj.MediaFormatAudio()
        f.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
        return f

    class Player(pj.AudioMediaPort):
        """What the person hears of a page: PCM from the jitter buffer."""

        def __init__(self, buffer: JitterBuffer):
            super().__init__()
            self.buffer = buffer
            self.failed = False
            self.createPort("multicast-in", fmt())

        def onFrameRequested(self, frame):
            try:
                data = self.buffer.pull(frame.size or FRAME * 2)
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
                frame.buf = pj.ByteVector(data)
                frame.size = len(data)
            except Exception:  # noqa: BLE001 - never into C++
                if not self.failed:
                    self.failed = True
                    log.exception("multicast playback")

    class Sender(pj.AudioMediaPort):
        """The microphone, as G.711 RTP to a group: `stream` is the page being sent (None
        while none is: the port may outlive a page, firmware/sip/media.py attach_port)."""

        def __init__(self):
            super().__init__()
            self.stream: _Stream | None = None
            self.createPort("multicast-out", fmt())

        def onFrameReceived(self, frame):
            stream = self.stream              # read once: the loop may end the page
            if stream is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or not frame.size:
                return
            try:
                stream.send(bytes(frame.buf))
            except Exception:  # noqa: BLE001 - never into C++
                if stream is self.stream and not stream.failed:   # not a page just ended
                    stream.failed = True
                    log.exception("multicast send to %s", stream.dest)

    return Player, Sender


# --- the feature --------------------------------------------------------------------------

def setup(ctx) -> "MulticastPaging":
    """The feature module's entry: returns its object, whose close() ends it."""
    return MulticastPaging(ctx.phone)


class MulticastPaging:
    """Decides what a multicast page does to the phone; sends pages for Paging keys."""

    def __init__(self, phone):
        self.phone = phone
        self.state = phone.state
        self.sip = phone.sip
        self.buffer = JitterBuffer()
        self.receiver: Receiver | None = None
        self._hearing = False        # our port "multicast-in" is in the bridge (SIP thread)
        self._stream: _Stream | None = None   # the page we send ("multicast-out")
        self._held: int | None = None        # the call a page put on hold
        self._skipped: str = ""             # a page not played (C, or a call up)
        # on the stack while a page is heard or sent: C stops it
        self.mode = Mode("multicast", key=self.key)
        bus = phone.bus
        bus.on(MulticastPageStarted, self.on_started)
        bus.on(MulticastPageEnded, self.on_ended)
        bus.on(MulticastPageRequested, self.on_requested)
        bus.on(SettingsChanged, self.on_settings)
        bus.on(CallProgressed, self.on_progress)
        self.listen()

    @property
    def settings(self):
        return self.phone.settings.paging

    def listen(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        groups = list(self.settings.multicast)
        if groups:
            self.receiver = Receiver(groups, interface=self.phone.settings.sip.bind,
                                     end_after=self.settings.multicast_end_ms / 1000,
                                     post=self.phone.bus.post_threadsafe, buffer=self.buffer)
            self.receiver.start()

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        if self.state.multicast_out:
            self._stop_sending()
        self.phone.controls.pop(self.mode)

    def _mode(self) -> None:
        """On the stack while a page is heard or sent."""
        if self._hearing or self.state.multicast_out:
            self.phone.controls.push(self.mode)
        else:
            self.phone.controls.pop(self.mode)

    def on_settings(self, ev: SettingsChanged) -> None:
        if any(k in ("paging.multicast", "paging.multicast_end_ms") for k in ev.keys):
            self._stop_playing()
            self.listen()

    # -- hearing pages ---------------------------------------------------------------------

    def on_started(self, ev: MulticastPageStarted) -> None:
        s, p = self.state, self.phone
        label = f"P{ev.priority} {ev.address}"
        if self._hearing:         # a higher priority page took over
            s.multicast = label
            self._skipped = ""
            return
        f = s.focused
        if f is not None and f.state is CallState.CONNECTED:
            if ev.priority > self.settings.multicast_interrupt:
                log.info("multicast page %s not played: in a call (paging."
                         "multicast_interrupt %d)", label, self.settings.multicast_interrupt)
                self._skipped = ev.address
                return
            log.info("multicast page %s holds call %d", label, f.id)
            p.hold(f)
            self._held = f.id
        log.info("multicast page %s", label)
        s.multicast = label
        self._skipped = ""
        Player, _ = _ports()
        buffer = self.buffer
        self.sip.attach_port("multicast-in", lambda: Player(buffer), hear=True,
                             ready=lambda port: setattr(port, "failed", False))
        self._hearing = True
        self._mode()

    def on_ended(self, ev: MulticastPageEnded) -> None:
        if self._skipped == ev.address:
            self._skipped = ""
        if not self.state.multicast.endswith(" " + ev.address):
            return
        log.info("multicast page %s ended", self.state.multicast)
        self._stop_playing()

    def _stop_playing(self) -> None:
        s, p = self.state, self.phone
        s.multicast = ""
        if self._hearing:
            self.sip.detach_port("multicast-in")
            self._hearing = False
        self._mode()
        held, self._held = s.call(self._held), None
        if held is not None and held.state is CallState.HELD:
            log.info("call %d resumed after the multicast page", held.id)
            p.resume(held)

    def key(self, key: str) -> bool:
        """C stops hearing the page (it is not played again until it ends), or stops the
        page we send. False: another key, the phone does its usual."""
        if key != "cancel":
            return False
        if self.state.multicast and self._hearing:
            self._skipped = self.state.multicast.split(" ", 1)[1]
            self._stop_playing()
            return True
        if self.state.multicast_out:
            self._stop_sending()
            return True
        return False

    def on_progress(self, ev: CallProgressed) -> None:
        if ev.state == "disconnected" and ev.call == self._held:
            self._held = None

    # -- sending pages ---------------------------------------------------------------------

    def on_requested(self, ev: MulticastPageRequested) -> None:
        s = self.state
        if s.multicast_out:
            same = s.multicast_out == ev.address
            self._stop_sending()
            if same:
                return
        try:
            dest = _group(ev.address)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL,
                            self.settings.multicast_ttl)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            bind = self.phone.settings.sip.bind
            if bind not in ("", "0.0.0.0"):
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                socket.inet_aton(bind))
        except (OSError, ValueError) as e:
            s.notice = f"Cannot page {ev.address}: {e}"
            log.warning("multicast page to %s not sent: %s", ev.address, e)
            return
        pt = PCMU if self.settings.multicast_codec == "pcmu" else PCMA
        _, Sender = _ports()
        stream = self._stream = _Stream(sock, dest, pt)
        self.sip.attach_port("multicast-out", Sender, hear=False,
                             ready=lambda port: setattr(port, "stream", stream))
        s.multicast_out = ev.address
        self._mode()
        log.info("paging %s (%s)", ev.address, self.settings.multicast_codec)

    def _stop_sending(self) -> None:
        s = self.state
        log.info("paging %s stopped", s.multicast_out)
        s.multicast_out = ""
        self._mode()
        stream, self._stream = self._stream, None
        if stream is not None:

            def done(port) -> None:       # the socket is closed once the port lets go of it
                if port is not None:
                    port.stream = None
                stream.sock.close()
            self.sip.detach_port("multicast-out", done)
