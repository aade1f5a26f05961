"""The gate: what happens to a SIP request before pjsua sees it, and after nobody took it.

One pjsip module (through firmware/sip/native.py, on the pjsua thread), after pjsip's dialog
layer (so only out-of-dialog requests reach it) and before pjsua:

- It refuses what must cost the phone nothing: requests from sources the settings do
  not trust (403, sip.trusted_only), a CSeq whose method is not the request's (400), an
  INVITE whose offer has no audio we can use (488, before it rings), and an INVITE that
  would need media sockets the phone does not have (486 busy, 503 when sockets are still
  closing).

  Why the last one: pjsua opens two media sockets for every INVITE it takes, *before* the
  application hears of it, in the one ioqueue it shares with SIP (64 handles in this build,
  PJ_IOQUEUE_MAX_HANDLES). A socket closed with its call keeps its handle for another
  500 ms (PJ_IOQUEUE_KEY_FREE_DELAY). Forty INVITEs that come and go in half a second
  used every handle and pjlib aborted the process (`pj_ioqueue_register_sock2: Assertion
  '!pj_list_empty(&ioqueue->free_list)'`). So an INVITE only reaches pjsua while the calls
  alive plus the calls let in or ended within the last second stay under MEDIA_BUDGET.

  And a flood guard in the spirit of Kamailio's pike: an address that is not one of the
  lines' servers and leaves `flood_limit` calls unanswered within FLOOD_WINDOW seconds
  (a scanner, a flood: INVITEs cancelled, never ACKed, refused) has its INVITEs refused
  with 503 until it has been quiet for FLOOD_BLOCK seconds. Its calls would otherwise take
  the screen and the ringer over and over, and fill the missed-call list. A caller whose
  calls are answered is never counted.

- What no module after it would take (`taken_later`: pjsua's modules, read in pjproject
  2.15.1-2.17) it answers itself as RFC 3261 asks instead of leaving it to silence: 481
  for in-dialog methods outside a dialog, 405 (with Allow) for methods a phone does not
  take, 489 for unknown event packages, 501 for methods it does not know. ACK is never
  answered. (This was a second module at priority 200; docs/sip-gate.md says why one is
  enough.)
"""
from __future__ import annotations

import collections
import ctypes
import functools
import ipaddress
import logging
import re
import time
from typing import Callable

from firmware import logs
from firmware.sip import fastgate, native
from firmware.sip.text import Message, token, via_host

log = logging.getLogger("deskphone.sip.gate")


def _libc_malloc_trim():
    try:
        fn = ctypes.CDLL(None).malloc_trim          # glibc; musl has none
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    return fn


_malloc_trim = _libc_malloc_trim()

PRIORITY = 40             # after the UA layer (32), before pjsua (PJSIP_MOD_PRIORITY_APPLICATION 64)
MAX_CALLS = 4             # pjsua's compiled-in PJSUA_MAX_CALLS in the 2.15 wheel
MEDIA_BUDGET = 24         # calls alive, let in or ended within WINDOW: 2 handles each, of 64
WINDOW = 1.0              # seconds a closed media socket may still hold its handle (0.5 s + margin)
FLOOD_WINDOW = 2.0        # unanswered calls from one address counted over this many seconds
FLOOD_BLOCK = 60.0        # then its INVITEs are refused until it has been quiet this long
TRIM_AFTER = 40.0         # seconds after a burst (pjsip's transactions are gone by 32 s)
TRIM_BURST = 500          # requests that make a burst worth giving memory back after
BUSY_RATE = 20            # requests in one second that count as a burst going on

IN_DIALOG = {"BYE", "INFO", "REFER", "PRACK", "UPDATE", "NOTIFY", "CANCEL"}
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER, MESSAGE, PRACK, UPDATE"
NOT_ALLOWED = {"REGISTER", "PUBLISH", "SUBSCRIBE"}   # known methods a phone does not serve
KNOWN = IN_DIALOG | NOT_ALLOWED | {"INVITE", "ACK", "OPTIONS", "MESSAGE"}
STATIC_PT = {"0": "pcmu", "3": "gsm", "8": "pcma", "9": "g722"}

# What pjsua's modules after the gate (all at priority 64: mod-pjsua, -options, -im, -pres,
# -unsolicited-mwi) take from outside a dialog, in pjproject 2.15.1-2.17: INVITE
# (pjsua_call_on_incoming), OPTIONS, MESSAGE, every SUBSCRIBE (the presence server answers
# other packages 489 itself), and NOTIFY of message-summary. Nobody answers the rest.
TAKEN_LATER = {"INVITE", "OPTIONS", "MESSAGE", "SUBSCRIBE"}


def taken_later(method: str, event: str) -> bool:
    """Will a module after the gate take this out-of-dialog request? event: the Event
    header's package (lower case), "" when there is none or it cannot be read."""
    return method in TAKEN_LATER or (method == "NOTIFY" and event in ("message-summary", "?"))


def unhandled(method: str) -> int:
    """The answer to a request no module takes (0: none, for ACK)."""
    if method == "ACK":
        return 0
    if method in IN_DIALOG:
        return 481
    if method == "SUBSCRIBE":
        return 489
    if method in NOT_ALLOWED:
        return 405
    return 500 if method in KNOWN else 501


def _first_word(raw: bytes) -> str:
    """A request's method as the packet spells it (pjsip skips leading blank lines too)."""
    return raw.lstrip(b"\r\n").split(b" ", 1)[0].decode("ascii", "replace")


def framing_problem(fields: Message, method: str, body: bytes) -> tuple[int, str]:
    """(0, "") for a request whose CSeq names its method and whose body is all there,
    else the 400 it gets. fields: the head as Message.parse read it; body: the packet
    after the blank line."""
    cseq = fields.get("cseq", "").split()
    if len(cseq) != 2 or cseq[1] != method:
        return 400, "CSeq method does not match the request"
    length = fields.get("content-length", "").strip()
    if length.isdigit() and int(length) > len(body):
        # RFC 3261 18.3: over UDP the packet ended before the body did
        return 400, "Content-Length is larger than the body"
    return 0, ""


def offer_problem(fields: Message, body: bytes, codecs: frozenset[str]) -> tuple[int, str]:
    """(0, "") for an INVITE with no body or an SDP offer we can answer, else its refusal
    (415, or check_offer's)."""
    if not body.strip():
        return 0, ""
    if fields.get("content-type", "").split(";", 1)[0].strip().lower() != "application/sdp":
        return 415, "Only application/sdp offers"
    length = fields.get("content-length", "").strip()
    offer = body[:int(length)] if length.isdigit() else body
    return check_offer(offer.decode("utf-8", "replace"), codecs)


def admits(raw: bytes, codecs: frozenset[str]) -> bool:
    """Does the packet pass every check of the gate's own that an INVITE meets (the
    source, the flood guard and the media budget aside)? fastgate.c must say yes only
    where this does (tests/test_fastgate.py)."""
    if _first_word(raw) != "INVITE":
        return False
    head, _, body = raw.lstrip(b"\r\n").partition(b"\r\n\r\n")
    fields = Message.parse(head)
    return not framing_problem(fields, "INVITE", body)[0] and \
        not offer_problem(fields, body, codecs)[0]


def check_offer(sdp: str, codecs: frozenset[str]) -> tuple[int, str]:
    """(0, "") for an SDP offer we can answer, else the refusal: 400 for SDP pjmedia could
    not read (it would ring and then fail), 488 for an offer without audio we take."""
    lines = [ln.strip() for ln in sdp.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or lines[0] != "v=0":
        return 400, "Bad SDP: it must start with v=0"
    session_c = False
    streams: list[dict] = []
    for ln in lines:
        kind, _, value = ln.partition("=")
        if kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit() \
                    or int(parts[1].split("/")[0]) > 65535:
                return 400, "Bad SDP: malformed m= line"
            streams.append({"m": parts, "c": False, "rtpmap": {}})
        elif kind == "c":
            if not _connection_ok(value):
                return 400, "Bad SDP: malformed c= line"
            if streams:
                streams[-1]["c"] = True
            else:
                session_c = True
        elif kind == "a" and value.startswith("rtpmap:") and streams:
            pt, _, enc = value[7:].partition(" ")
            streams[-1]["rtpmap"][pt] = enc.split("/", 1)[0].lower()
    if not streams:
        return 488, "No media in the offer"
    for st in streams:
        kind, port, proto, *fmts = st["m"]
        if kind.lower() != "audio" or port.split("/")[0] == "0":
            continue
        if not (session_c or st["c"]):
            return 400, "Bad SDP: no c= line for the audio stream"
        if proto.upper() not in ("RTP/AVP", "RTP/AVPF"):
            continue
        if any((st["rtpmap"].get(pt) or STATIC_PT.get(pt, "")) in codecs for pt in fmts):
            return 0, ""
    return 488, "No usable audio in the offer"


def _connection_ok(value: str) -> bool:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        return False
    return _address_ok(parts[1], parts[2].split("/", 1)[0])


@functools.lru_cache(maxsize=256)     # the few addresses callers offer, before each 180
def _address_ok(kind: str, addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        # a host name is allowed by RFC 4566 but pjmedia would have to resolve it
        return kind == "IP4" and re.fullmatch(r"[A-Za-z0-9.-]+", addr) is not None \
            and not re.fullmatch(r"[0-9.]+", addr)
    return ip.version == (4 if kind == "IP4" else 6)


class Gate:
    """Register after libStart, close before libDestroy; everything runs on the pjsua thread.

    allows_source(ip) -> bool: may this address send us out-of-dialog requests?
    allows_notify(ip, event) -> bool: may it send an unsolicited NOTIFY of this event?
    calls_alive() -> int: calls pjsua holds now.
    exempt(ip) -> bool: a line's server, never taken for a flood.
    flood_limit() -> int: unanswered calls in FLOOD_WINDOW that make a flood (0 = no guard).
    """

    def __init__(self, *, codecs: frozenset[str], calls_alive: Callable[[], int],
                 allows_source: Callable[[str], bool] = lambda ip: True,
                 allows_notify: Callable[[str, str], bool] = lambda ip, event: True,
                 exempt: Callable[[str], bool] = lambda ip: False,
                 flood_limit: Callable[[], int] = lambda: 0,
                 on_check_sync: Callable[[bool, str], int] = lambda reboot, source: 489):
        self._fast = None           # fastgate.c, once registered as our module
        self._armed = False         # may it let one INVITE in (the budget has room)?
        self._admitted = 0          # its count of INVITEs let in, as last read
        self.codecs = codecs        # enabled ones; SipEngine._order_codecs keeps it to sip.codecs
        self.calls_alive = calls_alive
        self.allows_source = allows_source
        self.allows_notify = allows_notify
        self.exempt = exempt
        self.flood_limit = flood_limit
        self.on_check_sync = on_check_sync
        self._unanswered: dict[str, collections.deque[float]] = {}
        self._blocked: dict[str, float] = {}     # address -> when it was last heard from
        self._seen = 0                           # requests since memory was last given back
        self._second = (0, 0)                    # (whole second, requests in it)
        self._busy_at = 0.0                      # last second with a burst's rate in it

        self._mod = None
        self._ended: collections.deque[float] = collections.deque()     # media closed at
        self._pending: collections.deque[float] = collections.deque()   # let in, not seen yet
        self._allow_hdr = None
        self.refused = collections.Counter()     # status -> count, for the log and tests
        self._warn = logs.Limited(log)
        # the head of the INVITE this packet is, when the gate let it in: pjsua offers it
        # as a call before the next packet is read, and the policy reads it (head_of)
        self._invite: Message | None = None
        self._invite_at = 0         # fastgate.c's count of admissions when it was let in

    # -- life cycle --------------------------------------------------------------------------

    def register(self) -> bool:
        """Our module: fastgate.c's when it is built (the Python gate behind it for all it
        does not let in itself), else the Python gate alone."""
        if native._load() is None:
            return False
        self._allow_hdr = native.header_list("Allow", ALLOW)
        self._retry_hdr = native.header_list("Retry-After", "5")
        self._quiet_hdr = native.header_list("Retry-After", str(int(FLOOD_BLOCK)))
        fast = fastgate.load()
        front = self._front
        if fast is not None:
            self._slow = native.rx_callback(self._front, "mod-deskphone-gate")
            fast.fg_setup(*native.rx_offsets(), ctypes.cast(self._slow, ctypes.c_void_p))
            fast.fg_set_codecs(",".join(sorted(self.codecs)).encode())
            front = fast.fg_on_rx_request
        self._mod = native.register_module("mod-deskphone-gate", PRIORITY, on_request=front)
        if self._mod is not None and fast is not None:
            self._fast = fast
            log.info("SIP gate: ordinary INVITEs are let in by fastgate.c, the rest is "
                     "judged here")
        return self._mod is not None

    def close(self) -> None:
        if self._fast is not None:
            self._fast.armed.value = 0
            self._fast = None
        native.unregister_module(self._mod)
        self._mod = None

    @property
    def codecs(self) -> frozenset[str]:
        return self._codecs

    @codecs.setter
    def codecs(self, names: frozenset[str]) -> None:
        self._codecs = names
        if self._fast is not None:
            self._fast.fg_set_codecs(",".join(sorted(names)).encode())

    # -- the C side's bookkeeping --------------------------------------------------------------

    def forget_sources(self) -> None:
        """The incoming policy changed (trust, flood guard): fastgate.c lets no INVITE in
        until this gate has let one in from that address again. Any thread."""
        if self._fast is not None:
            self._fast.fg_forget_sources()

    def _sync(self) -> None:
        """Count what fastgate.c let in since we last looked as let in here: calls pending
        (their media is open) and requests seen. Each admission disarmed it."""
        if self._fast is None:
            return
        n = self._fast.admitted.value
        new = (n - self._admitted) & 0xFFFFFFFF
        if new:
            self._admitted = n
            self._armed = False
            now = time.monotonic()
            self._pending.extend([now] * min(new, MEDIA_BUDGET))
            self._seen += new

    def _arm(self) -> None:
        """Let fastgate.c admit one INVITE when _admit would admit one now (the source and
        the packet it checks itself). On every SIP thread turn."""
        self._sync()
        want = bool(native.rx_layout is True and native.src_layout
                    and self.calls_alive() < MAX_CALLS and self._in_use() < MEDIA_BUDGET)
        if want != self._armed:
            self._fast.armed.value = int(want)
            self._armed = want

    # -- bookkeeping -------------------------------------------------------------------------

    def head_of(self, msg: str) -> Message | None:
        """The INVITE's head as this gate read it, when `msg` (pjsua's copy of the INVITE
        it offers as a call) is the one it let in last; else None (fastgate.c let it in, or
        another): a new call is parsed once before its 180, and only when asked."""
        head, self._invite = self._invite, None
        if head is None or (self._fast is not None
                            and self._fast.admitted.value != self._invite_at):
            return None         # fastgate.c let an INVITE in since: `msg` is that one
        call_id = head.get("call-id")
        return head if call_id and Message.parse(msg).get("call-id") == call_id else None

    def call_seen(self) -> None:
        """pjsua handed an INVITE we let in to the application: it is one of the calls
        alive now. One that never shows up (pjsua refused it after opening its media)
        counts for WINDOW seconds. (After the 180: the SIP thread's next turn.)"""
        self._sync()
        if self._pending:
            self._pending.popleft()

    def call_ended(self, source: str = "", answered: bool = True) -> None:
        """A call's media went away (its handles are free WINDOW seconds later).
        source: the address an incoming call came from; answered: did it connect."""
        self._ended.append(time.monotonic())
        if source and not answered:
            self._count_unanswered(source)

    def _count_unanswered(self, ip: str) -> None:
        limit = self.flood_limit()
        if not limit or ip in self._blocked or self.exempt(ip):
            return
        now = time.monotonic()
        q = self._unanswered.get(ip)
        if q is None:
            if len(self._unanswered) >= 1024:         # bounded: forget the oldest address
                self._unanswered.pop(next(iter(self._unanswered)))
            q = self._unanswered[ip] = collections.deque()
        q.append(now)
        while q and now - q[0] > FLOOD_WINDOW:
            q.popleft()
        if len(q) >= limit:
            del self._unanswered[ip]
            self.forget_sources()
            if len(self._blocked) >= 1024:
                self._blocked.pop(next(iter(self._blocked)))
            self._blocked[ip] = now
            self._warn.warning("INVITE flood from %s (%d unanswered calls in %.0f s): its "
                               "calls are refused (503) until it is quiet for %.0f s "
                               "(sip.flood_limit)", ip, limit, FLOOD_WINDOW, FLOOD_BLOCK)

    def _flooding(self, ip: str) -> bool:
        since = self._blocked.get(ip)
        if since is None:
            return False
        now = time.monotonic()
        if now - since > FLOOD_BLOCK or not self.flood_limit() or self.exempt(ip):
            del self._blocked[ip]
            log.info("INVITEs from %s are taken again", ip)
            return False
        self._blocked[ip] = now                   # still at it: the quiet time starts over
        return True

    def idle_turn(self) -> None:
        """Called by the SIP thread on every loop turn: after a burst of requests, once
        pjsip's transactions are gone, hand the freed memory back to the system (glibc
        keeps it in its arenas otherwise: ~10 MB after a minute of flood). And re-arm
        fastgate.c."""
        if self._fast is not None:
            self._arm()
        if self._seen < TRIM_BURST or time.monotonic() - self._busy_at < TRIM_AFTER:
            return
        seen, self._seen = self._seen, 0
        if _malloc_trim is not None:
            _malloc_trim(0)
            log.info("memory given back after a burst of %d SIP requests", seen)

    def _in_use(self) -> int:
        """Calls whose media sockets may hold ioqueue handles now."""
        self._sync()
        now = time.monotonic()
        for q in (self._ended, self._pending):
            while q and now - q[0] > WINDOW:
                q.popleft()
        return self.calls_alive() + len(self._ended) + len(self._pending)

    # -- the modules -------------------------------------------------------------------------

    def _respond(self, rdata: int, code: int, reason: str = "", headers=None) -> int:
        native.respond(rdata, code, reason, headers)
        self.refused[code] += 1
        return 1

    def _method(self, rdata: int) -> str:
        """The request's method as pjsip itself took it ("" for a response; "?" when
        pjsip's summary is too long to say: then as the packet has it)."""
        info = native.rx_info(rdata)
        # "Request msg INVITE/cseq=1 (rdata0x...)"; "MSG TOO LONG" for a long method
        if info.startswith(b"Request msg "):
            return info.decode("ascii", "replace").split(" ", 3)[2].split("/", 1)[0]
        if info == b"MSG TOO LONG":
            return _first_word(native.raw_packet(rdata)) if native.rx_layout is True else "?"
        return ""

    def _count_request(self) -> None:
        """A burst is a second with more than BUSY_RATE requests; a keep-alive now and
        then is none (it must not keep the memory from being given back)."""
        self._seen += 1
        now = time.monotonic()
        second, n = self._second
        if int(now) != second:
            second, n = int(now), 0
        self._second = (second, n + 1)
        if n + 1 > BUSY_RATE:
            self._busy_at = now

    def _front(self, rdata: int) -> int:
        self._invite = None
        # fastgate.c's count of forgets before the source is judged: a policy change from
        # now on keeps the source out of its list (fg_add_source)
        forgets = self._fast.forgets.value if self._fast is not None else 0
        self._sync()
        self._count_request()
        if native.rx_layout is not True:
            # the packet cannot be read on this build: only the media budget holds (an
            # INVITE here is out of dialog: the dialog layer took or refused the others)
            seen_as = self._method(rdata)
            if seen_as == "INVITE":
                return self._admit(rdata, "")
            return self._leftover(rdata, seen_as, "?")
        # Only requests outside a dialog get here: the dialog layer (priority 32) has
        # taken or answered (481) every request whose To has a tag, as pjsip parsed it.
        raw, src = native.received(rdata)
        method = _first_word(raw)
        # what pjsip will act on: a method we know, spelt as RFC 3261 spells it and
        # followed by a space, is what pjsip parsed too; anything else, pjsip says
        seen_as = method if method in KNOWN else self._method(rdata)
        if seen_as in ("", "ACK"):
            return 1 if seen_as == "ACK" else 0      # a stray ACK is never answered
        invite = seen_as.upper() == "INVITE"
        if method not in KNOWN and method.upper() in KNOWN:
            # methods are case-sensitive (RFC 3261 7.1); pjsip would take "invite" as INVITE
            return self._respond(rdata, 501)
        head, _, body = raw.lstrip(b"\r\n").partition(b"\r\n\r\n")
        fields = Message.parse(head)
        event = token(fields.get("event"))
        ip = src[0] if src else ""
        if seen_as == "NOTIFY" and event in ("check-sync", "resync"):
            # a PBX asks the phone to fetch its provisioning files again (pjsua would
            # answer 501); who may is the engine's to say (SipEngine._on_check_sync)
            reboot = "reboot=true" in fields.get("event").replace(" ", "").lower()
            code = self.on_check_sync(reboot, ip or via_host(fields.get("via")))
            native.respond(rdata, code)
            return 1
        if ip and not self.allows_source(ip):
            log.info("%s from %s refused (403): not a trusted server (sip.trusted_only)",
                     method, ip)
            return self._respond(rdata, 403, "Not a trusted server")
        code, why = framing_problem(fields, method, body)
        if code:
            return self._respond(rdata, code, why)
        if seen_as == "SUBSCRIBE" and not (ip and self.exempt(ip)):
            # pjsua would serve our presence to anyone (memory held for each, NOTIFYs sent
            # to whatever Contact it names); a desk phone's watchers are its servers
            log.info("SUBSCRIBE from %s refused (403): not one of the lines' servers",
                     ip or "?")
            return self._respond(rdata, 403, "Subscriptions only from the phone's servers")
        if seen_as == "NOTIFY" and ip:
            if not self.allows_notify(ip, event):
                log.info("NOTIFY %s from %s refused (403): not the line's server", event, ip)
                return self._respond(rdata, 403, "Not the line's server")
        if not invite:
            return self._leftover(rdata, seen_as, event)
        code, why = offer_problem(fields, body, self.codecs)
        if code:
            log.info("INVITE from %s refused (%d): %s", ip or "?", code, why)
            return self._respond(rdata, code, why)
        taken = self._admit(rdata, ip)
        if not taken:
            self._invite = fields
            if self._fast is not None:
                self._invite_at = self._fast.admitted.value
                if ip:
                    self._fast.fg_add_source(ip.encode(), forgets)   # its next INVITEs: C's
        return taken

    def _admit(self, rdata: int, ip: str) -> int:
        """Let an INVITE reach pjsua (which opens its media) only within the budget."""
        if ip and self._flooding(ip):
            return self._respond(rdata, 503, "Too many unanswered calls", self._quiet_hdr)
        if self.calls_alive() >= MAX_CALLS:
            if ip:
                self._count_unanswered(ip)
            return self._respond(rdata, 486)
        if self._in_use() >= MEDIA_BUDGET:
            self._warn.warning("INVITE from %s refused (503): %d calls ended within the "
                               "last %.0f s and their media sockets are still closing",
                               ip or "?", len(self._ended), WINDOW)
            if ip:
                self._count_unanswered(ip)
            return self._respond(rdata, 503, "Too many calls at once", self._retry_hdr)
        self._pending.append(time.monotonic())
        if self._armed and self._fast is not None:   # the room C was armed for (this turn)
            self._fast.armed.value = 0
            self._armed = False
        return 0

    def _leftover(self, rdata: int, method: str, event: str) -> int:
        """Pass on what a module after us takes; answer the rest (it would get no answer)."""
        if taken_later(method, event):
            return 0
        code = unhandled(method)
        if not code:
            return 1
        reason = "Not handled" if code == 500 else ""
        return self._respond(rdata, code, reason, self._allow_hdr if code == 405 else None)

