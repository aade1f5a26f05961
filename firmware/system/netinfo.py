"""The phone's own network facts for View status: interface addresses and the MAC."""
from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

SIOCGIFADDR = 0x8915
NET = Path("/sys/class/net")


def interfaces() -> list[str]:
    try:
        return sorted(p.name for p in NET.iterdir() if p.name != "lo")
    except OSError:
        return []


def ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


def addresses() -> list[tuple[str, str]]:
    """(interface, IPv4 address) of every interface that has one, loopback last."""
    out = [(n, a) for n in interfaces() if (a := ipv4(n))]
    return out + [("lo", "127.0.0.1")] if ipv4("lo") else out


def mac() -> str:
    """The MAC of the first wired-looking interface (provisioning names files by it)."""
    for name in interfaces():
        try:
            value = (NET / name / "address").read_text().strip()
        except OSError:
            continue
        if value and value != "00:00:00:00:00:00":
            return value
    return ""
