"""A small TFTP client: read or write one file (RFC 1350, octet mode) with options
(RFC 2347-2349).

Why our own: the stdlib has no TFTP, and the PyPI clients either lack tsize (we must refuse
a 2 GB file before it arrives, not after) or an overall deadline. It is two small state
machines over one exchange: a read, RRQ -> (OACK -> ACK 0 | DATA 1) -> DATA n / ACK n ...
until a short block, and a write (a phone book backup), WRQ -> (OACK | ACK 0) -> DATA n /
ACK n ... until a short block is acknowledged.

Exceptions are plain and low level; provisioning.fetch turns them into messages for people.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Callable

OP_RRQ, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK = 1, 2, 3, 4, 5, 6

DEFAULT_BLKSIZE = 512
BLKSIZE = 1428        # 1428 + 4 + 8 + 20 = 1460 bytes: fits an Ethernet MTU with room to spare
TRIES = 5             # retransmissions before giving up; they share `timeout`

# Linux: report ICMP errors (port unreachable) on an unconnected UDP socket too, so "no
# server" fails at once instead of after the timeout. Not in the socket module's names.
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)


class TftpError(Exception):
    """The server sent an ERROR packet: `code` (RFC 1350: 1 not found, 2 access violation,
    ...) and its `message`."""

    def __init__(self, code: int, message: str):
        super().__init__(f"TFTP error {code}: {message}")
        self.code = code
        self.message = message


class TftpTimeout(Exception):
    """No answer for `timeout` seconds, retransmissions included."""


class TftpDeadline(Exception):
    """The transfer as a whole took longer than allowed."""


class TftpProtocolError(Exception):
    """The server sent something that is not TFTP, or broke the protocol."""


def download(host: str, port: int, filename: str, *, write: Callable[[bytes], None],
             on_size: Callable[[int], None] | None = None, timeout: float = 10.0,
             deadline: float | None = None, blksize: int = BLKSIZE, tries: int = TRIES,
             options: bool = True) -> int:
    """Read `filename` from host:port, passing each block to `write`; return the size.

    on_size(n) is called with the size the server announces (tsize) before any data, and may
    raise to refuse the file (the server is told with an ERROR packet). `timeout` is how long
    the server may stay silent, spread over `tries` retransmissions; `deadline` is a
    time.monotonic() value the whole transfer must finish by. A server that ignores or
    refuses the options is read with plain RFC 1350 (512-byte blocks, no size).
    """
    return _negotiated(_Transfer, host, port, filename, options=options, write=write,
                       on_size=on_size, timeout=timeout, deadline=deadline, blksize=blksize,
                       tries=tries)


def upload(host: str, port: int, filename: str, data: bytes, *, timeout: float = 10.0,
           deadline: float | None = None, blksize: int = BLKSIZE, tries: int = TRIES,
           options: bool = True) -> int:
    """Write `data` as `filename` on host:port (WRQ, RFC 1350); return the size sent.

    The same options as a read: blksize, and tsize with the real size (RFC 2349: the server
    may refuse a file too large for it before any data); the same bounds (`timeout` of
    silence over `tries` retransmissions of the last DATA, `deadline`). A server that
    ignores or refuses the options gets plain 512-byte blocks. Servers create no file unless
    told to (tftpd-hpa: --create): their ERROR says so and TftpError carries it.
    """
    return _negotiated(_Upload, host, port, filename, options=options, data=data,
                       timeout=timeout, deadline=deadline, blksize=blksize, tries=tries)


def _negotiated(kind, host: str, port: int, filename: str, *, options: bool, **kw) -> int:
    """Run a read or a write with options, once more without them if the server refuses."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        except OSError:
            pass
        xfer = kind(sock, addr, filename, **kw)
        if not options:
            return xfer.run(options=False)
        try:
            return xfer.run(options=True)
        except _OptionsRefused:
            return xfer.run(options=False)


class _OptionsRefused(Exception):
    pass


class _Exchange:
    """What a read and a write share: the socket, the server's transfer port (TID) once it
    answered, the last packet sent (sent again when the answer is late), and the bounds:
    `tries` silences of timeout/tries each, and the deadline for the whole transfer."""

    def __init__(self, sock: socket.socket, addr, filename: str, *, timeout, deadline,
                 blksize, tries):
        self.sock, self.addr, self.filename = sock, addr, filename
        self.tries = max(1, tries)
        self.interval = max(0.05, timeout / self.tries)
        self.deadline = deadline
        self.want_blksize = max(8, min(65464, blksize))

    def start(self, request: bytes) -> None:
        self.peer = None
        self.send(request, self.addr)

    def send(self, packet: bytes, to) -> None:
        """A packet that moves the transfer on: the silence count starts again."""
        self.last, self.last_to, self.misses = packet, to, 0
        self.sock.sendto(packet, to)

    def receive(self) -> tuple[int, bytes]:
        """The next packet from the server: (opcode, packet). On silence the last packet is
        sent again; TftpTimeout after `tries` silences, TftpDeadline past the deadline."""
        while True:
            wait = self.interval
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    if self.peer is not None:
                        self._send_error(self.peer, 0, "transfer took too long")
                    raise TftpDeadline()
                wait = min(wait, left)
            self.sock.settimeout(wait)
            try:
                packet, src = self.sock.recvfrom(65536)
            except socket.timeout:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    continue                         # reported at the top of the loop
                self.misses += 1
                if self.misses >= self.tries:
                    raise TftpTimeout() from None
                self.sock.sendto(self.last, self.last_to)
                continue
            if self.peer is None:
                if src[0] != self.addr[0]:
                    continue                         # not from the server we asked
                self.peer = src
            elif src[:2] != self.peer[:2]:
                self._send_error(src, 5, "Unknown transfer ID")
                continue
            if len(packet) < 4:
                raise TftpProtocolError(f"a {len(packet)}-byte packet is not TFTP")
            return struct.unpack("!H", packet[:2])[0], packet

    def error(self, packet: bytes, *, options: bool, first: bool) -> Exception:
        """An ERROR packet as the exception to raise: _OptionsRefused when it answers the
        request with options (RFC 2347: 8 = options refused; old servers say 0 or 4)."""
        code = struct.unpack("!H", packet[2:4])[0]
        message = packet[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
        if options and first and code in (0, 4, 8):
            return _OptionsRefused()
        return TftpError(code, message)

    def blksize_of(self, opts: dict[str, str]) -> int:
        """The block size an OACK chose: at most what we asked for."""
        if "blksize" not in opts:
            return DEFAULT_BLKSIZE
        try:
            blksize = int(opts["blksize"])
        except ValueError:
            blksize = -1
        if not 8 <= blksize <= self.want_blksize:
            self._send_error(self.peer, 8, "bad blksize")
            raise TftpProtocolError(f"server chose block size {opts['blksize']!r}, we "
                                    f"asked for at most {self.want_blksize}")
        return blksize

    def _send_error(self, to, code: int, message: str) -> None:
        try:
            self.sock.sendto(struct.pack("!HH", OP_ERROR, code) + message.encode() + b"\0", to)
        except OSError:
            pass


class _Transfer(_Exchange):
    """A read: RRQ -> (OACK -> ACK 0 | DATA 1) -> DATA n / ACK n ... until a short block."""

    def __init__(self, sock, addr, filename: str, *, write, on_size, **kw):
        super().__init__(sock, addr, filename, **kw)
        self.write, self.on_size = write, on_size

    def run(self, *, options: bool) -> int:
        rrq = _request(OP_RRQ, self.filename, self.want_blksize if options else None)
        blksize = DEFAULT_BLKSIZE
        expected = 1                 # next DATA block, modulo 65536
        size = 0
        self.start(rrq)
        while True:
            opcode, packet = self.receive()
            peer = self.peer

            if opcode == OP_ERROR:
                raise self.error(packet, options=options,
                                 first=expected == 1 and size == 0 and self.last is rrq)

            if opcode == OP_OACK:
                if self.last is not rrq or not options:
                    if self.last == _ack(0):
                        self.sock.sendto(self.last, self.last_to)   # our ACK 0 was lost
                    continue
                opts = _parse_options(packet[2:])
                blksize = self.blksize_of(opts)
                if "tsize" in opts and self.on_size is not None:
                    try:
                        announced = int(opts["tsize"])
                    except ValueError:
                        announced = None
                    if announced is not None:
                        try:
                            self.on_size(announced)
                        except BaseException:
                            self._send_error(peer, 3, "file too large for the client")
                            raise
                self.send(_ack(0), peer)
                continue

            if opcode == OP_DATA:
                block = struct.unpack("!H", packet[2:4])[0]
                data = packet[4:]
                if block == expected & 0xFFFF:
                    if self.last is rrq and options:
                        blksize = DEFAULT_BLKSIZE     # the server ignored our options
                    if len(data) > blksize:
                        self._send_error(peer, 4, "block larger than negotiated")
                        raise TftpProtocolError(f"block {block} has {len(data)} bytes, more "
                                                f"than the block size {blksize}")
                    try:
                        self.write(data)
                    except BaseException:
                        self._send_error(peer, 3, "transfer stopped by the client")
                        raise
                    size += len(data)
                    self.send(_ack(block), peer)
                    if len(data) < blksize:
                        return size
                    expected += 1
                elif block == (expected - 1) & 0xFFFF:
                    self.sock.sendto(self.last, self.last_to)   # our ACK was lost: again
                continue

            raise TftpProtocolError(f"unexpected TFTP opcode {opcode}")


class _Upload(_Exchange):
    """A write: WRQ -> (OACK | ACK 0) -> DATA 1 / ACK 1 ... until a short block is
    acknowledged. A late ACK is waited out, never answered with the DATA again (RFC 1350's
    "Sorcerer's Apprentice": that would double every packet from then on)."""

    def __init__(self, sock, addr, filename: str, *, data: bytes, **kw):
        super().__init__(sock, addr, filename, **kw)
        self.data = bytes(data)

    def run(self, *, options: bool) -> int:
        size = len(self.data)
        wrq = _request(OP_WRQ, self.filename, self.want_blksize if options else None,
                       tsize=size)
        blksize = DEFAULT_BLKSIZE
        sent = 0                     # the DATA block sent last (0: none yet)
        self.start(wrq)
        while True:
            opcode, packet = self.receive()
            if opcode == OP_ERROR:
                raise self.error(packet, options=options, first=self.last is wrq)
            if opcode == OP_OACK:
                if self.last is not wrq or not options:
                    continue                         # a duplicate: our DATA 1 is out
                blksize = self.blksize_of(_parse_options(packet[2:]))
            elif opcode == OP_ACK:
                block = struct.unpack("!H", packet[2:4])[0]
                if block != sent & 0xFFFF:
                    continue                         # an old ACK: wait for the right one
                if sent and len(self._block(sent, blksize)) < blksize:
                    return size                      # the short block arrived: done
            else:
                raise TftpProtocolError(f"unexpected TFTP opcode {opcode}")
            sent += 1
            self.send(struct.pack("!HH", OP_DATA, sent & 0xFFFF)
                      + self._block(sent, blksize), self.peer)

    def _block(self, n: int, blksize: int) -> bytes:
        return self.data[(n - 1) * blksize:n * blksize]


def _request(opcode: int, filename: str, blksize: int | None, *, tsize: int = 0) -> bytes:
    """RRQ or WRQ; with options when blksize is given (tsize: 0 asks the size of a read, a
    write tells its own)."""
    parts = [filename.encode("utf-8"), b"octet"]
    if blksize is not None:
        parts += [b"blksize", str(blksize).encode(), b"tsize", str(tsize).encode()]
    return struct.pack("!H", opcode) + b"".join(p + b"\0" for p in parts)


def _ack(block: int) -> bytes:
    return struct.pack("!HH", OP_ACK, block & 0xFFFF)


def _parse_options(body: bytes) -> dict[str, str]:
    fields = body.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    opts = {}
    for i in range(0, len(fields) - 1, 2):
        opts[fields[i].decode("ascii", "replace").lower()] = fields[i + 1].decode("ascii",
                                                                                  "replace")
    return opts
