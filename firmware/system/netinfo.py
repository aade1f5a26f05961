"""The phone's own network facts for View status (manual §6 "View status > Network"):
interface addresses and masks, the default gateway, the DNS servers, the MAC. Read from
the kernel (/proc/net/route, ioctl) and /etc/resolv.conf: what the OS uses, whoever set it.
"""
from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
NET = Path("/sys/class/net")
ROUTES = Path("/proc/net/route")
RESOLV = Path("/etc/resolv.conf")


def interfaces() -> list[str]:
    try:
        return sorted(p.name for p in NET.iterdir() if p.name != "lo")
    except OSError:
        return []


def ipv4(name: str, request: int = SIOCGIFADDR) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), request, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


def netmask(name: str) -> str | None:
    return ipv4(name, SIOCGIFNETMASK)


def default_route(text: str | None = None) -> tuple[str, str] | None:
    """(interface, gateway) of the IPv4 default route (/proc/net/route), or None."""
    try:
        text = ROUTES.read_text() if text is None else text
    except OSError:
        return None
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 3 and f[1] == "00000000" and len(f[2]) == 8:
            try:
                gw = socket.inet_ntoa(struct.pack("<I", int(f[2], 16)))
            except ValueError:
                continue
            return f[0], gw
    return None


# where DHCP clients keep their leases (dhclient, dhcpcd, systemd-networkd, NetworkManager)
LEASES = ("/var/lib/dhcp/dhclient*.leases", "/var/lib/dhclient/*.lease*",
          "/var/lib/dhcpcd/*.lease", "/run/systemd/netif/leases/*",
          "/var/lib/NetworkManager/*.lease")


def address_source(name: str = "") -> str:
    """"DHCP" when a DHCP client holds a lease (for `name`, when its files say), else
    "static": how the phone's address came, as far as the OS's files tell."""
    import glob
    for pattern in LEASES:
        for path in glob.glob(pattern):
            if not name or name in Path(path).name or name in _head(path):
                return "DHCP"
    return "static"


def _head(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(4096)
    except OSError:
        return ""


def dns_servers(text: str | None = None) -> list[str]:
    """The nameservers the resolver uses (/etc/resolv.conf), in order."""
    try:
        text = RESOLV.read_text(errors="replace") if text is None else text
    except OSError:
        return []
    return [f[1] for f in (line.split() for line in text.splitlines())
            if len(f) >= 2 and f[0] == "nameserver"][:3]


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
