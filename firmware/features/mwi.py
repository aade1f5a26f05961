"""Message waiting (MWI, RFC 3842) and the MESSAGE key.

Manual §3 button table: "Messages button: typically auto-dials your voice message service.
Red means have unread voice mail"; §7 call settings: "Message" (the voice mail code),
"Booking Voice Mail" (subscribe, light the Message LED), "Play Voice Mail Tone" (ring when a
message arrives).

pjsip keeps the message-summary subscription of each registered line (`account.N.mwi`) and
also passes on unsolicited NOTIFYs (servers that send MWI without a SUBSCRIBE); both arrive
here as MessagesWaiting. The idle screen counts new messages, the Message LED is red while
any line has some, and MESSAGE dials the voice mail number of the line that has messages (or
of the default line).
"""
from __future__ import annotations

import logging

from firmware.events import DialRequested, MessagesWaiting, TimerFired

log = logging.getLogger(__name__)

ALERT_SECONDS = 2.0          # the "message" tone: one short ring burst

def setup(ctx) -> "Mwi":
    """The feature module's entry (nothing to close)."""
    mwi = Mwi(bus=ctx.bus, timers=ctx.timers, state=ctx.state, settings=ctx.settings)
    ctx.phone.controls.add_key("message", mwi.key_message)
    return mwi


class Mwi:
    """Feature module: counts messages per line, lights the LED, dials voice mail."""

    def __init__(self, *, bus, timers, state, settings):
        self.bus = bus
        self.timers = timers
        self.state = state
        self.settings = settings
        bus.on(MessagesWaiting, self.on_messages)
        bus.on(TimerFired, self.on_timer)

    def on_messages(self, ev: MessagesWaiting) -> None:
        s = self.state
        acct = next((a for a in s.accounts if a.index == ev.account), None)
        if acct is None:
            return
        before = acct.messages
        acct.messages, acct.old_messages = ev.new, ev.old
        s.voicemail = sum(a.messages for a in s.accounts)
        log.info("line %d: %d new, %d old voice messages (%s)", ev.account, ev.new, ev.old,
                 ev.source)
        if ev.new > before and self.settings.phone.voicemail_tone and not s.calls:
            s.message_alert = True
            self.timers.start("mwi.alert", ALERT_SECONDS)

    def on_timer(self, ev: TimerFired) -> None:
        if ev.name == "mwi.alert":
            self.state.message_alert = False

    def number_for(self, line: int) -> str:
        acct = self.settings.account[line]
        return acct.voicemail or self.settings.phone.voicemail

    def key_message(self) -> None:
        """MESSAGE (added to the Phone's keys: a menu or a test on top takes it first)."""
        s = self.state
        s.message_alert = False
        if s.calls or s.predial:
            return                       # in a call the key does nothing (no second line)
        with_messages = [a.index for a in s.accounts if a.messages > 0 and a.enabled]
        line = with_messages[0] if with_messages else self.settings.phone.default_account
        number = self.number_for(line)
        if not number:
            s.notice = f"No voice mail number: set account.{line}.voicemail"
            log.warning("MESSAGE pressed: no voice mail number for line %d (set "
                        "account.%d.voicemail or phone.voicemail)", line, line)
            return
        self.bus.post(DialRequested(number, line))
