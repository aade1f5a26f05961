"""Client for baresip's ctrl_tcp module: netstring-framed JSON over TCP.

Requests are `{"command": C, "params": P, "token": T}`; baresip answers
`{"response": true, "ok": bool, "data": str, "token": T}` and pushes events such as
`{"event": true, "type": "CALL_INCOMING", ...}` on the same connection at any time.  A
reader thread splits the stream, so waiting for a reply never loses an event and waiting
for an event never blocks a command.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from typing import Callable

from ._process import PeerError


def encode_netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class NetstringDecoder:
    """Incremental decoder: feed() bytes, get complete payloads back."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while True:
            colon = self._buf.find(b":")
            if colon < 0:
                if len(self._buf) > 10:
                    raise ValueError(f"bad netstring header: {self._buf[:20]!r}")
                return out
            length = int(self._buf[:colon])
            end = colon + 1 + length
            if len(self._buf) < end + 1:
                return out
            if self._buf[end:end + 1] != b",":
                raise ValueError(f"netstring not terminated by ',': {self._buf[:end + 1]!r}")
            out.append(self._buf[colon + 1:end])
            self._buf = self._buf[end + 1:]


class CtrlTcpClient:
    """One connection to baresip's ctrl_tcp; collects events until closed."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 2.0,
                 describe: Callable[[], str] = lambda: ""):
        self._describe = describe  # appends the peer's log tail to errors
        self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        self._sock.settimeout(0.25)
        self._cond = threading.Condition()
        self._responses: dict[str, dict] = {}
        self._events: list[dict] = []
        self._consumed: set[int] = set()
        self._closed = False
        self.error: str | None = None
        self._tokens = itertools.count(1)
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, name=f"ctrl_tcp:{port}",
                                        daemon=True)
        self._reader.start()

    # ----- commands -----

    def command(self, cmd: str, params: str = "", *, timeout: float = 5.0) -> dict:
        """Send a command, return baresip's response dict; PeerError if none in `timeout` s."""
        token = f"t{next(self._tokens)}"
        msg = json.dumps({"command": cmd, "params": params, "token": token}).encode()
        with self._send_lock:
            try:
                self._sock.sendall(encode_netstring(msg))
            except OSError as exc:
                raise PeerError(f"ctrl_tcp send {cmd!r} failed: {exc}\n{self._describe()}")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    why = (f"connection closed {self.error or ''}" if self._closed
                           else f"no reply in {timeout} s")
                    raise PeerError(f"ctrl_tcp {cmd!r}: {why}\n{self._describe()}")
                self._cond.wait(min(left, 0.05))
            return self._responses.pop(token)

    # ----- events -----

    def events(self) -> list[dict]:
        with self._cond:
            return list(self._events)

    def wait_event(self, type: str | tuple[str, ...], timeout: float = 5.0, *,
                   match: Callable[[dict], bool] | None = None) -> dict:
        """Return (and consume) the oldest not yet consumed event of `type` (or of any of
        several types), optionally also satisfying `match`.

        Events are kept from connect on, so an event that came before the call is found too.
        """
        types = (type,) if isinstance(type, str) else tuple(type)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, ev in enumerate(self._events):
                    if i not in self._consumed and ev.get("type") in types and (
                            match is None or match(ev)):
                        self._consumed.add(i)
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    seen = [e.get("type") for e in self._events]
                    why = (f"connection closed {self.error or ''}" if self._closed
                           else f"timeout {timeout} s")
                    raise PeerError(f"baresip event {type}: {why}; events so far: {seen}\n"
                                    f"{self._describe()}")
                self._cond.wait(min(left, 0.05))

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        self._reader.join(timeout=1.0)

    # ----- reader thread -----

    def _read_loop(self) -> None:
        decoder = NetstringDecoder()
        while not self._closed:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                payloads = [json.loads(p) for p in decoder.feed(data)]
            except ValueError as exc:  # garbled stream: stop, waiters see "closed"
                self.error = f"bad ctrl_tcp data: {exc}"
                break
            for msg in payloads:
                with self._cond:
                    if msg.get("event"):
                        msg["_t"] = time.time()
                        self._events.append(msg)
                    elif msg.get("response"):
                        self._responses[str(msg.get("token"))] = msg
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
