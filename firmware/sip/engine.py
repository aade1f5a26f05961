"""The SIP thread: the only place pjsua2 is touched.

One Python thread creates the pjsua2 Endpoint (which makes it pjsua's "main thread"),
then loops on `libHandleEvents` and runs queued commands. Every pjsua2 callback arrives
on this thread and is turned into an event for the asyncio loop (`post`). Other threads
never call pjsua2: they call the command methods below, which queue a closure and wake
the loop by sending a CRLF keep-alive to our own SIP port (pjsip drops it silently).
See notes/pjsua2.md for why it is built this way.

Incoming INVITEs are answered 180 (or refused) right here, from a policy the Phone
keeps up to date, so nothing of ours sits between the INVITE and the 180.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import itertools
import logging
import queue
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pjsua2 as pj

from firmware import logs
from firmware.sip import gate as pjgate, pjc
from firmware.errors import SipError
from firmware.events import (CallForwarded, CallIncoming, CallMediaChanged, CallProgressed,
                             CallRefused, CallTransferProgressed, CallTransferred,
                             CheckSyncReceived, DtmfReceived, Event, MessagesWaiting,
                             RegistrationChanged, RegistrationStarted)
from firmware.system.identity import VERSION
from firmware.features.paging import auto_answer
from firmware.sip.trust import Trust

log = logging.getLogger("deskphone.sip")
trace = logging.getLogger("deskphone.sip.trace")


# --- what the Phone tells us ------------------------------------------------------------


@dataclass(frozen=True)
class SipConfig:
    port: int = 5060
    bind: str = "0.0.0.0"
    rtp_port: int = 11000
    rtp_ports: int = 200
    user_agent: str = ""
    trace: bool = False
    null_audio: bool = True     # no sound device (sim board, x86 wheel)
    prack: str = "supported"    # supported | required (RFC 3262)
    dtmf_payload: int = 101     # RTP payload type of RFC 2833 events
    session_timers: bool = False
    session_expires: int = 1800
    sound_device: str = ""      # ALSA device name (board [audio] device); "" = default


@dataclass(frozen=True)
class AccountSpec:
    user: str
    auth_user: str = ""
    password: str = ""
    display_name: str = ""
    registrar: str = ""         # host[:port]; empty = no registration (P2P line)
    proxy: str = ""
    expires: int = 3600
    anonymous: bool = False     # outgoing calls hide who we are (RFC 3323)
    mwi: bool = False           # subscribe to message-summary (RFC 3842) once registered

    @property
    def domain(self) -> str:
        return host_of(self.registrar)


@dataclass
class IncomingPolicy:
    """How the SIP thread answers a new INVITE before the Phone sees it (a fast 180, or a
    refusal, or a redirect), from settings the Phone keeps up to date, and whom it takes
    requests from at all (`trust`, kept by firmware/sip/trust.py). `decide` is pure."""

    dnd: int = 0               # non-zero: refuse every new call with this status (DND)
    dnd_code: int = 486        # for calls to a line in DND
    dnd_accounts: frozenset = frozenset()
    busy_when_in_call: bool = False   # call waiting off
    max_calls: int = 3         # one per line key
    reject_code: int = 486     # blacklisted callers
    blacklist: tuple = ()      # numbers, or prefixes ending in *
    ip_allow: tuple = ()       # ipaddress networks; empty = everyone (IP strategy off)
    anon_reject: frozenset = frozenset()   # accounts refusing hidden callers
    forward_always: str = ""   # sip: URI, or ""
    forward_busy: str = ""
    pages: bool = False        # auto-answer INVITEs are pages (firmware/features/paging.py)
    page_barge_in: bool = True     # a page during a call is mixed in, else refused busy
    page_dnd_emergency: bool = True  # an emergency page gets through DND
    trust: Trust = Trust()     # the lines' servers and who else may do what
    flood_limit: int = 20      # unanswered calls in 2 s from one address: a flood (pjgate)

    def allows_source(self, ip: str) -> bool:
        """May a request from `ip` start anything (sip.trusted_only)? For every request
        outside a dialog, on the SIP thread: no DNS, a few set lookups."""
        return self.trust.allows(ip)

    def allows_notify(self, ip: str, event: str) -> bool:
        """May `ip` send an unsolicited NOTIFY (no subscription of ours: message-summary,
        check-sync...)? Only the lines' servers and sip.trusted; check-sync then also
        passes provisioning.accept_notify and the lines' servers alone (_on_check_sync)."""
        return self.trust.is_server(ip)

    def page_from(self, ip: str, page):
        """The auto-answer request an INVITE from `ip` may have honoured: only the lines'
        servers and paging.intercom_allow may open the microphone; from anyone else (or
        with paging.intercom off) the call rings like any other (None)."""
        if page is None or not self.pages or not self.trust.may_page(ip):
            return None
        return page

    def decide(self, *, account: int, calls: int, caller: str, anonymous: bool,
               source_ip: str, page=None) -> tuple[int, str]:
        """(SIP status, redirect target). 180 = ring; 302 = forward to target.
        page: the INVITE's auto-answer request (firmware.features.paging.AutoAnswer) or None."""
        if not self.trust.allows(source_ip):
            return 403, ""
        if self.ip_allow and not _ip_in(source_ip, self.ip_allow):
            return 403, ""
        if self.blacklist and _listed(caller, self.blacklist):
            return self.reject_code, ""
        if account in self.anon_reject and anonymous:
            return 433, ""                     # Anonymity Disallowed (RFC 5079)
        if page is not None:                   # a page is never forwarded
            refused = self.dnd or (self.dnd_code if account in self.dnd_accounts else 0)
            if refused and not (page.emergency and self.page_dnd_emergency):
                return refused, ""
            if calls >= self.max_calls or (calls and not self.page_barge_in):
                return 486, ""
            return 180, ""
        if self.forward_always:
            return 302, self.forward_always
        refused = self.dnd or (self.dnd_code if account in self.dnd_accounts else 0)
        busy = calls >= self.max_calls or (self.busy_when_in_call and calls > 0)
        if (refused or busy) and self.forward_busy:
            return 302, self.forward_busy
        return (refused or (486 if busy else 180)), ""

    @property
    def reads_invite(self) -> bool:
        """Does deciding need the INVITE's From and Privacy headers?"""
        return bool(self.blacklist or self.anon_reject)


def _contact(op, target: str) -> None:
    """A 302's Contact: the forward target (pjsua would put our own there)."""
    h = pj.SipHeader()
    h.hName, h.hValue = "Contact", f"<{target}>"
    op.txOption.headers.append(h)


def _listed(number: str, patterns) -> bool:
    for p in patterns:
        if p.endswith("*") and number.startswith(p[:-1]) or number == p:
            return True
    return False


def _ip_in(ip: str, nets) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in nets)


def is_anonymous(headers: dict, number: str) -> bool:
    privacy = headers.get("privacy", "").lower()
    return (number.lower() in ("anonymous", "unknown", "") or "id" in privacy.split(";")
            or "anonymous.invalid" in headers.get("from", "").lower())


def source_ip(address: str) -> str:
    """The address of pjsua's "ip:port" / "[v6]:port" source of a received message."""
    return address.rpartition(":")[0].strip("[]")


def host_of(server: str) -> str:
    s = server
    if s.lower().startswith(("sip:", "sips:")):
        s = s.split(":", 1)[1]
    return s.split(";", 1)[0]


def refresh_margin(expires: int) -> int:
    """Seconds before expiry that pjsip should send the refresh REGISTER."""
    return max(1, min(30, expires // 10))


def refresh_after(granted: int, requested: int) -> int:
    """When pjsip really sends the refresh, seconds after a 200 OK (sip_reg.c: never
    later than requested, never sooner than 5 s)."""
    return max(5, min(requested, granted - refresh_margin(requested)))


def sip_uri(server: str) -> str:
    return server if server.lower().startswith(("sip:", "sips:")) else f"sip:{server}"


# --- tones (US, notes/pjsua2.md) -----------------------------------------------------------
# name -> list of (freq1, freq2, on ms, off ms)
TONE_PLANS: dict[str, list[tuple[int, int, int, int]]] = {
    "dial": [(350, 440, 1000, 0)],
    "ringback": [(440, 480, 2000, 4000)],
    "busy": [(480, 620, 500, 500)],
    "reorder": [(480, 620, 250, 250)],
    "callwaiting": [(440, 0, 300, 9700)],
    "ring": [(1000, 0, 50, 0), (1250, 0, 50, 0)] * 10 + [(0, 0, 0, 3000)],
    "test": [(1000, 0, 1000, 0)],      # diagnose: sound
    "message": [(1000, 0, 50, 0), (1250, 0, 50, 0)] * 8 + [(0, 0, 0, 30000)],  # new voice mail
    "warning": [(1400, 0, 100, 100)],  # a page is about to be heard (firmware/features/paging.py)
}

_NAME_RE = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>')


def split_uri(text: str) -> tuple[str, str, str]:
    """'"Alice" <sip:1001@host>' -> ("Alice", "sip:1001@host", "1001")."""
    m = _NAME_RE.match(text or "")
    if m:
        name = (m.group(1) if m.group(1) is not None else m.group(2) or "").strip()
        uri = m.group(3)
    else:
        name, uri = "", (text or "").strip().split(";", 1)[0]
    bare = uri.split(":", 1)[1] if uri.lower().startswith(("sip:", "sips:", "tel:")) else uri
    number = bare.split("@", 1)[0].split(";", 1)[0] if "@" in bare else bare.split(";", 1)[0]
    return name.replace('\\"', '"'), uri, number


def parse_headers(msg: str) -> dict[str, str]:
    """Header name (lower case, compact forms expanded) -> first value, from a SIP message."""
    compact = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via",
               "l": "content-length", "c": "content-type", "k": "supported"}
    out: dict[str, str] = {}
    head = msg.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    for line in head.splitlines()[1:]:
        if ":" not in line or line[:1].isspace():
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        out.setdefault(compact.get(name, name), value.strip())
    return out


# --- pjsua2 subclasses (they live and die on the SIP thread) ------------------------------

class _LogWriter(pj.LogWriter):
    _MSG = re.compile(r"[ .](TX|RX) \d+ bytes")

    def __init__(self):
        super().__init__()
        self.limited = logs.Limited(log, per_minute=20)

    def write(self, entry):
        msg = entry.msg.rstrip()
        if self._MSG.search(msg[:80]):
            trace.debug("%s", msg)
        elif entry.level <= 2:
            # pjsip's "errors" are things it reports and goes on from (a busy REGISTER,
            # an unreachable host, a garbage packet); ours say what they mean to the phone.
            self.limited.warning("%s", msg)
        else:
            log.debug("%s", msg)


class _Account(pj.Account):
    def __init__(self, engine: SipEngine, index: int):
        super().__init__()
        self.engine = engine
        self.index = index
        self.spec: AccountSpec | None = None

    def onRegStarted(self, prm):
        self.engine._guard(self._reg_started, prm)

    def _reg_started(self, prm):
        if self.spec:
            self.engine.post(RegistrationStarted(self.index, self.spec.registrar, prm.renew))

    def onRegState(self, prm):
        self.engine._guard(self._reg_state, prm)

    def _reg_state(self, prm):
        if not self.spec:
            return
        info = self.getInfo()
        min_expires = 0
        if prm.code == 423:
            try:
                min_expires = int(parse_headers(prm.rdata.wholeMsg).get("min-expires", "0"))
            except (ValueError, AttributeError):
                min_expires = 0
        network = prm.status == 0 or prm.code not in (408, 502, 503)
        reason = prm.reason
        if prm.status != 0 and prm.code in (408, 502, 503):
            reason = self.engine.ep.utilStrError(prm.status)
        self.engine.post(RegistrationChanged(
            self.index, self.spec.registrar, prm.code, reason, bool(info.regIsActive),
            int(prm.expiration), network, min_expires))

    def onIncomingCall(self, prm):
        self.engine._guard(self.engine._incoming, self, prm)

    def onMwiInfo(self, prm):
        self.engine._guard(self._mwi, prm)

    def _mwi(self, prm):
        from firmware.features.mwi import parse_summary
        source = prm.rdata.srcAddress
        if prm.state == pj.PJSIP_EVSUB_STATE_NULL and \
                not self.engine.policy.trust.is_server(source_ip(source)):
            # unsolicited (no subscription of ours): only the lines' servers may light the
            # lamp; pjsua answers 200 itself unless the request gate refused it first
            log.info("message-summary NOTIFY from %s ignored: not one of the lines' servers "
                     "(or sip.trusted)", source)
            return
        text = prm.rdata.wholeMsg
        head, _, body = text.replace("\r\n", "\n").partition("\n\n")
        waiting, new, old = parse_summary(body)
        self.engine.post(MessagesWaiting(self.index, waiting, new, old,
                                         prm.rdata.srcAddress))


class _Call(pj.Call):
    def __init__(self, engine: SipEngine, acc: _Account, call_id: int, pj_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, pj_id)
        self.engine = engine
        self.account = acc
        self.cid = call_id
        self.audio: pj.AudioMedia | None = None
        self.redirects: list[str] = []
        self.stopped = ""          # why we stopped following redirects
        self.digits: pj.ToneGenerator | None = None     # in-band DTMF, made when needed
        self.send_only = False     # a one-way page: we only talk (firmware/features/paging.py)
        self.hangup_at_ack: pj.CallOpParam | None = None   # see SipEngine._hangup
        self.source = ""           # where an incoming call came from (the gate's flood guard)
        self.answered = False

    def onCallState(self, prm):
        self.engine._guard(self._state)

    _STATES = {pj.PJSIP_INV_STATE_CALLING: "calling", pj.PJSIP_INV_STATE_INCOMING: "incoming",
               pj.PJSIP_INV_STATE_EARLY: "early", pj.PJSIP_INV_STATE_CONNECTING: "connecting",
               pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
               pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected"}

    def _state(self):
        ci = self.getInfo()
        state = self._STATES.get(ci.state, "calling")
        name, uri, _ = split_uri(ci.remoteUri)
        reason = ci.lastReason
        if state == "disconnected" and 300 <= ci.lastStatusCode < 400 and self.redirects:
            reason = self.stopped or "Forwarding loop"   # pjsip tries a target only once
        self.engine.post(CallProgressed(self.cid, state, ci.lastStatusCode, reason, uri,
                                        name))
        if state == "confirmed":
            self.answered = True
        if state == "confirmed" and self.hangup_at_ack is not None:
            op, self.hangup_at_ack = self.hangup_at_ack, None
            self.hangup(op)
        if state == "disconnected":
            self.engine._forget(self)

    def onCallMediaState(self, prm):
        self.engine._guard(self._media)

    def _media(self):
        ci = self.getInfo()
        active, remote_hold = False, False
        self.audio = None
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            # a one-way page we send (a=sendonly) is "local hold" to pjsua
            talks = self.send_only and mi.status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD
            if talks or mi.status in (pj.PJSUA_CALL_MEDIA_ACTIVE,
                                      pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self.audio = self.getAudioMedia(i)
                active = talks or mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                remote_hold = mi.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
            break
        self.engine.media.refresh()
        self.engine.post(CallMediaChanged(self.cid, active, remote_hold))

    def onCallSdpCreated(self, prm):
        """Our offers carry RFC 2833 events (telephone-event/8000) on the payload type the
        settings ask for (phone.dtmf_payload; pjsua picks 120+). Answers keep the
        offerer's payload type, as RFC 3264 wants."""
        if not prm.remSdp.wholeSdp:
            self.engine._guard(self._event_payload, prm, self.engine.config.dtmf_payload)

    @staticmethod
    def _event_payload(prm, pt: int) -> None:
        sdp = prm.sdp.wholeSdp
        m = re.search(r"(?m)^a=rtpmap:(\d+) telephone-event/8000", sdp)
        if m is None or int(m.group(1)) == pt:
            return
        old = m.group(1)
        mline = re.search(r"(?m)^m=audio .*$", sdp)
        if mline is None or str(pt) in mline.group(0).split()[3:]:
            log.warning("DTMF payload %d is taken by a codec; keeping %s", pt, old)
            return
        sdp = sdp.replace(mline.group(0), re.sub(rf" {old}\b", f" {pt}", mline.group(0)))
        sdp = re.sub(rf"(?m)^a=(rtpmap|fmtp):{old} ", rf"a=\1:{pt} ", sdp)
        prm.sdp.wholeSdp = sdp

    def onDtmfDigit(self, prm):
        self.engine._guard(lambda: self.engine.post(DtmfReceived(self.cid, prm.digit)))

    # -- forwarding and transfer ---------------------------------------------------------

    MAX_REDIRECTS = 5

    def onCallRedirected(self, prm):
        """A 3xx: follow it, but not round a forwarding loop and not forever."""
        try:
            return self._redirected(prm.targetUri)
        except Exception:  # noqa: BLE001 - never into C++
            log.exception("redirect")
            return pj.PJSIP_REDIRECT_STOP

    def _redirected(self, target: str):
        if target in self.redirects or len(self.redirects) >= self.MAX_REDIRECTS:
            self.stopped = ("Forwarding loop" if target in self.redirects
                            else "Forwarded too often")
            log.warning("call %d: not following the redirect to %s: %s", self.cid, target,
                        self.stopped)
            return pj.PJSIP_REDIRECT_STOP
        self.redirects.append(target)
        log.info("call %d: forwarded to %s", self.cid, target)
        return pj.PJSIP_REDIRECT_ACCEPT

    def onCallTransferStatus(self, prm):
        """What the transfer target said (NOTIFY of our REFER)."""
        self.engine._guard(lambda: self.engine.post(CallTransferProgressed(
            self.cid, prm.statusCode, prm.reason, bool(prm.finalNotify))))
        prm.cont = True

    def onCallTransferRequest(self, prm):
        """The far end transfers us (REFER): pjsua calls the target on a new Call."""
        self.engine._guard(lambda: self._successor(
            prm, prm.dstUri, split_uri(self.getInfo().remoteUri)[1]))

    def _successor(self, prm, target: str, by: str) -> None:
        """The _Call object pjsua will use for the call that takes this one's place."""
        engine = self.engine
        new = _Call(engine, self.account, engine.new_call_id())
        engine.calls[new.cid] = new
        prm.newCall = new
        engine.post(CallTransferred(self.cid, new.cid, target, by))

    def onCallReplaceRequest(self, prm):
        """An INVITE with Replaces for this call (attended transfer): it takes over."""
        self.engine._guard(self._successor, prm, "", "")


# --- the audio bridge: who hears what -----------------------------------------------------

class _Media:
    """Connections in pjsip's conference bridge; call audio never passes through Python.

    sinks: what the person hears (the sound device; on the sim board also a recorder
    while a test listens). sources: the microphone (on the sim board a tone generator
    can stand in for a voice).
    """

    def __init__(self, engine: SipEngine, *, clock_when_needed: bool = False):
        self.engine = engine
        adm = engine.ep.audDevManager()
        # The null sound device ticks the bridge every 20 ms even when nothing is
        # connected (0.3 % CPU idle). A real device closes itself when idle
        # (sndAutoCloseTime); for the null one we do it: no device while nothing plays.
        self.clock_when_needed = clock_when_needed
        self.clock = True
        self.sinks: list = [adm.getPlaybackDevMedia()]
        self.sources: list = [adm.getCaptureDevMedia()]
        self.tone: pj.ToneGenerator | None = None
        self.tone_name: str | None = None
        self.mic: pj.ToneGenerator | None = None
        self.call_ids: tuple[int, ...] = ()    # the call, or the calls of a conference
        self.mute = False
        self.cross = True          # the calls hear each other (3-way), not (barge-in)
        self.players: list = []    # more for the person to hear (a multicast page)
        self.mic_sinks: list = []  # more to hear the microphone (a multicast page we send)
        self.gain = 1.0            # volume of everything the person hears
        # (source port, sink port) -> (source media, sink media)
        self.connected: dict[tuple[int, int], tuple] = {}
        self.refresh()

    def _want(self) -> dict[tuple[int, int], tuple]:
        pairs = []
        if self.tone is not None:
            pairs += [(self.tone, s) for s in self.sinks]
        pairs += [(p, s) for p in self.players for s in self.sinks]
        calls = [self.engine.calls.get(i) for i in self.call_ids]
        ports = [c.audio for c in calls if c is not None and c.audio is not None]
        mics = [] if self.mute else self.sources + ([self.mic] if self.mic is not None else [])
        pairs += [(m, s) for m in mics for s in self.mic_sinks]
        for port in ports:
            pairs += [(port, s) for s in self.sinks] + [(m, port) for m in mics]
            if self.cross:
                pairs += [(port, other) for other in ports if other is not port]   # 3-way
        return {(a.getPortId(), b.getPortId()): (a, b) for a, b in pairs}

    def refresh(self) -> None:
        want = self._want()
        for key in self.connected.keys() - want.keys():
            src, dst = self.connected[key]
            try:
                src.stopTransmit(dst)
            except pj.Error:
                pass   # the port went away with its call
        for key in want.keys() - self.connected.keys():
            src, dst = want[key]
            try:
                src.startTransmit(dst)
            except pj.Error as e:
                log.warning("audio connect %s: %s", key, e.info())
        self.connected = want
        if self.clock_when_needed:
            need = bool(want) or bool(self.engine.calls) or len(self.sinks) > 1
            if need != self.clock:
                adm = self.engine.ep.audDevManager()
                adm.setNullDev() if need else adm.setNoDev()
                self.clock = need

    @staticmethod
    def _generator(plan_spec) -> pj.ToneGenerator:
        gen = pj.ToneGenerator()
        gen.createToneGenerator(16000, 1)
        plan = pj.ToneDescVector()
        for f1, f2, on, off in plan_spec:
            d = pj.ToneDesc()
            d.freq1, d.freq2, d.on_msec, d.off_msec, d.volume = f1, f2, on, off, 0
            plan.append(d)
        gen.play(plan, True)
        return gen

    def play(self, name: str | None) -> None:
        if name == self.tone_name:
            return
        old, self.tone, self.tone_name = self.tone, None, name
        if name:
            self.tone = self._generator(TONE_PLANS[name])
        self.refresh()
        if old is not None:
            old.stop()
            self.engine._dead.append(old)

    def set_mic_tone(self, freq: int | None) -> None:
        old, self.mic = self.mic, None
        if freq:
            self.mic = self._generator([(freq, 0, 1000, 0)])
        self.refresh()
        if old is not None:
            old.stop()
            self.engine._dead.append(old)

    def set_gain(self, gain: float) -> None:
        self.gain = gain
        for sink in self.sinks:
            sink.adjustRxLevel(gain)

    def add_sink(self, media) -> None:
        self.sinks.append(media)
        media.adjustRxLevel(self.gain)
        self.refresh()

    def remove_sink(self, media) -> None:
        self.sinks.remove(media)
        self.refresh()

    def close(self) -> None:
        for gen in (self.tone, self.mic):
            if gen is not None:
                gen.stop()
        self.tone = self.mic = None
        self.connected = {}
        self.sinks, self.sources = [], []


# --- the engine ---------------------------------------------------------------------------

class SipEngine:
    """Owns pjsua2 on its own thread. Command methods are safe to call from any thread."""

    WAIT_MS = 5000   # libHandleEvents timeout; pjsip wakes for its timers, commands wake it

    def __init__(self, *, config: SipConfig, post: Callable[[Event], None]):
        self.config = config
        self._post = post
        self._events: list[Event] = []    # SIP thread only; sent when pjsua2 returns
        self._later: list[Callable] = []  # work a callback put off until pjsua2 returns
        self.policy = IncomingPolicy()
        self._ids = itertools.count(1)
        self._cmds: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = concurrent.futures.Future()
        self._stopping = False
        self._wake_sock: socket.socket | None = None
        self._wake_addr = ("127.0.0.1" if config.bind in ("0.0.0.0", "") else config.bind,
                           config.port)
        # owned by the SIP thread:
        self.ep: pj.Endpoint | None = None
        self.accounts: dict[int, _Account] = {}
        self.calls: dict[int, _Call] = {}
        self._dead: list = []
        self.media: _Media | None = None
        self._writer = None
        self._recorders: dict[int, pj.AudioMediaRecorder] = {}
        self._ports: dict[int, tuple] = {}   # attach_port handle -> (port, hear)
        self.local_host = ""
        self.pj_version = ""
        self.started_at = 0.0
        self._tap: pjc.NotifyTap | None = None
        self._gate: pjgate.Gate | None = None
        self._refusals = logs.Limited(log, per_minute=30)
        # run on the SIP thread before anything is torn down (firmware/sip/pjblf.py's buddies)
        self.closers: list[Callable[[], None]] = []
        # who may send NOTIFY check-sync: set from the loop, read on the SIP thread
        self.check_sync_from: frozenset[str] | None = None   # None = not accepted

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> concurrent.futures.Future:
        """Start the thread; the future resolves when SIP is up (or fails with SipError)."""
        self._thread = threading.Thread(target=self._run, name="pjsua", daemon=True)
        self._thread.start()
        return self._started

    def stop(self, timeout: float = 10.0) -> None:
        """Hang up, shut down pjsua2 and join the thread (blocking: call from an executor)."""
        if not self._thread:
            return
        self._stopping = True
        self._wake()
        self._thread.join(timeout)
        if self._wake_sock:
            self._wake_sock.close()

    def post(self, ev: Event) -> None:
        """Queue an event for the loop (SIP thread only). Callbacks run inside libHandleEvents, often before
        pjsip has sent what they asked for (the 180 given in onIncomingCall goes out after
        the callback returns); waking the loop then would make it fight this thread for
        the GIL. So events leave once libHandleEvents has returned (_flush)."""
        self._events.append(ev)

    def _flush(self) -> None:
        while self._later:
            self._guard(self._later.pop(0))
        if self._events:
            events, self._events = self._events, []
            for ev in events:
                self._post(ev)

    def new_call_id(self) -> int:
        return next(self._ids)

    def _run(self) -> None:
        try:
            self._init()
        except Exception as e:  # noqa: BLE001
            reason = e.info() if isinstance(e, pj.Error) else str(e)
            if "Address already in use" in reason or "EADDRINUSE" in reason:
                reason = (f"SIP port {self.config.port} on {self.config.bind} is in use by "
                          f"another program — change sip.port")
            log.error("SIP did not start: %s", reason)
            self._started.set_exception(SipError(reason))
            self._destroy()
            return
        self._started.set_result(self.local_host)
        try:
            while not self._stopping:
                self.ep.libHandleEvents(self.WAIT_MS)
                if self._gate is not None:
                    self._gate.idle_turn()
                self._flush()
                self._drain()
                self._flush()           # what the commands' callbacks said
                self._dead.clear()
        except Exception:  # noqa: BLE001
            log.exception("SIP thread failed")
        finally:
            self._shutdown()

    def _init(self) -> None:
        c = self.config
        pjc.quiet()
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = c.user_agent or f"deskphone/{VERSION}"
        self._writer = _LogWriter()
        cfg.logConfig.writer = self._writer
        # the writer is pjsua2's "console": it only gets what consoleLevel lets through
        cfg.logConfig.level = cfg.logConfig.consoleLevel = 5 if c.trace else 2
        cfg.logConfig.msgLogging = c.trace
        cfg.medConfig.hasIoqueue = False
        cfg.medConfig.threadCnt = 0
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.port = c.port
        if c.bind not in ("", "0.0.0.0"):
            tc.boundAddress = c.bind
        self._transport = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        info = self.ep.transportGetInfo(self._transport)
        self.local_host = info.localName  # host:port used in Contact
        null = c.null_audio or self.ep.audDevManager().getDevCount() == 0
        if null:
            self.ep.audDevManager().setNullDev()
        self.ep.libStart()
        if not null and c.sound_device:
            self._pick_sound_device(c.sound_device)
        self.media = _Media(self, clock_when_needed=null)
        self._tap = pjc.NotifyTap(self._on_check_sync)
        if not self._tap.register():
            self._tap = None
        self._gate = pjgate.Gate(codecs=self._codecs(), calls_alive=lambda: len(self.calls),
                                 # the Phone replaces the policy as settings change
                                 allows_source=lambda ip: self.policy.allows_source(ip),
                                 allows_notify=lambda ip, ev: self.policy.allows_notify(ip,
                                                                                        ev),
                                 exempt=lambda ip: self.policy.trust.is_server(ip),
                                 flood_limit=lambda: self.policy.flood_limit)
        if not self._gate.register():
            log.warning("SIP gate not available: a burst of INVITEs can exhaust the media "
                        "sockets of this pjsip build")
            self._gate = None
        # the local account answers direct IP calls (P2P) and is the default one
        local = _Account(self, 0)
        acfg = self._account_config(None)
        local.create(acfg, True)
        self.accounts[0] = local
        # the wake socket only ever sends to our own SIP port: bound to that address, so
        # it is no listener on every interface (sendto would bind it to 0.0.0.0)
        self._wake_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._wake_sock.bind((self._wake_addr[0], 0))
        self._wake_sock.connect(self._wake_addr)
        if self._tap is not None and pjc.rx_layout is None:
            # start-up self-check of the C layout the NOTIFY readers use (firmware/sip/pjc.py):
            # a probe to our own port, read back by the tap on this thread's next turn
            host, port = self._wake_addr
            src = "%s:%d" % self._wake_sock.getsockname()
            self._wake_sock.send(pjc.self_check_request(host, port, secrets.token_hex(8), src))
        self.started_at = time.monotonic()
        self.pj_version = self.ep.libVersion().full
        log.info("SIP up on %s (pjsua2 %s)", self.local_host, self.pj_version)

    def _codecs(self) -> frozenset[str]:
        """Names (lower case) of the audio codecs this pjsua offers, for the gate."""
        names = set()
        for ci in self.ep.codecEnum2():
            if ci.priority:
                names.add(ci.codecId.split("/", 1)[0].lower())
        return frozenset(names)

    def _on_check_sync(self, reboot: bool, source: str) -> int:
        """The answer to a PBX's NOTIFY Event: check-sync (firmware/sip/pjc.py)."""
        allowed = self.check_sync_from
        if allowed is None:
            log.info("NOTIFY check-sync from %s: not accepted (provisioning.accept_notify)",
                     source)
            return 489           # Bad Event: this package is not taken (RFC 6665)
        if source not in allowed:
            log.warning("NOTIFY check-sync from %s refused (403): not one of the phone's "
                        "servers", source)
            return 403
        log.info("NOTIFY check-sync%s from %s", ";reboot=true" if reboot else "", source)
        self.post(CheckSyncReceived(reboot=reboot, source=source))
        return 200

    def _pick_sound_device(self, wanted: str) -> None:
        """Use the ALSA device the board names (as `aplay -L` prints it)."""
        adm = self.ep.audDevManager()
        devs = list(adm.enumDev2())
        for i, d in enumerate(devs):
            if d.name == wanted or wanted in d.name:
                if d.inputCount:
                    adm.setCaptureDev(i)
                if d.outputCount:
                    adm.setPlaybackDev(i)
                log.info("sound device: %s", d.name)
                return
        log.warning("sound device %r not found, using the default; there are: %s", wanted,
                    ", ".join(d.name for d in devs) or "none")

    def _media_config(self) -> pj.TransportConfig:
        mt = pj.TransportConfig()
        mt.port = self.config.rtp_port
        mt.portRange = self.config.rtp_ports
        if self.config.bind not in ("", "0.0.0.0"):
            mt.boundAddress = self.config.bind
        return mt

    def _account_config(self, spec: AccountSpec | None, *,
                        anonymous: bool = False) -> pj.AccountConfig:
        c = self.config
        a = pj.AccountConfig()
        a.mediaConfig.transportConfig = self._media_config()
        a.sipConfig.transportId = self._transport
        # session timers off unless asked (LP-388: on by default they misbehaved)
        a.callConfig.timerUse = (pj.PJSUA_SIP_TIMER_OPTIONAL if c.session_timers
                                 else pj.PJSUA_SIP_TIMER_INACTIVE)
        a.callConfig.timerSessExpiresSec = c.session_expires
        # (pjsip always supports 100rel; "not used" still PRACKs, so it is not offered)
        a.callConfig.prackUse = (pj.PJSUA_100REL_MANDATORY if c.prack == "required"
                                 else pj.PJSUA_100REL_OPTIONAL)
        a.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
        a.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
        a.regConfig.retryIntervalSec = 0   # firmware.sip.registration decides retries
        a.regConfig.registerOnAdd = False
        a.regConfig.disableRegOnModify = True
        a.regConfig.unregWaitMsec = 500
        a.regConfig.dropCallsOnFail = False
        if spec is None:
            a.idUri = f"sip:{self.local_host}"
            return a
        host = spec.domain or self.local_host
        name = spec.display_name.replace('"', "")
        a.idUri = (f'"{name}" <sip:{spec.user}@{host}>' if name else f"sip:{spec.user}@{host}")
        if anonymous:              # RFC 3323: an anonymous From, no registration
            a.idUri = '"Anonymous" <sip:anonymous@anonymous.invalid>'
            spec = dataclasses.replace(spec, registrar="")
        if spec.registrar:
            a.regConfig.registrarUri = sip_uri(spec.registrar)
            a.regConfig.timeoutSec = spec.expires
            a.regConfig.delayBeforeRefreshSec = refresh_margin(spec.expires)
        if spec.proxy:
            a.sipConfig.proxies.append(sip_uri(spec.proxy) + ";lr")
        if spec.mwi and spec.registrar:
            a.mwiConfig.enabled = True
            a.mwiConfig.expirationSec = max(60, spec.expires)
        if spec.password or spec.auth_user:
            a.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", spec.auth_user or spec.user, 0, spec.password))
        return a

    def _shutdown(self) -> None:
        try:
            if self.ep is not None:
                self.ep.hangupAllCalls()
                for _ in range(20):      # let BYEs go out
                    if not self.calls:
                        break
                    self.ep.libHandleEvents(20)
                    self._dead.clear()
        except Exception:  # noqa: BLE001
            log.exception("hanging up at shutdown")
        self._destroy()

    def _destroy(self) -> None:
        # no pjsua2 object may outlive libDestroy (it would abort the interpreter)
        for close in self.closers:
            self._guard(close)
        self.closers.clear()
        if self.media is not None:
            self.media.close()
        self.media = None
        self._recorders.clear()
        self._ports.clear()
        self.calls.clear()
        self._dead.clear()
        for acc in self.accounts.values():
            try:
                acc.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self.accounts.clear()
        pjc.drop_pending()
        if self._tap is not None:
            self._tap.close()
            self._tap = None
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        if self.ep is not None:
            try:
                self.ep.libDestroy()
            except Exception:  # noqa: BLE001
                log.exception("libDestroy")
        self.ep = None
        self._writer = None

    # -- plumbing ----------------------------------------------------------------------------

    def _wake(self) -> None:
        sock = self._wake_sock
        if sock is not None:
            try:
                sock.send(b"\r\n\r\n")
            except OSError:
                pass

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        """Run fn(*args) on the SIP thread; the future has its result."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._cmds.put((fn, args, fut))
        if threading.current_thread() is not self._thread:
            self._wake()
        return fut

    def _drain(self) -> None:
        while True:
            try:
                fn, args, fut = self._cmds.get_nowait()
            except queue.Empty:
                return
            if self.ep is None:
                fut.set_exception(SipError("SIP is not running"))
                continue
            try:
                fut.set_result(fn(*args))
            except pj.Error as e:
                log.warning("%s: %s", getattr(fn, "__name__", fn), e.info())
                fut.set_exception(SipError(e.reason or e.info()))
            except Exception as e:  # noqa: BLE001
                log.exception("SIP command %s", getattr(fn, "__name__", fn))
                fut.set_exception(e)

    def _guard(self, fn, *args) -> None:
        """Run a callback body; an exception must never travel back into C++."""
        try:
            fn(*args)
        except pj.Error as e:
            log.warning("callback %s: %s", getattr(fn, "__name__", fn), e.info())
        except Exception:  # noqa: BLE001
            log.exception("callback %s", getattr(fn, "__name__", fn))

    def _forget(self, call: _Call) -> None:
        """Drop our references in its DISCONNECTED callback: the object is destroyed as
        the callback returns, as pjsua2 allows, and never later (by then its slot may
        belong to a new call that the destructor would hang up)."""
        self.calls.pop(call.cid, None)
        if self._gate is not None:
            self._gate.call_ended(call.source, call.answered)
        call.audio = None
        if call.digits is not None:
            call.digits.stop()
            self._dead.append(call.digits)
            call.digits = None
        if self.media is not None:
            self.media.refresh()

    # -- incoming calls ------------------------------------------------------------------

    def _incoming(self, acc: _Account, prm) -> None:
        """Answer 180 (or refuse, or redirect) first; read the rest of the INVITE after."""
        cid = self.new_call_id()
        msg, source = prm.rdata.wholeMsg, prm.rdata.srcAddress
        call = _Call(self, acc, cid, prm.callId)
        call.source = ip = source_ip(source)
        if self._gate is not None:
            self._gate.call_seen()
        pol = self.policy
        headers = parse_headers(msg) if pol.reads_invite else {}
        number = split_uri(headers.get("from", ""))[2] if headers else ""
        asked = auto_answer(msg) if pol.pages else None
        page = pol.page_from(ip, asked)
        code, target = pol.decide(account=acc.index, calls=len(self.calls), caller=number,
                                  anonymous=bool(headers) and is_anonymous(headers, number),
                                  source_ip=ip, page=page)
        self.calls[cid] = call          # until its DISCONNECTED callback (see _forget)
        op = pj.CallOpParam()
        op.statusCode = code
        if code == 302:
            _contact(op, target)
            call.answer(op)
        elif code != 180:
            call.hangup(op)
        else:
            call.answer(op)
        # pjsip sends the answer when this callback returns: read the INVITE after that
        self._later.append(lambda: self._announce(cid, acc.index, code, msg, source, target,
                                                  page, asked))

    def _announce(self, cid: int, account: int, code: int, msg: str, source: str,
                  target: str, page=None, asked=None) -> None:
        headers = parse_headers(msg)
        name, uri, number = split_uri(headers.get("from", ""))
        ip = source_ip(source)
        if code == 403 and not self.policy.allows_source(ip):
            log.info("INVITE from %s (%s) refused 403: not one of the lines' servers, "
                     "sip.trusted or paging.intercom_allow (sip.trusted_only)", uri, source)
            return
        if asked is not None and page is None and code == 180:
            log.info("INVITE from %s (%s) asks to be answered by itself (%s): it rings as "
                     "an ordinary call: the sender is not one of the lines' servers nor in "
                     "paging.intercom_allow", uri, source, asked.header)
        if code == 302:
            log.info("INVITE from %s forwarded to %s", uri, target)
            self.post(CallForwarded(account, uri, name, number, target))
        elif code != 180:
            self._refusals.info("%s from %s refused with %d", "page" if page else "INVITE",
                                uri, code)
            self.post(CallRefused(account, uri, name, number, code))
        else:
            incoming = CallIncoming(cid, account, uri, name, number, headers, source, page)
            if cid in self.calls:
                self.post(incoming)
                return
            # It rang (our 180 went out) and was cancelled in the same turn: its end is
            # already queued. The Phone hears of it first, so it is a missed call.
            for i, ev in enumerate(self._events):
                if isinstance(ev, CallProgressed) and ev.call == cid:
                    self._events.insert(i, incoming)
                    return

    # -- commands (any thread) -----------------------------------------------------------

    def set_account(self, index: int, spec: AccountSpec | None):
        return self.submit(self._set_account, index, spec)

    def _set_account(self, index: int, spec: AccountSpec | None):
        """Create, change or remove account `index`.

        A new registrar, user or proxy gets a fresh pjsua account (a modified one keeps
        sending REGISTERs to the old server); calls in progress are not touched.
        """
        twin = self.accounts.get(self.ANON + index)
        if twin is not None and (spec is None or not spec.anonymous):
            twin = self.accounts.pop(self.ANON + index)
            twin.spec = None
            twin.shutdown()
            del twin
        acc = self.accounts.get(index)
        if acc is not None and (spec is None or (acc.spec.registrar, acc.spec.user,
                                                 acc.spec.proxy) != (spec.registrar, spec.user,
                                                                     spec.proxy)):
            # Destroy it now, before a new account can take its pjsua slot: a late
            # destructor would delete whatever account holds the slot by then. Nothing
            # may keep a reference (not even a traceback of a pj.Error being handled).
            acc = self.accounts.pop(index)
            acc.spec = None
            acc.shutdown()
            del acc
            acc = None
        if spec is None:
            return
        cfg = self._account_config(spec)
        if acc is None:
            acc = _Account(self, index)
            acc.spec = spec
            acc.create(cfg)
            self.accounts[index] = acc
        else:
            acc.spec = spec
            acc.modify(cfg)

    def register(self, index: int, renew: bool = True, fresh: bool = False):
        """REGISTER now. fresh: the last one is still waiting for a silent server (pjsip
        gives up after 32 s): drop it with its account and start over."""
        return self.submit(self._register, index, renew, fresh)

    def _register(self, index: int, renew: bool, fresh: bool) -> None:
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return
        if fresh:
            spec = acc.spec
            del acc
            self._set_account(index, None)
            self._set_account(index, spec)
            acc = self.accounts[index]
        acc.setRegistration(renew)

    def unregister_all(self, index: int, done: Callable[[int, str], None]):
        """REGISTER Contact: * Expires: 0; done(code, reason) is called on the SIP thread."""
        return self.submit(self._unregister_all, index, done)

    def _unregister_all(self, index: int, done) -> bool:
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return False
        spec = acc.spec
        return pjc.unregister_all(registrar=sip_uri(spec.registrar),
                                  aor=f"sip:{spec.user}@{spec.domain}",
                                  user=spec.auth_user or spec.user, password=spec.password,
                                  done=done)

    def keepalive(self, index: int, done: Callable[[int], None], *, own_address: bool = True):
        """OPTIONS through the line's server (firmware/sip/registration.py). own_address: to
        the line's own address, which the server forwards to our binding (we answer it):
        200 while the binding exists, 404/480 once the server lost it; else to the server
        itself. done(code) on the SIP thread; code 0 = no answer. Future: False = not sent."""
        return self.submit(self._keepalive, index, done, own_address)

    def _keepalive(self, index: int, done, own_address: bool) -> bool:
        acc = self.accounts.get(index)
        if acc is None or acc.spec is None or not acc.spec.registrar:
            return False
        spec = acc.spec
        target = (f"sip:{spec.user}@{spec.domain}" if own_address
                  else sip_uri(spec.registrar))
        return pjc.send_options(acc.getId(), target, done)

    def make_call(self, call_id: int, account: int, uri: str, headers: dict | None = None,
                  send_only: bool = False):
        """send_only: we only talk (a one-way page: our offer says a=sendonly)."""
        return self.submit(self._make_call, call_id, account, uri, headers, send_only)

    def _make_call(self, call_id: int, account: int, uri: str,
                   headers: dict | None = None, send_only: bool = False) -> None:
        acc = self.accounts.get(account) or self.accounts[0]
        op = pj.CallOpParam(True)
        if send_only:
            op.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_ENCODING])
            op.opt.flag |= pj.PJSUA_CALL_SET_MEDIA_DIR
        for name, value in (headers or {}).items():
            h = pj.SipHeader()
            h.hName, h.hValue = name, value
            op.txOption.headers.append(h)
        if acc.spec is not None and acc.spec.anonymous:
            acc = self._anonymous(account)
            privacy = pj.SipHeader()
            privacy.hName, privacy.hValue = "Privacy", "id"
            op.txOption.headers.append(privacy)
        call = _Call(self, acc, call_id)
        call.send_only = send_only
        self.calls[call_id] = call
        try:
            call.makeCall(uri, op)
        except pj.Error as e:
            self.calls.pop(call_id, None)   # never got a pjsua slot: safe to drop
            reason = e.reason or e.info()
            if e.status in (171039, 171036) or "URI" in reason:   # PJSIP_EINVALIDURI & co
                reason = f"cannot call '{uri}': not a valid address"
            self.post(CallProgressed(call_id, "disconnected", 0, reason, uri, ""))

    ANON = 100       # accounts[ANON + i]: the anonymous twin of line i

    def _anonymous(self, index: int) -> _Account:
        """The twin of account `index` that calls as "Anonymous" (same server, same
        credentials for the proxy's challenge, no registration)."""
        spec = self.accounts[index].spec
        twin = self.accounts.get(self.ANON + index)
        if twin is None or twin.spec != spec:
            if twin is not None:
                twin = self.accounts.pop(self.ANON + index)
                twin.spec = None
                twin.shutdown()
                del twin
            twin = _Account(self, self.ANON + index)
            twin.create(self._account_config(spec, anonymous=True))
            twin.spec = spec
            self.accounts[self.ANON + index] = twin
        return twin

    def answer(self, call_id: int, code: int = 200):
        return self.submit(self._answer, call_id, code)

    def _answer(self, call_id: int, code: int) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        op = pj.CallOpParam(True)
        op.statusCode = code
        call.answer(op)

    def redirect(self, call_id: int, target: str):
        """Answer a ringing call 302 Moved Temporarily, Contact: target."""
        return self.submit(self._redirect, call_id, target)

    def _redirect(self, call_id: int, target: str) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            op = pj.CallOpParam(True)
            op.statusCode = 302
            _contact(op, target)
            call.answer(op)

    def hangup(self, call_id: int, code: int = 0):
        return self.submit(self._hangup, call_id, code)

    def _hangup(self, call_id: int, code: int) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        op = pj.CallOpParam(True)
        if code:
            op.statusCode = code
        # A call we answered whose ACK has not come yet: pjsua 2.15 delays its BYE until
        # the ACK and then sends a second one with it (seen on the wire). Hang up when the
        # ACK comes instead (if it never does, pjsip ends the call itself after 32 s).
        if call.getInfo().state == pj.PJSIP_INV_STATE_CONNECTING:
            call.hangup_at_ack = op
            return
        call.hangup(op)

    def hold(self, call_id: int, on: bool = True):
        return self.submit(self._hold, call_id, on)

    def _hold(self, call_id: int, on: bool) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        op = pj.CallOpParam(True)
        if on:
            call.setHold(op)
        else:
            op.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(op)

    def dtmf(self, call_id: int, digits: str, mode: str = "rfc2833"):
        """Send keys in a call: rfc2833 (RTP events), info (SIP INFO), inband (tones in
        the audio), auto (RTP events when the far end takes them, else tones)."""
        return self.submit(self._dtmf, call_id, digits, mode)

    def _dtmf(self, call_id: int, digits: str, mode: str) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        if mode == "info":
            prm = pj.CallSendDtmfParam()
            prm.method, prm.digits, prm.duration = pj.PJSUA_DTMF_METHOD_SIP_INFO, digits, 160
            call.sendDtmf(prm)
            return
        if mode in ("rfc2833", "auto"):
            try:
                call.dialDtmf(digits)
                return
            except pj.Error:
                if mode == "rfc2833":
                    raise
        self._inband(call, digits)

    def _inband(self, call: _Call, digits: str) -> None:
        if call.audio is None:
            return
        if call.digits is None:
            call.digits = pj.ToneGenerator()
            call.digits.createToneGenerator(16000, 1)
            call.digits.startTransmit(call.audio)
        dv = pj.ToneDigitVector()
        for d in digits:
            td = pj.ToneDigit()
            td.digit, td.on_msec, td.off_msec, td.volume = d, 120, 60, 0
            dv.append(td)
        call.digits.playDigits(dv)

    def transfer(self, call_id: int, target: str):
        """Blind transfer: REFER the far end to `target`."""
        return self.submit(self._transfer, call_id, target)

    def _transfer(self, call_id: int, target: str) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            call.xfer(target, pj.CallOpParam(True))

    def transfer_to_call(self, call_id: int, other_id: int):
        """Attended transfer: REFER the far end of `call_id` to the far end of `other_id`
        (with Replaces), so they talk to each other."""
        return self.submit(self._transfer_to_call, call_id, other_id)

    def _transfer_to_call(self, call_id: int, other_id: int) -> None:
        call, other = self.calls.get(call_id), self.calls.get(other_id)
        if call is not None and other is not None:
            call.xferReplaces(other, pj.CallOpParam(True))

    def audio(self, call_ids: tuple[int, ...], mute: bool, cross: bool = True):
        """Which calls the microphone and earpiece belong to (two: a 3-way conference,
        mixed in pjsip's bridge; cross=False: a page barged in, the far ends hear only
        us)."""
        return self.submit(self._audio, tuple(call_ids), mute, cross)

    def _audio(self, call_ids: tuple[int, ...], mute: bool, cross: bool) -> None:
        self.media.call_ids, self.media.mute, self.media.cross = call_ids, mute, cross
        self.media.refresh()

    def tone(self, name: str | None):
        return self.submit(lambda: self.media.play(name))

    def attach_port(self, make: Callable[[], pj.AudioMedia], *, hear: bool) -> int:
        """A port of our own in the bridge (firmware/features/multicast.py), made by `make` on this
        thread: hear=True the person hears it, False it hears the microphone. Returns the
        handle for detach_port."""
        handle = next(self._ids)
        self.submit(self._attach_port, handle, make, hear)
        return handle

    def _attach_port(self, handle: int, make, hear: bool) -> None:
        port = make()
        self._ports[handle] = (port, hear)
        (self.media.players if hear else self.media.mic_sinks).append(port)
        self.media.refresh()

    def detach_port(self, handle: int) -> concurrent.futures.Future:
        return self.submit(self._detach_port, handle)

    def _detach_port(self, handle: int) -> None:
        port, hear = self._ports.pop(handle, (None, False))
        if port is None:
            return
        ports = self.media.players if hear else self.media.mic_sinks
        if port in ports:
            ports.remove(port)
        self.media.refresh()
        self._dead.append(port)          # released after this loop turn, on this thread

    def volume(self, gain: float):
        return self.submit(lambda: self.media.set_gain(gain))

    # -- the simulated board's microphone and ear ---------------------------------------------

    def sim_mic(self, freq: int | None):
        """A steady tone stands in for a voice on the microphone (sim board, tests)."""
        return self.submit(lambda: self.media.set_mic_tone(freq))

    def record_start(self, path: str):
        """Record what the person hears into a WAV file; the future gives a handle."""
        return self.submit(self._record_start, path)

    def _record_start(self, path: str) -> int:
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(path)
        self._recorders[id(rec)] = rec
        self.media.add_sink(rec)
        return id(rec)

    def record_stop(self, handle: int):
        return self.submit(self._record_stop, handle)

    def _record_stop(self, handle: int) -> None:
        rec = self._recorders.pop(handle, None)
        if rec is not None:
            self.media.remove_sink(rec)
            del rec   # closes the file; readers fix the header sizes (see ui.web)
