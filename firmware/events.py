"""Events: what happened, as past-tense nouns. They all go through one asyncio queue.

Drivers (keys, hook), the SIP thread (pjsua2 callbacks), timers and the web API post
them; the Phone state machine (firmware/call/phone.py) is the only consumer.

Events are Records (firmware/record.py): written like dataclasses, built without them,
because the SIP thread posts them before the first REGISTER is answered and what is
imported before it leaves is on the clock (`make bench`, start -> REGISTERED).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from firmware.record import Record, field

if TYPE_CHECKING:       # an annotation only: the SIP thread posts events before the first
    from firmware.call.state import Call     # REGISTER, and needs no call state for it


class Event(Record):
    """Base class; handy for isinstance checks and logging."""


# --- from people (drivers, front panel, API) --------------------------------------------

class KeyPressed(Event):
    key: str                 # a name from firmware.keys.KEYS
    source: str = "keypad"   # keypad | api | panel
    repeat: bool = False     # auto-repeat of a held key (arrows, C, volume)
    consumed: bool = False   # a screen on top (menu, diagnose) took it: listeners after the
                             # Phone (memory keys, the provisioning page) leave it alone


class KeyHeld(Event):
    """A key kept down for hardware.long_press_ms (once per press)."""

    key: str
    source: str = "keypad"


class KeyReleased(Event):
    key: str
    source: str = "keypad"


class HookChanged(Event):
    offhook: bool            # handset lifted
    consumed: bool = False


class HookFlashed(Event):
    """The hook was pressed briefly (shorter than hardware.flash_hook_ms)."""


class DiagnoseRequested(Event):
    test: str                # keys | lcd | lights | sound | "" (stop)


class DialRequested(Event):
    """Dial this number now (action URI from the API; later the call log, phone book)."""

    number: str
    line: int = 0            # 0: the default account's line


# --- from the SIP thread ------------------------------------------------------------------

class RegistrationStarted(Event):
    account: int
    server: str
    renew: bool              # False: unregistering


class RegistrationChanged(Event):
    account: int
    server: str
    code: int                # SIP status, or 0 for no answer / local error
    reason: str
    active: bool             # a binding exists now
    expires: int
    network: bool = True     # False when the request could not be sent at all
    min_expires: int = 0     # a 423's Min-Expires
    # a 2xx's Date header (RFC 3261 §20.17: the registrar's clock, as it came; "" when none)
    # and time.time() when that answer arrived: time.mode "sip" shows the server's time
    # (firmware/features/clock.py)
    date: str = ""
    received: float = 0.0


class MessagesWaiting(Event):
    """A message-summary NOTIFY (RFC 3842) for a line: subscribed or unsolicited."""

    account: int
    waiting: bool
    new: int                 # new voice messages
    old: int
    source: str = ""         # who sent it


class CallIncoming(Event):
    call: int                # our call id
    account: int
    uri: str
    name: str
    number: str
    headers: dict = field(default_factory=dict)   # lower-case name -> value of the INVITE
    source: str = ""         # ip:port the INVITE came from
    page: object = None      # firmware.features.paging.AutoAnswer: the INVITE asks to be answered


class CallRefused(Event):
    """An INVITE the SIP thread refused at once (DND, busy, blacklist, IP strategy...)."""

    account: int
    uri: str
    name: str
    number: str
    code: int


class CallForwarded(Event):
    """An INVITE answered 302 to the forward target (always / busy)."""

    account: int
    uri: str
    name: str
    number: str
    target: str


class CallTransferProgressed(Event):
    """A transfer we asked for (REFER) moved on: code is the target's answer (NOTIFY)."""

    call: int
    code: int
    reason: str
    final: bool


class CallsJoined(Event):
    """Calls were joined into a 3-way conference (a consult transfer ends that way)."""

    calls: tuple[int, ...]


class CallTransferred(Event):
    """The far end transferred us (REFER): `new_call` now calls `target`."""

    old_call: int
    new_call: int
    target: str
    by: str                  # URI of the transferor, to call back if it fails


class CallProgressed(Event):
    """The INVITE session moved on: calling, early (18x), confirmed, disconnected."""

    call: int
    state: str               # calling | early | connecting | confirmed | disconnected
    code: int
    reason: str
    remote_uri: str = ""
    remote_name: str = ""


class CallMediaChanged(Event):
    call: int
    active: bool             # audio flows
    remote_hold: bool        # far end holds us


class DtmfReceived(Event):
    call: int
    digit: str


# --- from inside ---------------------------------------------------------------------------

class CallEnded(Event):
    """A call left the phone (posted by the Phone; the call log files it).

    `call` is a copy taken as it ended (direction, number, name, uri, account, started,
    connected_at). `missed`: an incoming call nobody answered that we did not refuse.
    """

    call: Call
    answered: bool
    missed: bool = False


class PageRequested(Event):
    """A menu entry opens a page another module draws ("calllog:missed", ...)."""

    page: str


class TimerFired(Event):
    name: str
    data: object = None


class SettingsChanged(Event):
    keys: list[str]


class PrimaryServerBack(Event):
    account: int


class Unregistered(Event):
    """The boot-time REGISTER Contact: * Expires: 0 was answered (code -1: not sent)."""

    account: int
    code: int
    reason: str
    registering: bool = False   # the SIP thread sent the REGISTER at once (SipEngine.connect)


class KeepAliveAnswered(Event):
    """The registration keep-alive OPTIONS `seq` of a line got its final answer (code 0:
    none came, pjsip gave up)."""

    account: int
    seq: int
    code: int


class ProvisionRequested(Event):
    """Someone asked for auto provisioning now: web button, API, LCD menu, or the PBX."""

    trigger: str             # boot | timer | now | notify
    reboot: bool = False     # NOTIFY check-sync;reboot=true: restart afterwards


class CheckSyncReceived(Event):
    """The PBX sent an out-of-dialog NOTIFY Event: check-sync (answered 200 already)."""

    reboot: bool
    source: str


class ProvisioningChanged(Event):
    """Auto provisioning moved on (a file fetched, a result): redraw what shows it."""

    text: str = ""


class PhoneBookChanged(Event):
    """The personal phone book was changed off the LCD (the web's Phone Book pages): the
    LCD's phone book pages are drawn afresh (firmware/features/directory.py)."""

    by: str = "web"


# --- between feature modules: programmable keys ask paging to act --------------------------

class IntercomRequested(Event):
    """An Intercom or Paging key: call `number` asking the far end to answer by itself
    (firmware/features/paging.py adds the auto-answer headers)."""

    number: str
    account: int = 0         # 0: the phone picks the line
    paging: bool = False     # a one-way page to a group, not a two-way intercom call


class MulticastPageRequested(Event):
    """A Paging key set to a multicast group: start sending the microphone there, or stop
    when a page to that group is already going out."""

    address: str             # "239.1.1.1:5000"


class MulticastPageStarted(Event):
    """RTP arrived on a listened multicast group with nothing of higher priority playing
    (firmware/features/multicast.py receiver thread); replaces any lower-priority page."""

    address: str             # "239.1.1.1:5000"
    priority: int            # 1 = highest (position in paging.multicast)


class MulticastPageEnded(Event):
    """The group's RTP stopped (paging.multicast_end_ms of silence)."""

    address: str
    priority: int


# --- BLF / BLA: dialog and presence subscriptions (firmware/features/blf.py) -----------------------

class BlfNotified(Event):
    """A NOTIFY for a watched number arrived (SIP thread). `body` is the raw dialog-info
    (or PIDF) XML, parsed on the loop; `state` is its Subscription-State header."""

    uri: str                 # the watched URI, as subscribed
    body: bytes = b""
    state: str = ""          # "active;expires=600", "terminated;reason=noresource", ...
    event: str = "dialog"    # dialog | presence
    received: float = 0.0    # time.monotonic() when pjsip handed it over (latency bench)


class BlfSubscriptionChanged(Event):
    """A SUBSCRIBE for a watched URI was answered (or failed to be). code 2xx: accepted,
    `expires` granted; anything else: refused or unreachable, `reason` says what."""

    uri: str
    code: int
    reason: str = ""
    expires: int = 0
