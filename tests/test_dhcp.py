"""DHCP option 66 as the phone reads it from the OS's DHCP client.

A real dnsmasq and a real dhclient run in two network namespaces joined by a veth pair
(/work/shared/notes/test-peers.md, "DHCP (option 66)"); the phone's reader is pointed at the
lease file dhclient wrote. dhcpcd keeps the DHCP ACK itself as its lease, so the ACK dnsmasq
sent in the same exchange is captured on the client's interface (AF_PACKET) and becomes a
dhcpcd lease file. NetworkManager's nmcli output has no server here: those tests use its
documented format (see test_networkmanager_*).
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from provisioning import dhcp
from provisioning.dhcp import (OPTION_66, OPTION_150, SNAME, Option66, dhclient_leases,
                               dhcpcd_lease, each_file, option66, parse_dhcp_packet,
                               parse_nmcli)

try:
    from tests.peers._process import PeerError, PeerProcess, wait_for
except ModuleNotFoundError:
    from peers._process import PeerError, PeerProcess, wait_for  # type: ignore

URL = "http://10.99.0.1:18080/prov"
TFTP_ADDRESS = "10.99.0.7"
SERVER_IP = "10.99.0.1"

# Runs inside the client namespace: the first DHCPACK that reaches `iface`, as the UDP
# payload (the BOOTP message, which is what dhcpcd saves as a lease).
CAPTURE = r"""
import socket, struct, sys, time
iface, out, ready, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((iface, 0))
s.settimeout(0.2)
open(ready, "w").close()
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        pkt = s.recv(65535)
    except socket.timeout:
        continue
    ihl = (pkt[0] & 15) * 4
    if pkt[9] != 17 or struct.unpack("!H", pkt[ihl + 2:ihl + 4])[0] != 68:
        continue
    msg = pkt[ihl + 8:]
    i, kind = 240, None
    while i + 1 < len(msg) and msg[i] != 255:
        if msg[i] == 0:
            i += 1
            continue
        if msg[i] == 53:
            kind = msg[i + 2]
        i += 2 + msg[i + 1]
    if kind == 5:
        with open(out + ".tmp", "wb") as f:
            f.write(msg)
        import os
        os.replace(out + ".tmp", out)
        break
"""


def _ip(*args: str) -> None:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        raise PeerError(f"ip {' '.join(args)}: {res.stderr.strip()}")


class DhcpLab:
    """dnsmasq in one namespace, dhclient in another; names unique to this run."""

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        tag = f"{os.getpid() % 100000}{random.randrange(100):02d}"
        self.srv_ns, self.cli_ns = f"dp66s{tag}", f"dp66c{tag}"
        self.srv_if, self.cli_if = f"d6s{tag}", f"d6c{tag}"          # <= 15 characters
        self._dnsmasq: PeerProcess | None = None
        self._made: list[str] = []
        self.leases: dict[str, tuple[Path, bytes]] = {}

    def start(self) -> "DhcpLab":
        for ns in (self.srv_ns, self.cli_ns):
            _ip("netns", "add", ns)
            self._made.append(ns)
        _ip("link", "add", self.srv_if, "netns", self.srv_ns, "type", "veth", "peer", "name",
            self.cli_if, "netns", self.cli_ns)
        _ip("-n", self.srv_ns, "addr", "add", f"{SERVER_IP}/24", "dev", self.srv_if)
        for ns, dev in ((self.srv_ns, self.srv_if), (self.cli_ns, self.cli_if)):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        log = self.dir / "dnsmasq.log"
        # 66 and 150 only when asked (not forced): unasked, dnsmasq puts 66 in sname.
        self._dnsmasq = PeerProcess(
            ["ip", "netns", "exec", self.srv_ns, "dnsmasq", "--no-daemon",
             "--conf-file=/dev/null", "--port=0", f"--interface={self.srv_if}",
             "--bind-interfaces", "--dhcp-range=10.99.0.100,10.99.0.150,255.255.255.0,1h",
             f"--dhcp-option=66,{URL}", f"--dhcp-option=150,{TFTP_ADDRESS}", "--no-ping",
             f"--dhcp-leasefile={self.dir / 'dnsmasq.leases'}", "--log-dhcp",
             "--log-facility=-"],
            log=log, cwd=self.dir, name="dnsmasq")
        self._dnsmasq.start()
        wait_for(lambda: "DHCP, IP range" in log.read_text(errors="replace"), timeout=10,
                 what="dnsmasq start", log=log, proc=self._dnsmasq)
        return self

    def lease(self, request: str) -> tuple[Path, bytes]:
        """dhclient asking for `request` (dhclient.conf option names): its lease file and
        the DHCPACK dnsmasq sent, captured on the wire."""
        if request in self.leases:
            return self.leases[request]
        name = re.sub(r"\W+", "-", request) or "none"
        d = self.dir / f"dhclient-{name}"
        d.mkdir()
        conf, lease, ack, ready = d / "dhclient.conf", d / "dhclient.leases", d / "ack", \
            d / "ready"
        conf.write_text(f"request subnet-mask{', ' + request if request else ''};\n")
        hook = d / "hook.sh"      # leaves addresses, routes and resolv.conf alone
        hook.write_text('#!/bin/sh\nenv | grep -E "^(reason|new_)" >> "$(dirname "$0")/'
                        'hook.log"\nexit 0\n')
        hook.chmod(0o755)
        capture = PeerProcess(["ip", "netns", "exec", self.cli_ns, sys.executable, "-c",
                               CAPTURE, self.cli_if, str(ack), str(ready), "15"],
                              log=d / "capture.log", cwd=d, name="capture")
        client = PeerProcess(["ip", "netns", "exec", self.cli_ns, "dhclient", "-1", "-d",
                              "-cf", str(conf), "-lf", str(lease), "-pf", str(d / "pid"),
                              "-sf", str(hook), self.cli_if],
                             log=d / "dhclient.log", cwd=d, name="dhclient")
        try:
            capture.start()
            wait_for(ready.exists, timeout=10, what="ACK capture ready", proc=capture,
                     log=d / "capture.log")
            client.start()
            wait_for(lambda: lease.exists() and "\n}" in lease.read_text(), timeout=10,
                     what="dhclient lease", proc=client, log=d / "dhclient.log")
            wait_for(ack.exists, timeout=10, what="captured DHCPACK", proc=capture,
                     log=d / "capture.log")
        finally:
            client.stop()
            capture.stop()
        self.leases[request] = (lease, ack.read_bytes())
        return self.leases[request]

    def close(self) -> None:
        if self._dnsmasq:
            self._dnsmasq.stop()
        for ns in reversed(self._made):     # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._made.clear()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("DHCP tests need root (network namespaces)")
    for tool in ("ip", "dnsmasq", "dhclient"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt-get install iproute2 dnsmasq "
                        f"isc-dhcp-client)")
    lab = DhcpLab(tmp_path_factory.mktemp("dhcp"))
    try:
        yield lab.start()
    finally:
        lab.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert lab.srv_ns not in listed and lab.cli_ns not in listed


def _only(source) -> Option66 | None:
    return option66(sources=[source])


# ----- dhclient -----

def test_dhclient_lease_with_option_66_names_the_server(lab):
    lease, _ = lab.lease("tftp-server-name")
    assert f'option tftp-server-name "{URL}";' in lease.read_text()
    found = _only(partial(dhclient_leases, lease))
    assert found is not None
    assert (found.server, found.field, found.source) == (URL, OPTION_66, "dhclient")
    assert (found.interface, found.file) == (lab.cli_if, str(lease))
    assert URL in found.describe() and lab.cli_if in found.describe()


def test_without_asking_for_66_the_server_name_field_carries_it(lab):
    lease, _ = lab.lease("")
    assert f'server-name "{URL}";' in lease.read_text()
    found = _only(partial(dhclient_leases, lease))
    assert (found.server, found.field) == (URL, SNAME)


def test_option_150_is_a_tftp_server_address(lab):
    lease, _ = lab.lease("tftp-server-address")
    found = _only(partial(dhclient_leases, lease))
    assert (found.server, found.field) == (TFTP_ADDRESS, OPTION_150)


def test_option_66_wins_over_150_in_one_lease(lab):
    lease, _ = lab.lease("tftp-server-name, tftp-server-address")
    assert "tftp-server-address" in lease.read_text()
    assert _only(partial(dhclient_leases, lease)).field == OPTION_66


def test_the_last_lease_block_is_the_current_one(lab, tmp_path):
    with66, _ = lab.lease("tftp-server-name")
    sname, _ = lab.lease("")
    both = tmp_path / "dhclient.leases"
    both.write_text(with66.read_text() + sname.read_text())
    assert _only(partial(dhclient_leases, both)).field == SNAME
    both.write_text(sname.read_text() + with66.read_text())
    assert _only(partial(dhclient_leases, both)).field == OPTION_66


def test_an_expired_lease_names_nothing(lab, tmp_path):
    lease, _ = lab.lease("tftp-server-name")
    old = tmp_path / "old.leases"
    old.write_text(re.sub(r"expire [^;]*;", "expire 3 2020/01/01 00:00:00;",
                          lease.read_text()))
    assert _only(partial(dhclient_leases, old)) is None
    old.write_text(re.sub(r"expire [^;]*;", "expire never;", lease.read_text()))
    assert _only(partial(dhclient_leases, old)).server == URL


def test_networkmanager_with_dhclient_keeps_dhclient_leases(lab, tmp_path):
    # NM (dhcp=dhclient) names them dhclient-<connection uuid>-<iface>.lease in
    # /var/lib/NetworkManager (nm-dhcp-utils.c nm_dhcp_utils_get_leasefile_path).
    lease, _ = lab.lease("tftp-server-name")
    nm = tmp_path / "NetworkManager"
    nm.mkdir()
    shutil.copy(lease, nm / "dhclient-8a5e2c4e-1f2d-4a2b-9c61-3d1e0f6b7a10-eth0.lease")
    found = _only(partial(each_file, str(nm / "dhclient-*.lease"), dhclient_leases,
                          source="NetworkManager (dhclient)"))
    assert (found.server, found.source) == (URL, "NetworkManager (dhclient)")


# ----- dhcpcd: the lease is the ACK -----

def test_dhcpcd_lease_is_the_dhcp_ack(lab, tmp_path):
    _, ack = lab.lease("tftp-server-name")
    options, _ = parse_dhcp_packet(ack)
    assert options[53] == b"\x05"                       # a real DHCPACK from dnsmasq
    path = tmp_path / f"{lab.cli_if}.lease"             # dhcpcd 9+: /var/lib/dhcpcd/IF.lease
    path.write_bytes(ack)
    found = _only(partial(dhcpcd_lease, path))
    assert (found.server, found.field, found.source) == (URL, OPTION_66, "dhcpcd")
    assert (found.interface, found.file) == (lab.cli_if, str(path))


def test_dhcpcd_lease_with_the_server_in_sname(lab, tmp_path):
    _, ack = lab.lease("")
    path = tmp_path / "dhcpcd-eth0.lease"               # dhcpcd 5/6 naming
    path.write_bytes(ack)
    found = _only(partial(dhcpcd_lease, path))
    assert (found.server, found.field, found.interface) == (URL, SNAME, "eth0")


def test_dhcpcd_wireless_lease_names_the_interface(lab, tmp_path):
    _, ack = lab.lease("tftp-server-name")
    path = tmp_path / "wlan0-Office WiFi.lease"         # <iface>-<ssid>.lease
    path.write_bytes(ack)
    assert _only(partial(dhcpcd_lease, path)).interface == "wlan0"


def test_dhcpcd_lease_past_its_lease_time_names_nothing(lab, tmp_path):
    _, ack = lab.lease("tftp-server-name")
    path = tmp_path / "eth0.lease"
    path.write_bytes(ack)
    past = time.time() - 2 * 3600                       # dnsmasq gave 1 h
    os.utime(path, (past, past))
    assert _only(partial(dhcpcd_lease, path)) is None


def test_options_in_an_overloaded_file_field_are_read(lab):
    # RFC 2132 option 52: options continue in the BOOTP file field. Move dnsmasq's real
    # option 66 there.
    _, ack = lab.lease("tftp-server-name")
    options, _ = parse_dhcp_packet(ack)
    value = options[66]
    head = bytearray(ack[:240])
    rest = b"".join(bytes([code, len(v)]) + v for code, v in options.items() if code != 66)
    head[108:236] = (bytes([66, len(value)]) + value + b"\xff").ljust(128, b"\0")
    moved = bytes(head) + rest + b"\x34\x01\x01\xff"
    assert parse_dhcp_packet(moved)[0][66] == value


def test_garbage_is_not_a_dhcp_lease(tmp_path):
    bad = tmp_path / "eth0.lease"
    bad.write_bytes(b"# This is private data. Do not parse.\nADDRESS=10.0.0.5\n")
    with pytest.raises(ValueError, match="not a DHCP message"):
        dhcpcd_lease(bad)
    # via option66(), a bad file is skipped, not fatal
    assert option66(sources=[partial(each_file, str(bad), dhcpcd_lease)]) is None


# ----- which lease wins -----

def test_the_newest_lease_wins_across_clients(lab, tmp_path):
    dhclient_file, _ = lab.lease("tftp-server-name")    # granted just now
    _, sname_ack = lab.lease("")
    dhcpcd_file = tmp_path / "eth1.lease"
    dhcpcd_file.write_bytes(sname_ack)
    sources = [partial(dhclient_leases, dhclient_file), partial(dhcpcd_lease, dhcpcd_file)]

    later = time.time() + 60
    os.utime(dhcpcd_file, (later, later))
    assert option66(sources=sources).source == "dhcpcd"

    earlier = time.time() - 600
    os.utime(dhcpcd_file, (earlier, earlier))
    assert option66(sources=sources).source == "dhclient"


def test_a_failing_source_does_not_hide_the_others(lab):
    lease, _ = lab.lease("tftp-server-name")

    def broken():
        raise OSError("disk on fire")

    assert option66(sources=[broken, partial(dhclient_leases, lease)]).server == URL
    assert option66(sources=[]) is None


def test_the_default_sources_run_on_this_machine():
    found = option66()
    assert found is None or isinstance(found, Option66)


# ----- NetworkManager -----
# Format: nmcli terse multi-line output, `FIELD:value`, DHCP options as
# `DHCP4.OPTION[n]:name = value` with NM's option names (src/core/dhcp/nm-dhcp-options.c:
# 66 "tftp_server_name", 150 "tftp_server_address"). With dhclient as NM's DHCP client, NM
# passes every new_* variable of dhclient's script as an option. NM's internal client
# (nm-dhcp-nettools.c) never asks for 66 and exposes no such option.

NMCLI_DHCLIENT = """\
GENERAL.DEVICE:eth0
DHCP4.OPTION[1]:broadcast_address = 10.99.0.255
DHCP4.OPTION[2]:dhcp_lease_time = 3600
DHCP4.OPTION[3]:dhcp_server_identifier = 10.99.0.1
DHCP4.OPTION[4]:expiry = 1795356557
DHCP4.OPTION[5]:ip_address = 10.99.0.102
DHCP4.OPTION[6]:next_server = 10.99.0.1
DHCP4.OPTION[7]:requested_tftp_server_name = 1
DHCP4.OPTION[8]:subnet_mask = 255.255.255.0
DHCP4.OPTION[9]:tftp_server_name = http\\://10.99.0.1\\:18080/prov

GENERAL.DEVICE:lo

GENERAL.DEVICE:wlan0
DHCP4.OPTION[1]:tftp_server_address = 10.99.0.7
"""

NMCLI_INTERNAL = """\
GENERAL.DEVICE:eth0
DHCP4.OPTION[1]:dhcp_client_identifier = 01:dc:a6:32:01:02:03
DHCP4.OPTION[2]:dhcp_lease_time = 3600
DHCP4.OPTION[3]:dhcp_server_identifier = 10.99.0.1
DHCP4.OPTION[4]:expiry = 1795356557
DHCP4.OPTION[5]:ip_address = 10.99.0.102
DHCP4.OPTION[6]:next_server = 10.99.0.1
DHCP4.OPTION[7]:requested_broadcast_address = 1
DHCP4.OPTION[8]:subnet_mask = 255.255.255.0
"""


def test_networkmanager_options_from_nmcli():
    found = parse_nmcli(NMCLI_DHCLIENT, origin="nmcli")
    assert [(o.interface, o.server, o.field) for o in found] == [
        ("eth0", URL, OPTION_66), ("wlan0", TFTP_ADDRESS, OPTION_150)]
    assert parse_nmcli(NMCLI_DHCLIENT.replace("\\:", ":"))[0].server == URL


def test_networkmanager_internal_client_names_no_server():
    # next_server is dnsmasq's own address (siaddr), not a provisioning server.
    assert parse_nmcli(NMCLI_INTERNAL) == []


def test_networkmanager_without_nmcli_is_no_source():
    assert dhcp.networkmanager("nmcli-not-installed-here") == []
