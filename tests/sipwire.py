"""A raw SIP-over-UDP caller for tests that must send what no SIP stack would: malformed
messages byte for byte (tests/test_robustness.py), and then the few well-formed requests
that clean up after them (OPTIONS probe, CANCEL, ACK, BYE).

sipp cannot send a message its own parser rejects, and a pjsua2 peer would fix our bytes;
a plain socket sends exactly what the test wrote.  Each `Wire` is one UDP socket on
127.0.0.1 with its own port, so whatever comes back to it answers this test's messages.
"""
from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass, field

COMPACT = {"i": "call-id", "m": "contact", "l": "content-length", "c": "content-type",
           "f": "from", "t": "to", "v": "via", "k": "supported", "s": "subject"}


@dataclass
class Response:
    code: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes = b""

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        parts = (self.get("cseq") or "0 ?").split()
        return (int(parts[0]) if parts[0].isdigit() else 0), parts[-1]

    def __str__(self) -> str:
        return self.raw.decode(errors="replace")


def parse_response(data: bytes) -> Response | None:
    """A response from the phone, or None for anything else (a request, garbage)."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not m:
        return None
    headers: list[tuple[str, str]] = []
    for ln in lines[1:]:
        if ln[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + ln.strip())
        elif ":" in ln:
            n, v = ln.split(":", 1)
            n = n.strip().lower()
            headers.append((COMPACT.get(n, n), v.strip()))
    return Response(int(m.group(1)), m.group(2), headers, data)


def token(n: int = 8) -> str:
    return secrets.token_hex(n)


class Wire:
    """One UDP socket talking to the phone at host:port."""

    def __init__(self, host: str, port: int):
        self.remote = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.lport = self.sock.getsockname()[1]
        self.received: list[Response] = []     # every response, in order
        self.other: list[bytes] = []            # requests from the phone, or garbage

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.remote)

    def _take(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.0001))
        try:
            data = self.sock.recv(70000)
        except (socket.timeout, BlockingIOError):
            return False
        r = parse_response(data)
        if r is None:
            self.other.append(data)
        else:
            self.received.append(r)
        return True

    def drain(self) -> None:
        """Take whatever has arrived already, without waiting."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    data = self.sock.recv(70000)
                except BlockingIOError:
                    return
                r = parse_response(data)
                (self.received.append(r) if r else self.other.append(data))
        finally:
            self.sock.setblocking(True)

    def wait(self, pred, timeout: float) -> Response | None:
        """The first response (already here or arriving within `timeout` s) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            hit = next((r for r in self.received if pred(r)), None)
            if hit is not None:
                return hit
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._take(left)

    def for_call(self, call_id: str) -> list[Response]:
        return [r for r in self.received if r.call_id == call_id]

    # -- well-formed requests --------------------------------------------------------------

    def request(self, method: str, ruri: str, *, call_id: str | None = None,
                cseq: int = 1, branch: str | None = None, from_tag: str | None = None,
                to: str | None = None, extra: str = "", body: str = "",
                content_type: str = "application/sdp") -> str:
        """Send a well-formed request; return its Call-ID."""
        call_id = call_id or f"{token()}@wire"
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch=z9hG4bK{branch or token()}"
                 ";rport",
                 "Max-Forwards: 70",
                 f"From: <sip:wire@127.0.0.1:{self.lport}>;tag={from_tag or token(4)}",
                 f"To: {to or '<' + ruri + '>'}",
                 f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:wire@127.0.0.1:{self.lport}>"]
        if extra:
            lines += extra.strip("\r\n").split("\n")
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.send(("\r\n".join(ln.rstrip("\r") for ln in lines) + "\r\n\r\n" + body).encode())
        return call_id

    def options(self, ruri: str, timeout: float = 5.0) -> Response | None:
        """OPTIONS and its final answer (None: no answer in `timeout` s)."""
        call_id = self.request("OPTIONS", ruri)
        return self.wait(lambda r: r.call_id == call_id and r.code >= 200, timeout)

    def cancel(self, ruri: str, provisional: Response) -> None:
        """CANCEL the INVITE that `provisional` answered (same branch, To without tag)."""
        via = provisional.get("via") or ""
        to = re.sub(r";\s*tag=[^;>\s]*", "", provisional.get("to") or "")
        self._in_transaction("CANCEL", ruri, provisional, via=via, to=to)

    def ack(self, ruri: str, final: Response) -> None:
        """ACK a final answer to an INVITE: a non-2xx in its transaction, a 2xx on a new
        branch to its Contact."""
        if final.code < 300:
            contact = re.search(r"<([^>]+)>", final.get("contact") or "")
            ruri = contact.group(1) if contact else ruri
            via = f"SIP/2.0/UDP 127.0.0.1:{self.lport};branch=z9hG4bK{token()};rport"
        else:
            via = final.get("via") or ""
        self._in_transaction("ACK", ruri, final, via=via, to=final.get("to") or "")

    def bye(self, ruri: str, final: Response) -> str:
        contact = re.search(r"<([^>]+)>", final.get("contact") or "")
        via = f"SIP/2.0/UDP 127.0.0.1:{self.lport};branch=z9hG4bK{token()};rport"
        self._in_transaction("BYE", contact.group(1) if contact else ruri, final, via=via,
                             to=final.get("to") or "", cseq=final.cseq[0] + 1)
        return final.call_id

    def _in_transaction(self, method: str, ruri: str, ref: Response, *, via: str, to: str,
                        cseq: int | None = None) -> None:
        lines = [f"{method} {ruri} SIP/2.0", f"Via: {via}", "Max-Forwards: 70",
                 f"From: {ref.get('from') or ''}", f"To: {to}", f"Call-ID: {ref.call_id}",
                 f"CSeq: {cseq if cseq is not None else ref.cseq[0]} {method}",
                 "Content-Length: 0"]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
