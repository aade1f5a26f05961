"""Where a SIP event goes: an INVITE rings, 18x/2xx move the call, a BYE ends it.

Events come from the SIP thread (firmware/sip/) over the bus; each handler moves the
call through firmware/call/model.py. The phone's own timers (the dial timeout, the hot
line, the "call ended" screen, a call that rings too long) land here too.
"""
from __future__ import annotations

import logging

from firmware.call import model
from firmware.call.state import AudioDevice, Call, CallState
from firmware.events import (CallIncoming, CallMediaChanged, CallProgressed, DtmfReceived,
                             TimerFired)
from firmware.settings import ACCOUNTS
from firmware.sip.text import split_uri

log = logging.getLogger("deskphone.phone")

RING_GRACE = 5            # s a ringing call outlives the forwarding/auto answer due before it
UNAVAILABLE = 480         # Temporarily Unavailable: rang out, nobody answered

# what the "call ended" screen says for a final answer
REASONS = {404: "Not found", 408: "No answer", 480: "Unavailable", 486: "Busy",
           487: "Cancelled", 488: "Not acceptable", 500: "Server error", 503: "Unavailable",
           600: "Busy", 603: "Declined", 403: "Forbidden", 484: "Incomplete number"}


class Signalling:
    def __init__(self, phone):
        self.phone, self.state, self.settings = phone, phone.state, phone.settings
        bus = phone.bus
        bus.on(CallIncoming, self.on_incoming)
        bus.on(CallProgressed, self.on_progress)
        bus.on(CallMediaChanged, self.on_media)
        bus.on(DtmfReceived, self.on_dtmf)
        bus.on(TimerFired, self.on_timer)

    def on_incoming(self, ev: CallIncoming) -> None:
        s, p = self.state, self.phone
        acct = ev.account if 1 <= ev.account <= ACCOUNTS else self.settings.phone.default_account
        line = p.free_line(acct)
        if line is None:
            p.endings.refused(ev.call)
            p.sip.hangup(ev.call, 486)
            return
        for gone in [c for c in s.calls if c.state is CallState.ENDED]:
            self.dismiss(gone)          # the new call replaces the "call ended" screen
        p._new_call(line, "in", CallState.RINGING, id=ev.call, account=ev.account,
                    number=ev.number, name=ev.name, uri=ev.uri)
        p.timers.start(f"phone.ring.{ev.call}", self._ring_limit(ev), ev.call)
        log.info("incoming call %d from %s <%s> on line %d", ev.call, ev.name, ev.uri, line)

    def named(self, call_id: int, number: str, name: str) -> bool:
        """A slow source (LDAP: firmware/features/ldap.py) found the far end's name after
        the call began to ring (or went out): the screens and the call log show it from now
        on. Not when the call is gone, its id is another call's by now (another number), or
        a phone book named it (firmware/names.py: the books come before LDAP)."""
        call = self.state.call(call_id)
        if call is None or call.number != number or call.state is CallState.ENDED:
            return False
        if self.phone.names.name_for(number):
            return False
        call.name = name
        return True

    def _ring_limit(self, ev: CallIncoming) -> float:
        """Seconds this call may ring (RFC 3261 Timer C in spirit): bounded, so INVITEs
        nobody answers or cancels cannot hold the lines; no-answer forwarding, auto answer
        and a page's answer delay fall due before it."""
        st = self.settings
        limit = st.phone.ring_timeout
        if st.forward.no_answer:
            limit = max(limit, st.forward.no_answer_seconds + RING_GRACE)
        if st.phone.auto_answer:
            limit = max(limit, st.phone.auto_answer_delay + RING_GRACE)
        if ev.page is not None:
            limit = max(limit, st.paging.max_delay + RING_GRACE)
        return limit

    def _rang_out(self, call: Call) -> None:
        """Nobody answered in time: the caller hears 480, the person sees a missed call."""
        p = self.phone
        log.info("call %d from %s rang %d s unanswered: refused %d", call.id, call.uri,
                 round(p.now - call.started), UNAVAILABLE)
        p.endings.ours(call.id)
        p.sip.hangup(call.id, UNAVAILABLE)
        p._remove(call, missed=True)

    def on_progress(self, ev: CallProgressed) -> None:
        call = self.state.call(ev.call)
        if call is None:
            self.phone.endings.close(ev.call)
            return
        call.code = ev.code or call.code
        if ev.remote_name and not call.name:
            call.name = ev.remote_name
        if ev.remote_uri and not call.number:      # a call that replaced another one
            call.uri = ev.remote_uri
            call.number = split_uri(ev.remote_uri)[2]
        if ev.state == "early" and call.direction == "out":
            model.move(call, "early")
        elif ev.state == "confirmed":
            if model.can(call, "confirmed"):       # answered by us: connected already
                model.move(call, "confirmed")
                call.connected_at = call.connected_at or self.phone.now
        elif ev.state == "disconnected":
            self._disconnected(call, ev)

    def _disconnected(self, call: Call, ev: CallProgressed) -> None:
        s, p = self.state, self.phone
        mine, refused = p.endings.close(call.id)
        missed = call.state is CallState.RINGING and not refused
        if mine or call.id != s.focus or s.audio is AudioDevice.NONE:
            if not mine and call.state in (CallState.CONNECTED, CallState.HELD):
                s.notice = f"Line {call.line} ended by far end"
            p._remove(call, missed)
            return
        if call.state in (CallState.CONNECTED, CallState.HELD):
            reason = "Call ended by far end"
        elif ev.code:
            reason = f"{REASONS.get(ev.code, ev.reason or 'Call failed')} ({ev.code})"
        else:
            reason = ev.reason or "Call failed"
        self.ended(call, ev.code, reason)

    def ended(self, call: Call, code: int, reason: str) -> None:
        """The 'call ended' screen: busy or re-order tone (LP-388 item 11) until hung up."""
        p = self.phone
        model.move(call, "end")
        call.code, call.reason = code, reason
        call.ended_at = p.now
        self.state.mute = False
        if self.state.audio is not AudioDevice.HANDSET:
            p.timers.start(f"phone.ended.{call.id}", self.settings.phone.ended_screen,
                           call.id)
        p._call_ended(call)

    def on_dtmf(self, ev: DtmfReceived) -> None:
        call = self.state.call(ev.call)
        if call is not None:
            call.dtmf = (call.dtmf + ev.digit)[-32:]

    def on_media(self, ev: CallMediaChanged) -> None:
        call = self.state.call(ev.call)
        if call is not None:
            call.media = ev.active or ev.remote_hold
            call.remote_hold = ev.remote_hold

    # -- timers ----------------------------------------------------------------------------

    def on_timer(self, ev: TimerFired) -> None:
        s, p = self.state, self.phone
        if ev.name == "phone.dial":
            f = s.focused
            if f is not None and f.id == ev.data and f.state is CallState.DIALING and f.number:
                p.send()
        elif ev.name == "phone.hotline":
            f = s.focused
            if f is not None and f.state is CallState.DIALING and not f.number:
                f.number = self.settings.phone.hotline
                p.send()
        elif ev.name.startswith("phone.ended."):
            call = s.call(ev.data)
            if call is not None and call.state is CallState.ENDED:
                self.dismiss(call)
        elif ev.name.startswith("phone.ring."):
            call = s.call(ev.data)
            if call is not None and call.state is CallState.RINGING:
                self._rang_out(call)

    def dismiss(self, call: Call) -> None:
        """The 'call ended' screen goes: its time is up, or a new call takes its place.
        Hands-free, the speaker (or headset) is free again; a lifted handset stays."""
        p = self.phone
        focused = call.id == self.state.focus
        p._remove(call)
        if focused and self.state.audio is not AudioDevice.HANDSET:
            p.release_device()
