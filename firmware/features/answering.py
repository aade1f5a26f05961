"""What happens to a ringing call nobody touches: auto answer and no-answer forwarding.

- Auto answer (manual §4 "Auto-answer", §7 Call "Auto Answer / Auto Answer Mode"): a new
  call is answered after phone.auto_answer_delay seconds on phone.auto_answer_mode (hands
  free by default), when no other call is up; a call that came while another was up is
  answered so once that one ends (it then rings on an idle phone); "AA" shows on the idle
  screen.
- No-answer forwarding (manual §7 "VOIP Call Forward: If No Answer"): a call still ringing
  after forward.no_answer_seconds is redirected (302) to forward.no_answer.
Forwarding always and when busy is decided in the SIP thread (firmware/sip/engine.py
IncomingPolicy), before the call rings at all.
"""
from __future__ import annotations

import logging

from firmware.events import (CallEnded, CallForwarded, CallIncoming, SettingsChanged,
                             TimerFired)
from firmware.call.state import AudioDevice, CallState

log = logging.getLogger("deskphone.answering")

MODES = {"speaker": AudioDevice.SPEAKER, "handset": AudioDevice.HANDSET,
         "headset": AudioDevice.HEADSET}


def setup(ctx) -> "Answering":
    """The feature module's entry: returns its object (nothing to close)."""
    return Answering(ctx.phone)


class Answering:
    def __init__(self, phone):
        self.phone = phone
        self.state = phone.state
        bus = phone.bus
        bus.on(CallIncoming, self.on_incoming)
        bus.on(TimerFired, self.on_timer)
        bus.on(CallForwarded, self.on_forwarded)
        bus.on(CallEnded, self.on_ended)
        bus.on(SettingsChanged, lambda ev: self.show())
        self.show()

    def close(self) -> None:
        pass

    def show(self) -> None:
        self.state.auto_answer = self.phone.settings.phone.auto_answer

    def on_incoming(self, ev: CallIncoming) -> None:
        st = self.phone.settings
        others = [c for c in self.state.calls if c.id != ev.call]
        if st.phone.auto_answer and not others:
            self.phone.timers.start(f"answer.auto.{ev.call}", st.phone.auto_answer_delay,
                                    ev.call)
        elif st.forward.no_answer:
            self.phone.timers.start(f"answer.forward.{ev.call}",
                                    st.forward.no_answer_seconds, ev.call)

    def on_ended(self, ev: CallEnded) -> None:
        """The last call up ended and one still rings (it came while that call was up, so
        it was not answered): it is a call on an idle phone now, answered after the delay."""
        st = self.phone.settings
        left = [c for c in self.state.calls
                if c.id != ev.call.id and c.state is not CallState.ENDED]
        if st.phone.auto_answer and len(left) == 1 and left[0].state is CallState.RINGING \
                and left[0].direction == "in":
            self.phone.timers.start(f"answer.auto.{left[0].id}", st.phone.auto_answer_delay,
                                    left[0].id)

    def on_timer(self, ev: TimerFired) -> None:
        if not ev.name.startswith("answer."):
            return
        s, p = self.state, self.phone
        call = s.call(ev.data)
        if call is None or call.state is not CallState.RINGING:
            return
        if ev.name.startswith("answer.auto."):
            mode = MODES[p.settings.phone.auto_answer_mode]
            device = AudioDevice.HANDSET if s.offhook else mode
            if device is AudioDevice.HANDSET and not s.offhook:
                device = AudioDevice.SPEAKER     # the handset rests: hands-free instead
            if device is AudioDevice.HEADSET:
                p.set_headset_mode(True)
            log.info("auto answer of call %d on the %s", call.id, device.value)
            p.answer(call, device)
        else:
            target = p.target_for(call.account, p.settings.forward.no_answer)
            if not target:
                s.notice = "No-answer forward: no server for that number"
                return
            log.info("call %d not answered: forwarded to %s", call.id, target)
            p.redirect(call, target)
            s.notice = f"Forwarded to {p.settings.forward.no_answer}"

    def on_forwarded(self, ev: CallForwarded) -> None:
        self.state.notice = f"{ev.name or ev.number} forwarded"
