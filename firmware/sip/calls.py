"""Calls: pjsua's Call object, its callbacks turned into events, the call commands, and the
SIP thread's handling of a new INVITE (the verdict comes from firmware/sip/policy.py).

An INVITE's way: pjsip -> the gate (firmware/sip/gate.py) -> pjsua -> `_Account.
onIncomingCall` -> `CallCommands._incoming`, which asks `IncomingPolicy.judge` and answers
180 (or refuses, or forwards) inside the callback; once pjsua has sent that, `_announce`
posts CallIncoming (or CallRefused, CallForwarded) for the loop, where the Phone rings.
"""
from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import pjsua2 as pj

from firmware.events import (CallForwarded, CallIncoming, CallMediaChanged, CallProgressed,
                             CallRefused, CallTransferProgressed, CallTransferred,
                             DtmfReceived)
from firmware.sip.text import Message, source_ip, split_uri

if TYPE_CHECKING:
    from firmware.sip.accounts import _Account
    from firmware.sip.engine import SipEngine

log = logging.getLogger("deskphone.sip")


def _add_header(op, name: str, value: str) -> None:
    """A header of ours on what pjsua sends for `op` (a 302's Contact: the forward target,
    where pjsua would put our own; Privacy; a page's Call-Info...)."""
    h = pj.SipHeader()
    h.hName, h.hValue = name, value
    op.txOption.headers.append(h)


class _Call(pj.Call):
    """One call as pjsua holds it; its callbacks become events (CallProgressed,
    CallMediaChanged, DtmfReceived, CallTransferred...). Lives and dies on the SIP thread."""

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



class CallCommands:
    """SipEngine's call commands and incoming-call handling (a mixin: the engine holds the
    state they use)."""

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
        rdata = prm.rdata              # one SWIG copy of pjsua's rx data, not one per field
        msg, source = rdata.wholeMsg, rdata.srcAddress
        call = _Call(self, acc, cid, prm.callId)
        call.source = ip = source_ip(source)
        head = None
        if self._gate is not None:
            head = self._gate.head_of(msg)
            self._later.append(self._gate.call_seen)      # bookkeeping: after the 180
        verdict = self.policy.judge(head or msg, account=acc.index, calls=len(self.calls),
                                    source_ip=ip)
        code, target = verdict.code, verdict.target
        self.calls[cid] = call          # until its DISCONNECTED callback (see _forget)
        op = pj.CallOpParam()
        op.statusCode = code
        if code == 302:
            _add_header(op, "Contact", f"<{target}>")
            call.answer(op)
        elif code != 180:
            call.hangup(op)
        else:
            call.answer(op)
        # pjsip sends the answer when this callback returns: read the INVITE after that
        self._later.append(lambda: self._announce(cid, acc.index, msg, source, verdict))

    def _announce(self, cid: int, account: int, msg: str, source: str, verdict) -> None:
        """Tell the loop about a new INVITE (after our answer has left)."""
        code, target, page = verdict.code, verdict.target, verdict.page
        parsed = Message.parse(msg)
        headers = parsed.headers()
        asked = self.policy.asked_by(parsed, verdict)
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
            _add_header(op, name, value)
        if acc.spec is not None and acc.spec.anonymous:
            acc = self._anonymous(account)
            _add_header(op, "Privacy", "id")
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
            _add_header(op, "Contact", f"<{target}>")
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
