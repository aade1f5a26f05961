"""The phone: its calls, their audio device and line keys; the commands features may use.

Where things go:
- a key press or the hook: firmware/call/keypad.py turns it into a command below (the
  manual's §4 tables, one handler per row);
- a SIP event (INVITE, 18x, 2xx, BYE) or a phone timer: firmware/call/signalling.py;
- a call's state: changed only through firmware/call/model.py (the call diagram);
- what a key does while a feature is active (a transfer, a conference, a page): the mode
  stack in firmware/call/controls.py, asked first.

PUBLIC COMMANDS (all a feature may call; nothing with a leading underscore):
    dial(number, line, headers=, one_way=)  start_dialing(line)  send()  typed(call)
    type_digits(digits)
    answer(call, device)  answer_aside(call)  answer_ringing()  redirect(call, uri)
    hold(call)  resume(call)  unhold(call)  end_call(call)  hang_up()  drop(call)
    moved(call)  adopt(call_id, ...)  focus_on(call)  send_dtmf(call, digits)
    transfer(call, uri)  transfer_to_call(call, other)
    call_back(number, line, device=, headers=, one_way=)
    use_device(device, switch=)  device_for_new_call()  release_device()  free_line(prefer)
    connected()  set_headset_mode(on)  predial(number, line)  target_for(account, number)

Line keys are call appearances: a call takes the line key of its account when that is
free, else the next free one (3 line keys = at most 3 calls, like the ES330).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from firmware.bus import Bus, Timers
from firmware.call import config, dialling, model
from firmware.call.config import LINES
from firmware.call.controls import Controls
from firmware.call.dialplan import is_emergency
from firmware.call.state import AudioDevice, Call, CallState, PhoneState
from firmware.events import CallEnded, SettingsChanged
from firmware.names import Names
from firmware.settings import Settings

log = logging.getLogger("deskphone.phone")

class Phone:
    def __init__(self, *, bus: Bus, timers: Timers, sip, state: PhoneState,
                 settings: Settings, save: Callable[[dict], None]):
        from firmware.call.keypad import Keypad
        from firmware.call.signalling import Signalling
        self.bus, self.timers, self.sip, self.state = bus, timers, sip, state
        self.settings = settings
        self.save = save          # persist a settings change (DND soft key)
        self.controls = Controls(state)
        self.endings = model.Endings()    # calls we hung up or refused ourselves
        self.names = Names()      # who a number is (firmware/names.py): the call's name
        self.keypad = Keypad(self)
        self.signalling = Signalling(self)
        bus.on(SettingsChanged, lambda ev: self.apply_settings())
        bus.after.insert(0, self.settle)
        self.apply_settings()

    # -- settings ------------------------------------------------------------------------------

    def apply_settings(self) -> None:
        """Dial plan, screen settings and the SIP thread's incoming policy."""
        self.dialler, self.dialler_p2p = dialling.diallers(self.settings)
        config.show(self.settings, self.state)
        self.sip.policy = config.incoming_policy(self.settings, self.sip.policy)

    # -- lines and devices ---------------------------------------------------------------------

    @property
    def now(self) -> float:
        return time.monotonic()

    def device_for_new_call(self) -> AudioDevice:
        """The device a call starts on when nothing is active yet."""
        if self.state.offhook:
            return AudioDevice.HANDSET
        if self.state.headset_mode:
            return AudioDevice.HEADSET
        return AudioDevice.SPEAKER

    def use_device(self, device: AudioDevice | None = None, switch: bool = False) -> None:
        """Take `device` (else a new call's) unless one is in use; switch: even so."""
        if switch or self.state.audio is AudioDevice.NONE:
            self.state.audio = device or self.device_for_new_call()

    def set_headset_mode(self, on: bool) -> None:
        """New calls start on the headset while on (manual: HEADSET leaves the mode)."""
        self.state.headset_mode = on

    def release_device(self) -> None:
        """Nothing is heard any more (speaker off, handset down, headset idle)."""
        self.state.audio = AudioDevice.NONE

    def free_line(self, prefer: int) -> int | None:
        """A call that ended is only a screen: its line is free at once. Lines a mode
        reserves (a line key given a function) take no call."""
        used = {c.line for c in self.state.calls if c.state is not CallState.ENDED} \
            | self.controls.reserved_lines()
        for line in [prefer] + [n for n in range(1, LINES + 1) if n != prefer]:
            if 1 <= line <= LINES and line not in used:
                return line
        return None

    def connected(self) -> Call | None:
        """The call on screen when it is connected."""
        f = self.state.focused
        return f if f is not None and f.state is CallState.CONNECTED else None

    def focus_on(self, call: Call | None) -> None:
        """Put `call` on screen (None: nothing; a held call stays held)."""
        self.state.focus = call.id if call is not None else None

    def _new_call(self, line: int, direction: str, state: CallState, **kw) -> Call:
        call = Call(id=kw.pop("id", None) or self.sip.new_call_id(), line=line,
                    account=kw.pop("account", dialling.account_for_line(self.settings, line)),
                    direction=direction, state=state, started=self.now, **kw)
        call.name = self.names.name_for(call.number) or call.name   # a contact's over SIP's
        self.state.calls.append(call)
        return call

    def _remove(self, call: Call, missed: bool = False) -> None:
        if call in self.state.calls:
            if call.state not in (CallState.DIALING, CallState.ENDED):   # ENDED: told
                self._call_ended(call, missed)
            self.state.calls.remove(call)
        if self.state.focus == call.id:
            self.state.focus = None
        self.timers.cancel(f"phone.ended.{call.id}")
        self.timers.cancel(f"phone.ring.{call.id}")
        if not self.state.calls:
            self.state.mute = False
            self.timers.cancel("phone.dial")

    def _call_ended(self, call: Call, missed: bool = False) -> None:
        """Tell whoever keeps records (the call log feature) that a call is over."""
        self.bus.post(CallEnded(dataclasses.replace(call), bool(call.connected_at), missed))

    def settle(self) -> None:
        """After every batch of events: a lifted handset with nothing on it gets a fresh
        dial tone (after C or End on a finished call), like a real phone; the active
        modes' soft keys are written into the state for the presenter."""
        s = self.state
        if (s.audio is AudioDevice.HANDSET and s.focus is None and not s.ringing()
                and not s.diag and not any(c.state is CallState.HELD for c in s.calls)):
            self.start_dialing(self.settings.phone.default_account)
        self.controls.publish()

    # -- placing calls -------------------------------------------------------------------

    def off_hook(self, device: AudioDevice, line: int | None = None) -> None:
        """Handset lifted, speaker/headset pressed, or a line key with nothing on it."""
        s = self.state
        ringing = s.ringing()
        if ringing and s.focused is None and line is None:
            self.answer(ringing[0], device)
            return
        s.audio = device
        if s.predial:
            number, s.predial = s.predial, ""
            self.dial(number, line or s.predial_line)
            return
        p = self.settings.phone
        if p.hotline and not s.calls:
            if p.hotline_delay == 0:              # manual: immediate hot line
                self.dial(p.hotline, line or p.default_account)
                return
            self.timers.start("phone.hotline", p.hotline_delay)   # delayed hot line
        self.start_dialing(line or p.default_account)

    def start_dialing(self, line: int) -> None:
        """A dial screen (dial tone) on `line`, or the next free line."""
        line = self.free_line(line)
        if line is None:
            self.state.notice = "All lines busy"
            return
        call = self._new_call(line, "out", CallState.DIALING)
        self.state.focus = call.id

    def send(self) -> None:
        """Send / # / OK: the number typed goes out."""
        s = self.state
        f = s.focused
        self.timers.cancel("phone.dial")
        if f is not None and f.state is CallState.DIALING:
            if not f.number:
                return
            self._place(f)
        elif f is None and s.predial:
            self.use_device()
            number, s.predial = s.predial, ""
            self.dial(number, s.predial_line)

    def dial(self, number: str, line: int, *, headers: dict | None = None,
             one_way: bool = False) -> Call | None:
        """Call `number` on `line` now (pre-dial, redial, API, a memory key). headers: extra
        INVITE headers (a pickup's Replaces, an intercom's Answer-Mode); one_way: we only
        talk (a page)."""
        free = self.free_line(line)
        if free is None:
            self.state.notice = "All lines busy"
            return None
        f = self.state.focused
        if f is not None and f.state is CallState.CONNECTED:
            self.hold(f)
        elif f is not None and f.state in (CallState.DIALING, CallState.ENDED):
            self._remove(f)
        call = self._new_call(free, "out", CallState.DIALING, number=number,
                              headers=dict(headers or {}), one_way=one_way)
        self.state.focus = call.id
        self._place(call)
        return call

    def call_back(self, number: str, line: int = 0, *, device: AudioDevice | None = None,
                  headers: dict | None = None, one_way: bool = False) -> Call | None:
        """Dial `number` on the device in use (else `device`, else a new call's)."""
        self.use_device(device)
        self.state.predial = ""
        return self.dial(number, line or self.settings.phone.default_account,
                         headers=headers, one_way=one_way)

    def predial(self, number: str, line: int) -> None:
        """`number` waits on the standby screen, to go out on `line` once off-hook."""
        self.state.predial, self.state.predial_line = number, line

    def _dialler(self, call: Call):
        return dialling.dialler_for(self.settings, call.account, self.dialler,
                                    self.dialler_p2p)

    def target_for(self, account: int, number: str) -> str | None:
        """The URI `number` is called at on `account`."""
        return dialling.target_for(self.settings, self.state, account, number)

    def type_digits(self, digits: str) -> None:
        """As if typed on the keypad (a DTMF memory key on the dial screen)."""
        for d in digits:
            self.keypad.digit(d)

    def typed(self, call: Call) -> None:
        """After digits on the dial screen: the dial plan says wait, dial or refuse."""
        self.timers.cancel("phone.dial")
        decision = self._dialler(call).digits(call.number)
        if decision.action == "reorder":
            self.signalling.ended(call, 0, decision.reason)      # re-order tone, and why
        elif decision.action == "dial" and decision.after == 0:
            self.send()
        else:
            wait = decision.after if decision.after is not None else \
                self.settings.phone.dial_timeout
            if wait:
                self.timers.start("phone.dial", wait, call.id)

    def _place(self, call: Call) -> None:
        s = self.state
        s.redial = call.number
        decision = self._dialler(call).send(call.number)
        if decision.action == "reorder":
            self.signalling.ended(call, 0, decision.reason)
            return
        if is_emergency(call.number, self.settings.phone.emergency):
            call.account = dialling.emergency_account(self.state, call.account)
        uri = self.target_for(call.account, decision.number)
        if uri is None:
            self.signalling.ended(call, 0,
                                  "No server for this line: dial an IP address or sip: URI")
            return
        call.uri = uri
        call.name = call.name or self.names.name_for(call.number)   # typed: now it is known
        if self.controls.ask("placing", call):
            return
        if not model.move(call, "send"):
            return
        kw = {"headers": call.headers} if call.headers else {}
        if call.one_way:
            kw["send_only"] = True
        self.sip.make_call(call.id, call.account, uri, **kw)

    # -- answering -----------------------------------------------------------------------

    def answer_ringing(self) -> None:
        ringing = self.state.ringing()
        if ringing:
            self.answer(ringing[0], self.state.audio if self.state.audio is not
                        AudioDevice.NONE else self.device_for_new_call())

    def answer(self, call: Call, device: AudioDevice) -> None:
        """Manual: answer by handset, speaker, headset, line key; the active call is held."""
        s = self.state
        f = s.focused
        if f is not None and f.id != call.id:
            if f.state is CallState.CONNECTED:
                self.hold(f)
            elif f.state in (CallState.DIALING, CallState.ENDED):
                self._remove(f)
        s.audio = device
        s.focus = call.id
        self.answer_aside(call)

    def answer_aside(self, call: Call) -> None:
        """Answer without taking the screen or the device (a page mixed into a call)."""
        if model.move(call, "answer"):
            call.connected_at = self.now
            self.sip.answer(call.id, 200)

    def redirect(self, call: Call, target: str) -> None:
        """Send a ringing call elsewhere (302 Moved Temporarily): not a missed call."""
        self.endings.refused(call.id)
        self.endings.ours(call.id)
        self.sip.redirect(call.id, target)
        self._remove(call)

    # -- hold ------------------------------------------------------------------------------

    def hold(self, call: Call) -> None:
        if model.move(call, "hold"):
            self.sip.hold(call.id, True)

    def unhold(self, call: Call) -> None:
        """Take a call off hold without putting it on screen (a conference joins it)."""
        if model.move(call, "resume"):
            self.sip.hold(call.id, False)

    def resume(self, call: Call) -> None:
        s = self.state
        active = self.connected()
        if active is not None and active.id != call.id:
            self.hold(active)
        f = s.focused
        if f is not None and f.id != call.id and f.state in (CallState.DIALING, CallState.ENDED):
            self._remove(f)
        self.use_device()
        s.focus = call.id
        self.unhold(call)

    # -- ending ------------------------------------------------------------------------------

    def hang_up(self) -> None:
        """End what the active device is used for: the manual's 'Ending a Call' table."""
        s = self.state
        self.timers.cancel("phone.hotline")
        if self.controls.ask("hang_up"):
            self.release_device()
            return
        f = s.focused
        if f is not None:
            if f.state is CallState.HELD:
                s.focus = None        # a held call stays held when you hang up
            else:
                self.end_call(f)
        self.release_device()
        # the ringer comes back for a call that is still ringing

    def end_call(self, call: Call) -> None:
        if call.state is CallState.DIALING or call.state is CallState.ENDED:
            self._remove(call)
            return
        self.endings.ours(call.id)
        if call.state is CallState.RINGING:
            self.endings.refused(call.id)
            self.sip.hangup(call.id, self.settings.phone.reject_code)
        else:
            self.sip.hangup(call.id)
        self._remove(call)

    def drop(self, call: Call) -> None:
        """Take a call off the phone quietly: no "call ended" screen (a dial screen given
        up, a conference leg that left, a page that ended); its SIP end is no news."""
        if call.state not in (CallState.DIALING, CallState.ENDED) and call in self.state.calls:
            self.endings.ours(call.id)
        self._remove(call)

    def moved(self, call: Call) -> None:
        """The call was transferred away: its end, when it comes, is no news."""
        self.endings.ours(call.id)

    def adopt(self, call_id: int, *, line: int, direction: str, state: CallState,
              account: int, uri: str, number: str) -> Call:
        """A call the SIP side made for us (a REFER's new call, an INVITE with Replaces):
        it takes the screen."""
        call = self._new_call(line, direction, state, id=call_id, account=account, uri=uri,
                              number=number)
        if state is CallState.CONNECTED:
            call.connected_at = self.now
        self.use_device()
        self.state.focus = call.id
        return call

    # -- in a call ---------------------------------------------------------------------------

    def send_dtmf(self, call: Call, digits: str) -> None:
        self.sip.dtmf(call.id, digits, self.settings.phone.dtmf_mode)

    def transfer(self, call: Call, target: str) -> None:
        """REFER the far end of `call` to `target` (blind)."""
        self.sip.transfer(call.id, target)

    def transfer_to_call(self, call: Call, other: Call) -> None:
        """REFER the far end of `call` to the far end of `other` (with Replaces)."""
        self.sip.transfer_to_call(call.id, other.id)
