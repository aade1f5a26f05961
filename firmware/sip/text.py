"""The SIP text toolkit: the one place SIP messages, header values and URIs are read as text.

Everything that reads SIP text (the SIP thread's INVITE policy, the gate, the BLF and
check-sync readers, paging, the call log, the keys) uses these few functions, so a compact
header form, a folded line or a bracketed IPv6 host is understood the same way everywhere.
Pure and small: no pjsua2 here, imported on the path to the first REGISTER.
"""
from __future__ import annotations

import re

from firmware.record import Record

# RFC 3261 §7.3.3 and the extensions that define one (RFC 3265, 3515, 3892, 3841, 4028,
# 4474, 3840): the short name a sender may use instead of the full one.
COMPACT = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type",
    "d": "request-disposition", "e": "content-encoding", "f": "from", "i": "call-id",
    "j": "reject-contact", "k": "supported", "l": "content-length", "m": "contact",
    "n": "identity-info", "o": "event", "r": "refer-to", "s": "subject", "t": "to",
    "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}


_BLANK_LINE = re.compile(r"\r?\n\r?\n")     # where the head ends


def header_name(name: str) -> str:
    """A header name as the toolkit keys it: lower case, compact form expanded."""
    name = name.strip().lower()
    return COMPACT.get(name, name)


class Message(Record, frozen=True):
    """A SIP message as text: its start line, its headers in order and its body.

    Lines may end in CRLF or LF alone; a line starting with blank space continues the
    header above (RFC 3261 §7.3.1 folding) and is joined to it, as pjsip's parser does.
    """

    first: str
    fields: tuple[tuple[str, str], ...]     # (header_name(), value), in message order
    body: str

    @classmethod
    def parse(cls, text: str | bytes) -> Message:
        # on the SIP thread for every new call before its 180 (the gate): kept lean
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = text.lstrip("\r\n")            # pjsip skips blank lines before a message
        m = _BLANK_LINE.search(text)
        head, body = (text[:m.start()], text[m.end():]) if m else (text, "")
        lines = head.replace("\r\n", "\n").split("\n")
        fields: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t"):
                if fields:
                    name, value = fields[-1]
                    fields[-1] = (name, value + " " + line.strip())
                continue
            name, sep, value = line.partition(":")
            if sep:
                fields.append((header_name(name), value.strip()))
        if body:
            length = next((v for n, v in fields if n == "content-length"), "").strip()
            if length.isdigit() and int(length) < len(body.encode()):
                body = body.encode()[:int(length)].decode("utf-8", "replace")
        return cls(lines[0], tuple(fields), body)

    def get(self, name: str, default: str = "") -> str:
        """The first value of header `name` (any spelling, compact or full)."""
        name = header_name(name)
        for n, v in self.fields:
            if n == name:
                return v
        return default

    def all(self, name: str) -> list[str]:
        """Every value of header `name`, in order."""
        name = header_name(name)
        return [v for n, v in self.fields if n == name]

    def headers(self) -> dict[str, str]:
        """Header name -> first value."""
        out: dict[str, str] = {}
        for n, v in self.fields:
            out.setdefault(n, v)
        return out

    @property
    def method(self) -> str:
        """A request's method as the start line spells it ("SIP/2.0" for a response)."""
        return self.first.split(" ", 1)[0]

    @property
    def status(self) -> int:
        """A response's status code (0 for a request or a malformed start line)."""
        parts = self.first.split(" ", 2)
        if parts[0] != "SIP/2.0" or len(parts) < 2 or not parts[1].isdigit():
            return 0
        return int(parts[1])

    @property
    def reason(self) -> str:
        parts = self.first.split(" ", 2)
        return parts[2] if self.status and len(parts) > 2 else ""


def headers(text: str | bytes) -> dict[str, str]:
    """Header name (lower case, compact forms expanded) -> first value, of a SIP message."""
    return Message.parse(text).headers()


# --- header values ---------------------------------------------------------------------------

_PARAM = re.compile(r";\s*([A-Za-z-]+)\s*(?:=\s*(\"[^\"]*\"|[^;]*))?")


def params(value: str) -> dict[str, str]:
    """';name=value' parameters of a header value, after any <uri> (names lower case,
    quotes taken off). A value without <uri> whose first part is name=value counts that
    too ("answer-after=0;x=1")."""
    rest = value.split(">", 1)[1] if value.lstrip().startswith("<") and ">" in value \
        else ";" + value if "=" in value.split(";", 1)[0] else value
    return {m.group(1).lower(): (m.group(2) or "").strip().strip('"')
            for m in _PARAM.finditer(rest)}


def token(value: str) -> str:
    """The leading token of a header value (Event: 'dialog;id=1' -> 'dialog'), lower case."""
    return value.split(";", 1)[0].strip().lower()


def via_host(value: str) -> str:
    """Host a Via says the request came from: its received= parameter, else its sent-by."""
    first = value.split(",")[0].strip()
    parts = first.split(";")
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k.strip().lower() == "received" and v.strip():
            return v.strip().strip("[]")
    return split_host_port(parts[0].split(None, 1)[-1].strip())[0]


# --- URIs and hosts ---------------------------------------------------------------------------

_NAME_RE = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>')
_SCHEMES = ("sip:", "sips:", "tel:")


def split_uri(text: str) -> tuple[str, str, str]:
    """A name-addr or URI -> (display name, URI, user part):
    '"Alice" <sip:1001@host>;tag=x' -> ("Alice", "sip:1001@host", "1001")."""
    m = _NAME_RE.match(text or "")
    if m:
        name = (m.group(1) if m.group(1) is not None else m.group(2) or "").strip()
        uri = m.group(3)
    else:
        name, uri = "", (text or "").strip().split(";", 1)[0]
    bare = uri.split(":", 1)[1] if uri.lower().startswith(_SCHEMES) else uri
    number = bare.split("@", 1)[0].split(";", 1)[0] if "@" in bare else bare.split(";", 1)[0]
    return name.replace('\\"', '"'), uri, number


def user_of(text: str) -> str:
    """The user part of a URI or name-addr ('<sip:1003@pbx?Replaces=x>' -> '1003')."""
    return split_uri(text)[2].split("?", 1)[0]


def sip_uri(server: str) -> str:
    """A server setting as a URI: 'pbx:5070' -> 'sip:pbx:5070' (a URI stays as it is)."""
    return server if server.lower().startswith(("sip:", "sips:")) else f"sip:{server}"


def host_of(server: str) -> str:
    """host[:port] of a server setting or URI, as it goes after '@' in an address:
    'sip:pbx.example.net:5070;transport=udp' -> 'pbx.example.net:5070'."""
    s = server.strip()
    if s.lower().startswith(("sip:", "sips:")):
        s = s.split(":", 1)[1]
    s = s.split(";", 1)[0]
    return s.rpartition("@")[2] if "@" in s else s


def split_host_port(hostport: str) -> tuple[str, str]:
    """'pbx:5070' -> ('pbx', '5070'); '[2001:db8::1]:5060' -> ('2001:db8::1', '5060');
    a bare IPv6 address ('2001:db8::1') has no port."""
    s = hostport.strip()
    if s.startswith("["):
        h, _, rest = s[1:].partition("]")
        return h, rest[1:] if rest.startswith(":") else ""
    if s.count(":") == 1:
        h, _, port = s.partition(":")
        return h, port
    return s, ""


def host_only(server: str) -> str:
    """The name or address alone of a server setting or URI ('sip:[::1]:5060' -> '::1')."""
    return split_host_port(host_of(server))[0]


def uri_key(uri: str) -> str:
    """'<sip:1002@127.0.0.1:5070;transport=udp>' -> '1002@127.0.0.1': how a NOTIFY's From
    and a SUBSCRIBE's To are matched to what we subscribed to."""
    u = split_uri(uri)[1].split("?", 1)[0]
    if u.lower().startswith(("sip:", "sips:")):
        u = u.split(":", 1)[1]
    user, at, hostport = u.rpartition("@")
    h = split_host_port(hostport)[0]
    return f"{user}{at}{'[' + h + ']' if ':' in h else h}".lower()


def source_ip(address: str) -> str:
    """The address of pjsua's "ip:port" / "[v6]:port" source of a received message."""
    return address.rpartition(":")[0].strip("[]")


# --- bodies --------------------------------------------------------------------------------

_COUNTS = re.compile(r"^\s*(\d+)\s*/\s*(\d+)")


def parse_summary(body: str) -> tuple[bool, int, int]:
    """A message-summary body (RFC 3842) -> (waiting, new, old) of voice messages.

    `Voice-Message: 2/8 (0/2)` counts new/old (urgent in brackets); servers that send only
    `Messages-Waiting: yes` get new = 1 so that the LED and the screen still show it.
    """
    waiting, new, old, counted = False, 0, 0, False
    for line in body.replace("\r", "").split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == "messages-waiting":
            waiting = value.strip().lower() == "yes"
        elif name == "voice-message":
            m = _COUNTS.match(value)
            if m:
                new, old, counted = int(m.group(1)), int(m.group(2)), True
    if waiting and not counted:
        new = 1
    if not waiting:
        new = 0 if not counted else new
    return waiting or new > 0, new, old
