"""A SIP engine without a network: what the Phone and the call features send is recorded,
and the test plays the far ends by posting the events the real engine posts.

FakeSip has the command methods of firmware/sip/engine.py's SipEngine, with the same
signatures (tests/test_fakes.py holds it to that). Where pjsua2 answers a command at once,
inside the call that made it, FakeSip posts the same events in the same order:

    make_call         CallProgressed calling (0)
    answer 200        CallMediaChanged active, CallProgressed connecting 200, confirmed 200
                      (the far end's ACK is taken as given)
    hangup            CallProgressed disconnected: our BYE (200), our refusal of a ringing
                      call (its code; 603 without one), our CANCEL (the 487 that follows)
    redirect          CallProgressed disconnected 302
    hold / resume     CallMediaChanged inactive / active (the far end took the re-INVITE)

Everything a far end does is a method named for it: `incoming` (an INVITE, judged by the
phone's IncomingPolicy as the SIP thread judges it), `rings`, `answers`, `rejects`,
`hangs_up`, `cancels`, `holds`, `resumes`, `sends_dtmf`, `refer_accepted` /
`refer_notify` (how a REFER we sent goes), `transfers` (a REFER to us).

`wire` is what went out, one short line per SIP message ("INVITE sip:1002@...",
"BYE 3", "486 4", "re-INVITE 3 hold", "REFER 3 sip:1003@...", "REFER 3 replaces 5",
"DTMF 3 5"); `sent` has every command with its arguments, the local ones (tone, audio,
volume) too.
"""
from __future__ import annotations

import concurrent.futures
import itertools
from dataclasses import dataclass, field
from typing import Callable

from firmware.events import (CallForwarded, CallIncoming, CallMediaChanged, CallProgressed,
                             CallRefused, CallTransferProgressed, CallTransferred,
                             DtmfReceived, Event)
from firmware.sip.engine import SipConfig

try:                          # firmware/sip/ split into modules (#11)
    from firmware.sip.policy import IncomingPolicy
    from firmware.sip.text import split_uri
except ImportError:
    from firmware.sip.engine import IncomingPolicy, split_uri

REASONS = {180: "Ringing", 200: "OK", 202: "Accepted", 302: "Moved Temporarily",
           404: "Not Found", 480: "Temporarily Unavailable", 486: "Busy Here",
           487: "Request Terminated", 603: "Decline", 100: "Trying"}


@dataclass
class Sent:
    """One command the phone gave the SIP engine."""

    command: str
    args: dict = field(default_factory=dict)


@dataclass
class FakeCall:
    id: int
    direction: str            # in | out
    uri: str                  # the far end
    state: str = "calling"    # calling | early | confirmed | disconnected (pjsua's words)
    held: bool = False        # we hold it


def _done(value=None) -> concurrent.futures.Future:
    """The real commands return the future of a closure run on the SIP thread."""
    f: concurrent.futures.Future = concurrent.futures.Future()
    f.set_result(value)
    return f


class FakeSip:
    def __init__(self, post: Callable[[Event], None], config: SipConfig | None = None):
        self._post = post
        self.config = config or SipConfig()
        self.policy = IncomingPolicy()
        self.closers: list[Callable[[], None]] = []
        self.check_sync_from: frozenset[str] | None = None
        self.local_host = "127.0.0.1"
        self.pj_version = "fake"
        self.calls: dict[int, FakeCall] = {}
        self.sent: list[Sent] = []
        self.wire: list[str] = []
        self._ids = itertools.count(1)

    # -- life cycle and plumbing (as SipEngine) -----------------------------------------------

    def start(self) -> concurrent.futures.Future:
        return _done()

    def stop(self, timeout: float = 10.0) -> None:
        for close in self.closers:
            close()

    def post(self, ev: Event) -> None:
        self._post(ev)

    def new_call_id(self) -> int:
        return next(self._ids)

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        return _done(fn(*args))

    # -- commands: accounts ---------------------------------------------------------------------

    def set_account(self, index: int, spec):
        return self._record("set_account", index=index, spec=spec)

    def register(self, index: int, renew: bool = True, fresh: bool = False):
        return self._record("register", index=index, renew=renew, fresh=fresh)

    def connect(self, index: int, *, unregister_first: bool, fresh: bool = False):
        return self._record("connect", index=index, unregister_first=unregister_first,
                            fresh=fresh)

    def keepalive(self, index: int, done: Callable[[int], None], *, own_address: bool = True):
        return self._record("keepalive", index=index, own_address=own_address)

    # -- commands: calls --------------------------------------------------------------------------

    def make_call(self, call_id: int, account: int, uri: str, headers: dict | None = None,
                  send_only: bool = False):
        self.calls[call_id] = FakeCall(call_id, "out", uri)
        self._record("make_call", call_id=call_id, account=account, uri=uri,
                     headers=dict(headers or {}), send_only=send_only)
        self.wire.append(f"INVITE {uri}")
        self._progress(call_id, "calling", 0)
        return _done()

    def answer(self, call_id: int, code: int = 200):
        self._record("answer", call_id=call_id, code=code)
        self.wire.append(f"{code} {call_id}")
        call = self.calls.get(call_id)
        if call is not None and code == 200:
            call.state = "confirmed"
            self.post(CallMediaChanged(call_id, True, False))
            self._progress(call_id, "connecting", 200)
            self._progress(call_id, "confirmed", 200)
        return _done()

    def redirect(self, call_id: int, target: str):
        self._record("redirect", call_id=call_id, target=target)
        self.wire.append(f"302 {call_id} {target}")
        self._gone(call_id, 302)
        return _done()

    def hangup(self, call_id: int, code: int = 0):
        self._record("hangup", call_id=call_id, code=code)
        call = self.calls.get(call_id)
        if call is None:
            return _done()
        if call.state == "confirmed":
            self.wire.append(f"BYE {call_id}")
            self._gone(call_id, 200)
        elif call.direction == "in":
            self.wire.append(f"{code or 603} {call_id}")
            self._gone(call_id, code or 603)
        else:
            self.wire.append(f"CANCEL {call_id}")
            self._gone(call_id, 487)
        return _done()

    def hold(self, call_id: int, on: bool = True):
        self._record("hold", call_id=call_id, on=on)
        call = self.calls.get(call_id)
        if call is not None:
            call.held = on
            self.wire.append(f"re-INVITE {call_id} {'hold' if on else 'resume'}")
            self.post(CallMediaChanged(call_id, not on, False))
        return _done()

    def dtmf(self, call_id: int, digits: str, mode: str = "rfc2833"):
        self._record("dtmf", call_id=call_id, digits=digits, mode=mode)
        self.wire.append(f"DTMF {call_id} {digits}")
        return _done()

    def transfer(self, call_id: int, target: str):
        self._record("transfer", call_id=call_id, target=target)
        self.wire.append(f"REFER {call_id} {target}")
        return _done()

    def transfer_to_call(self, call_id: int, other_id: int):
        self._record("transfer_to_call", call_id=call_id, other_id=other_id)
        self.wire.append(f"REFER {call_id} replaces {other_id}")
        return _done()

    # -- commands: what the person hears (no network) ----------------------------------------------

    def audio(self, call_ids: tuple[int, ...], mute: bool, cross: bool = True):
        return self._record("audio", call_ids=tuple(call_ids), mute=mute, cross=cross)

    def tone(self, name: str | None):
        return self._record("tone", name=name)

    def volume(self, gain: float):
        return self._record("volume", gain=gain)

    def mic_volume(self, gain: float):
        return self._record("mic_volume", gain=gain)

    def attach_port(self, name: str, make: Callable, *, hear: bool,
                    ready: Callable | None = None) -> concurrent.futures.Future:
        return self._record("attach_port", name=name, hear=hear)

    def detach_port(self, name: str, done: Callable | None = None
                    ) -> concurrent.futures.Future:
        if done is not None:
            done(None)                    # no port here: the socket closes
        return self._record("detach_port", name=name)

    def sim_mic(self, freq: int | None):
        return self._record("sim_mic", freq=freq)

    def codecs(self, names: tuple[str, ...]):
        return self._record("codecs", names=tuple(names))

    def sip_trace(self, on: bool):
        return self._record("sip_trace", on=on)

    def record_start(self, path: str):
        return self._record("record_start", path=path)

    def record_stop(self, handle: int):
        return self._record("record_stop", handle=handle)

    # -- the far ends ------------------------------------------------------------------------------

    def incoming(self, number: str = "1002", name: str = "", *, account: int = 1,
                 host: str = "192.0.2.10", source: str = "192.0.2.10:5060",
                 headers: dict | None = None, page=None, calls: int | None = None) -> int | None:
        """An INVITE from `number`: judged as the SIP thread judges it (IncomingPolicy),
        answered 180 and announced (CallIncoming), or refused (CallRefused) or forwarded
        (CallForwarded). Returns our call id, None when it never rang."""
        uri = f"sip:{number}@{host}"
        ip = source.rpartition(":")[0]
        busy = sum(c.state != "disconnected" for c in self.calls.values()) \
            if calls is None else calls
        code, target = self.policy.decide(account=account, calls=busy, caller=number,
                                          anonymous=False, source_ip=ip,
                                          page=self.policy.page_from(ip, page))
        self.wire.append(f"{code} INVITE from {number}")
        if code == 302:
            self.post(CallForwarded(account, uri, name, number, target))
            return None
        if code != 180:
            self.post(CallRefused(account, uri, name, number, code))
            return None
        cid = self.new_call_id()
        self.calls[cid] = FakeCall(cid, "in", uri, state="early")
        hdrs = {"from": f'"{name}" <{uri}>' if name else f"<{uri}>", **(headers or {})}
        self.post(CallIncoming(cid, account, uri, name, number, hdrs, source,
                               self.policy.page_from(ip, page)))
        return cid

    def rings(self, call_id: int, code: int = 180) -> None:
        """The callee's phone rings (18x)."""
        self.calls[call_id].state = "early"
        self._progress(call_id, "early", code)

    def answers(self, call_id: int) -> None:
        """The callee answers: 200 with its SDP (media first, as pjsua reports it), ACK."""
        self.calls[call_id].state = "confirmed"
        self.post(CallMediaChanged(call_id, True, False))
        self._progress(call_id, "connecting", 200)
        self._progress(call_id, "confirmed", 200)

    def rejects(self, call_id: int, code: int = 486) -> None:
        self._gone(call_id, code)

    def hangs_up(self, call_id: int) -> None:
        """The far end sends BYE (or CANCEL for a call still ringing here)."""
        call = self.calls[call_id]
        self._gone(call_id, 487 if call.direction == "in" and call.state != "confirmed"
                   else 200)

    cancels = hangs_up

    def holds(self, call_id: int, on: bool = True) -> None:
        """The far end puts us on hold (re-INVITE a=sendonly) or takes us off it."""
        self.post(CallMediaChanged(call_id, not on and not self.calls[call_id].held, on))

    def resumes(self, call_id: int) -> None:
        self.holds(call_id, False)

    def sends_dtmf(self, call_id: int, digits: str) -> None:
        for d in digits:
            self.post(DtmfReceived(call_id, d))

    def refer_accepted(self, call_id: int) -> None:
        """The far end took our REFER: 202, then the first NOTIFY (100 Trying)."""
        self.refer_notify(call_id, 202, final=False)
        self.refer_notify(call_id, 100, final=False)

    def refer_notify(self, call_id: int, code: int, *, final: bool = True) -> None:
        """A NOTIFY of our REFER: what the transfer target answered."""
        self.post(CallTransferProgressed(call_id, code, REASONS.get(code, ""), final))

    def transfers(self, call_id: int, target: str, by: str = "") -> int:
        """The far end REFERs us to `target`: pjsua calls it on a new call (returned)."""
        new = self.new_call_id()
        self.calls[new] = FakeCall(new, "out", target)
        self.post(CallTransferred(call_id, new, target, by or self.calls[call_id].uri))
        self._progress(new, "calling", 0)
        return new

    # -- for assertions ----------------------------------------------------------------------------

    def commands(self, name: str) -> list[dict]:
        """The arguments of every `name` command, oldest first."""
        return [s.args for s in self.sent if s.command == name]

    def invited(self, number: str) -> int:
        """Our call id of the newest INVITE we sent to `number`."""
        for args in reversed(self.commands("make_call")):
            if split_uri(args["uri"])[2] == number or number in args["uri"]:
                return args["call_id"]
        raise AssertionError(f"no INVITE to {number}; sent: {self.wire}")

    # -- inside ----------------------------------------------------------------------------------

    def _record(self, command: str, **args) -> concurrent.futures.Future:
        self.sent.append(Sent(command, args))
        return _done()

    def _progress(self, call_id: int, state: str, code: int) -> None:
        call = self.calls[call_id]
        name, uri, _ = split_uri(call.uri)
        self.post(CallProgressed(call_id, state, code, REASONS.get(code, ""), uri, name))

    def _gone(self, call_id: int, code: int) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state == "disconnected":
            return
        self._progress(call_id, "disconnected", code)
        call.state = "disconnected"
