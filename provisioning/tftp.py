"""A small TFTP client: read one file (RFC 1350, octet mode) with options (RFC 2347-2349).

Why our own: the stdlib has no TFTP, and the PyPI clients either lack tsize (we must refuse
a 2 GB file before it arrives, not after) or an overall deadline. It is ~200 lines of one
state machine: RRQ -> (OACK -> ACK 0 | DATA 1) -> DATA n / ACK n ... until a short block.

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
        xfer = _Transfer(sock, addr, filename, write=write, on_size=on_size, timeout=timeout,
                         deadline=deadline, blksize=blksize, tries=tries)
        if not options:
            return xfer.run(options=False)
        try:
            return xfer.run(options=True)
        except _OptionsRefused:
            return xfer.run(options=False)


class _OptionsRefused(Exception):
    pass


class _Transfer:
    def __init__(self, sock: socket.socket, addr, filename: str, *, write, on_size, timeout,
                 deadline, blksize, tries):
        self.sock, self.addr, self.filename = sock, addr, filename
        self.write, self.on_size = write, on_size
        self.tries = max(1, tries)
        self.interval = max(0.05, timeout / self.tries)
        self.deadline = deadline
        self.want_blksize = max(8, min(65464, blksize))

    def run(self, *, options: bool) -> int:
        rrq = _rrq(self.filename, self.want_blksize if options else None)
        peer = None                  # the server's transfer port (TID) once it answered
        blksize = DEFAULT_BLKSIZE
        expected = 1                 # next DATA block, modulo 65536
        size = 0
        last, last_to = rrq, self.addr
        self.sock.sendto(rrq, self.addr)
        misses = 0
        while True:
            wait = self.interval
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    if peer is not None:
                        self._send_error(peer, 0, "transfer took too long")
                    raise TftpDeadline()
                wait = min(wait, left)
            self.sock.settimeout(wait)
            try:
                packet, src = self.sock.recvfrom(65536)
            except socket.timeout:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    continue                         # reported at the top of the loop
                misses += 1
                if misses >= self.tries:
                    raise TftpTimeout() from None
                self.sock.sendto(last, last_to)
                continue
            if peer is None:
                if src[0] != self.addr[0]:
                    continue                         # not from the server we asked
                peer = src
            elif src[:2] != peer[:2]:
                self._send_error(src, 5, "Unknown transfer ID")
                continue
            if len(packet) < 4:
                raise TftpProtocolError(f"a {len(packet)}-byte packet is not TFTP")
            opcode = struct.unpack("!H", packet[:2])[0]

            if opcode == OP_ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                message = packet[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
                if options and expected == 1 and size == 0 and code in (0, 4, 8) \
                        and last is rrq:
                    # RFC 2347: 8 = option negotiation refused; old servers say 0 or 4.
                    raise _OptionsRefused()
                raise TftpError(code, message)

            if opcode == OP_OACK:
                if last is not rrq or not options:
                    if last == _ack(0):
                        self.sock.sendto(last, last_to)   # our ACK 0 was lost
                    continue
                opts = _parse_options(packet[2:])
                if "blksize" in opts:
                    try:
                        blksize = int(opts["blksize"])
                    except ValueError:
                        blksize = -1
                    if not 8 <= blksize <= self.want_blksize:
                        self._send_error(peer, 8, "bad blksize")
                        raise TftpProtocolError(f"server chose block size {opts['blksize']!r}"
                                                f", we asked for at most {self.want_blksize}")
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
                last, last_to = _ack(0), peer
                self.sock.sendto(last, last_to)
                misses = 0
                continue

            if opcode == OP_DATA:
                block = struct.unpack("!H", packet[2:4])[0]
                data = packet[4:]
                if block == expected & 0xFFFF:
                    if last is rrq and options:
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
                    last, last_to = _ack(block), peer
                    self.sock.sendto(last, last_to)
                    misses = 0
                    if len(data) < blksize:
                        return size
                    expected += 1
                elif block == (expected - 1) & 0xFFFF:
                    self.sock.sendto(last, last_to)   # our ACK was lost: send it again
                continue

            raise TftpProtocolError(f"unexpected TFTP opcode {opcode}")

    def _send_error(self, to, code: int, message: str) -> None:
        try:
            self.sock.sendto(struct.pack("!HH", OP_ERROR, code) + message.encode() + b"\0", to)
        except OSError:
            pass


def _rrq(filename: str, blksize: int | None) -> bytes:
    parts = [filename.encode("utf-8"), b"octet"]
    if blksize is not None:
        parts += [b"blksize", str(blksize).encode(), b"tsize", b"0"]
    return struct.pack("!H", OP_RRQ) + b"".join(p + b"\0" for p in parts)


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
