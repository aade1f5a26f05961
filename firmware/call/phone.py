"""The phone: keys, hook and SIP events in; calls, audio path and screen state out.

This is where a key press goes. Each handler below is one row of the manual's §4
"Basic Call Handling" tables; the KEYS table maps a key to its handler. The state it
changes (firmware/call/state.py) is then shown by pure functions (firmware/present.py,
ui/lcd.py) after every batch of events.

Line keys are call appearances: a call takes the line key of its account when that is
free, else the next free one (3 line keys = at most 3 calls, like the ES330).
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import time
from typing import Callable

from firmware.bus import Bus, Timers
from firmware.events import (CallEnded, CallIncoming, CallMediaChanged, CallProgressed,
                             DialRequested, DtmfReceived, HookChanged, HookFlashed, KeyHeld,
                             KeyPressed, SettingsChanged, TimerFired)
from firmware.call.dialplan import Dialler, DigitMap, is_emergency
from firmware.present import softkeys
from firmware.settings import ACCOUNTS, Settings
from firmware.sip import IncomingPolicy, SipEngine, host_of, split_uri
from firmware.call.state import AudioDevice, Call, CallState, LineStatus, PhoneState

log = logging.getLogger("deskphone.phone")

LINES = 3
_IP_STAR = re.compile(r"^\d{1,3}(\*\d{1,3}){3}(\*\d{1,5})?$")   # 192*168*0*10[*5060]

RING_GRACE = 5            # s a ringing call outlives the forwarding/auto answer due before it
UNAVAILABLE = 480         # Temporarily Unavailable: rang out, nobody answered

REASONS = {404: "Not found", 408: "No answer", 480: "Unavailable", 486: "Busy",
           487: "Cancelled", 488: "Not acceptable", 500: "Server error", 503: "Unavailable",
           600: "Busy", 603: "Declined", 403: "Forbidden", 484: "Incomplete number"}


def target_uri(number: str, server: str) -> str | None:
    """What to put in the INVITE for what was dialled; None if it cannot be reached.

    sip:/sips: URIs go as they are; an IP address (dots, or * for dots from the keypad,
    optional port) is a direct peer-to-peer call; anything else goes to the line's server.
    """
    n = number.strip()
    if n.lower().startswith(("sip:", "sips:")):
        return n
    if _IP_STAR.match(n):
        parts = n.split("*")
        host = ".".join(parts[:4])
        return f"sip:{host}:{parts[4]}" if len(parts) == 5 else f"sip:{host}"
    host = n.partition(":")[0] if n.count(":") <= 1 else n
    try:
        ipaddress.ip_address(host.strip("[]"))
        return f"sip:{n}"
    except ValueError:
        pass
    if "@" in n:
        return f"sip:{n}"
    if not server:
        return None
    return f"sip:{n}@{host_of(server)}"


class Phone:
    def __init__(self, *, bus: Bus, timers: Timers, sip: SipEngine, state: PhoneState,
                 settings: Settings, save: Callable[[dict], None]):
        self.bus, self.timers, self.sip, self.state = bus, timers, sip, state
        self.settings = settings
        self.save = save          # persist a settings change (DND soft key)
        # features that want a say when the person hangs up (a 3-way conference): each
        # returns True when it took care of the calls
        self.hang_up_hooks: list[Callable[[], bool]] = []
        self.line_hooks: list[Callable[[int], bool]] = []      # a line key, first refusal
        self.reserved_lines: set[int] = set()   # line keys given another function (memkeys)
        self.place_hooks: list[Callable[[Call], bool]] = []    # a number about to go out
        self.cancel_hooks: list[Callable[[], bool]] = []       # C with nothing to erase
        # the C key, first refusal (a page on the speaker); the newest feature is asked first
        self.c_key_hooks: list[Callable[[], bool]] = []
        self._ending: set[int] = set()    # calls we hung up ourselves
        self._rejected: set[int] = set()  # incoming calls we refused (not "missed")
        self.KEYS: dict[str, Callable[[], None]] = {
            "speaker": self.key_speaker, "headset": self.key_headset, "hold": self.key_hold,
            "mute": self.key_mute, "redial": self.key_redial, "ok": self.key_ok,
            "cancel": self.key_c, "volup": lambda: self.volume(+1),
            "voldown": lambda: self.volume(-1),
        }
        self.SOFT: dict[str, Callable[[], None]] = {
            "redial": self.key_redial, "dnd": self.toggle_dnd, "send": self.send,
            "backspace": self.backspace, "cancel": self.key_cancel, "end": self.end,
            "answer": self.answer_ringing, "reject": self.reject, "hold": self.key_hold,
            "resume": self.key_hold, "newcall": self.new_call,
        }
        bus.on(KeyPressed, self.on_key)
        bus.on(HookChanged, self.on_hook)
        bus.on(HookFlashed, self.on_flash)
        bus.on(KeyHeld, self.on_held)
        bus.on(CallIncoming, self.on_incoming)
        bus.on(CallProgressed, self.on_progress)
        bus.on(CallMediaChanged, self.on_media)
        bus.on(DtmfReceived, self.on_dtmf)
        bus.on(TimerFired, self.on_timer)
        bus.on(SettingsChanged, self.on_settings)
        bus.on(DialRequested, self.on_dial_requested)
        bus.after.insert(0, self.settle)
        self.apply_settings()

    # -- settings ------------------------------------------------------------------------------

    def apply_settings(self) -> None:
        p = self.settings.phone
        s = self.state
        dp = self.settings.dialplan
        dm = DigitMap.parse(dp.digit_map) if dp.digit_map else None
        self.dialler = Dialler(dm, dp.rules, p.emergency, p.send_key)
        # a line without a server dials addresses (192*168*1*20): not "impossible"
        self.dialler_p2p = Dialler(dm, dp.rules, p.emergency, p.send_key, ip_dialling=True)
        s.dnd = p.dnd
        s.missed_call_display = p.missed_call_display
        s.call_waiting_tone = p.call_waiting_tone
        s.time_format, s.date_format = p.time_format, p.date_format
        s.backlight = self.settings.lcd.backlight
        s.backlight_timeout = self.settings.lcd.backlight_timeout
        self.update_policy()

    def on_settings(self, ev: SettingsChanged) -> None:
        self.apply_settings()

    def update_policy(self) -> None:
        """What the SIP thread answers to a new INVITE, without asking us (fast 180)."""
        st = self.settings
        p, fw = st.phone, st.forward
        server = st.account[p.default_account].server if st.account[p.default_account].enable \
            else ""
        self.sip.policy = IncomingPolicy(
            dnd=p.dnd_code if p.dnd else 0, dnd_code=p.dnd_code,
            dnd_accounts=frozenset(i for i in range(1, ACCOUNTS + 1) if st.account[i].dnd),
            busy_when_in_call=not p.call_waiting, max_calls=LINES,
            reject_code=p.reject_code, blacklist=p.blacklist,
            ip_allow=tuple(ipaddress.ip_network(n, strict=False) for n in p.ip_allow)
            if p.ip_strategy else (),
            anon_reject=frozenset(i for i in range(1, ACCOUNTS + 1)
                                  if st.account[i].anonymous_reject),
            forward_always=target_uri(fw.always, server) or "" if fw.always else "",
            forward_busy=target_uri(fw.busy, server) or "" if fw.busy else "",
            pages=st.paging.intercom, page_barge_in=st.paging.barge_in,
            page_dnd_emergency=st.paging.dnd_emergency,
            flood_limit=st.sip.flood_limit,
            trust=self.sip.policy.trust)     # kept by firmware/sip/trust.py (DNS lookups)

    # -- helpers -------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return time.monotonic()

    def _device(self) -> AudioDevice:
        """The device a call starts on when nothing is active yet."""
        if self.state.offhook:
            return AudioDevice.HANDSET
        if self.state.headset_mode:
            return AudioDevice.HEADSET
        return AudioDevice.SPEAKER

    def _free_line(self, prefer: int) -> int | None:
        """A call that ended is only a screen: its line is free at once."""
        used = {c.line for c in self.state.calls if c.state is not CallState.ENDED} \
            | self.reserved_lines
        for line in [prefer] + [n for n in range(1, LINES + 1) if n != prefer]:
            if 1 <= line <= LINES and line not in used:
                return line
        return None

    def _account_for_line(self, line: int) -> int:
        s = self.settings
        if line <= ACCOUNTS and s.account[line].enable and s.account[line].user:
            return line
        d = s.phone.default_account
        if s.account[d].enable and s.account[d].user:
            return d
        for i in range(1, ACCOUNTS + 1):
            if s.account[i].enable and s.account[i].user:
                return i
        return 0

    def _new_call(self, line: int, direction: str, state: CallState, **kw) -> Call:
        call = Call(id=kw.pop("id", None) or self.sip.new_call_id(), line=line,
                    account=kw.pop("account", self._account_for_line(line)),
                    direction=direction, state=state, started=self.now, **kw)
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
        """Tell whoever keeps records (firmware/features/calllog.py) that a call is over."""
        self.bus.post(CallEnded(dataclasses.replace(call), bool(call.connected_at), missed))

    def settle(self) -> None:
        """After every batch of events: a lifted handset with nothing on it gets a fresh
        dial tone (after C or End on a finished call), like a real phone."""
        s = self.state
        if (s.audio is AudioDevice.HANDSET and s.focus is None and not s.ringing()
                and not s.diag and not any(c.state is CallState.HELD for c in s.calls)):
            self.start_dialing(self.settings.phone.default_account)

    def _connected(self) -> Call | None:
        f = self.state.focused
        return f if f is not None and f.state is CallState.CONNECTED else None

    def _release_device(self) -> None:
        """Nothing is heard any more (speaker off, handset down, headset idle)."""
        self.state.audio = AudioDevice.NONE

    # -- going off-hook ------------------------------------------------------------------

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
        line = self._free_line(line)
        if line is None:
            s = self.state
            s.notice = "All lines busy"
            return
        call = self._new_call(line, "out", CallState.DIALING)
        self.state.focus = call.id

    def hang_up(self) -> None:
        """End what the active device is used for: the manual's 'Ending a Call' table."""
        s = self.state
        self.timers.cancel("phone.hotline")
        if any(hook() for hook in self.hang_up_hooks):
            self._release_device()
            return
        f = s.focused
        if f is not None:
            if f.state is CallState.HELD:
                s.focus = None        # a held call stays held when you hang up
            else:
                self.end_call(f)
        self._release_device()
        # the ringer comes back for a call that is still ringing

    def end_call(self, call: Call) -> None:
        if call.state is CallState.DIALING or call.state is CallState.ENDED:
            self._remove(call)
            return
        self._ending.add(call.id)
        if call.state is CallState.RINGING:
            self._rejected.add(call.id)
            self.sip.hangup(call.id, self.settings.phone.reject_code)
        else:
            self.sip.hangup(call.id)
        self._remove(call)

    # -- keys --------------------------------------------------------------------------

    def on_key(self, ev: KeyPressed) -> None:
        if ev.consumed:           # a menu or a diagnose test on top took it
            return
        s = self.state
        s.notice = ""
        key = ev.key
        if key in "0123456789*#" and len(key) == 1:
            self.digit(key)
        elif key.startswith("soft") and key[4:].isdigit():
            idx = int(key[4:]) - 1
            keys = softkeys(s)
            if 0 <= idx < len(keys) and keys[idx][1]:
                self.SOFT[keys[idx][1]]()
        elif key.startswith("line") and key[4:].isdigit():
            self.key_line(int(key[4:]))
        elif key in self.KEYS:
            self.KEYS[key]()
        else:
            log.debug("key %s does nothing here yet", key)

    def digit(self, d: str) -> None:
        s = self.state
        f = s.focused
        send_key = self.settings.phone.send_key
        if f is not None and f.state is CallState.DIALING:
            if d == send_key and f.number:
                self.send()
                return
            f.number += d
            self._typed(f)
            return
        if f is not None and f.state in (CallState.CONNECTED, CallState.RINGBACK,
                                         CallState.CALLING):
            if f.state is CallState.CONNECTED or f.media:
                self.sip.dtmf(f.id, d, self.settings.phone.dtmf_mode)
            return
        if f is None and s.audio is AudioDevice.NONE and not s.ringing():
            if d == send_key and s.predial:
                self.send()
                return
            if not s.predial:
                s.predial_line = self.settings.phone.default_account
            s.predial += d

    def backspace(self) -> None:
        s = self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = f.number[:-1]
            if not f.number:
                self.timers.cancel("phone.dial")
        elif s.predial:
            s.predial = s.predial[:-1]

    def key_c(self) -> None:
        """The C key: a feature may take it first (ends a page), else key_cancel."""
        if not any(hook() for hook in reversed(self.c_key_hooks)):
            self.key_cancel()

    def key_cancel(self) -> None:
        """C: erase a digit; with nothing to erase, back to the standby screen."""
        s = self.state
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            if f.number:
                self.backspace()
            elif any(hook() for hook in self.cancel_hooks):
                return
            elif s.audio is not AudioDevice.HANDSET:
                self.hang_up()
            return
        if f is not None and f.state is CallState.ENDED:
            self._remove(f)
            if s.audio is not AudioDevice.HANDSET:
                self._release_device()
            return
        if s.screen() == "ringing":
            self.reject()
            return
        if s.predial:
            self.backspace()
            return
        if s.screen() == "idle":
            s.missed = 0

    def key_ok(self) -> None:
        screen = self.state.screen()
        if screen in ("dialing", "predial"):
            self.send()
        elif screen == "ringing":
            self.answer_ringing()

    def key_speaker(self) -> None:
        s = self.state
        if s.audio is AudioDevice.SPEAKER:
            self.hang_up()
        elif s.audio is AudioDevice.NONE:
            self.off_hook(AudioDevice.SPEAKER)
        else:
            s.audio = AudioDevice.SPEAKER   # handset or headset -> hands-free

    def key_headset(self) -> None:
        s = self.state
        if s.audio is AudioDevice.HEADSET:
            s.headset_mode = False          # manual: headset key hangs up, leaves the mode
            self.hang_up()
        elif s.audio is AudioDevice.NONE:
            s.headset_mode = True
            self.off_hook(AudioDevice.HEADSET)
        else:
            s.headset_mode = True
            s.audio = AudioDevice.HEADSET

    def key_line(self, line: int) -> None:
        s = self.state
        if line > LINES or any(hook(line) for hook in self.line_hooks):
            return
        call = s.on_line(line)
        if call is None:
            if s.predial:
                if s.audio is AudioDevice.NONE:
                    s.audio = self._device()
                number, s.predial = s.predial, ""
                self.dial(number, line)
                return
            active = self._connected()
            if active is not None:
                self.hold(active)
            f = s.focused
            if f is not None and f.state in (CallState.DIALING, CallState.ENDED):
                self._remove(f)
            if s.audio is AudioDevice.NONE:
                s.audio = self._device()
            s.focus = None
            self.start_dialing(line)
            return
        if call.state is CallState.RINGING:
            self.answer(call, s.audio if s.audio is not AudioDevice.NONE else self._device())
        elif call.state is CallState.HELD:
            self.resume(call)
        elif call.id == s.focus:
            # the line key of the active line hangs up hands-free (manual 'Ending a Call')
            if s.audio is not AudioDevice.HANDSET or call.state is not CallState.CONNECTED:
                self.hang_up()

    def key_hold(self) -> None:
        f = self.state.focused
        if f is None:
            held = [c for c in self.state.calls if c.state is CallState.HELD]
            if held:
                self.resume(held[0])
            return
        if f.state is CallState.CONNECTED:
            self.hold(f)
        elif f.state is CallState.HELD:
            self.resume(f)

    def key_mute(self) -> None:
        s = self.state
        if any(c.state in (CallState.CONNECTED, CallState.HELD) for c in s.calls) or s.mute:
            s.mute = not s.mute

    def key_redial(self) -> None:
        s = self.state
        if not s.redial:
            s.notice = "No number to redial"
            return
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = s.redial
            self.send()
            return
        if f is None and not s.ringing():
            if s.audio is AudioDevice.NONE:
                s.audio = self._device()
            self.dial(s.redial, self.settings.phone.default_account)

    def new_call(self) -> None:
        line = self._free_line(self.settings.phone.default_account)
        if line is not None:
            self.key_line(line)

    def volume(self, step: int) -> None:
        """VOL+/VOL-: nine levels for the device in use, or for the ringer when idle."""
        s = self.state
        name = s.audio.value if s.audio is not AudioDevice.NONE else "ring"
        s.volumes[name] = max(1, min(9, s.volumes.get(name, 5) + step))
        s.notice = f"Volume {name} {s.volumes[name]}/9"

    def toggle_dnd(self) -> None:
        self.save({"phone.dnd": not self.settings.phone.dnd})

    # -- dialling ------------------------------------------------------------------------------

    def send(self) -> None:
        s = self.state
        f = s.focused
        self.timers.cancel("phone.dial")
        if f is not None and f.state is CallState.DIALING:
            if not f.number:
                return
            self._place(f)
        elif f is None and s.predial:
            if s.audio is AudioDevice.NONE:
                s.audio = self._device()
            number, s.predial = s.predial, ""
            self.dial(number, s.predial_line)

    def dial(self, number: str, line: int) -> Call | None:
        """Call `number` on `line` now (pre-dial, redial, API)."""
        free = self._free_line(line)
        if free is None:
            self.state.notice = "All lines busy"
            return None
        f = self.state.focused
        if f is not None and f.state is CallState.CONNECTED:
            self.hold(f)
        elif f is not None and f.state in (CallState.DIALING, CallState.ENDED):
            self._remove(f)
        call = self._new_call(free, "out", CallState.DIALING, number=number)
        self.state.focus = call.id
        self._place(call)
        return call

    def on_dial_requested_number(self, number: str, line: int = 0) -> None:
        self.on_dial_requested(DialRequested(number, line))

    def on_dial_requested(self, ev: DialRequested) -> None:
        s = self.state
        if s.audio is AudioDevice.NONE:
            s.audio = self._device()
        s.predial = ""
        self.dial(ev.number, ev.line or self.settings.phone.default_account)

    def _dialler(self, call: Call) -> Dialler:
        acc = self.settings.account.get(call.account) if call.account else None
        server = acc is not None and acc.enable and acc.server
        return self.dialler if server else self.dialler_p2p

    def _emergency_account(self, account: int) -> int:
        """An emergency call goes out on any registered line (manual: always dials)."""
        ok = (LineStatus.REGISTERED, LineStatus.DND)
        if account and self.state.accounts[account - 1].status in ok:
            return account
        for a in self.state.accounts:
            if a.status in ok:
                return a.index
        return account

    def target_for(self, account: int, number: str) -> str | None:
        """The URI `number` is called at on `account` (its server, or the secondary one
        while the line is registered there)."""
        acc = self.settings.account.get(account) if account else None
        server = acc.server if acc is not None and acc.enable else ""
        if acc is not None and acc.enable and self.state.accounts[account - 1].on_secondary:
            server = acc.secondary_server
        return target_uri(number, server)

    def _typed(self, call: Call) -> None:
        """After a key on the dial screen: the dial plan says wait, dial or refuse."""
        self.timers.cancel("phone.dial")
        decision = self._dialler(call).digits(call.number)
        if decision.action == "reorder":
            self._ended(call, 0, decision.reason)      # re-order tone, and why
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
            self._ended(call, 0, decision.reason)
            return
        if is_emergency(call.number, self.settings.phone.emergency):
            call.account = self._emergency_account(call.account)
        uri = self.target_for(call.account, decision.number)
        if uri is None:
            self._ended(call, 0, "No server for this line: dial an IP address or sip: URI")
            return
        call.uri = uri
        if any(hook(call) for hook in self.place_hooks):
            return
        call.state = CallState.CALLING
        if call.headers:          # a BLF pickup's Replaces (firmware/features/memkeys.py)
            self.sip.make_call(call.id, call.account, uri, headers=call.headers)
        else:
            self.sip.make_call(call.id, call.account, uri)

    # -- answering -----------------------------------------------------------------------

    def answer_ringing(self) -> None:
        ringing = self.state.ringing()
        if ringing:
            s = self.state
            self.answer(ringing[0], s.audio if s.audio is not AudioDevice.NONE
                        else self._device())

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
        call.state = CallState.CONNECTED
        call.connected_at = self.now
        self.sip.answer(call.id, 200)

    def redirect(self, call: Call, target: str) -> None:
        """Send a ringing call elsewhere (302 Moved Temporarily): not a missed call."""
        self._rejected.add(call.id)
        self._ending.add(call.id)
        self.sip.redirect(call.id, target)
        self._remove(call)

    def reject(self) -> None:
        ringing = self.state.ringing()
        if ringing:
            call = ringing[-1] if self._connected() else ringing[0]
            self._rejected.add(call.id)
            self.end_call(call)

    # -- hold ------------------------------------------------------------------------------

    def hold(self, call: Call) -> None:
        call.state = CallState.HELD
        self.sip.hold(call.id, True)

    def resume(self, call: Call) -> None:
        s = self.state
        active = self._connected()
        if active is not None and active.id != call.id:
            self.hold(active)
        f = s.focused
        if f is not None and f.id != call.id and f.state in (CallState.DIALING, CallState.ENDED):
            self._remove(f)
        if s.audio is AudioDevice.NONE:
            s.audio = self._device()
        s.focus = call.id
        call.state = CallState.CONNECTED
        self.sip.hold(call.id, False)

    def end(self) -> None:
        """End soft key: hang up the call on screen, keep headset mode."""
        s = self.state
        f = s.focused
        if f is not None:
            self.end_call(f)
        elif s.calls:
            held = [c for c in s.calls if c.state is CallState.HELD]
            if held:
                self.end_call(held[0])
        if s.focused is None and s.audio is not AudioDevice.HANDSET:
            self._release_device()

    # -- hook ------------------------------------------------------------------------------

    def on_hook(self, ev: HookChanged) -> None:
        s = self.state
        if ev.offhook == s.offhook:
            return
        s.offhook = ev.offhook
        if ev.consumed:           # the keys test shows it; nothing else happens
            return
        s.notice = ""
        if ev.offhook:
            if s.audio is AudioDevice.NONE:
                self.off_hook(AudioDevice.HANDSET)
            else:
                s.audio = AudioDevice.HANDSET   # lifting the handset takes the call over
        elif s.audio is AudioDevice.HANDSET:
            self.hang_up()

    def on_held(self, ev: KeyHeld) -> None:
        """A long press of C clears every digit typed."""
        s = self.state
        if ev.key != "cancel" or s.diag or s.menu:
            return
        f = s.focused
        if f is not None and f.state is CallState.DIALING:
            f.number = ""
            self.timers.cancel("phone.dial")
        elif s.predial:
            s.predial = ""

    def on_flash(self, ev: HookFlashed) -> None:
        """A flash of the hook in a call: answer the waiting call, or swap to the held
        one, or hold this one and dial another (an analogue phone's recall)."""
        s = self.state
        if s.diag or s.audio is not AudioDevice.HANDSET:
            return
        active = self._connected()
        ringing = s.ringing()
        held = [c for c in s.calls if c.state is CallState.HELD]
        if ringing:
            self.answer(ringing[0], AudioDevice.HANDSET)
        elif held:
            self.resume(held[0])
        elif active is not None:
            self.hold(active)
            s.focus = None
            self.start_dialing(self.settings.phone.default_account)

    # -- SIP events ----------------------------------------------------------------------------

    def on_incoming(self, ev: CallIncoming) -> None:
        s = self.state
        acct = ev.account if 1 <= ev.account <= ACCOUNTS else self.settings.phone.default_account
        line = self._free_line(acct)
        if line is None:
            self._rejected.add(ev.call)
            self.sip.hangup(ev.call, 486)
            return
        for gone in [c for c in s.calls if c.state is CallState.ENDED]:
            self._dismiss(gone)          # the new call replaces the "call ended" screen
        self._new_call(line, "in", CallState.RINGING, id=ev.call, account=ev.account,
                       number=ev.number, name=ev.name, uri=ev.uri)
        self.timers.start(f"phone.ring.{ev.call}", self._ring_limit(ev), ev.call)
        log.info("incoming call %d from %s <%s> on line %d", ev.call, ev.name, ev.uri, line)

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
        log.info("call %d from %s rang %d s unanswered: refused %d", call.id, call.uri,
                 round(self.now - call.started), UNAVAILABLE)
        self._ending.add(call.id)
        self.sip.hangup(call.id, UNAVAILABLE)
        self._remove(call, missed=True)

    def on_progress(self, ev: CallProgressed) -> None:
        s = self.state
        call = s.call(ev.call)
        if call is None:
            self._ending.discard(ev.call)
            return
        call.code = ev.code or call.code
        if ev.remote_name and not call.name:
            call.name = ev.remote_name
        if ev.remote_uri and not call.number:      # a call that replaced another one
            call.uri = ev.remote_uri
            call.number = split_uri(ev.remote_uri)[2]
        if ev.state == "early" and call.direction == "out":
            call.state = CallState.RINGBACK
        elif ev.state == "confirmed":
            if call.state in (CallState.CALLING, CallState.RINGBACK, CallState.RINGING):
                call.state = CallState.CONNECTED
                call.connected_at = call.connected_at or self.now
        elif ev.state == "disconnected":
            self._disconnected(call, ev)

    def _disconnected(self, call: Call, ev: CallProgressed) -> None:
        s = self.state
        mine = call.id in self._ending
        self._ending.discard(call.id)
        missed = call.state is CallState.RINGING and call.id not in self._rejected
        self._rejected.discard(call.id)
        if mine or call.id != s.focus or s.audio is AudioDevice.NONE:
            if not mine and call.state in (CallState.CONNECTED, CallState.HELD):
                s.notice = f"Line {call.line} ended by far end"
            self._remove(call, missed)
            return
        if call.state in (CallState.CONNECTED, CallState.HELD):
            reason = "Call ended by far end"
        elif ev.code:
            reason = f"{REASONS.get(ev.code, ev.reason or 'Call failed')} ({ev.code})"
        else:
            reason = ev.reason or "Call failed"
        self._ended(call, ev.code, reason)

    def _ended(self, call: Call, code: int, reason: str) -> None:
        """The 'call ended' screen: busy or re-order tone (LP-388 item 11) until hung up."""
        call.state = CallState.ENDED
        call.code, call.reason = code, reason
        call.ended_at = self.now
        self.state.mute = False
        if self.state.audio is not AudioDevice.HANDSET:
            self.timers.start(f"phone.ended.{call.id}", self.settings.phone.ended_screen,
                              call.id)
        self._call_ended(call)

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
        s = self.state
        if ev.name == "phone.dial":
            f = s.focused
            if f is not None and f.id == ev.data and f.state is CallState.DIALING and f.number:
                self.send()
        elif ev.name == "phone.hotline":
            f = s.focused
            if f is not None and f.state is CallState.DIALING and not f.number:
                f.number = self.settings.phone.hotline
                self.send()
        elif ev.name.startswith("phone.ended."):
            call = s.call(ev.data)
            if call is not None and call.state is CallState.ENDED:
                self._dismiss(call)
        elif ev.name.startswith("phone.ring."):
            call = s.call(ev.data)
            if call is not None and call.state is CallState.RINGING:
                self._rang_out(call)

    def _dismiss(self, call: Call) -> None:
        """The 'call ended' screen goes: its time is up, or a new call takes its place.
        Hands-free, the speaker (or headset) is free again; a lifted handset stays."""
        focused = call.id == self.state.focus
        self._remove(call)
        if focused and self.state.audio is not AudioDevice.HANDSET:
            self._release_device()

    # -- for the API -------------------------------------------------------------------------

    def registered_lines(self) -> list[int]:
        return [a.index for a in self.state.accounts if a.status in (LineStatus.REGISTERED,
                                                                      LineStatus.DND)]
