"""Server paging and intercom (LP-388 figure 2 "Broadcast: Paging and Intercom").

A call whose INVITE asks to be answered by itself is a page: it is answered on the
speaker after the delay the INVITE asks for (capped by paging.max_delay), with a short
warning tone, the LCD showing "Broadcast" and the caller. These spellings are taken:

    Call-Info: <sip:pbx>;answer-after=0        (Yealink, Grandstream, Asterisk)
    Alert-Info: <http://x>;info=alert-autoanswer;delay=2   (Snom; Call-Info too)
    Alert-Info: Auto Answer                    (Polycom)
    Alert-Info: Ring Answer                    (Polycom: rings 2 s first)
    Answer-Mode: Auto                          (RFC 5373)
    Priv-Answer-Mode: Auto                     (RFC 5373, privileged: an emergency page)
    P-Auto-Answer: normal                      (and any value but "off")

A page is an emergency page with `Priority: emergency` (RFC 3261), `priority=emergency`
on the Alert-Info/Call-Info that asked for it, or Priv-Answer-Mode; only emergency pages
get through DND, and only when paging.dnd_emergency is on.

A page during a call (LP-388 scenario 2) barges in when paging.barge_in is on: the
call goes on, the pager hears only us, the other party hears only us, and we hear both;
C ends the page and the call goes on as before. With barge_in off the page is refused
486 Busy Here (a broadcast cannot wait). These decisions are made on the SIP thread
before anything rings (firmware/sip/policy.py, which also reads these headers); this module answers the pages
that got through, and places intercom calls for the Intercom/Paging keys.
"""
from __future__ import annotations

import logging

from firmware.call.controls import Mode
from firmware.call.state import AudioDevice, CallState
from firmware.events import CallIncoming, CallProgressed, IntercomRequested, TimerFired

log = logging.getLogger("deskphone.paging")

WARNING_SECONDS = 0.6          # the warning tone before a page is heard

# what our Intercom/Paging keys send: the two spellings most phones take
INTERCOM_HEADERS = {"Call-Info": "answer-after=0", "Answer-Mode": "Auto"}


def setup(ctx) -> "Paging":
    """The feature module's entry: returns its object, whose close() ends it."""
    return Paging(ctx.phone)


class Paging:
    """Answers pages, mixes a page into a call (barge-in), places intercom calls."""

    def __init__(self, phone):
        self.phone = phone
        self.state = phone.state
        # on the stack while a page is heard: C ends it, hanging up ends a barge-in too
        self.mode = Mode("page", key=self.key, hang_up=self.hang_up)
        bus = phone.bus
        bus.on(CallIncoming, self.on_incoming)
        bus.on(CallProgressed, self.on_progress)
        bus.on(TimerFired, self.on_timer)
        bus.on(IntercomRequested, self.on_intercom)

    def close(self) -> None:
        self.phone.controls.pop(self.mode)

    @property
    def settings(self):
        return self.phone.settings.paging

    # -- pages coming in ---------------------------------------------------------------

    def on_incoming(self, ev: CallIncoming) -> None:
        page = ev.page
        call = self.state.call(ev.call)
        if page is None or call is None:
            return
        self.state.pages.append(call.id)
        delay = min(page.delay, self.settings.max_delay)
        log.info("page from %s <%s> (%s%s): answered in %d s", ev.name, ev.uri, page.header,
                 ", emergency" if page.emergency else "", delay)
        self.phone.timers.start(f"paging.answer.{call.id}", delay, call.id)

    def on_timer(self, ev: TimerFired) -> None:
        if ev.name.startswith("paging.answer."):
            self._answer(ev.data)
        elif ev.name == "paging.warning":
            self.state.page_tone = False

    def _answer(self, call_id: int) -> None:
        s, p = self.state, self.phone
        call = s.call(call_id)
        if call is None or call.state is not CallState.RINGING:
            return
        f = s.focused
        if f is not None and f.state is CallState.CONNECTED and f.id != call.id:
            if not self.settings.barge_in or s.barge is not None:
                log.info("page %d not answered: busy (paging.barge_in off)", call.id)
                p.end_call(call)
                return
            log.info("page %d barges into call %d", call.id, f.id)
            s.barge = call.id            # mixed in: the call keeps the screen and the keys
            p.answer_aside(call)
        else:
            log.info("page %d answered on the speaker", call.id)
            p.answer(call, AudioDevice.HANDSET if s.audio is AudioDevice.HANDSET
                     else AudioDevice.SPEAKER)
        p.controls.push(self.mode)
        if self.settings.warning_tone:
            s.page_tone = True
            p.timers.start("paging.warning", WARNING_SECONDS)

    def key(self, key: str) -> bool:
        """C during a page ends it; a call the page barged into goes on as before. False:
        not C, or the page is not on screen: the phone's C does its usual."""
        s, p = self.state, self.phone
        if key != "cancel":
            return False
        page = s.call(s.barge) if s.barge is not None else s.focused
        if page is None or page.id not in s.pages or page.state is not CallState.CONNECTED:
            return False
        log.info("page %d ended with C", page.id)
        if page.id == s.barge:
            self._end_barge()
        else:
            p.hang_up()
        return True

    def _end_barge(self) -> None:
        s = self.state
        page = s.call(s.barge)
        s.barge = None
        if page is not None:
            self.phone.end_call(page)

    def hang_up(self) -> bool:
        """Hanging up during a barge-in ends the page too (the phone ends the call)."""
        if self.state.barge is not None:
            self._end_barge()
        return False

    def on_progress(self, ev: CallProgressed) -> None:
        if ev.state != "disconnected":
            return
        s, p = self.state, self.phone
        if ev.call == s.barge:
            s.barge = None
            s.notice = "Broadcast ended"
        elif s.barge is not None and ev.call == s.focus:
            # the call ended under the page: the page goes on as the call on screen
            gone = s.call(ev.call)
            if gone is not None:
                p.drop(gone)
            p.focus_on(s.call(s.barge))
            s.barge = None
        elif ev.call in s.pages:
            page = s.call(ev.call)
            if page is not None and page.state is CallState.ENDED:
                p.drop(page)             # a page that ends needs no "call ended" screen
                if not s.calls and s.audio is not AudioDevice.HANDSET:
                    p.release_device()
        if ev.call in s.pages:
            s.pages.remove(ev.call)
            s.page_tone = s.page_tone and bool(s.pages)
        if not s.pages:
            p.controls.pop(self.mode)

    # -- intercom calls going out ------------------------------------------------------

    def on_intercom(self, ev: IntercomRequested) -> None:
        """Our Intercom/Paging key's call goes out with the auto-answer headers; a page
        is one-way (we only talk: a=sendonly, so the far end's room is not heard)."""
        p = self.phone
        call = p.call_back(ev.number, ev.account, device=AudioDevice.SPEAKER,
                           headers=INTERCOM_HEADERS, one_way=ev.paging)
        if call is not None and call.uri:
            log.info("%s call %d to %s", "paging" if ev.paging else "intercom", call.id,
                     call.uri)
