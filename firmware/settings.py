"""Settings: one typed schema, validated on every way in, written atomically.

`DIR/settings.toml` holds what differs from the factory defaults. Every section is a
dataclass below; every field carries its default, its check and a line of help, and
README's settings table is generated from the same fields (`python -m firmware settings`).

A bad file or a bad value never stops the phone: a value that fails its check is
replaced by the last good value of that key (or the default), a file that does not parse
(however deep its nesting), is larger than MAX_FILE or is empty is left as it is for the
administrator to fix while the phone runs on the last good settings (DIR/.settings.good.toml,
written after every load without problems and every save), and each problem is reported as
"key: reason" to the log, the LCD status line and the API. Values are bounded: strings
MAX_TEXT characters unless a field says otherwise, lists MAX_ITEMS entries.

The data dir is the owner's alone (0700) and the files holding passwords are 0600, also
when they were created by someone else's umask: the store fixes both at every load.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import tomli_w

from firmware.call.dialplan import check_digit_map, check_rule
from firmware.errors import SettingError, SettingsInvalid
from firmware.files import atomic_write  # noqa: F401 - the one writer; importers use it from here too

log = logging.getLogger(__name__)

ACCOUNTS = 3  # the ES330 has three lines
MAX_FILE = 1 << 20          # settings.toml: what differs from the defaults is a few KiB
MAX_TEXT = 1024             # characters of a string setting (max_len= says otherwise)
MAX_ITEMS = 100             # entries of a list setting (max= says otherwise)
MAX_NUMBER_TEXT = 20        # digits of a number given as a string ("3600")
DIR_MODE, FILE_MODE = 0o700, 0o600


def setting(default: Any, doc: str, *, min: int | None = None, max: int | None = None,
            choices: tuple | None = None, check: Callable[[Any], None] | None = None,
            secret: bool = False, restart: bool = False, max_len: int = MAX_TEXT):
    """A schema field: its default, its checks and a line of help for README and the API.
    max_len bounds a string (or each entry of a list), min/max a number, max a list."""
    return field(default=default, metadata=dict(doc=doc, min=min, max=max, choices=choices,
                                                check=check, secret=secret, restart=restart,
                                                max_len=max_len))


# --- value checks -----------------------------------------------------------------------

def _host_port(value: str) -> None:
    """host, host:port, [v6]:port, or a sip: URI; empty allowed (= none)."""
    if not value:
        return
    v = value
    if v.lower().startswith(("sip:", "sips:")):
        v = v.split(":", 1)[1]
    v = v.split(";", 1)[0]
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = v.rpartition(":") if v.count(":") == 1 else (v, "", "")
    if not host or any(ch.isspace() for ch in host) or "@" in host:
        raise ValueError(f"'{value}' is not a host or host:port (example: 192.168.1.10:5060)")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"port in '{value}' must be 1-65535")


def _ip(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address (use 0.0.0.0 for all interfaces)") from None


def _listen(value: str) -> None:
    if not value:
        return  # web server off
    host, sep, port = value.rpartition(":")
    if not sep:
        raise ValueError(f"'{value}' must be address:port, e.g. 127.0.0.1:8080")
    _ip(host.strip("[]"))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}' must be address:port, e.g. 127.0.0.1:8080")


def _sip_user(value: str) -> None:
    if any(ch.isspace() or ch in "@<>\"" for ch in value):
        raise ValueError("must not contain spaces, '@', '<', '>' or quotes (the part before @)")


def _number_pattern(value: str) -> None:
    """A number or a prefix with a trailing * (blacklist, emergency numbers)."""
    body = value[:-1] if value.endswith("*") else value
    if not body or any(ch.isspace() or ch in "@<>\"" for ch in body):
        raise ValueError("must be a number, a user name, or a prefix ending in * (e.g. 1900*)")


def _ip_or_net(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address or network (e.g. 192.168.0.248 or "
                         f"10.0.0.0/8)") from None


def _text(value: str) -> None:
    if any(ch in "\r\n\0" for ch in value):
        raise ValueError("must be a single line")


def _dial_code(value: str) -> None:
    """A feature code: keypad characters only (*8, **, #72, 700)."""
    if value and not re.fullmatch(r"[0-9*#]{1,16}", value):
        raise ValueError(f"'{value}' must be keypad digits, * and # (e.g. *8), at most 16")


# --- the schema ------------------------------------------------------------------------

@dataclass
class SipSettings:
    port: int = setting(5060, "SIP port (UDP) the phone listens on", min=1, max=65535, restart=True)
    bind: str = setting("0.0.0.0", "address SIP and RTP listen on; 0.0.0.0 = every interface",
                        check=_ip, restart=True)
    rtp_port: int = setting(11000, "first RTP port; calls use the ports above it", min=1024,
                            max=65000, restart=True)
    rtp_ports: int = setting(200, "how many RTP ports may be used", min=4, max=10000, restart=True)
    unregister_on_boot: bool = setting(True, "send an unregister before the first REGISTER "
                                       "(clears stale bindings; LP-388 item 7)")
    retry_interval: int = setting(32, "seconds before registering again after a failure "
                                  "(manual: polling interval of registration)", min=1, max=3600)
    failover_timeout: int = setting(8, "seconds a registrar may stay silent before the "
                                    "secondary server is used", min=1, max=120)
    failback_interval: int = setting(60, "while on the secondary server, seconds between "
                                     "checks whether the primary is back", min=1, max=86400)
    keepalive_interval: int = setting(30, "seconds between keep-alives (SIP OPTIONS to the "
                                      "line's own address through its server) while "
                                      "registered: a server that lost the registration is "
                                      "noticed within this time and registered with again, "
                                      "a silent one within this + failover_timeout (manual: "
                                      "UDP keep-alive interval); 0 = off", min=0, max=3600)
    user_agent: str = setting("", "User-Agent header; empty = deskphone/<version>", check=_text)
    prack: str = setting("supported", "reliable provisional responses (RFC 3262): supported "
                         "(used when the far end asks) or required (callers without 100rel "
                         "get 421)", choices=("supported", "required"), restart=True)
    session_timers: bool = setting(False, "refresh calls with session timers (RFC 4028; off "
                                   "by default, LP-388)", restart=True)
    session_expires: int = setting(1800, "session timer interval, seconds", min=90,
                                   max=86400, restart=True)
    trusted_only: str = setting("auto", "accept SIP requests (calls, NOTIFY, MESSAGE, OPTIONS"
                                "...) only from the lines' servers, sip.trusted and "
                                "paging.intercom_allow; others get 403 (\"accept SIP from "
                                "trusted servers only\"). auto: on when a line has a server, "
                                "off on a phone without one (peer-to-peer)",
                                choices=("auto", "on", "off"))
    trusted: tuple = setting((), "more addresses or networks treated as the lines' servers "
                             "(a second PBX node, a voice mail or paging server), e.g. "
                             "10.0.0.5 or 10.0.1.0/24", check=_ip_or_net)
    flood_limit: int = setting(20, "an address that is not a line's server and leaves this "
                               "many calls unanswered within 2 s (a scanner, a flood) has its "
                               "calls refused (503) until it is quiet for 60 s; 0 = off",
                               min=0, max=1000)


@dataclass
class AccountSettings:
    enable: bool = setting(False, "use this account (line)")
    label: str = setting("", "name shown for the line on the LCD; empty = user", check=_text)
    display_name: str = setting("", "caller name sent with calls", check=_text)
    user: str = setting("", "SIP user (extension number)", check=_sip_user)
    auth_user: str = setting("", "authentication user; empty = user", check=_sip_user)
    password: str = setting("", "SIP password", secret=True, check=_text)
    server: str = setting("", "registrar host[:port]; empty = peer-to-peer calls only",
                          check=_host_port)
    secondary_server: str = setting("", "registrar used when the server does not answer",
                                    check=_host_port)
    outbound_proxy: str = setting("", "send every request through this host[:port]",
                                  check=_host_port)
    expires: int = setting(3600, "registration expiry in seconds (manual: minimum 20)",
                           min=20, max=86400)
    anonymous: bool = setting(False, "hide our number on outgoing calls (anonymous call)")
    anonymous_reject: bool = setting(False, "refuse calls that hide their number")
    dnd: bool = setting(False, "do not disturb on this line")
    voicemail: str = setting("", "number the MESSAGE key dials for this line's voice mail; "
                             "empty = phone.voicemail", check=_dial_code)
    mwi: bool = setting(False, "subscribe to message waiting (message-summary) at the "
                        "registrar (manual: Booking Voice Mail); messages the server sends "
                        "unasked light the Message LED either way")


@dataclass
class PhoneSettings:
    dial_timeout: int = setting(5, "seconds after the last digit before the number is sent; "
                                "0 = never", min=0, max=30)
    send_key: str = setting("#", "key that sends the number", choices=("#", "*", "none"))
    call_waiting: bool = setting(True, "accept a second call while in a call")
    call_waiting_tone: bool = setting(True, "beep in the earpiece when a call waits")
    dnd: bool = setting(False, "do not disturb on every line")
    reject_code: int = setting(486, "SIP status sent when a call is rejected (manual: return "
                               "code when refuse)", choices=(480, 486, 603))
    dnd_code: int = setting(486, "SIP status sent while in DND (manual: return code when DND)",
                            choices=(480, 486, 603))
    auto_answer: bool = setting(False, "answer incoming calls by themselves after "
                                "auto_answer_delay seconds (\"AA\" on the idle screen)")
    auto_answer_delay: int = setting(3, "seconds of ringing before auto answer", min=0,
                                     max=60)
    auto_answer_mode: str = setting("speaker", "device auto answer uses",
                                    choices=("speaker", "handset", "headset"))
    ring_timeout: int = setting(120, "seconds an incoming call may ring unanswered before it "
                                "is refused (480) and counted as missed, so calls nobody "
                                "cancels cannot keep the lines busy; no-answer forwarding "
                                "and auto answer still come first", min=5, max=600)
    hotline: str = setting("", "number dialled when going off-hook (manual: hot line)",
                           check=_text)
    hotline_delay: int = setting(0, "0: dial the hotline at once; N: after N seconds "
                                 "without a digit (delayed hot line)", min=0, max=30)
    transfer_mode: str = setting("auto", "TRANSFER key: auto (blind while the target rings, "
                                 "attended once it answers) or consult (attended only; "
                                 "LP-388 'Tran button')", choices=("auto", "consult"))
    blind_transfer_callback: int = setting(5, "when a blind transfer made to us fails (486/404),"
                                           " call the transferor back after this many seconds;"
                                           " 0 = never (LP-388)", min=0, max=60)
    conference_exit: str = setting("end_all", "when we leave a 3-way conference: end_all "
                                   "or transfer (the other two stay connected)",
                                   choices=("end_all", "transfer"))
    blacklist: tuple = setting((), "callers refused (numbers, or prefixes ending in *)",
                               check=_number_pattern)
    ip_strategy: bool = setting(False, "accept calls only from the addresses in ip_allow")
    ip_allow: tuple = setting((), "addresses or networks calls are accepted from when "
                              "ip_strategy is on", check=_ip_or_net)
    emergency: tuple = setting(("911", "112"), "numbers that always dial at once, on any line",
                               check=_number_pattern)
    dtmf_mode: str = setting("rfc2833", "how keys are sent in a call",
                             choices=("rfc2833", "inband", "info", "auto"))
    dtmf_payload: int = setting(101, "RTP payload type of RFC 2833 events", min=96, max=127,
                                restart=True)
    call_log_size: int = setting(100, "entries kept in each call list (missed, received, "
                                 "dialled)", min=10, max=1000)
    default_account: int = setting(1, "account used when going off-hook", min=1, max=ACCOUNTS)
    ended_screen: int = setting(3, "seconds the 'call ended' screen stays on speaker/headset "
                                "(only a screen: the next call replaces it)", min=0, max=60)
    time_format: int = setting(24, "clock on the idle screen: 24 or 12 hour", choices=(12, 24))
    date_format: str = setting("%a %d %b", "strftime format of the date on the idle screen",
                               check=_text)
    missed_call_display: bool = setting(True, "show the missed call count on the idle screen")
    voicemail: str = setting("", "voice mail number of lines without their own "
                             "(manual: Message code)", check=_dial_code)
    voicemail_tone: bool = setting(False, "ring briefly when a new voice message arrives "
                                   "(manual: Play Voice Mail Tone)")
    # programmable keys (manual §7 "Programmable Keys"; firmware/features/memkeys.py, firmware/features/blf.py)
    pickup_code: str = setting("*8", "feature code of group pickup (manual: Pickup Code); a "
                               "Pickup key without a number dials it", check=_dial_code)
    directed_pickup_code: str = setting("**", "feature code put before a number to pick up "
                                        "the call ringing there (Pickup key with a number, "
                                        "BLF key without dialog details)", check=_dial_code)
    park_code: str = setting("", "feature code a Call Park key transfers the call to (before "
                             "the key's number, the park slot); empty = the key's number alone",
                             check=_dial_code)
    park_retrieve_code: str = setting("", "feature code a Call Park key dials when no call is "
                                      "up, to take a parked call back (before the key's number)",
                                      check=_dial_code)
    blf_transfer: str = setting("off", "a BLF key pressed in a call transfers it there: off, "
                                "blind, attended", choices=("off", "blind", "attended"))
    blf_mode: str = setting("dialog", "how BLF keys watch a number: dialog (RFC 4235 dialog "
                            "events: idle, ringing, busy) or presence (PIDF, for servers "
                            "without dialog events: idle, busy)",
                            choices=("dialog", "presence"))
    blf_retry: int = setting(60, "seconds before a refused or lost BLF subscription is tried "
                             "again", min=2, max=3600)


@dataclass
class ForwardSettings:
    always: str = setting("", "forward every call to this number (manual: unconditional)",
                          check=_text)
    busy: str = setting("", "forward when busy (a call up and call waiting off, or DND)",
                        check=_text)
    no_answer: str = setting("", "forward a call not answered in no_answer_seconds",
                             check=_text)
    no_answer_seconds: int = setting(20, "seconds a call rings before no-answer forwarding",
                                     min=1, max=300)


@dataclass
class DialplanSettings:
    digit_map: str = setting("", "digit map (Cisco/Linksys style, e.g. (*xx|[2-9]xxx|"
                             "9[2-9]xxxxxx|0.)); empty = none", check=check_digit_map,
                             max_len=4096)
    rules: tuple = setting((), "dial rules, e.g. \"prefix=9 delete=1\", \"prefix=8 "
                           "ip=192.168.1.20\" (README: Dial plan)", check=check_rule)


def _hhmm(value: str) -> None:
    if value == "":
        return
    h, sep, m = value.partition(":")
    if not (sep and h.isdigit() and m.isdigit() and 0 <= int(h) < 24 and 0 <= int(m) < 60
            and len(m) == 2):
        raise ValueError(f"'{value}' is not a time of day: use HH:MM, e.g. 02:00 (or empty "
                         f"for none)")


def _server_url(value: str) -> None:
    if not value:
        return
    v = value.strip()
    scheme, sep, rest = v.partition("://")
    if sep and scheme.lower() not in ("tftp", "http", "https", "ftp"):
        raise ValueError(f"'{scheme}' is not a provisioning protocol: use tftp, http, https "
                         f"or ftp")
    if not (rest if sep else v) or any(ch.isspace() for ch in v):
        raise ValueError(f"'{value}' is not a server address, e.g. http://10.0.0.5/prov")


def _mac(value: str) -> None:
    if value and not re.fullmatch(r"[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}", value):
        raise ValueError(f"'{value}' is not a MAC address, e.g. 00:26:8b:01:02:03")


@dataclass
class ProvisioningSettings:
    enable: bool = setting(True, "auto provisioning on (manual: Auto Provision)")
    url: str = setting("", "server and path of the files: tftp://, http://, https://, ftp:// "
                       "(any case), or host/path with `protocol`; no file name (appendix 3.2)",
                       check=_server_url)
    protocol: str = setting("tftp", "protocol of a url without scheme (manual: 0 TFTP, 1 "
                            "HTTP, 2 FTP, 3 HTTPS)", choices=("tftp", "http", "ftp", "https"))
    username: str = setting("", "user for HTTP(S)/FTP (unused by TFTP)", check=_text)
    password: str = setting("", "password for HTTP(S)/FTP", secret=True, check=_text)
    timeout: int = setting(10, "seconds a provisioning server may stay silent before the "
                           "check fails", min=1, max=120)
    dhcp_option66: bool = setting(True, "when url is empty, take the server from DHCP "
                                  "option 66 (appendix 3.1)")
    ca_file: str = setting("", "PEM file of the CAs an https server's certificate must chain "
                           "to; empty = the system's CAs", check=_text, max_len=4096)
    on_boot: bool = setting(True, "check at start (manual: Booting Checked)")
    periodic: bool = setting(False, "check on a timer (manual: timing auto provision)")
    frequency_hours: int = setting(24, "hours before the next timed check (manual: Auto "
                                   "Provision Frequency)", min=0, max=8760)
    time: str = setting("02:00", "after frequency_hours, wait for this time of day; empty = "
                        "none (manual: Auto Provision Time)", check=_hhmm)
    random_delay: int = setting(0, "spread a fleet: wait 0..this many seconds before a timed "
                                "or PBX-triggered check", min=0, max=86400)
    aes_key: str = setting("", "key of AES-encrypted files; empty = files are plain "
                           "(README: Provisioning)", secret=True, check=_text)
    filename_case: str = setting("lower", "case of the MAC in the file names the phone asks "
                                 "for (manual: DownloadFilename)", choices=("lower", "upper"))
    firmware: bool = setting(True, "install a newer firmware named by the version file "
                             "(manual: Auto Download Software)")
    config: bool = setting(True, "apply sys_<model>.xml and <MAC>.xml (manual: Auto "
                           "Download Config File)")
    expansion: bool = setting(True, "apply <account>_Extern.xml, the programmable keys "
                              "(manual: Auto Download Expansion)")
    enterprise_phonebook: bool = setting(True, "load Enterprise_Phonebook.xml")
    personal_phonebook: bool = setting(True, "load <account>_Phonebook.xml")
    check_md5: bool = setting(True, "check an image's MD5 too (manual: Check When Upgrade)")
    health_seconds: int = setting(120, "a new firmware must come up healthy within this "
                                  "many seconds, or the phone goes back to the old one",
                                  min=10, max=3600)
    accept_notify: bool = setting(True, "check when the PBX sends NOTIFY Event: check-sync "
                                  "(only from a configured server)")


@dataclass
class HardwareSettings:
    debounce_ms: int = setting(20, "keypad and hook switch debounce", min=1, max=200,
                               restart=True)
    long_press_ms: int = setting(800, "a key held this long is a long press (C clears, "
                                 "arrows repeat)", min=200, max=5000, restart=True)
    repeat_ms: int = setting(120, "auto-repeat interval of held arrow keys and C", min=30,
                             max=1000, restart=True)
    flash_hook_ms: int = setting(500, "a hook press shorter than this is a flash, not a "
                                 "hang-up (manual: flash hook time)", min=100, max=2000,
                                 restart=True)
    mac: str = setting("", "the phone's MAC for provisioning file names; empty = the "
                       "network card's (sim board: made up once per data dir)", check=_mac)


@dataclass
class LcdSettings:
    contrast: int = setting(5, "LCD contrast, 1-10", min=1, max=10)
    backlight: int = setting(8, "LCD backlight brightness, 0 (off) - 10", min=0, max=10)
    backlight_timeout: int = setting(60, "seconds without activity before the backlight "
                                     "dims; 0 = always on", min=0, max=3600)


@dataclass
class WebSettings:
    listen: str = setting("127.0.0.1:8080", "address:port of the web page and API; empty = off "
                          "(python -m firmware --http overrides)", check=_listen, restart=True)
    user: str = setting("root", "web and API login name", check=_sip_user)
    password_hash: str = setting("", "hash of the web password; empty = factory password 'root'"
                                 " (set it with: python -m firmware passwd)", secret=True,
                                 check=lambda v: v and parse_password_hash(v))


def _multicast_group(value: str) -> None:
    """A multicast group to page on: 224.0.0.0/4 address and port."""
    host, sep, port = value.rpartition(":")
    try:
        ok = sep and ipaddress.IPv4Address(host).is_multicast
    except ValueError:
        ok = False
    if not ok or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{value}' is not a multicast group address:port (224.0.0.0 - "
                         f"239.255.255.255, e.g. 239.1.1.1:5000)")


@dataclass
class PagingSettings:
    intercom: bool = setting(True, "answer calls that ask to be answered by themselves (auto-"
                             "answer headers: README \"Paging and intercom\"); off: they ring")
    intercom_allow: tuple = setting((), "addresses or networks, besides the lines' servers, "
                                    "whose calls may ask to be answered by themselves "
                                    "(other phones' intercom keys, a paging gateway); "
                                    "from anyone else such a call rings", check=_ip_or_net)
    max_delay: int = setting(10, "longest answer delay a page may ask for, seconds", min=0,
                             max=60)
    warning_tone: bool = setting(True, "a short beep before a page is heard")
    barge_in: bool = setting(True, "a page during a call is mixed in (we hear both, each far "
                             "end hears only us); off: it is refused busy (486)")
    dnd_emergency: bool = setting(True, "in DND, still take emergency pages (Priority: "
                                  "emergency, priority=emergency, Priv-Answer-Mode)")
    multicast: tuple = setting((), "multicast groups listened to, address:port, highest "
                               "priority first (manual: Paging Setting); at most 10",
                               max=10, check=_multicast_group)
    multicast_interrupt: int = setting(0, "multicast groups 1..N may interrupt a call (it is "
                                       "held and resumed after the page); 0 = none", min=0,
                                       max=10)
    multicast_end_ms: int = setting(1000, "a multicast page ends after this long without "
                                    "RTP", min=200, max=10000)
    multicast_codec: str = setting("pcmu", "codec of the multicast pages we send (G.711 "
                                   "u-law or A-law)", choices=("pcmu", "pcma"))
    multicast_ttl: int = setting(1, "IP TTL of the multicast pages we send (1 = this "
                                 "network only)", min=1, max=255)


@dataclass
class LogSettings:
    level: str = setting("info", "log level of DIR/logs/phone.log",
                         choices=("debug", "info", "warning", "error"))
    sip_trace: bool = setting(False, "write every SIP message to DIR/logs/sip.log",
                              restart=True)
    max_kb: int = setting(1024, "size of a log file before it is rotated (KiB)", min=16,
                          max=1048576)
    keep: int = setting(5, "rotated log files kept", min=1, max=100)


@dataclass
class Settings:
    sip: SipSettings = field(default_factory=SipSettings)
    account: dict[int, AccountSettings] = field(
        default_factory=lambda: {i: AccountSettings() for i in range(1, ACCOUNTS + 1)})
    phone: PhoneSettings = field(default_factory=PhoneSettings)
    forward: ForwardSettings = field(default_factory=ForwardSettings)
    dialplan: DialplanSettings = field(default_factory=DialplanSettings)
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    lcd: LcdSettings = field(default_factory=LcdSettings)
    web: WebSettings = field(default_factory=WebSettings)
    log: LogSettings = field(default_factory=LogSettings)
    paging: PagingSettings = field(default_factory=PagingSettings)

    # dotted access: "account.1.expires"
    def section(self, name: str):
        head, _, idx = name.partition(".")
        if head == "account":
            return self.account[int(idx)]
        return getattr(self, head)

    def get(self, key: str) -> Any:
        sec, _, name = key.rpartition(".")
        return getattr(self.section(sec), name)

    def copy(self) -> Settings:
        return Settings(
            sip=dataclasses.replace(self.sip),
            account={i: dataclasses.replace(a) for i, a in self.account.items()},
            phone=dataclasses.replace(self.phone),
            forward=dataclasses.replace(self.forward),
            dialplan=dataclasses.replace(self.dialplan),
            provisioning=dataclasses.replace(self.provisioning),
            hardware=dataclasses.replace(self.hardware),
            lcd=dataclasses.replace(self.lcd),
            web=dataclasses.replace(self.web),
            log=dataclasses.replace(self.log),
            paging=dataclasses.replace(self.paging),
        )


SECTIONS: dict[str, type] = {"sip": SipSettings, "phone": PhoneSettings,
                             "forward": ForwardSettings, "dialplan": DialplanSettings,
                             "provisioning": ProvisioningSettings,
                             "hardware": HardwareSettings, "lcd": LcdSettings,
                             "web": WebSettings, "log": LogSettings,
                             "paging": PagingSettings}
SECTIONS.update({f"account.{i}": AccountSettings for i in range(1, ACCOUNTS + 1)})


def fields() -> list[tuple[str, dataclasses.Field]]:
    """Every setting as (dotted key, field), in schema order."""
    out = []
    for sec, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            out.append((f"{sec}.{f.name}", f))
    return out


FIELDS = dict(fields())


def check(key: str, value: Any) -> Any:
    """Validate one value for `key`; returns it converted, or raises SettingError."""
    f = FIELDS.get(key)
    if f is None:
        raise SettingError(key if len(key) <= 80 else key[:80] + "...",
                           "unknown setting (see README for the list)")
    m = f.metadata
    want = type(f.default)
    if want is bool:
        if not isinstance(value, bool):
            raise SettingError(key, f"must be true or false (got {value!r})")
    elif want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT and \
                    value.strip().lstrip("-").isdigit():
                value = int(value.strip())
            else:
                raise SettingError(key, f"must be a whole number (got {_short(value)})")
    elif want is str:
        if not isinstance(value, str):
            raise SettingError(key, f"must be a string in quotes (got {_short(value)})")
        _check_length(key, value, m["max_len"])
    elif want is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise SettingError(key, f'must be a list of strings, e.g. ["1005", "1900"] '
                                    f"(got {_short(value)})")
        value = tuple(value)
        most = m["max"] if m["max"] is not None else MAX_ITEMS
        if len(value) > most:
            raise SettingError(key, f"at most {most} entries (got {len(value)})")
        for item in value:
            _check_length(key, item, m["max_len"])
        if m["check"] is not None:
            for item in value:
                try:
                    m["check"](item)
                except ValueError as e:
                    raise SettingError(key, f"{item!r}: {e}") from None
        return value
    if m["min"] is not None and value < m["min"]:
        raise SettingError(key, f"must be at least {m['min']} (got {value})")
    if m["max"] is not None and value > m["max"]:
        raise SettingError(key, f"must be at most {m['max']} (got {value})")
    if m["choices"] is not None and value not in m["choices"]:
        raise SettingError(key, f"must be one of {', '.join(map(str, m['choices']))} "
                                f"(got {value!r})")
    if m["check"] is not None:
        try:
            m["check"](value)
        except ValueError as e:
            raise SettingError(key, str(e)) from None
    return value


def _short(value: Any, limit: int = 60) -> str:
    """repr for an error message: a 10 MB value is named by its size, not repeated."""
    text = repr(value) if not isinstance(value, (list, tuple, dict)) or len(value) < 20 \
        else f"a {type(value).__name__} of {len(value)} entries"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_length(key: str, value: str, most: int) -> None:
    if len(value) > most:
        raise SettingError(key, f"at most {most} characters (got {len(value)})")


def flatten(doc: dict, prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """TOML document -> {"account.1.user": ...}. Tables nest; [account.1] is account -> 1.
    No key is deeper than account.1.user: a table below that is one (unknown) value, so
    nesting of any depth costs nothing here."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            out.update(flatten(v, key + ".", depth - 1))
        else:
            out[key] = v
    return out


def apply(base: Settings, values: dict[str, Any]) -> tuple[Settings, list[SettingError]]:
    """Settings = base with `values` applied; bad or unknown keys keep base's value."""
    new = base.copy()
    problems = []
    for key, value in values.items():
        try:
            value = check(key, value)
        except SettingError as e:
            problems.append(e)
            continue
        sec, _, name = key.rpartition(".")
        setattr(new.section(sec), name, value)
    return new, problems


def to_document(s: Settings, *, only_changed: bool = True) -> dict:
    """Nested dict for TOML: what differs from the defaults (or everything)."""
    defaults = Settings()
    doc: dict = {}
    for key, f in FIELDS.items():
        value = s.get(key)
        if only_changed and value == defaults.get(key):
            continue
        node = doc
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return doc


def factory_values() -> dict[str, Any]:
    """Every setting's factory default, dotted."""
    d = Settings()
    return {k: d.get(k) for k in FIELDS}


def settings_file(s: Settings, *, include_secrets: bool = True) -> bytes:
    """settings.toml as the phone writes it (what differs from the factory)."""
    doc = to_document(s)
    if not include_secrets:
        for key, f in FIELDS.items():
            if f.metadata["secret"]:
                *parts, last = key.split(".")
                node = doc
                for p in parts:
                    node = node.get(p, {})
                node.pop(last, None)
    return HEADER + tomli_w.dumps(doc).encode()


def public(s: Settings) -> dict[str, Any]:
    """Every setting, dotted, secrets masked: what the API shows."""
    out = {}
    for key, f in FIELDS.items():
        value = s.get(key)
        if f.metadata["secret"]:
            value = "********" if value else ""
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


HEADER = (b"# deskphone settings: only what differs from the factory defaults.\n"
          b"# Every key is listed in README.md (or: python -m firmware settings).\n\n")


def assign(dst: Settings, src: Settings) -> None:
    """Copy every value of src into dst, so everyone holding dst sees the change."""
    for key in FIELDS:
        sec, _, name = key.rpartition(".")
        setattr(dst.section(sec), name, src.get(key))


class SettingsStore:
    """Owns DIR/settings.toml and the last good copy beside it.

    `settings` is one object for the life of the process: loads and saves update it
    in place, so modules may keep a reference to it. The store never writes over a
    settings.toml it could not read without keeping it as settings.toml.bad first.
    """

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir)
        self.path = self.dir / "settings.toml"
        self.good_path = self.dir / ".settings.good.toml"
        self.bad_path = self.dir / "settings.toml.bad"
        self.settings = Settings()
        self.problems: list[SettingError] = []
        self.unreadable = False       # settings.toml on disk is not what the phone runs

    def load(self) -> Settings:
        """Read the file; never raises for bad content (see module doc)."""
        secure(self.dir, (self.path, self.good_path, self.bad_path))
        last_good = self._read_good()
        self.problems = []
        self.unreadable = False
        for name in (self.path.name, self.good_path.name, self.bad_path.name):
            for stale in self.dir.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)   # left by a write that was killed
        try:
            raw = _read_bounded(self.path)
        except FileNotFoundError:
            assign(self.settings, Settings())
            return self.settings
        except OSError as e:
            return self._run_on_last_good(last_good, f"cannot read it ({e.strerror or e})")
        except _TooBig as e:
            return self._run_on_last_good(last_good, str(e))
        if not raw.strip():
            return self._run_on_last_good(
                last_good, "the file is empty (a write cut short, or emptied by mistake); "
                "to go back to the factory settings on purpose, delete it or leave a "
                "comment line in it")
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except RecursionError:
            return self._run_on_last_good(last_good, "tables or lists nested too deeply "
                                                     "to read; fix the file")
        except (ValueError, UnicodeDecodeError, MemoryError) as e:
            # TOMLDecodeError is a ValueError; so is a 5000-digit number
            why = str(e) if len(str(e)) <= 200 else str(e)[:200] + "..."
            return self._run_on_last_good(last_good, f"{why}; fix the file")
        values = flatten(doc)
        # a bad key keeps its last good value; a missing key is the factory default
        settings, problems = apply(Settings(), values)
        for i, p in enumerate(problems):
            if p.key in FIELDS:
                sec, _, name = p.key.rpartition(".")
                setattr(settings.section(sec), name, last_good.get(p.key))
                problems[i] = SettingError(p.key, p.reason + (
                    f"; using {_short(last_good.get(p.key))}" if not FIELDS[p.key].metadata[
                        "secret"] else "; using the last good value"))
        self.problems = _few(problems)
        assign(self.settings, settings)
        if self.problems:
            self._log_problems()
        else:
            self._write_good(settings)
        return self.settings

    def update(self, values: dict[str, Any]) -> list[str]:
        """Validate and save a change; all or nothing. Returns the keys that changed."""
        new, problems = apply(self.settings, values)
        if problems:
            raise SettingsInvalid(problems)
        changed = [k for k in FIELDS if new.get(k) != self.settings.get(k)]
        if changed:
            self.save(new)
        return changed

    def save(self, settings: Settings) -> None:
        data = settings_file(settings)
        if self.unreadable:
            self._keep_bad()
        atomic_write(self.path, data)
        assign(self.settings, settings)
        self.problems = []
        self.unreadable = False
        self._write_good(settings)

    def _run_on_last_good(self, last_good: Settings, why: str) -> Settings:
        self.unreadable = True
        self.problems = [SettingError("settings.toml", f"{why} — the phone runs on the last "
                                      f"good settings ({self.good_path.name}) until it is "
                                      "fixed (then restart, or send SIGHUP)")]
        assign(self.settings, last_good)
        self._log_problems()
        return self.settings

    def _keep_bad(self) -> None:
        """A save replaces a file we could not read: keep it for whoever wants to fix it."""
        try:
            atomic_write(self.bad_path, _read_bounded(self.path, MAX_FILE * 16))
            log.warning("settings: the settings.toml the phone could not read is kept as %s",
                        self.bad_path)
        except (OSError, _TooBig) as e:
            log.warning("settings: cannot keep the unreadable settings.toml as %s (%s); it "
                        "is replaced", self.bad_path, e)

    def _read_good(self) -> Settings:
        try:
            doc = tomllib.loads(_read_bounded(self.good_path).decode("utf-8"))
        except (OSError, ValueError, RecursionError, MemoryError, _TooBig):
            return Settings()
        s, _ = apply(Settings(), flatten(doc))
        return s

    def _write_good(self, settings: Settings) -> None:
        try:
            atomic_write(self.good_path, tomli_w.dumps(to_document(settings)).encode())
        except OSError as e:
            log.warning("cannot keep a copy of the good settings: %s", e)

    def _log_problems(self) -> None:
        for p in self.problems:
            log.warning("settings: %s", p)


class _TooBig(Exception):
    pass


def _read_bounded(path: Path, most: int = MAX_FILE) -> bytes:
    """The file's bytes; _TooBig (never a 1 GB read) when it is larger than `most`."""
    with open(path, "rb") as f:
        data = f.read(most + 1)
    if len(data) > most:
        raise _TooBig(f"{path.name} is larger than {most >> 10} KiB (a settings file holds "
                      f"a few KiB); it is not read")
    return data


def _few(problems: list[SettingError], most: int = 20) -> list[SettingError]:
    """A file of 10000 bad keys is one screen of problems, not 10000 log lines."""
    if len(problems) <= most:
        return problems
    return problems[:most] + [SettingError("settings.toml", f"{len(problems) - most} more "
                                           "problems like these")]


def secure(data_dir: Path, secret_files=()) -> None:
    """The data dir 0700 and the files holding passwords 0600, made so if they are not
    (created by hand, by an older firmware or under a loose umask). Never raises: a
    phone that cannot fix a mode still starts, and says so."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for path, mode in ((data_dir, DIR_MODE), *((Path(f), FILE_MODE) for f in secret_files)):
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_mode & 0o777 & ~mode and not os.path.islink(path):
                os.chmod(path, mode)
                log.warning("%s was readable by others (mode %o); made it %o", path,
                            st.st_mode & 0o777, mode)
    except OSError as e:
        log.warning("cannot restrict the modes in %s (%s); other users of this machine may "
                    "read the SIP passwords", data_dir, e)


# --- web password ----------------------------------------------------------------------

_ITER = 200_000
# What a stored hash may ask for: fewer iterations are too cheap to guess against, more
# would make every sign-in a denial of service (a restored hash with 10^9 iterations once
# froze the phone). hash_password always writes _ITER.
ITERATIONS = (100_000, 1_000_000)
FACTORY_PASSWORD = "root"
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_HEX = re.compile(r"[0-9a-f]+")


def _pw_bytes(password: str) -> bytes:
    # surrogatepass: a lone surrogate from JSON ("\ud800") is a wrong password, not a crash
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    dk = hashlib.pbkdf2_hmac("sha256", _pw_bytes(password), salt, _ITER)
    return f"pbkdf2_sha256${_ITER}${salt.hex()}${dk.hex()}"


def parse_password_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a stored hash; ValueError saying what is wrong when it
    is not one hash_password could have written within ITERATIONS, so checking a password
    against it is always bounded work."""
    fix = " (set the password with: python -m firmware passwd)"
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != "pbkdf2_sha256":
        raise ValueError("must look like pbkdf2_sha256$ITERATIONS$SALT$DIGEST" + fix)
    _, iters, salt, digest = parts
    lo, hi = ITERATIONS
    if not iters.isdigit() or not lo <= int(iters[:12]) <= hi:
        raise ValueError(f"iterations must be {lo}-{hi} (got {iters[:12]!r})" + fix)
    if not 32 <= len(salt) <= 128 or len(salt) % 2 or not _HEX.fullmatch(salt):
        raise ValueError("the salt must be 16-64 bytes in lower-case hex" + fix)
    if len(digest) != 64 or not _HEX.fullmatch(digest):
        raise ValueError("the digest must be 32 bytes (SHA-256) in lower-case hex" + fix)
    return int(iters), bytes.fromhex(salt), bytes.fromhex(digest)


def verify_password(password: str, stored: str) -> bool:
    """Checks `password` against a stored hash; empty stored = factory password 'root'.
    A stored hash outside the bounds of parse_password_hash matches nothing (and says so
    in the log) instead of costing unbounded time."""
    if not stored:
        return hmac.compare_digest(_pw_bytes(password), FACTORY_PASSWORD.encode())
    try:
        iters, salt, digest = parse_password_hash(stored)
    except ValueError as e:
        log.warning("web.password_hash refused, nobody can sign in with it: %s", e)
        return False
    return hmac.compare_digest(hashlib.pbkdf2_hmac("sha256", _pw_bytes(password), salt, iters),
                               digest)


def password_problem(new: str, user: str) -> str | None:
    """Why `new` may not be the web password (None: it may), in words for the person."""
    if len(new) < PASSWORD_MIN:
        return f"the new password must have at least {PASSWORD_MIN} characters"
    if len(new) > PASSWORD_MAX:
        return f"the new password may have at most {PASSWORD_MAX} characters"
    if new.lower() in (user.lower(), FACTORY_PASSWORD) or len(set(new)) < 3:
        return ("the new password must not be the user name, the factory password or one "
                "character repeated: choose another")
    if new.lower() in _COMMON:
        return "the new password is one of the most common ones: choose another"
    if any(ch in new for ch in "\r\n\0"):
        return "the new password must be a single line"
    return None


_COMMON = {"password", "12345678", "123456789", "1234567890", "87654321", "11111111",
           "00000000", "qwertyui", "qwerty123", "admin123", "administrator", "rootroot",
           "iloveyou", "passw0rd", "password1", "letmein1", "abcd1234", "changeme"}
