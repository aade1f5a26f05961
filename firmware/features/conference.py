"""3-way conference (manual §4 "3-way Conference"), mixed here in pjsip's bridge.

The three ways in:
- in a call: CONF holds it and opens a dial screen; the third party answers; CONF again
  joins the three;
- during a consult transfer, once the target answers: CONF joins the held party too;
- with one call held and one active: CONF, then the held line's key.
In a conference each far end hears us and the other; we hear both. When one far end
hangs up, the other stays as a normal call. When we hang up, phone.conference_exit says
what happens: end_all ends both calls, transfer leaves the other two talking (REFER with
Replaces) and drops us.
"""
from __future__ import annotations

import logging

from firmware.call.controls import BLANK, Mode
from firmware.call.state import CallState, Screen
from firmware.events import CallProgressed, CallsJoined, CallTransferProgressed

log = logging.getLogger("deskphone.conference")


def setup(ctx) -> "Conference":
    """The feature module's entry: returns its object, whose close() ends it."""
    return Conference(ctx.phone)


class Conference:
    def __init__(self, phone):
        self.phone = phone
        self.state = phone.state
        self._invite_from: int | None = None   # the held call a CONF dial started from
        self._leaving: tuple = ()              # our two legs, while they are joined
        # the three modes: dialling the third party, choosing a held line, joined
        self.dialling = Mode("conference dial", erase=self.cancel_key)
        self.picking = Mode("conference pick", line_key=self.line_key)
        self.joined = Mode("conference", hang_up=self.hang_up, softkeys=lambda s: {
            Screen.TALKING: {0: BLANK, 1: BLANK, 2: BLANK}})
        phone.controls.add_key("conference", self.key_conference)
        phone.controls.add_soft_key(Screen.TALKING, 2, "Conf", "conf", self.key_conference)
        phone.bus.on(CallProgressed, self.on_progress)
        phone.bus.on(CallTransferProgressed, self.on_transfer)

    def close(self) -> None:
        for mode in (self.dialling, self.picking, self.joined):
            self.phone.controls.pop(mode)

    @property
    def active(self) -> list:
        s = self.state
        return [c for c in s.calls if c.id in s.conference]

    def key_conference(self) -> None:
        s, p = self.state, self.phone
        f = s.focused
        held = [c for c in s.calls if c.state is CallState.HELD]
        if s.conference:
            return
        aside = p.controls.query("aside")    # a consult transfer's held call
        if aside is not None and f is not None and f.state is CallState.CONNECTED \
                and f.id != aside:
            other = s.call(aside)            # the transfer becomes a conference (CallsJoined)
            if other is not None:
                self.join(other, f)
            return
        if self._invite_from is not None and f is not None and f.state is CallState.CONNECTED:
            other = s.call(self._invite_from)
            self._stop_dialling()
            if other is not None and other.id != f.id:
                self.join(other, f)
            return
        if f is not None and f.state is CallState.CONNECTED and held:
            p.controls.push(self.picking)             # now the held line's key
            s.notice = "Press the held line's key"
            return
        if f is not None and f.state is CallState.CONNECTED:
            p.hold(f)
            self._invite_from = f.id
            p.controls.push(self.dialling)
            p.focus_on(None)
            p.start_dialing(f.line)
            s.notice = "Conference: dial"

    def _stop_dialling(self) -> None:
        self._invite_from = None
        self.phone.controls.pop(self.dialling)

    def line_key(self, line: int) -> bool:
        s = self.state
        self.phone.controls.pop(self.picking)
        call, f = s.on_line(line), s.focused
        if call is None or f is None or call.state is not CallState.HELD or call.id == f.id:
            return False
        self.join(call, f)
        return True

    def join(self, held, active) -> None:
        s, p = self.state, self.phone
        log.info("conference of calls %d and %d", held.id, active.id)
        s.conference = [held.id, active.id]
        if held.state is CallState.HELD:
            p.unhold(held)
        p.focus_on(active)
        s.notice = "Conference"
        p.controls.push(self.joined)
        p.bus.post(CallsJoined((held.id, active.id)))

    def cancel_key(self) -> bool:
        """C on the conference dial screen: back to the held call."""
        s, p = self.state, self.phone
        held = s.call(self._invite_from)
        self._stop_dialling()
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            p.drop(f)
        if held is not None and held.state is CallState.HELD:
            p.resume(held)
        return True

    def _end(self) -> None:
        self.state.conference = []
        self.phone.controls.pop(self.joined)

    def hang_up(self) -> bool:
        p = self.phone
        calls = self.active
        if len(calls) < 2:
            return False
        self._end()
        if p.settings.phone.conference_exit == "transfer":
            log.info("leaving the conference: calls %d and %d stay connected", calls[0].id,
                     calls[1].id)
            self._leaving = (calls[0].id, calls[1].id)
            p.transfer_to_call(calls[0], calls[1])   # our legs end when done
            return True
        for call in calls:
            p.end_call(call)
        return True

    def on_transfer(self, ev: CallTransferProgressed) -> None:
        """Leaving with conference_exit = transfer: once the two are joined (or that
        failed), our two legs end."""
        if not self._leaving or ev.call != self._leaving[0] or not ev.final:
            return
        s, p = self.state, self.phone
        s.notice = ("The other two stay connected" if 200 <= ev.code < 300 else
                    f"Could not keep the others connected ({ev.code})")
        for call_id in self._leaving:
            call = s.call(call_id)
            if call is not None:
                p.end_call(call)
        self._leaving = ()

    def on_progress(self, ev: CallProgressed) -> None:
        """A far end left: the other stays as an ordinary call."""
        s = self.state
        if ev.state != "disconnected":
            return
        if ev.call == self._invite_from:
            self._stop_dialling()
        if ev.call in s.conference:
            s.conference = [i for i in s.conference if i != ev.call]
            gone = s.call(ev.call)
            if gone is not None:
                self.phone.drop(gone)        # no "call ended" screen: the rest talk on
            rest = [c for c in s.calls if c.id in s.conference]
            if len(rest) <= 1:
                self._end()
                if rest:
                    self.phone.focus_on(rest[0])
                    s.notice = "The conference is now a call"
