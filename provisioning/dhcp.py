"""The provisioning server from DHCP: option 66 (TFTP server name), as the OS's client got it.

Manual appendix 3.1: the DHCP server's option 66 holds the server, a bare address meaning TFTP
(`192.168.0.201`) or a URL (`http://10.0.0.5/prov`). The phone does not run DHCP itself; it
reads the lease of whatever client the OS uses. Each source is a small function of a path
(tests point it elsewhere) returning the candidates it finds; `option66()` returns the one
from the newest lease. Within a lease: option 66, else option 150 (Cisco "TFTP server
address", first address), else the BOOTP server-name field (sname: dnsmasq puts option 66
there when the client did not ask for it).

Where each client keeps it (checked against the clients' own sources: ISC dhclient's lease
writer, dhcpcd src/defs.h LEASEFILE and dhcp.c write_lease, NetworkManager
src/core/dhcp/nm-dhcp-options.c, nm-dhcp-nettools.c lease_to_ip4_config/lease_save and
nm-config.c nm_config_device_state_write):
- dhclient (isc-dhcp-client): text leases, `option tftp-server-name "...";` and
  `server-name "...";` in `lease { }` blocks, the last block of an interface is its current
  lease; `/var/lib/dhcp/dhclient*.lease*`, and NetworkManager's own
  `/var/lib/NetworkManager/dhclient-<uuid>-<iface>.lease` when NM runs dhclient. dhclient
  asks for option 66 only with `request ... tftp-server-name;` / `also request
  tftp-server-name;` in /etc/dhcp/dhclient.conf (NM merges that file into its own config).
- dhcpcd: `/var/lib/dhcpcd/<iface>[-<ssid>].lease` (older Raspberry Pi OS:
  `/var/lib/dhcpcd5/dhcpcd-<iface>.lease`) is the DHCP ACK as received, a binary BOOTP
  message: we parse its options (with option overload) and sname. dhcpcd asks for 66 only
  with `option tftp_server_name` in /etc/dhcpcd.conf; it types 66 as a domain name, so its
  hook variables may drop a URL, but the raw lease keeps it.
- NetworkManager: its internal client (the default, also on Raspberry Pi OS bookworm) neither
  asks for option 66 nor keeps it: its lease file holds only `ADDRESS=`, and
  /run/NetworkManager/devices/<ifindex> only next-server/root-path/dhcp-bootfile. With
  `dhcp=dhclient` NM shows every option dhclient got as `DHCP4.OPTION[n]:tftp_server_name =
  ...` in `nmcli -t -f GENERAL.DEVICE,DHCP4 device show`, read here with a fixed timeout.
"""
from __future__ import annotations

import calendar
import glob
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

NMCLI_TIMEOUT = 3.0
MAGIC = b"\x63\x82\x53\x63"

# How a candidate was found, best first within one lease.
OPTION_66, OPTION_150, SNAME = "option 66", "option 150", "sname"
_RANK = {OPTION_66: 0, OPTION_150: 1, SNAME: 2}


@dataclass(frozen=True)
class Option66:
    """A provisioning server named by DHCP, and where it was read (for the status page)."""

    server: str            # exactly as the DHCP server sent it: "192.168.0.201", "http://..."
    source: str            # "dhclient", "dhcpcd", "NetworkManager"
    interface: str         # "eth0" ("" if unknown)
    file: str              # the lease file, or the command that showed it
    field: str = OPTION_66  # OPTION_66, OPTION_150 or SNAME
    obtained: float = 0.0  # when the lease was granted (epoch s), newest wins

    @property
    def value(self) -> str:
        """The same as `server` (the name the engine uses)."""
        return self.server

    def describe(self) -> str:
        on = f" on {self.interface}" if self.interface else ""
        return f"{self.server} (DHCP {self.field}{on}, {self.source}: {self.file})"


Source = Callable[[], Iterable[Option66]]


def option66(*, sources: Iterable[Source] | None = None) -> Option66 | None:
    """The server from the newest DHCP lease that names one, or None.

    sources: callables returning candidates (default: DEFAULT_SOURCES); one that fails is
    logged and skipped, the others still count.
    """
    found: list[Option66] = []
    for source in (DEFAULT_SOURCES if sources is None else sources):
        try:
            found.extend(source())
        except Exception as e:  # a broken lease file must not stop provisioning
            log.warning("DHCP option 66: %s failed: %s", _name(source), e)
    if not found:
        return None
    return max(found, key=lambda o: (o.obtained, -_RANK.get(o.field, 9)))


def _name(source: Source) -> str:
    if isinstance(source, partial):
        return f"{source.func.__name__}{source.args}"
    return getattr(source, "__name__", repr(source))


def each_file(pattern: str, reader: Callable[..., list[Option66]], **kw) -> list[Option66]:
    """reader(path) for every file matching the glob `pattern`."""
    out: list[Option66] = []
    for path in sorted(glob.glob(pattern)):
        try:
            out.extend(reader(path, **kw))
        except (OSError, ValueError) as e:
            log.warning("DHCP option 66: cannot read %s: %s", path, e)
    return out


# ----- dhclient -----

_BLOCK = re.compile(r"^\s*lease\s*\{(.*?)^\s*\}", re.MULTILINE | re.DOTALL)
_STATEMENT = re.compile(r'^\s*(option\s+)?([A-Za-z0-9._-]+)\s+(.*?);?\s*$')


def dhclient_leases(path: str | Path, *, source: str = "dhclient",
                    now: float | None = None) -> list[Option66]:
    """Candidates from an ISC dhclient lease file: the last lease of each interface, if it
    has not expired."""
    path = Path(path)
    text = path.read_text(errors="replace")
    mtime = path.stat().st_mtime
    now = time.time() if now is None else now
    current: dict[str, dict[str, str]] = {}
    for block in _BLOCK.finditer(text):
        fields = _dhclient_fields(block.group(1))
        current[fields.get("interface", "")] = fields     # later blocks are newer
    out = []
    for iface, f in current.items():
        expire = _dhclient_time(f.get("expire", ""))
        if expire is not None and expire < now:
            continue
        obtained = mtime
        lease_time = f.get("option dhcp-lease-time", "")
        if expire is not None and lease_time.isdigit():
            obtained = expire - int(lease_time)
        for key, field in (("option tftp-server-name", OPTION_66),
                           ("option tftp-server-address", OPTION_150),
                           ("server-name", SNAME)):
            value = f.get(key, "")
            if field == OPTION_150:
                value = value.split(",")[0].strip()
            value = value.strip().strip("\0").strip()
            if value:
                out.append(Option66(value, source, iface, str(path), field, obtained))
                break
    return out


def _dhclient_fields(body: str) -> dict[str, str]:
    fields = {}
    for line in body.splitlines():
        m = _STATEMENT.match(line)
        if not m:
            continue
        key = ("option " if m.group(1) else "") + m.group(2)
        value = m.group(3).strip()
        if value.startswith('"'):
            value = _dhclient_string(value)
        fields[key] = value
    return fields


def _dhclient_string(quoted: str) -> str:
    """dhclient's quoted string: \\" \\\\ and \\ooo (octal) escapes."""
    out = bytearray()
    s = quoted[1:]
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == '"':
            break
        if ch == "\\" and i + 1 < len(s):
            octal = s[i + 1:i + 4]
            if re.fullmatch(r"[0-7]{3}", octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            out += s[i + 1].encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _dhclient_time(value: str) -> float | None:
    """'4 2024/11/21 14:03:04' (UTC), 'epoch 1732197784' or 'never' -> epoch s / None."""
    value = value.split("#", 1)[0].strip().rstrip(";").strip()
    if not value or value == "never":
        return None
    m = re.fullmatch(r"epoch\s+(\d+)", value)
    if m:
        return float(m.group(1))
    m = re.fullmatch(r"\d\s+(\d{4})/(\d{1,2})/(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})", value)
    if m:
        return float(calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0)))
    return None


# ----- dhcpcd -----

def dhcpcd_lease(path: str | Path, *, now: float | None = None) -> list[Option66]:
    """Candidates from a dhcpcd lease: the binary DHCP ACK dhcpcd saved. The interface is
    the file name up to the first '-' after an optional 'dhcpcd-' (dhcpcd 9+:
    <iface>[-<ssid>].lease; dhcpcd 5/6: dhcpcd-<iface>.lease)."""
    path = Path(path)
    data = path.read_bytes()
    st = path.stat()
    now = time.time() if now is None else now
    options, sname = parse_dhcp_packet(data)
    if options.get(53, b"\x05")[:1] != b"\x05":
        return []                                   # not an ACK
    lease_time = options.get(51)
    if lease_time and len(lease_time) == 4:
        seconds = struct.unpack("!I", lease_time)[0]
        if seconds != 0xFFFFFFFF and st.st_mtime + seconds < now:
            return []
    stem = path.name[:-len(".lease")] if path.name.endswith(".lease") else path.name
    if stem.startswith("dhcpcd-"):
        stem = stem[len("dhcpcd-"):]
    iface = stem.split("-", 1)[0]
    candidates = [(OPTION_66, _text(options.get(66, b""))),
                  (OPTION_150, _first_address(options.get(150, b""))),
                  (SNAME, _text(sname))]
    for field, value in candidates:
        if value:
            return [Option66(value, "dhcpcd", iface, str(path), field, st.st_mtime)]
    return []


def parse_dhcp_packet(data: bytes) -> tuple[dict[int, bytes], bytes]:
    """A BOOTP/DHCP message -> ({option: value}, sname). Repeated options are joined (RFC
    3396) and overloaded file/sname fields (option 52) are read as options too."""
    if len(data) < 240 or data[236:240] != MAGIC:
        raise ValueError("not a DHCP message (too short or no magic cookie)")
    sname_field, file_field = data[44:108], data[108:236]
    options: dict[int, bytes] = {}
    _read_options(data[240:], options)
    overload = options.get(52, b"\0")[0]
    if overload & 1:
        _read_options(file_field, options)
    if overload & 2:
        _read_options(sname_field, options)
        sname_field = b""
    return options, sname_field.split(b"\0", 1)[0]


def _read_options(buf: bytes, options: dict[int, bytes]) -> None:
    i = 0
    while i < len(buf):
        code = buf[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(buf):
            break
        length = buf[i + 1]
        value = buf[i + 2:i + 2 + length]
        if len(value) < length:
            break                                  # truncated: keep what was whole
        options[code] = options.get(code, b"") + value
        i += 2 + length


def _text(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _first_address(value: bytes) -> str:
    return socket.inet_ntoa(value[:4]) if len(value) >= 4 else ""


# ----- NetworkManager -----

def networkmanager(nmcli: str = "nmcli", *, timeout: float = NMCLI_TIMEOUT) -> list[Option66]:
    """Candidates from `nmcli -t -f GENERAL.DEVICE,DHCP4 device show` (NM with dhclient; its
    internal client has no option 66). Nothing if nmcli is missing or NM is not running."""
    binary = shutil.which(nmcli)
    if not binary:
        return []
    argv = [binary, "-t", "-f", "GENERAL.DEVICE,DHCP4", "device", "show"]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("DHCP option 66: %s: %s", " ".join(argv), e)
        return []
    if res.returncode != 0:
        return []
    return parse_nmcli(res.stdout, origin=" ".join(argv))


def parse_nmcli(text: str, *, origin: str = "nmcli", now: float | None = None
                ) -> list[Option66]:
    """`GENERAL.DEVICE:eth0` then `DHCP4.OPTION[n]:name = value` lines, per device; terse
    mode may escape ':' and '\\' in values with a backslash."""
    now = time.time() if now is None else now
    device = ""
    per_device: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        value = re.sub(r"\\([\\:])", r"\1", value.strip())
        if key == "GENERAL.DEVICE":
            device = value
        elif key.startswith("DHCP4.OPTION"):
            name, eq, opt = value.partition(" = ")
            if eq:
                per_device.setdefault(device, {})[name.strip()] = opt.strip()
    out = []
    for device, opts in per_device.items():
        for name, field in (("tftp_server_name", OPTION_66),
                            ("tftp_server_address", OPTION_150)):
            value = opts.get(name, "")
            if field == OPTION_150:
                value = re.split(r"[ ,]+", value)[0] if value else ""
            if value:
                out.append(Option66(value, "NetworkManager", device, origin, field, now))
                break
    return out


DEFAULT_SOURCES: tuple[Source, ...] = (
    partial(each_file, "/var/lib/dhcp/dhclient*.lease*", dhclient_leases),
    partial(each_file, "/var/lib/NetworkManager/dhclient-*.lease", dhclient_leases,
            source="NetworkManager (dhclient)"),
    partial(each_file, "/var/lib/dhcpcd/*.lease", dhcpcd_lease),
    partial(each_file, "/var/lib/dhcpcd5/*.lease", dhcpcd_lease),
    partial(each_file, "/var/db/dhcpcd/*.lease", dhcpcd_lease),
    networkmanager,
)
