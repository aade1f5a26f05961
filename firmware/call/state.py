"""The phone's state: one plain data model, owned by the Phone on the event loop.

Everything a person sees (LCD frame, LEDs, the tone in the earpiece, the web page)
is computed from a snapshot of this model by pure functions, so each of them can be
tested by building a state and reading what it shows.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field


class LineStatus(str, enum.Enum):
    """Line status icons of the manual's screen table (§3 "Understanding Phone Screen")."""

    DISABLED = "disabled"          # account switched off: no icon
    NO_NETWORK = "no_network"      # "Disconnect into network"
    P2P = "p2p"                    # "Only Peer-to-Peer call" (no server configured)
    NOT_REGISTERED = "not_registered"  # network fine, line not registered (yet)
    REGISTERED = "registered"      # "Network is OK and the line is available"
    DND = "dnd"                    # "Line is turned on DND"


class CallState(str, enum.Enum):
    DIALING = "dialing"        # collecting digits, nothing sent yet
    CALLING = "calling"        # INVITE sent, no provisional answer yet
    RINGBACK = "ringback"      # far end is ringing (18x)
    RINGING = "ringing"        # incoming, not answered
    CONNECTED = "connected"
    HELD = "held"              # we put it on hold
    ENDED = "ended"            # shown briefly after the end, with the reason


class Screen(str, enum.Enum):
    """What the LCD shows (PhoneState.screen()); a str, so "ringing" == Screen.RINGING."""

    IDLE = "idle"
    PREDIAL = "predial"
    DIALING = "dialing"
    CALLING = "calling"
    RINGING = "ringing"
    TALKING = "talking"
    HELD = "held"
    ENDED = "ended"
    MENU = "menu"
    DIAG = "diag"
    PAGING = "paging"          # a multicast page is heard (or sent)

    def __str__(self) -> str:
        return self.value


class AudioDevice(str, enum.Enum):
    NONE = "none"
    HANDSET = "handset"
    SPEAKER = "speaker"
    HEADSET = "headset"


# the screen (and the word for a call on another line) for each call state
CALL_SCREEN = {
    CallState.DIALING: Screen.DIALING,
    CallState.CALLING: Screen.CALLING,
    CallState.RINGBACK: Screen.CALLING,
    CallState.RINGING: Screen.RINGING,
    CallState.CONNECTED: Screen.TALKING,
    CallState.HELD: Screen.HELD,
    CallState.ENDED: Screen.ENDED,
}


@dataclass
class Account:
    index: int                  # 1..3, the line key it owns
    enabled: bool = False
    label: str = ""             # what the LCD shows for the line
    user: str = ""
    server: str = ""            # the registrar in use now (primary or secondary)
    on_secondary: bool = False
    status: LineStatus = LineStatus.DISABLED
    code: int = 0               # last SIP status of REGISTER (0: none yet)
    reason: str = ""            # why it is not registered, with what to do
    expires: int = 0            # granted by the registrar
    dnd: bool = False
    messages: int = 0           # new voice messages (MWI)
    old_messages: int = 0


@dataclass
class Call:
    id: int                     # ours, never reused (pjsua slot numbers are)
    line: int                   # line key (call appearance) 1..3
    account: int                # account index 1..3, 0 = direct IP call
    direction: str              # "in" | "out"
    state: CallState
    number: str = ""            # digits dialled, or the remote user part
    name: str = ""              # remote display name
    uri: str = ""               # remote URI
    started: float = 0.0        # monotonic seconds, when it was created
    connected_at: float = 0.0   # monotonic seconds, 0 until answered
    ended_at: float = 0.0
    code: int = 0               # last SIP status seen
    reason: str = ""            # why it ended / failed, as a person reads it
    remote_hold: bool = False   # the far end put us on hold
    media: bool = False         # audio flows (early media counts)
    transferring: bool = False  # blind-transferred away; kept until the target answers
    dtmf: str = ""              # keys the far end sent in this call
    headers: dict = field(default_factory=dict)   # extra INVITE headers (BLF pickup: Replaces)
    one_way: bool = False       # we only talk (a page we send: a=sendonly)


@dataclass
class MenuPage:
    key: str                    # which page: "main", "status", "status.lines", "diagnose"
    title: str
    items: list[str]            # entries to choose from, or the lines of a text page
    index: int = 0              # the cursor (a list) or the first line shown (a text page)
    text: bool = False          # a page to read, not to choose from
    kind: str = ""              # "": a menu of firmware/features/menu.py; "calllog": a call list
    data: list = field(default_factory=list)   # per entry, for the page's drawer (call times)
    # opened over a ringing call by the person (its caller added to the phone book,
    # firmware/features/banlist.py): this page has the screen, the call rings on beneath
    over_ring: bool = False


@dataclass
class PhoneState:
    now: float = 0.0            # wall clock (time.time()) the snapshot was taken at
    mono: float = 0.0           # monotonic clock of the same instant
    accounts: list[Account] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    focus: int | None = None    # id of the call the audio path belongs to
    conference: list[int] = field(default_factory=list)   # calls mixed in a 3-way call
    transfer: int | None = None  # the call being transferred (held) while we dial/consult
    blind: bool = False          # that transfer goes out blind (B Xfer soft key)
    offhook: bool = False       # handset lifted from the cradle
    audio: AudioDevice = AudioDevice.NONE
    headset_mode: bool = False  # headset key LED: calls use the headset
    mute: bool = False
    predial: str = ""           # digits typed on-hook (pre-dial)
    predial_line: int = 1       # line the pre-dialled number will go out on
    search: list = field(default_factory=list)   # idle search hits (replaced, never changed)
    search_pick: int = -1       # the hit an arrow picked (-1: none; OK dials the digits)
    missed: int = 0             # missed calls since last looked at
    voicemail: int = 0          # new messages waiting
    message_alert: bool = False  # a new message just came: the short "message" ring
    redial: str = ""            # last number dialled
    dnd: bool = False           # global DND
    auto_answer: bool = False   # "AA" on the idle screen
    keylock: str = ""           # the keyboard lock in force (phone.keylock), "" = unlocked
    volumes: dict[str, int] = field(default_factory=dict)   # ring/handset/... 1-9 (volume.*)
    ring_types: dict[int, int] = field(default_factory=dict)   # line -> ring type 1-5
    ring_preview: int = 0       # a ring type being chosen in the menu: it plays (0 = none)
    notice: str = ""            # a short message for the status line (bad settings, ...)
    provisioning: str = ""      # what auto provisioning is doing now ("" = nothing)
    errors: list[str] = field(default_factory=list)  # settings problems: "key: reason"
    menu: list[MenuPage] = field(default_factory=list)   # open menu pages, innermost last
    diag: str = ""              # diagnose test on screen: keys | lcd | lights | sound
    diag_step: int = 0          # pattern / LED / device the test is at
    diag_running: bool = False  # started with OK (keys: always)
    diag_text: str = ""         # what the test shows (the last key's name, ...)
    missed_call_display: bool = True
    backlight: int = 8          # lcd.backlight
    backlight_timeout: int = 60  # lcd.backlight_timeout
    last_activity: float = 0.0  # monotonic time of the last key, hook change or call
    call_waiting_tone: bool = True
    dnd_softkey: bool = True    # phone.dnd_softkey: the idle screen's DND soft key
    hangup_tone: bool = True    # phone.hangup_tone: a tone after the far end ends a call
    time_format: int = 24       # 24 or 12
    date_format: str = "%a %d %b"
    language: str = "en"        # phone.language: what the LCD speaks (firmware/i18n.py)
    # what moves the time shown (firmware/timeofday.py, present.local_time): seconds added to
    # the OS clock (the SNTP offset of features/clock.py, or time.manual_offset: written by
    # config.show but while time.mode is sntp), and the zone's seconds east of UTC with
    # daylight saving (None: the OS's local time)
    clock_shift: float = 0.0
    utc_offset: int | None = None
    time_status: str = ""       # where the time comes from, and an SNTP failure (View status)
    # programmable keys (firmware/features/blf.py, firmware/features/memkeys.py): key name -> lamp
    # idle | ringing | busy | held | unknown ("off" or absent: dark)
    key_lamps: dict[str, str] = field(default_factory=dict)
    # paging (firmware/features/paging.py, firmware/features/multicast.py)
    pages: list[int] = field(default_factory=list)   # calls that are server pages
    barge: int | None = None    # a page mixed into the call on screen (barge-in)
    page_tone: bool = False     # the warning tone before a page is heard
    multicast: str = ""         # the multicast page being heard: "P1 239.1.1.1:5000"
    multicast_out: str = ""     # the group our microphone is paging to
    # what the active modes (firmware/call/controls.py) put on the soft keys: screen ->
    # four (label, action) cells, None where the screen's own key stays. Written only by
    # Controls.publish; present.softkeys reads it, so it stays a function of this state.
    soft: dict[str, tuple] = field(default_factory=dict)
    modes: tuple[str, ...] = ()   # names of the active modes, newest first

    def call(self, call_id: int | None) -> Call | None:
        for c in self.calls:
            if c.id == call_id:
                return c
        return None

    @property
    def focused(self) -> Call | None:
        return self.call(self.focus)

    def on_line(self, line: int) -> Call | None:
        for c in self.calls:
            if c.line == line and c.state is not CallState.ENDED:
                return c
        return None

    def ringing(self) -> list[Call]:
        return [c for c in self.calls if c.state is CallState.RINGING]

    def registered_lines(self) -> list[int]:
        """The lines whose account is registered (DND too: it is registered)."""
        return [a.index for a in self.accounts
                if a.status in (LineStatus.REGISTERED, LineStatus.DND)]

    def snapshot(self) -> PhoneState:
        return dataclasses.replace(
            self,
            accounts=[dataclasses.replace(a) for a in self.accounts],
            calls=[dataclasses.replace(c, headers=dict(c.headers)) for c in self.calls],
            key_lamps=dict(self.key_lamps),
            pages=list(self.pages),
            errors=list(self.errors),
            volumes=dict(self.volumes), ring_types=dict(self.ring_types),
            menu=[dataclasses.replace(p, items=list(p.items), data=list(p.data))
                  for p in self.menu],
            conference=list(self.conference),
            soft=dict(self.soft),
        )

    def screen(self) -> Screen:
        """Which screen the LCD shows, derived from the calls and the hook.

        idle | predial | dialing | ringing | calling | talking | held | ended | menu | diag
        | paging (a multicast page is heard)
        """
        f = self.focused
        if self.ringing() and (f is None or f.state in (CallState.CONNECTED, CallState.HELD)) \
                and not any(p.over_ring for p in self.menu):
            return Screen.RINGING      # a new call, or one waiting while we talk
        if self.diag:
            return Screen.DIAG
        if self.menu:
            return Screen.MENU
        if (self.multicast or self.multicast_out) and (
                f is None or f.state in (CallState.HELD, CallState.ENDED)):
            return Screen.PAGING
        if f is not None:
            return CALL_SCREEN[f.state]
        if any(c.state is CallState.HELD and not c.transferring for c in self.calls):
            return Screen.HELD
        if self.predial:
            return Screen.PREDIAL
        return Screen.IDLE
