"""The value checks of the settings schema: each raises ValueError saying, for the person,
what is wrong with one value (firmware/settings/schema.py names them on its fields)."""
from __future__ import annotations

import ipaddress
import re


def _host_port(value: str) -> None:
    """host, host:port, [v6]:port, or a sip: URI; empty allowed (= none)."""
    if not value:
        return
    v = value
    if v.lower().startswith(("sip:", "sips:")):
        v = v.split(":", 1)[1]
    v = v.split(";", 1)[0]
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = v.rpartition(":") if v.count(":") == 1 else (v, "", "")
    if not host or any(ch.isspace() for ch in host) or "@" in host:
        raise ValueError(f"'{value}' is not a host or host:port (example: 192.168.1.10:5060)")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"port in '{value}' must be 1-65535")


def _ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address (use 0.0.0.0 for all interfaces)") from None


def _ipv4_or_none(value: str) -> None:
    """An IPv4 address, or empty (none)."""
    if not value:
        return
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 address like 192.168.0.200") from None


# The ports browsers refuse to open (the WHATWG Fetch standard's "bad ports", which Chromium
# and Firefox follow): a web page there would say net::ERR_UNSAFE_PORT to everyone.
BROWSER_REFUSED_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389,
    427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
    989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
    6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080})


def _web_port(port: int) -> None:
    """The web page's port: one a browser opens."""
    if port in BROWSER_REFUSED_PORTS:
        raise ValueError(f"browsers refuse to open port {port} (net::ERR_UNSAFE_PORT): "
                         "pick another, e.g. 80 or 8080")


def _listen(value: str) -> None:
    if not value:
        return  # web server off
    host, sep, port = value.rpartition(":")
    if not sep:
        raise ValueError(f"'{value}' must be address:port, e.g. 127.0.0.1:8080")
    _ip(host.strip("[]"))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}' must be address:port, e.g. 127.0.0.1:8080")
    _web_port(int(port))


def _sip_user(value: str) -> None:
    if any(ch.isspace() or ch in "@<>\"" for ch in value):
        raise ValueError("must not contain spaces, '@', '<', '>' or quotes (the part before @)")


def _login_name(value: str) -> None:
    """A web login name: HTTP Basic sends "name:password" and splits at the first ':', so
    a name with one (or none at all) could not sign in the API's clients."""
    if not value or ":" in value:
        raise ValueError("must be a name without ':' (HTTP Basic sends name:password)")
    _sip_user(value)


def _number_pattern(value: str) -> None:
    """A number or a prefix with a trailing * (blacklist, emergency numbers)."""
    body = value[:-1] if value.endswith("*") else value
    if not body or any(ch.isspace() or ch in "@<>\"" for ch in body):
        raise ValueError("must be a number, a user name, or a prefix ending in * (e.g. 1900*)")


def _target(value: str) -> None:
    """A forward target as dialling takes it (firmware/call/dialling.py target_uri): a
    number, user@host or a sip: address; a space made a URI the phone could not send."""
    if any(ch.isspace() or ch in "<>\"" for ch in value):
        raise ValueError("must be a number, user@host or a sip: address, without spaces")


def _ip_or_net(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address or network (e.g. 192.168.0.248 or "
                         f"10.0.0.0/8)") from None


def _text(value: str) -> None:
    if any(ch in "\r\n\0" for ch in value):
        raise ValueError("must be a single line")


def _dial_code(value: str) -> None:
    """A feature code: keypad characters only (*8, **, #72, 700)."""
    if value and not re.fullmatch(r"[0-9*#]{1,16}", value):
        raise ValueError(f"'{value}' must be keypad digits, * and # (e.g. *8), at most 16")


def _hhmm(value: str) -> None:
    if value == "":
        return
    h, sep, m = value.partition(":")
    if not (sep and h.isdigit() and m.isdigit() and 0 <= int(h) < 24 and 0 <= int(m) < 60
            and len(m) == 2):
        raise ValueError(f"'{value}' is not a time of day: use HH:MM, e.g. 02:00 (or empty "
                         f"for none)")


def _server_url(value: str) -> None:
    if not value:
        return
    v = value.strip()
    scheme, sep, rest = v.partition("://")
    if sep and scheme.lower() not in ("tftp", "http", "https", "ftp"):
        raise ValueError(f"'{scheme}' is not a provisioning protocol: use tftp, http, https "
                         f"or ftp")
    if not (rest if sep else v) or any(ch.isspace() for ch in v):
        raise ValueError(f"'{value}' is not a server address, e.g. http://10.0.0.5/prov")


def _mac(value: str) -> None:
    if value and not re.fullmatch(r"[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}", value):
        raise ValueError(f"'{value}' is not a MAC address, e.g. 00:26:8b:01:02:03")


def _multicast_group(value: str) -> None:
    """A multicast group to page on: 224.0.0.0/4 address and port."""
    host, sep, port = value.rpartition(":")
    try:
        ok = sep and ipaddress.IPv4Address(host).is_multicast
    except ValueError:
        ok = False
    if not ok or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}' is not a multicast group address:port (224.0.0.0 - "
                         f"239.255.255.255, e.g. 239.1.1.1:5000)")
