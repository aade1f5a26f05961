"""The menu model: the manual's §6 tree ("Use phone keypad to setting") as data, over the
one settings schema. The LCD menu (firmware/features/menu.py, drawn by ui/lcd.py) walks
it; the web management pages render the same pages. A setting is added to both surfaces
by naming its key in an entry here: its type, range, choices, help line and whether it
applies only after a restart come from the schema (firmware/settings/schema.py, `field`).

A page has a role: "user" pages are what the manual lets a desk user change; "admin"
pages sit behind the advanced password on the LCD ("System setting > Advanced setting",
factory empty as in the manual) and the administrator's sign-in on the web. A `submit`
page (a SIP account) keeps its changes until "Submit changes", then saves them at once,
so a line never registers with half of its new settings.
"""
from __future__ import annotations

import functools
import time
from typing import Callable

from firmware import timeofday
from firmware.present import local_time
from firmware import i18n
from firmware.record import Record
from firmware.settings import ACCOUNTS, FIELDS


class Entry(Record, frozen=True):
    """One line of a page: a setting (`setting`: its key), a page further down (`page`), or
    something to do (`action`: "submit", "defaults", "reboot", "key:<key>" does what the
    key does (the menu closes first: "key:message" calls voice mail), "module:page" for a page
    another module draws, "diag:<test>"). `typing`: how a typed setting is best typed
    (TYPING): "number" starts the editor in 123 even when empty (an extension number),
    "address" says how ':' is typed (host:port)."""

    label: str
    setting: str = ""
    page: str = ""
    action: str = ""
    # "admin": only the administrator changes this setting, even on a page the user sees
    # (the codec list on Audio, the emergency numbers on Call); "" = the page's role
    role: str = ""
    typing: str = ""


# the editor's input hints (firmware/features/menu.py): the mode it starts in, a help line
TYPING = {"number": ("123", ""), "address": ("", "In 123, * is . then * then :")}


class Page(Record, frozen=True):
    title: str
    entries: tuple = ()
    role: str = "user"           # user | admin
    submit: bool = False         # changes wait for the "Submit changes" entry
    text: bool = False           # a page to read (View status): lines from the status source


def _account(n: int) -> Page:
    """Manual §6, "Create an SIP account": every field of its table, then Submit changes."""
    k = f"account.{n}."
    return Page(f"Account {n}", (
        Entry("Enable account", k + "enable"), Entry("Display name", k + "display_name"),
        Entry("User name", k + "user", typing="number"),
        Entry("Authen user", k + "auth_user", typing="number"),
        Entry("User password", k + "password"), Entry("Description", k + "label"),
        Entry("SIP1", k + "server", typing="address"),
        Entry("SIP2", k + "secondary_server", typing="address"),
        Entry("Outbound proxy", k + "outbound_proxy", typing="address"),
        Entry("Refresh time", k + "expires"),
        Entry("Submit changes", action="submit")), role="admin", submit=True)


TREE: dict[str, Page] = {
    "main": Page("Menu", (
        Entry("Phone book", page="phonebook"),
        Entry("Call history", page="calllog"), Entry("Function setting", page="function"),
        Entry("System setting", page="system"), Entry("View status", page="status"),
        Entry("Diagnose", page="diagnose"), Entry("Auto provision",
                                                  action="provision:status"))),
    # manual §5 "Using the phone book" (DIRECTORY opens it too): the books auto provisioning
    # loads, drawn by firmware/features/directory.py; the call logs one press away
    "phonebook": Page("Phone book", (
        Entry("Personal phone book", action="directory:personal"),
        Entry("Enterprise phone book", action="directory:enterprise"),
        Entry("LDAP", action="directory:ldap"),     # firmware/features/ldapsearch.py
        Entry("Call history", page="calllog"),
        Entry("Fuzzy search", "phone.fuzzy_search"))),
    "calllog": Page("Call history", (
        Entry("Missed calls", action="calllog:missed"),
        Entry("Received calls", action="calllog:received"),
        Entry("Dialled numbers", action="calllog:dialled"))),
    "function": Page("Function setting", (
        Entry("Auto answer", page="autoanswer"), Entry("DND", page="dnd"),
        Entry("Call forwarding", page="forward"),
        Entry("Keyboard lock", "phone.keylock"),   # manual §7 "Key Board Lock"
        Entry("Time & date", page="time"),
        # manual §6 "Expansion Installation / Settings": module and P1-P12 keys, drawn from
        # the key layout by firmware/features/expansion.py
        Entry("Expansion", action="expansion:modules"))),
    "autoanswer": Page("Auto answer", (
        Entry("Auto answer", "phone.auto_answer"), Entry("Mode", "phone.auto_answer_mode"),
        Entry("Answer after", "phone.auto_answer_delay"))),
    "dnd": Page("DND", (Entry("All lines", "phone.dnd"),
                        *(Entry(f"Line {n}", f"account.{n}.dnd")
                          for n in range(1, ACCOUNTS + 1)))),
    "forward": Page("Call forwarding", (
        Entry("Unconditional", "forward.always", typing="number"),
        Entry("Busy", "forward.busy", typing="number"),
        Entry("No answer", "forward.no_answer", typing="number"),
        Entry("No answer after", "forward.no_answer_seconds"))),
    # manual §6 "Time & date", §7 "Set Time" (firmware/timeofday.py, features/clock.py)
    "time": Page("Time & date", (
        Entry("Mode", "time.mode"), Entry("Server", "time.sntp_server"),
        Entry("Update interval", "time.update_interval"),
        Entry("Time zone", "time.time_zone"), Entry("DST", "time.dst"),
        Entry("Time format", "phone.time_format"), Entry("Date format", "phone.date_format"),
        Entry("Manual setting", action="manual time"))),
    # SERVICE (manual §3 "Open or Close the Services menu"): what a desk user changes most,
    # the same settings as under Function setting
    "services": Page("Services", (
        Entry("DND", "phone.dnd"), Entry("Call forwarding", page="forward"),
        Entry("Call voicemail", action="key:message"),
        Entry("Auto answer", "phone.auto_answer"), Entry("DND per line", page="dnd"),
        Entry("Voicemail number", "phone.voicemail"))),
    "system": Page("System setting", (
        Entry("Phone setting", page="phone"), Entry("Advanced setting", page="advanced"))),
    "phone": Page("Phone setting", (
        Entry("Ring type", page="ring"), Entry("Volume setting", page="volume"),
        Entry("Language", "phone.language"), Entry("Contrast", "lcd.contrast"), Entry("Backlight", "lcd.backlight"),
        Entry("Backlight time", "lcd.backlight_timeout"),
        Entry("Time format", "phone.time_format"))),
    # manual §6 "Change the ring tone": it rings while the cursor moves (RING_TYPES)
    "ring": Page("Ring type", (Entry("All lines", "volume.ring_type"),
                               *(Entry(f"Line {n}", f"account.{n}.ring_type")
                                 for n in range(1, ACCOUNTS + 1)))),
    # manual §6 "Adjust the volume level": nine levels each
    "volume": Page("Volume setting", (
        Entry("Ring volume", "volume.ring"), Entry("Handset volume", "volume.handset"),
        Entry("Handset mic", "volume.handset_mic"), Entry("Speaker volume", "volume.speaker"),
        Entry("Speaker mic", "volume.speaker_mic"), Entry("Headset volume", "volume.headset"),
        Entry("Headset mic", "volume.headset_mic"))),
    "advanced": Page("Advanced setting", (
        Entry("SIP accounts", page="accounts"), Entry("Network", page="network"),
        Entry("Advanced password", "lcd.advanced_password"),
        Entry("Unlock password", "phone.keylock_password"),
        Entry("Load default settings", action="defaults"), Entry("Reboot", action="reboot")),
        role="admin"),
    # manual §6 "Network Setting": kept until Submit changes, then applied as the board
    # allows (firmware/features/network.py says on the LCD what happened)
    "network": Page("Network", (
        Entry("View", page="status.network"), Entry("Type", "network.mode"),
        Entry("IP", "network.ip"), Entry("Mask", "network.mask"), Entry("GW", "network.gateway"),
        Entry("DNS1", "network.dns1"), Entry("DNS2", "network.dns2"),
        Entry("Web address", "web.listen"), Entry("Submit changes", action="submit")),
        role="admin", submit=True),
    "accounts": Page("SIP accounts", tuple(Entry(f"Account {n}", page=f"account.{n}")
                                           for n in range(1, ACCOUNTS + 1)), role="admin"),
    **{f"account.{n}": _account(n) for n in range(1, ACCOUNTS + 1)},
    "status": Page("View status", (
        Entry("Network", page="status.network"), Entry("Lines", page="status.lines"),
        Entry("Software", page="status.software"),
        Entry("Expansion", action="expansion:status"))),
    "status.network": Page("Network", text=True),
    "status.lines": Page("Lines", text=True),
    "status.software": Page("Software", text=True),
    "diagnose": Page("Diagnose", (
        Entry("Keys", action="diag:keys"), Entry("LCD", action="diag:lcd"),
        Entry("Lights", action="diag:lights"), Entry("Sound", action="diag:sound"))),
}


# what the phone asks before an action that cannot be undone (soft keys: OK = yes, Back)
CONFIRM = {
    "defaults": ("Load default settings", "All settings go back to the factory's, accounts "
                 "and passwords too; then the phone restarts."),
    "reboot": ("Reboot", "The phone restarts now; calls end."),
}

# entries whose typed text becomes settings rather than one setting's value: the editor
# starts from `start(state, now)`; `parse(text, state, now)` gives the settings to save, or
# a ValueError saying why it is refused (firmware/features/menu.py)
class Typed(Record, frozen=True):
    hint: str
    start: Callable
    parse: Callable


def _now_text(s, now: float) -> str:
    lt = local_time(s, now)
    return time.strftime(timeofday.MANUAL_FORMAT, lt) if lt else ""


def _manual_time(text: str, s, now: float) -> dict:
    """Time & date > Manual setting: the date and time the phone is to show, in the zone it
    shows -> time.mode manual and how far that is ahead of the OS clock."""
    return {"time.mode": "manual",
            "time.manual_offset": timeofday.manual_shift(text, s.utc_offset, now)}


TYPED = {"manual time": Typed("Date and time as YYYY-MM-DD HH:MM", _now_text, _manual_time)}


# -- what a setting is, for a surface to show and edit it ------------------------------------

# text settings the LCD offers as a list to pick from (manual §7 "Date Format ... you can
# select in the list"); the schema still takes any text (the web, provisioning, the file),
# and a value not in the list shows as it is
PICKS = {"phone.date_format": timeofday.DATE_FORMATS}

def kind(key: str) -> str:
    """How a setting is edited: "bool", "choice" (a list to pick from), "number", or a
    text: "secret" (masked), "ip", "dial" (keypad digits, * and # as they are), "text"."""
    f = FIELDS[key]
    m = f.metadata
    if isinstance(f.default, bool):
        return "bool"
    if m["choices"] is not None or key in PICKS:
        return "choice"
    if isinstance(f.default, int):
        return "number"
    if m["secret"]:
        return "secret"
    check = getattr(m["check"], "__name__", "")
    if check in ("_ip", "_ipv4_or_none"):
        return "ip"
    if check == "_dial_code":       # a code to dial (voice mail, pickup): 0-9 * # as typed
        return "dial"
    return "text"


def choices(key: str) -> tuple:
    """The values a bool or choice setting may take, in the order shown."""
    f = FIELDS[key]
    if isinstance(f.default, bool):
        return (True, False)
    return tuple(f.metadata["choices"] or PICKS.get(key, ()))


# the settings whose choice list sounds the ring type under the cursor
RING_TYPES = frozenset({"volume.ring_type",
                        *(f"account.{n}.ring_type" for n in range(1, ACCOUNTS + 1))})


def shown(key: str, value, when: time.struct_time | None = None) -> str:
    """A value as a surface shows it (a secret never: only whether one is set). `when`: the
    phone's time now (present.local_time: its zone and shift), for a date format's example
    to match the standby screen's date; without it the OS's local time."""
    if key in RING_TYPES:
        return f"Ring {value}" if value else "As all lines"
    if key == "phone.language":
        return i18n.name(value)           # each language by its own name: "中文"
    if key == "phone.date_format" and value in timeofday.DATE_FORMATS:
        return time.strftime(value, when or time.localtime())   # today: "Sun 06 Dec"
    if kind(key) == "secret":
        return "****" if value else "(none)"
    if isinstance(value, bool):
        return "Enable" if value else "Disable"
    if value == "" or value is None:
        return "(none)"
    if kind(key) in ("text", "ip", "dial"):   # typed: a name, an address, never translated
        return i18n.Verbatim(str(value))
    return str(value)


def help_text(key: str) -> str:
    """The help line: the schema's, with the range and whether a restart is needed."""
    m = FIELDS[key].metadata
    parts = [m["doc"]]
    if m["min"] is not None or m["max"] is not None:
        parts.append(f"{m['min'] if m['min'] is not None else ''}-"
                     f"{m['max'] if m['max'] is not None else ''}")
    if m["restart"]:
        parts.append("applies after a restart")
    return "; ".join(parts)


# -- the web management pages (manual §7 "Web Settings") ---------------------------------------
# The same Page and Entry over the same setting keys, grouped and named as the manual's web
# pages are (ui/web/pages.py renders them: label, help, kind, choices, range and the restart
# notice all come from the schema through kind/choices/shown/help_text above). Actions only
# the web uses: "group" (a heading inside a page), "later:<why>" (a field of the manual this
# phone does not act on yet: shown greyed with why, never accepted), "link:<url>" (a page
# served elsewhere). "defaults" and "reboot" are the LCD's actions (CONFIRM says what they
# do). A status page is a text page naming the View status pages (TREE) it shows.

def _later(label: str, why: str) -> Entry:
    return Entry(label, action=f"later:{why}")


def _group(label: str) -> Entry:
    return Entry(label, action="group")


_TRANSPORTS = "UDP only for now; TCP and TLS come with the SIP transports issue"
_STUN = "comes with the NAT traversal (STUN) issue"
_SRTP = "comes with the SRTP issue"
_NOT_YET = "not a setting of this phone yet"


def _web_account(n: int) -> Page:
    """Manual §7 "SIP Account": its fields in its order. [sip] settings serve every line:
    their label says so."""
    k = f"account.{n}."
    return Page(f"SIP Account {n}", (
        _group("SIP Setting"),
        Entry("Enable", k + "enable"), Entry("Display Name", k + "display_name"),
        Entry("Username", k + "user"), Entry("Authenticate Name", k + "auth_user"),
        Entry("Password", k + "password"), Entry("Label", k + "label"),
        Entry("SIP Server", k + "server"), Entry("Secondary Server", k + "secondary_server"),
        Entry("Outbound Proxy Server", k + "outbound_proxy"),
        _later("Secondary Outbound Proxy Server", _NOT_YET),
        Entry("Polling Interval Time Of Registration (all lines)", "sip.retry_interval"),
        _later("NAT Traversal", _STUN), _later("STUN Server", _STUN),
        _later("Subscribe Period", _NOT_YET),
        Entry("Register Expire Time", k + "expires"),
        _later("SIP Transport", _TRANSPORTS),
        _group("Call"),
        Entry("Do Not Disturb", k + "dnd"), Entry("Anonymous Call", k + "anonymous"),
        Entry("Anonymous Call Rejection", k + "anonymous_reject"),
        Entry("Use Session Timer (all lines)", "sip.session_timers"),
        Entry("Session Timer (all lines)", "sip.session_expires"),
        Entry("Ring Type", k + "ring_type"),
        Entry("UDP Keep-alive Interval (all lines)", "sip.keepalive_interval"),
        Entry("Voice Mail Number", k + "voicemail"),
        Entry("Booking Voice Mail", k + "mwi"),
        _group("Security"),
        _later("SIP Encryption", _TRANSPORTS), _later("RTP Encryption", _SRTP),
        Entry("RTP Port Range: first port (all lines)", "sip.rtp_port"),
        Entry("RTP Port Range: ports (all lines)", "sip.rtp_ports")),
        role="admin", submit=True)


def _web_ldap() -> Page:
    """Phone Book > LDAP (manual, LDAP appendix): [ldap], its lookups, the second server."""
    def server(k: str) -> tuple[Entry, ...]:
        return (Entry("Server Address", k + "server"), Entry("Port", k + "port"),
                Entry("Base", k + "base"), Entry("User Name", k + "user"),
                Entry("Password", k + "password"), Entry("Security", k + "security"),
                Entry("CA Certificates (PEM file)", k + "ca_file"),
                Entry("LDAP Name Filter", k + "name_filter"),
                Entry("LDAP Number Filter", k + "number_filter"),
                Entry("LDAP Name Attributes", k + "name_attributes"),
                Entry("LDAP Number Attributes", k + "number_attributes"),
                Entry("Max.Hits (0 = all)", k + "max_hits"),
                Entry("Protocol Version", k + "version"), Entry("Timeout (s)", k + "timeout"))
    return Page("LDAP", (
        _group("LDAP Server"), *server("ldap."),
        Entry("LDAP Lookup for Incoming Call", "ldap.incoming"),
        Entry("LDAP Lookup for PreDial/Dial", "ldap.dial"),
        Entry("LDAP Sorting Results", "ldap.sort"),
        Entry("Search Delay (ms)", "ldap.search_delay"),
        _group("Second LDAP Server"), *server("ldap2.")), role="admin")


WEB: dict[str, Page] = {
    # the page list (manual §7's left-hand menu); a group heads the pages under it, so the
    # manual's single pages come first and its three groups after them (in a flat list a
    # page after "SIP Account"'s accounts would read as one of them)
    "index": Page("Web Settings", (
        Entry("Status", page="status"),
        Entry("Network", page="network"),
        Entry("Programmable Keys", page="keys"),
        Entry("Expansion Module", action="link:/keys/module/1"),
        Entry("Audio", page="audio"), Entry("Phone Book", page="phonebook"),
        Entry("LDAP", page="ldap"),                     # the manual's Phone Book > LDAP
        Entry("LDAP Search", action="link:/phonebook/ldap"),    # ui/web/ldapsearch.py
        _group("SIP Account"),
        *(Entry(f"Account {n}", page=f"account.{n}") for n in range(1, ACCOUNTS + 1)),
        _group("Advance"),
        Entry("Phone Setting", page="phone"), Entry("Call", page="call"),
        Entry("VOIP Call Forward", page="forward"), Entry("Set Time", page="time"),
        Entry("Dial Plan", page="dialplan"), Entry("IP Strategy", page="ipstrategy"),
        Entry("Global SIP", page="sip"),
        _group("Phone Maintenance"),
        Entry("Password", action="link:/password"), Entry("Log", page="log"),
        Entry("Default Setting", page="defaults"),
        Entry("Auto Provision", page="provision"),
        Entry("Firmware Upgrade", action="link:/maintenance/firmware"),
        Entry("Configuration Backup", action="link:/maintenance/backup"),
        Entry("Reboot", page="reboot"))),
    "status": Page("Phone Status", (
        Entry("Lines", page="status.lines"), Entry("Network", page="status.network"),
        Entry("Software", page="status.software")), text=True),
    **{f"account.{n}": _web_account(n) for n in range(1, ACCOUNTS + 1)},
    "network": Page("Network", (
        _group("IP Setting"),
        Entry("IP Setting", "network.mode"), Entry("IP Address", "network.ip"),
        Entry("Netmask", "network.mask"), Entry("Gateway", "network.gateway"),
        Entry("Primary DNS", "network.dns1"), Entry("Secondary DNS", "network.dns2"),
        _group("MAC Address"), Entry("MAC Address", "hardware.mac"),
        _group("Port Management Setting"),
        Entry("Web address", "web.listen"), Entry("HTTP Port", "web.port"),
        Entry("SIP Port", "sip.port"), Entry("SIP and RTP Address", "sip.bind"),
        _group("Paging Setting"),
        Entry("Paging Groups (IP:Port, first = highest priority)", "paging.multicast"),
        Entry("Groups That Interrupt A Call", "paging.multicast_interrupt"),
        Entry("Paging Codec", "paging.multicast_codec"),
        Entry("Paging TTL", "paging.multicast_ttl"),
        Entry("Page Ends After (ms)", "paging.multicast_end_ms"),
        Entry("Intercom", "paging.intercom"),
        Entry("Intercom Allowed From", "paging.intercom_allow"),
        Entry("Intercom Barge In", "paging.barge_in"),
        Entry("Paging Warning Tone", "paging.warning_tone"),
        Entry("Emergency Pages In DND", "paging.dnd_emergency"),
        Entry("Longest Answer Delay", "paging.max_delay")),
        role="admin", submit=True),
    # manual §7 "Programmable Keys": the keys themselves are tables of their own, a form a
    # page (ui/web/keyspage.py: /keys, /keys/module/<n>)
    "keys": Page("Programmable Keys", (
        Entry("Memory Keys P1-P12", action="link:/keys"),
        Entry("Expansion Module Keys", action="link:/keys/module/1"),
        Entry("BLF Transfer", "phone.blf_transfer"),
        Entry("BLF Retry", "phone.blf_retry"),
        Entry("Directed Pickup Code", "phone.directed_pickup_code"),
        Entry("Call Park Code", "phone.park_code"),
        Entry("Call Park Retrieve Code", "phone.park_retrieve_code")), role="admin"),
    "audio": Page("Audio", (
        _group("Audio Codecs"),
        Entry("Enabled Codecs (first = preferred)", "sip.codecs", role="admin"),
        _group("Volume"),
        Entry("Ring Volume", "volume.ring"), Entry("Handset Volume", "volume.handset"),
        Entry("Handset Mic", "volume.handset_mic"), Entry("Speaker Volume", "volume.speaker"),
        Entry("Speaker Mic", "volume.speaker_mic"), Entry("Headset Volume", "volume.headset"),
        Entry("Headset Mic", "volume.headset_mic"), Entry("Ring Type", "volume.ring_type"))),
    "phonebook": Page("Phone Book", (
        Entry("Group", action="link:/phonebook/groups"),           # ui/web/phonebook.py
        Entry("Contact", action="link:/phonebook/contacts"),
        Entry("BanList", action="link:/phonebook/banlist"),     # ui/web/banlist.py
        Entry("Enterprise Phonebook", action="link:/phonebook/enterprise"),  # bookfiles.py
        Entry("LDAP Search", action="link:/phonebook/ldap"),    # ui/web/ldapsearch.py
        Entry("Banned numbers and prefixes (1900*)", "phone.blacklist"))),
    "phone": Page("Phone Setting", (
        _group("Basic"),
        Entry("Called No Answer Time", "phone.ring_timeout"),
        Entry("DTMF", "phone.dtmf_mode"), Entry("Pound Send Method", "phone.send_key"),
        Entry("RFC 2833 Pay Load", "phone.dtmf_payload"),
        Entry("Back Light", "lcd.backlight"), Entry("Back Light Time", "lcd.backlight_timeout"),
        Entry("Contrast", "lcd.contrast"), Entry("Language", "phone.language"),
        Entry("Key Board Lock", "phone.keylock"),
        Entry("Key Board Unlock Password", "phone.keylock_password"),
        Entry("Advanced Password (LCD)", "lcd.advanced_password"),
        _group("QoS"),
        Entry("Sip QoS", "sip.qos_sip"), Entry("Voice QoS", "sip.qos_voice"),
        _group("Other"),
        Entry("Check When Upgrade Software", "provisioning.check_md5"),
        _later("Headset Mode", "not built: the headset key chooses the headset call by call"),
        _later("Ring Type On Seat Mode", "not built: no seat (headset-only) mode yet"),
        Entry("BLF Mode", "phone.blf_mode"),
        _group("Keys"),
        Entry("Long Press (ms)", "hardware.long_press_ms"),
        Entry("Key Repeat (ms)", "hardware.repeat_ms"),
        Entry("Key Debounce (ms)", "hardware.debounce_ms")), role="admin"),
    "call": Page("Call", (
        Entry("Hot Number", "phone.hotline"), Entry("Hot Line Delay", "phone.hotline_delay"),
        Entry("Call Waiting", "phone.call_waiting"),
        Entry("Call Waiting Tone", "phone.call_waiting_tone"),
        Entry("Auto Answer", "phone.auto_answer"),
        Entry("Auto Answer Mode", "phone.auto_answer_mode"),
        Entry("Auto Answer Delay", "phone.auto_answer_delay"),
        Entry("Pickup Code", "phone.pickup_code", role="admin"), Entry("Message", "phone.voicemail"),
        Entry("Play Voice Mail Tone", "phone.voicemail_tone"),
        Entry("Miss Call Display", "phone.missed_call_display"),
        Entry("Call List Save", "phone.call_log_save"),
        Entry("Call List Size", "phone.call_log_size"), Entry("Do Not Disturb", "phone.dnd"),
        Entry("Fuzzy Search", "phone.fuzzy_search"),
        _later("Transfer Code", "not needed: this phone transfers with SIP REFER (the "
               "TRANSFER key, Transfer Mode below), which takes no code"),
        Entry("DND Soft Key", "phone.dnd_softkey"),
        Entry("Play Hang Up Tone", "phone.hangup_tone"),
        Entry("Transfer Mode", "phone.transfer_mode"),
        Entry("Conference Exit Result", "phone.conference_exit"),
        Entry("Return Code When Refuse", "phone.reject_code", role="admin"),
        Entry("Return Code When DND", "phone.dnd_code", role="admin"),
        Entry("Flash Hook Time", "hardware.flash_hook_ms", role="admin"),
        Entry("Dial Timeout", "phone.dial_timeout"),
        Entry("Emergency Numbers", "phone.emergency", role="admin"),
        Entry("Default Account", "phone.default_account"),
        Entry("Blind Transfer Call Back", "phone.blind_transfer_callback"),
        Entry("Call Ended Screen", "phone.ended_screen"))),
    "forward": Page("VOIP Call Forward", (
        Entry("All Ways", "forward.always"), Entry("If Busy", "forward.busy"),
        Entry("If No Answer", "forward.no_answer"),
        Entry("No Answer Time", "forward.no_answer_seconds"))),
    "time": Page("Set Time", (
        Entry("Set Time Mode", "time.mode"), Entry("SNTP Server", "time.sntp_server"),
        Entry("Update Interval", "time.update_interval"),
        Entry("Daylight Saving Time", "time.dst"), Entry("Time Format", "phone.time_format"),
        Entry("Date Format", "phone.date_format"), Entry("Time Zone-GMT", "time.time_zone")),
        role="admin"),
    "dialplan": Page("Dial Plan", (
        Entry("Dial Plan Rules", "dialplan.rules"), Entry("Digit Map", "dialplan.digit_map")),
        role="admin"),
    "ipstrategy": Page("IP Strategy", (
        Entry("IP Strategy", "phone.ip_strategy"), Entry("Allowed IPs", "phone.ip_allow"),
        Entry("Accept SIP From Trusted Servers Only", "sip.trusted_only"),
        Entry("Trusted Servers", "sip.trusted"), Entry("Flood Limit", "sip.flood_limit")),
        role="admin"),
    # manual §7 "Global SIP": what every line's SIP shares
    "sip": Page("Global SIP", (
        Entry("User Agent", "sip.user_agent"), Entry("PRACK (100rel)", "sip.prack"),
        Entry("Unregister On Boot", "sip.unregister_on_boot"),
        Entry("Failover Timeout", "sip.failover_timeout"),
        Entry("Failback Interval", "sip.failback_interval")), role="admin"),
    "log": Page("Log", (
        Entry("Log Level", "log.level"), Entry("SIP Trace", "log.sip_trace"),
        Entry("Log File Size (KiB)", "log.max_kb"), Entry("Log Files Kept", "log.keep"),
        Entry("Download the phone log", action="link:/api/logs/phone.log"),
        Entry("Download the SIP trace", action="link:/api/logs/sip.log")),
        role="admin"),
    # manual §7 "Auto Provision": its fields (ui/web/maintenance.py shows Auto Provision
    # Now and the last run's result above the form)
    "provision": Page("Auto Provision", (
        _group("Server"),
        Entry("Auto Provision", "provisioning.enable"),
        Entry("Protocol", "provisioning.protocol"),
        Entry("Software Server URL", "provisioning.url"),
        Entry("Username", "provisioning.username"), Entry("Password", "provisioning.password"),
        Entry("Server Timeout (s)", "provisioning.timeout"),
        Entry("Server From DHCP Option 66", "provisioning.dhcp_option66"),
        Entry("HTTPS CA Certificates (PEM file)", "provisioning.ca_file"),
        Entry("AES Key", "provisioning.aes_key"),
        Entry("Download Filename (MAC case)", "provisioning.filename_case"),
        _group("What"),
        Entry("Auto Download Software", "provisioning.firmware"),
        Entry("Auto Download Config File", "provisioning.config"),
        Entry("Auto Download Expansion", "provisioning.expansion"),
        Entry("Auto Download Enterprise Phonebook", "provisioning.enterprise_phonebook"),
        Entry("Auto Download Personal Phonebook", "provisioning.personal_phonebook"),
        Entry("New Firmware Healthy Within (s)", "provisioning.health_seconds"),
        _group("When"),
        Entry("Booting Checked", "provisioning.on_boot"),
        Entry("Timing Auto Provision", "provisioning.periodic"),
        Entry("Auto Provision Frequency (hours)", "provisioning.frequency_hours"),
        Entry("Auto Provision Time", "provisioning.time"),
        Entry("Random Delay (s)", "provisioning.random_delay"),
        Entry("When The PBX Asks (NOTIFY check-sync)", "provisioning.accept_notify")),
        role="admin"),
    "defaults": Page("Default Setting", (Entry("Reset to Factory Setting", action="defaults"),),
                     role="admin"),
    "reboot": Page("Reboot", (Entry("Reboot", action="reboot"),), role="admin"),
    "ldap": _web_ldap(),
}


def web_pages() -> list[str]:
    """The web pages with a form or text, in the order of the page list."""
    return [e.page for e in WEB["index"].entries if e.page]


@functools.cache                  # the model is fixed: walked once, not once per setting
def _lcd_paths() -> dict[str, str]:
    """Setting key -> its LCD path from MENU ("Function setting > DND > Line 1"), the first
    found walking the tree in the order a person sees it."""
    out: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [("main", ())]
    seen: set[str] = set()
    while todo:
        name, path = todo.pop(0)
        if name in seen or name not in TREE:
            continue
        seen.add(name)
        for e in TREE[name].entries:
            if e.setting:
                out.setdefault(e.setting, " > ".join((*path, e.label)))
            elif e.page:
                todo.append((e.page, (*path, e.label)))
    return out


@functools.cache
def _web_places() -> dict[str, str]:
    """Setting key -> the web page it is on, as the page list names it, and its address
    ("Call (/settings/call)")."""
    out: dict[str, str] = {}
    for e in WEB["index"].entries:
        for f in WEB[e.page].entries if e.page in WEB else ():
            if f.setting:
                out.setdefault(f.setting, f"{e.label} (/settings/{e.page})")
    return out


# settings changed through a page that is not a form of the model: the sign-in's own pages,
# the LCD's typed date and time
_ELSEWHERE = {"web.user": ("", "Password (/password)"),
              "web.password_hash": ("", "Password (/password)"),
              "time.manual_offset": ("Function setting > Time & date > Manual setting", "")}


def where(key: str) -> str:
    """Where a person changes a setting: its LCD path and its web page ("" on neither; the
    README's settings table, `python -m firmware settings --markdown`)."""
    lcd, web = _lcd_paths().get(key, ""), _web_places().get(key, "")
    for prefix, (lcd_there, web_there) in _ELSEWHERE.items():
        if key.startswith(prefix):
            lcd, web = lcd or lcd_there, web or web_there
    return "; ".join(p for p in (f"LCD: {lcd}" if lcd else "",
                                 f"web: {web}" if web else "") if p)
