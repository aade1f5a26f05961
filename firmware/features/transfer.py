"""Call transfer (manual §4 "Transferring Calls", LP-388 figure 3 and "Tran button").

TRANSFER (or the Xfer soft key) in a call holds it and opens a "Transfer to" dial
screen:
- the number and # (or Send) call the target: a consult (attended) transfer; TRANSFER
  again once the target answers joins the two (REFER with Replaces) and we drop out;
- B Xfer before sending makes it blind: the far end is REFERred to the number at once;
- with phone.transfer_mode = auto, TRANSFER while the target still rings turns the
  consult into a blind transfer (consult: wait for the answer);
- TRANSFER and then the line key of a held call joins the active and the held call;
- C / Cancel gives the held call back.
Every failure gives the original call back, with the reason on the LCD: nothing is
dropped silently.

When the far end transfers us (REFER), pjsua calls the target on a new call that takes
over the line; if that target answers 486 or 404, we call the transferor back after
phone.blind_transfer_callback seconds (LP-388 figure 3, scenario 1b).
"""
from __future__ import annotations

import logging

from firmware.call.controls import BLANK, Mode
from firmware.call.signalling import REASONS
from firmware.call.state import CallState, Screen
from firmware.events import (CallProgressed, CallsJoined, CallTransferProgressed,
                             CallTransferred, TimerFired)
from firmware.sip.text import user_of

log = logging.getLogger("deskphone.transfer")

CALLBACK_CODES = (404, 486, 600)
GIVE_UP = 30.0     # s: a blind transfer without a final NOTIFY is taken as done


def setup(ctx) -> "Transfer":
    """The feature module's entry (firmware/features/__init__.py): returns its object,
    whose close() ends it."""
    return Transfer(ctx.phone)


class TransferMode(Mode):
    """On the stack from TRANSFER until the transfer is done or given back."""

    name = "transfer"
    ACTIONS = frozenset({"bxfer", "xcancel", "xfer"})

    def __init__(self, feature: "Transfer"):
        super().__init__()
        self.feature = feature

    def action(self, name: str) -> bool:
        f = self.feature
        handler = {"bxfer": f.toggle_blind, "xcancel": f.cancel, "xfer": f.key_transfer}.get(name)
        if handler is None:
            return False
        handler()
        return True

    def softkeys(self, s) -> dict:
        # back to a consult transfer ("C Xfer") or on to a blind one
        blind = ("C Xfer", "bxfer") if s.blind else ("B Xfer", "bxfer")
        return {Screen.DIALING: {1: blind, 2: ("<-", "backspace"), 3: ("Cancel", "xcancel")},
                Screen.CALLING: {1: ("Xfer", "xfer")},
                Screen.TALKING: {0: ("Xfer", "xfer"), 1: ("Conf", "conf"), 2: BLANK}}

    def placing(self, call) -> bool:
        return self.feature.placed(call)

    def line_key(self, line: int) -> bool:
        return self.feature.line_key(line)

    def erase(self) -> bool:
        self.feature.cancel()
        return True

    def hang_up(self) -> bool:
        return self.feature.hang_up()

    def aside(self) -> int | None:
        """The call held while the transfer is dialled or consulted (CONF joins it)."""
        return self.feature.state.transfer


class Transfer:
    def __init__(self, phone):
        self.phone = phone
        self.state = phone.state
        self.mode = TransferMode(self)
        self._pending: dict[int, tuple[str, int | None]] = {}   # call -> (kind, other)
        self._callbacks: dict[int, tuple[str, int]] = {}   # REFER'd call -> (by, old call)
        self._fallbacks: dict[int, str] = {}    # old call we fell back to -> transferor
        phone.controls.add_key("transfer", self.key_transfer)
        phone.controls.add_soft_key(Screen.TALKING, 1, "Xfer", "xfer", self.key_transfer)
        phone.bus.on(CallTransferProgressed, self.on_progress)
        phone.bus.on(CallTransferred, self.on_transferred)
        phone.bus.on(CallProgressed, self.on_call_progress)
        phone.bus.on(CallProgressed, self.before_phone, first=True)
        phone.bus.on(CallsJoined, self.on_joined)
        phone.bus.on(TimerFired, self.on_timer)

    def close(self) -> None:
        self.phone.controls.pop(self.mode)

    # -- starting and completing -----------------------------------------------------------

    def key_transfer(self) -> None:
        s, p = self.state, self.phone
        f = s.focused
        if s.transfer is None:
            if f is None or f.state is not CallState.CONNECTED:
                return
            p.hold(f)
            s.transfer, s.blind = f.id, False
            p.controls.push(self.mode)
            p.focus_on(None)
            p.start_dialing(f.line)
            return
        held = s.call(s.transfer)
        if held is None:
            self._forget()
            return
        if f is not None and f.state is CallState.DIALING:
            if f.number:
                p.send()
            return
        if f is not None and f.id != held.id and f.state is CallState.CONNECTED:
            self._attended(held, f)
        elif f is not None and f.state in (CallState.CALLING, CallState.RINGBACK):
            if p.settings.phone.transfer_mode == "consult":
                s.notice = "Wait for the answer"
                return
            target, number = f.uri, f.number         # semi-attended: blind while it rings
            p.end_call(f)
            self._blind(held, target, number)

    def toggle_blind(self) -> None:
        self.state.blind = not self.state.blind

    def placed(self, call) -> bool:
        """A number about to go out: with B Xfer it is the blind transfer's target."""
        s = self.state
        if not s.blind:
            return False
        held = s.call(s.transfer)
        if held is None:
            self._forget()
            return False
        self.phone.drop(call)
        self._blind(held, call.uri, call.number)
        return True

    def line_key(self, line: int) -> bool:
        """TRANSFER, then the line key of a held call: join the active and the held call."""
        s = self.state
        target = s.on_line(line)
        held = s.call(s.transfer)
        if target is None or held is None or target.id == held.id \
                or target.state is not CallState.HELD:
            return False
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            self.phone.drop(f)
        self._attended(held, target)
        return True

    def hang_up(self) -> bool:
        """Hanging up while the target rings or talks completes the transfer (blind or
        attended), as on most desk phones; with nothing dialled it gives the call back."""
        s = self.state
        f = s.focused
        if f is not None and f.id != s.transfer and f.state in (
                CallState.CONNECTED, CallState.CALLING, CallState.RINGBACK):
            if f.state is not CallState.CONNECTED and \
                    self.phone.settings.phone.transfer_mode == "consult":
                return False
            self.key_transfer()
            return True
        return False

    def cancel(self) -> None:
        """Give the held call back (C on the Transfer to screen, or a failure)."""
        s, p = self.state, self.phone
        held = s.call(s.transfer) if s.transfer is not None else None
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            p.drop(f)
        self._forget()
        if held is not None and held.state is CallState.HELD:
            held.transferring = False
            p.resume(held)

    def _blind(self, held, target: str, number: str) -> None:
        s = self.state
        if not target:
            target = self.phone.target_for(held.account, number)
        if not target:
            s.notice = "Transfer: no server to reach that number"
            self.cancel()
            return
        log.info("blind transfer of call %d to %s", held.id, target)
        self._pending[held.id] = ("blind", None)
        self.phone.focus_on(held)
        s.notice = f"Transferring to {number or target}"
        self.phone.transfer(held, target)

    def _attended(self, held, other) -> None:
        """REFER the held party to `other` with Replaces: they talk, we leave."""
        log.info("attended transfer: call %d to call %d", held.id, other.id)
        self._pending[held.id] = ("attended", other.id)
        self.state.notice = "Transferring..."
        self.phone.transfer_to_call(held, other)

    def _forget(self) -> None:
        self.state.transfer, self.state.blind = None, False
        self.phone.controls.pop(self.mode)

    def on_joined(self, ev: CallsJoined) -> None:
        """CONF during a consult transfer: the transfer became a conference."""
        if self.state.transfer in ev.calls:
            self._forget()

    # -- how it went -------------------------------------------------------------------------

    def on_progress(self, ev: CallTransferProgressed) -> None:
        """Blind: once the far end takes the REFER (NOTIFY 100 or 202) the phone is ours
        again, but the held call stays until the target's final answer: 2xx ends it, a
        failure gives it back (nothing is dropped silently). Attended: the target's 2xx
        ends both our legs; a failure gives the held call back."""
        if ev.call not in self._pending:
            return
        s, p = self.state, self.phone
        kind, other_id = self._pending[ev.call]
        held = s.call(ev.call)
        if kind == "blind" and ev.code < 200 and not ev.final:
            if held is not None and not held.transferring:
                held.transferring = True
                p.focus_on(None)                    # free for the next call at once
                s.notice = "Transferred"
                self._forget()
                if not any(c.state is not CallState.HELD for c in s.calls):
                    p.release_device()
                p.timers.start(f"transfer.giveup.{ev.call}", GIVE_UP, ev.call)
            return
        if not ev.final and ev.code < 300:
            return
        self._pending.pop(ev.call)
        p.timers.cancel(f"transfer.giveup.{ev.call}")
        other = s.call(other_id) if other_id else None
        if 200 <= ev.code < 300:
            s.notice = "Transferred"
            if s.transfer == ev.call:
                self._forget()
            for call in (held, other):       # the transferor hangs up its own legs
                if call is not None:
                    p.end_call(call)
            if not s.calls:
                p.release_device()
            return
        why = REASONS.get(ev.code, ev.reason or "failed")
        s.notice = f"Transfer failed: {why} ({ev.code})"
        log.warning("transfer of call %d failed: %d %s", ev.call, ev.code, ev.reason)
        if s.transfer == ev.call:
            self._forget()
        if kind == "attended" and other is not None and other.state is CallState.CONNECTED:
            return                           # still talking to the target; held stays held
        if held is not None and held.state is CallState.HELD:
            p.resume(held)

    def on_transferred(self, ev: CallTransferred) -> None:
        """The far end moved our call. A REFER: pjsua calls the target on a new call,
        which takes the screen; the old call stays until the transferor drops it (and
        comes back if the transfer fails). An INVITE with Replaces: the new call simply
        takes the old one's place."""
        s, p = self.state, self.phone
        old = s.call(ev.old_call)
        by = (old.uri if old is not None and old.uri else "") or ev.by   # as we reached it
        replaced = not ev.target
        line = p.free_line(old.line if old is not None else p.settings.phone.default_account)
        if old is not None and (replaced or line is None):
            line = old.line
            p.moved(old)
            p.drop(old)
        elif old is not None:
            p.moved(old)                   # its end is no news: the transfer moved it
        call = p.adopt(ev.new_call, line=line or 1, direction="in" if replaced else "out",
                       state=CallState.CONNECTED if replaced else CallState.CALLING,
                       account=old.account if old is not None else 0,
                       uri=_clean(ev.target), number=user_of(ev.target))
        if by:
            self._callbacks[call.id] = (by, ev.old_call)
        log.info("call %d transferred: now call %d %s", ev.old_call, ev.new_call,
                 ev.target or "(replaced)")

    def on_call_progress(self, ev: CallProgressed) -> None:
        """A call made for a blind transfer to us failed busy / not found, and the
        transferor has already left: call the transferor back (LP-388)."""
        entry = self._callbacks.get(ev.call)
        if ev.state == "confirmed":
            self._callbacks.pop(ev.call, None)
        elif ev.state == "disconnected" and entry is not None:
            self._callbacks.pop(ev.call, None)
            by, old = entry
            s, p = self.state, self.phone
            delay = p.settings.phone.blind_transfer_callback
            back = s.call(old)
            if back is not None:             # the transferor kept us: back to that call
                failed = s.call(ev.call)
                if failed is not None:
                    p.drop(failed)
                p.focus_on(back)
                s.notice = f"Transfer failed ({ev.code})"
                if ev.code in CALLBACK_CODES:
                    self._fallbacks[old] = by   # if it hangs up now, call it back
            elif ev.code in CALLBACK_CODES and delay:
                self._call_back(by, ev.code)

        if ev.state == "disconnected":
            self._pending.pop(ev.call, None)
            if ev.call == self.state.transfer:
                self._forget()

    def before_phone(self, ev: CallProgressed) -> None:
        """The transferor we fell back to hangs up (still ours: not ended by us)."""
        if ev.state == "disconnected" and ev.call in self._fallbacks:
            by = self._fallbacks.pop(ev.call)
            if self.state.call(ev.call) is not None:
                self._call_back(by, 0)

    def _call_back(self, by: str, code: int) -> None:
        delay = self.phone.settings.phone.blind_transfer_callback
        if delay:
            why = f" ({code})" if code else ""
            self.state.notice = f"Transfer failed{why}: calling back in {delay} s"
            self.phone.timers.start("transfer.callback", delay, by)

    def on_timer(self, ev: TimerFired) -> None:
        s = self.state
        if ev.name.startswith("transfer.giveup."):
            if self._pending.pop(ev.data, None) is not None:
                held = s.call(ev.data)
                if held is not None:
                    self.phone.end_call(held)
            return
        idle = [c for c in s.calls if c.state is CallState.ENDED
                or (c.state is CallState.DIALING and not c.number)]
        if ev.name != "transfer.callback" or len(idle) != len(s.calls):
            return
        for call in idle:                        # the "busy" screen, a fresh dial tone
            self.phone.drop(call)
        log.info("calling the transferor back: %s", ev.data)
        self.phone.call_back(ev.data)


def _clean(uri: str) -> str:
    """A Refer-To value ('<sip:1003@pbx?Replaces=...>') as a plain URI."""
    return uri.strip().strip("<>").split(">", 1)[0].split("?", 1)[0]

