"""Free local ports for test peers.

Every peer a test starts listens on 127.0.0.1 on a port picked here, so two test runs at once
on one machine never fight over a fixed port.  Ports are picked at random below the kernel's
ephemeral range (32768-60999 by default) and checked for every transport the peer will open,
then released before the peer binds them. Below that range the kernel never hands one of them
to an unrelated bind(0) or an outgoing socket in the meantime (a phone's SIP port taken by
another run's wake-up socket was seen: "SIP port ... is in use"); two runs picking the same
port before either binds it is the race left, which is why the peer helpers retry
start-up on "address in use". Our phone binds its web port only after its first REGISTER
(a second or so after the pick), so tests/phone.py checks that the pid answering there is
its own and that its SIP port was not taken, and starts it again on ports picked anew.
`listeners()` tells which ports a process holds.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
from pathlib import Path

from firmware.settings.checks import BROWSER_REFUSED_PORTS

HOST = "127.0.0.1"

_KINDS = {"udp": (socket.SOCK_DGRAM,), "tcp": (socket.SOCK_STREAM,),
          "both": (socket.SOCK_DGRAM, socket.SOCK_STREAM)}

# RTP blocks come from below the kernel's ephemeral range (32768-60999 by default), so the
# kernel never hands one of them to an unrelated bind(0) while the peer is running.
_BLOCK_RANGE = (20000, 32000)
_PORT_RANGE = (10000, 20000)      # single ports (SIP, HTTP, TFTP...): below the RTP blocks
# Ports browsers refuse to open (the Fetch standard's bad ports, which the phone's own
# web.port check refuses too): a phone whose web page got 10080 could not be opened by the
# browser tests ("net::ERR_UNSAFE_PORT", a CI run failed so).
BROWSER_UNSAFE = BROWSER_REFUSED_PORTS


def _bind(port: int, types: tuple[int, ...]) -> list[socket.socket]:
    """`port` on 127.0.0.1 bound for every socket type in `types` (OSError if one is taken,
    the others closed again)."""
    socks = []
    try:
        for sock_type in types:
            s = socket.socket(socket.AF_INET, sock_type)
            socks.append(s)
            if sock_type == socket.SOCK_STREAM:
                # Same flag the servers use: a port in TIME_WAIT is usable for listening.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, port))
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def _can_bind(port: int, types: tuple[int, ...]) -> bool:
    """True if `port` is free on 127.0.0.1 for every socket type in `types`."""
    try:
        socks = _bind(port, types)
    except OSError:
        return False
    for s in socks:
        s.close()
    return True


def free_port(kind: str = "udp", *, span: int = 1, attempts: int = 200) -> int:
    """Return a port P such that P .. P+span-1 are all free for `kind` ("udp", "tcp", "both").

    `span` exists for peers that bind neighbours too (baresip opens TLS on SIP port + 1).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, not {kind!r}")
    types = _KINDS[kind]
    lo, hi = _PORT_RANGE
    rng = random.SystemRandom()
    for _ in range(attempts):
        port = rng.randrange(lo, hi - span)
        ports = range(port, port + span)
        if BROWSER_UNSAFE.isdisjoint(ports) and all(_can_bind(p, types) for p in ports):
            return port
    raise RuntimeError(f"no free {kind} port (span {span}) on {HOST} after {attempts} tries")


def free_port_block(n: int, *, attempts: int = 500) -> list[int]:
    """Return n even ports [P, P+2, ..., P+2(n-1)] with all of P .. P+2n-1 free for UDP.

    That is n RTP/RTCP pairs, e.g. for an RTP port range of a SIP peer.  The start is random
    below the ephemeral range, so concurrent runs are unlikely to pick the same block.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    lo, hi = _BLOCK_RANGE
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(lo, hi - 2 * n) & ~1
        if all(_can_bind(p, (socket.SOCK_DGRAM,)) for p in range(base, base + 2 * n)):
            return list(range(base, base + 2 * n, 2))
    raise RuntimeError(f"no block of {n} free even UDP port pairs in {lo}-{hi} on {HOST}")


class HeldPort:
    """A free port kept bound, never read, until release(): no other test's peer can take it
    meanwhile (free_port reserves nothing). Over UDP that is a silent server (no reply, no
    ICMP); over TCP a refused connection (bound, not listening). Release it just before the
    test's own server binds the port."""

    def __init__(self, kind: str = "udp", *, attempts: int = 20):
        self.kind = kind
        for _ in range(attempts):
            self.port = free_port(kind)
            try:
                self._socks = _bind(self.port, _KINDS[kind])
                return
            except OSError:              # taken since free_port looked: pick again
                pass
        raise RuntimeError(f"no {kind} port could be held on {HOST} after {attempts} tries")

    def datagrams(self) -> list[bytes]:
        """What was sent to the UDP port so far (read now: the server stays silent)."""
        udp = [s for s in self._socks if s.type == socket.SOCK_DGRAM]
        got = []
        for s in udp:
            s.setblocking(False)
            for _ in range(10000):                 # bounded: a flood is not expected
                try:
                    got.append(s.recv(65536))
                except BlockingIOError:
                    break
        return got

    def release(self) -> int:
        for s in self._socks:
            s.close()
        self._socks = []
        return self.port

    def __enter__(self) -> "HeldPort":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# --- who holds a port ----------------------------------------------------------------------

TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"


def _addr(hex_addr: str) -> tuple[str, int]:
    ip_hex, port_hex = hex_addr.split(":")
    raw = bytes.fromhex(ip_hex)
    # /proc prints the address as 32-bit words in host order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port_hex, 16)


def listeners(pid: int) -> set[tuple[str, str, int]]:
    """{(udp|tcp, address, port)} the process `pid` takes packets or connections on, read
    from /proc as `ss -lntup` would show them (its socket inodes in /proc/PID/fd, their
    addresses in /proc/PID/net). A UDP socket counts when it is not connected (anyone may
    send to it), a TCP socket when it is in LISTEN. Empty once the process is gone."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue                       # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("udp", "udp6", "tcp", "tcp6"):
        want = UDP_UNCONNECTED if table.startswith("udp") else TCP_LISTEN
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return set()
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode in inodes and state == want:
                ip, port = _addr(local)
                found.add((table[:3], ip, port))
    return found
