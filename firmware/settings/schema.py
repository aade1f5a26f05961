"""The settings schema: one Record per section, one field per setting, each with its
default, its check and a line of help (README's table and the API's are made from them).

FIELDS maps every dotted key ("account.1.expires") to its field, in schema order.

Sections are Records (firmware/record.py), not dataclasses: they are read before the first
REGISTER, and dataclasses would cost ~7 ms of every start there. The sections are compared
value by value (SettingsStore.update, to_document), never as objects (eq=False).
"""
from __future__ import annotations

from typing import Any, Callable

from firmware.i18n import languages
from firmware.record import Field, Record, field, replace

from firmware.settings.checks import (_dial_code, _hhmm, _host_port, _ip, _ip_or_net, _ipv4_or_none,
                                      _listen, _login_name, _mac, _multicast_group, _number_pattern,
                                      _server_url, _sip_user, _target, _text, _web_port)
from firmware.settings.passwords import parse_password_hash
from firmware.sip import codecs as codec_names   # pure (no pjsua2): what sip.codecs may hold
from firmware.timeofday import ZONES

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
    max_len bounds a string (or each entry of a list), min/max a number or a list's entries."""
    return field(default=default, metadata=dict(doc=doc, min=min, max=max, choices=choices,
                                                check=check, secret=secret, restart=restart,
                                                max_len=max_len))


def _check_digit_map(value):
    """The dial plan's own check, imported when a digit map is first checked (the dial
    plan is not needed on the way to the first REGISTER: 4 ms)."""
    from firmware.call.dialplan import check_digit_map
    return check_digit_map(value)


def _check_rule(value):
    from firmware.call.dialplan import check_rule
    return check_rule(value)

class SipSettings(Record, eq=False):
    """[sip]: the SIP stack: ports, transport, timers, who is trusted."""
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
    # manual §7 Advance > Phone Setting > QoS: DSCP marks for the office switch's queues
    qos_sip: int = setting(26, "DSCP of the SIP packets the phone sends, 0-63 (manual: Sip "
                           "QoS; 26 = AF31, 0 = unmarked)", min=0, max=63, restart=True)
    qos_voice: int = setting(46, "DSCP of the RTP voice packets the phone sends, 0-63 "
                             "(manual: Voice QoS; 46 = EF, 0 = unmarked)", min=0, max=63,
                             restart=True)
    # manual §7 "Audio" > Audio Codecs: the Enabled list (firmware/sip/codecs.py)
    codecs: tuple = setting(codec_names.FACTORY,
                            "audio codecs offered and accepted, preferred first (manual: "
                            "Audio Codecs, Enabled list); one not listed is disabled. Names: "
                            "G722, PCMA (G.711A), PCMU (G.711U), G729, G7231, GSM, iLBC, "
                            "speex[/rate], opus...; one this build lacks is skipped (logged)",
                            check=codec_names.check_name, min=1, max=20, max_len=24)
    flood_limit: int = setting(20, "an address that is not a line's server and leaves this "
                               "many calls unanswered within 2 s (a scanner, a flood) has its "
                               "calls refused (503) until it is quiet for 60 s; 0 = off",
                               min=0, max=1000)


class AccountSettings(Record, eq=False):
    """[account.N]: one line (account) and its server."""
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
    ring_type: int = setting(0, "ring type of this line, 1-5; 0 = volume.ring_type",
                             choices=(0, 1, 2, 3, 4, 5))


class PhoneSettings(Record, eq=False):
    """[phone]: how calls are placed, answered, refused and shown."""
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
    fuzzy_search: bool = setting(True, "digits typed at idle also show the names they "
                                 "spell on the keypad and the numbers they are in (phone "
                                 "books, call log); Up/Down pick one (manual: fuzzy search)")
    blacklist: tuple = setting((), "callers refused on every line (numbers, or prefixes "
                               "ending in *); Phone Book > BanList keeps entries with a name "
                               "and a line", check=_number_pattern)
    ip_strategy: bool = setting(False, "accept calls only from the addresses in ip_allow")
    ip_allow: tuple = setting((), "addresses or networks calls are accepted from when "
                              "ip_strategy is on", check=_ip_or_net)
    emergency: tuple = setting(("911", "112"), "numbers that always dial at once, on any line",
                               check=_number_pattern)
    # manual §7 Advance > Phone Setting > Basic "Key Board Lock" (firmware/features/keylock.py)
    keylock: str = setting("off", "keyboard lock (manual: Key Board Lock): menu key, function "
                           "keys (digits, speaker and call keys stay), all keys, or lock & "
                           "answer (all keys, auto answer on); locks when set, a long # locks "
                           "again; emergency numbers always dial",
                           choices=("off", "menu key", "function keys", "all keys",
                                    "lock & answer"))
    keylock_password: str = setting("", "password that unlocks the keys, typed on the LCD; "
                                    "empty as from the factory (manual): OK alone unlocks",
                                    secret=True, check=_text, max_len=32)
    dtmf_mode: str = setting("rfc2833", "how keys are sent in a call",
                             choices=("rfc2833", "inband", "info", "auto"))
    dtmf_payload: int = setting(101, "RTP payload type of RFC 2833 events", min=96, max=127,
                                restart=True)
    call_log_size: int = setting(100, "entries kept in each call list (missed, received, "
                                 "dialled)", min=10, max=1000)
    call_log_save: bool = setting(True, "keep the call lists in DIR/calllog.json across "
                                  "restarts (manual: Call List Save); off: in memory only, "
                                  "the file is removed")
    default_account: int = setting(1, "account used when going off-hook", min=1, max=ACCOUNTS)
    ended_screen: int = setting(3, "seconds the 'call ended' screen stays on speaker/headset "
                                "(only a screen: the next call replaces it)", min=0, max=60)
    language: str = setting("en", "language of the LCD: en, or a language with a catalog in "
                            "firmware/locale (zh: Chinese)", choices=languages())
    time_format: int = setting(24, "clock on the idle screen: 24 or 12 hour", choices=(12, 24))
    date_format: str = setting("%a %d %b", "strftime format of the date on the idle screen "
                               "(the LCD offers the manual's list; any format is taken)",
                               check=_text)
    missed_call_display: bool = setting(True, "show the missed call count on the idle screen")
    dnd_softkey: bool = setting(True, "the DND soft key on the idle screen (manual: DND Soft "
                                "key); off: DND only from the menu, the web or a DND key")
    hangup_tone: bool = setting(True, "after the far end ends a call that was talking, the "
                                "fast busy tone until the handset is put down (manual: Play "
                                "Hang up Tone); off: silence")
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


class TimeSettings(Record, eq=False):
    """[time]: manual §6 "Time & date", §7 "Set Time": where the time shown comes from and
    its zone (firmware/timeofday.py; SNTP: firmware/features/clock.py). The OS clock itself
    is never set; 12/24 h and the date's format are phone.time_format, phone.date_format."""
    mode: str = setting("system", "where the time shown comes from (manual: Set Time Mode): "
                        "system (the OS clock as it is), sntp (sntp_server's time), sip (the "
                        "Date of the registrar's answer to our REGISTER; manual: SIP server), "
                        "manual (Function setting > Time & date > Manual setting)",
                        choices=("system", "sntp", "sip", "manual"))
    sntp_server: str = setting("pool.ntp.org", "SNTP server, host or host:port (manual: SNTP "
                               "Server)", check=_host_port)
    update_interval: int = setting(3600, "seconds between SNTP queries (manual: Update "
                                   "Interval); a failed one is tried again within a minute",
                                   min=60, max=604800)
    time_zone: str = setting("system", "time zone shown (manual: Time Zone-GMT): system (the "
                             "OS's local time) or GMT-12:00 ... GMT+14:00",
                             choices=("system", *ZONES))
    dst: bool = setting(False, "daylight saving time: the time zone + 1 hour (manual: Daylight "
                        "Saving Time); with time_zone system the OS's own rules apply")
    manual_offset: int = setting(0, "seconds the time set by hand is ahead of the OS clock "
                                 "(written by Manual setting; used while mode is manual)",
                                 min=-4_000_000_000, max=4_000_000_000)


class ForwardSettings(Record, eq=False):
    """[forward]: call forwarding."""
    always: str = setting("", "forward every call to this number (manual: unconditional)",
                          check=_target)
    busy: str = setting("", "forward when busy (a call up and call waiting off, or DND)",
                        check=_target)
    no_answer: str = setting("", "forward a call not answered in no_answer_seconds",
                             check=_target)
    no_answer_seconds: int = setting(20, "seconds a call rings before no-answer forwarding",
                                     min=1, max=300)


class DialplanSettings(Record, eq=False):
    """[dialplan]: the digit map and dial rules (firmware/call/dialplan.py)."""
    digit_map: str = setting("", "digit map (Cisco/Linksys style, e.g. (*xx|[2-9]xxx|"
                             "9[2-9]xxxxxx|0.)); empty = none", check=_check_digit_map,
                             max_len=4096)
    rules: tuple = setting((), "dial rules, e.g. \"prefix=9 delete=1\", \"prefix=8 "
                           "ip=192.168.1.20\" (README: Dial plan)", check=_check_rule)


class ProvisioningSettings(Record, eq=False):
    """[provisioning]: where and when the phone fetches its files."""
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


class HardwareSettings(Record, eq=False):
    """[hardware]: key and hook timing, the MAC."""
    debounce_ms: int = setting(20, "keypad and hook switch debounce", min=1, max=200,
                               restart=True)
    long_press_ms: int = setting(800, "a key held this long is a long press (C clears, "
                                 "arrows repeat)", min=200, max=5000, restart=True)
    repeat_ms: int = setting(120, "auto-repeat interval of held arrow and volume keys", min=30,
                             max=1000, restart=True)
    flash_hook_ms: int = setting(500, "a hook press shorter than this is a flash, not a "
                                 "hang-up (manual: flash hook time)", min=100, max=2000,
                                 restart=True)
    mac: str = setting("", "the phone's MAC for provisioning file names; empty = the "
                       "network card's (sim board: made up once per data dir)", check=_mac)


class LcdSettings(Record, eq=False):
    """[lcd]: contrast and backlight."""
    contrast: int = setting(5, "LCD contrast, 1-10", min=1, max=10)
    backlight: int = setting(8, "LCD backlight brightness, 0 (off) - 10", min=0, max=10)
    backlight_timeout: int = setting(60, "seconds without activity before the backlight "
                                     "dims; 0 = always on", min=0, max=3600)
    advanced_password: str = setting("", "password of System setting > Advanced setting on "
                                     "the LCD; empty as from the factory (manual §6)",
                                     secret=True, max_len=32)


def _level(doc: str):
    return setting(5, doc + ", 1-9 (5 = as made; each step 2 dB)", choices=tuple(range(1, 10)))


class VolumeSettings(Record, eq=False):
    """[volume]: manual §6 "Volume setting": nine levels each, kept across restarts (the
    VOL keys, and Up/Down at idle for the ringer, change them too)."""
    ring: int = _level("ring volume")
    handset: int = _level("handset volume")
    handset_mic: int = _level("handset microphone volume")
    speaker: int = _level("hands-free speaker volume")
    speaker_mic: int = _level("hands-free microphone volume")
    headset: int = _level("headset volume")
    headset_mic: int = _level("headset microphone volume")
    ring_type: int = setting(1, "ring type of every line (manual §6 \"Ring type\"), 1-5",
                             choices=(1, 2, 3, 4, 5))


class NetworkSettings(Record, eq=False):
    """[network]: manual §6 "Network Setting" (Type, IP, Mask, GW, DNS1, DNS2). Applied as
    the board file's [network] apply says (firmware/system/network.py); the sim board
    keeps them and says it leaves the PC's network alone."""
    mode: str = setting("dhcp", "how the phone gets its address: dhcp or static",
                        choices=("dhcp", "static"))
    ip: str = setting("", "static IP address", check=_ipv4_or_none)
    mask: str = setting("", "static subnet mask, e.g. 255.255.255.0", check=_ipv4_or_none)
    gateway: str = setting("", "static default gateway", check=_ipv4_or_none)
    dns1: str = setting("", "primary DNS server (static)", check=_ipv4_or_none)
    dns2: str = setting("", "secondary DNS server (static)", check=_ipv4_or_none)


class WebSettings(Record, eq=False):
    """[web]: the web page and API and their sign-in."""
    listen: str = setting("auto", "address:port of the web page and API; auto = the board's "
                          "(a phone: every address on web.port; the sim board: 127.0.0.1:8080);"
                          " empty = off (python -m firmware --http overrides)",
                          check=lambda v: v == "auto" or _listen(v), restart=True)
    port: int = setting(80, "HTTP Port (manual: Network > Port Management): the web page's port"
                        " when web.listen is auto on a phone; not one browsers refuse (6000, "
                        "10080...)", min=1, max=65535, restart=True, check=_web_port)
    user: str = setting("root", "administrator's web and API login name", check=_login_name)
    password_hash: str = setting("", "hash of the administrator's web password; empty = factory "
                                 "password 'root' (set it with: python -m firmware passwd)",
                                 secret=True, check=lambda v: v and parse_password_hash(v))
    user_name: str = setting("user", "the user role's login name (the desk user: forwarding, "
                             "DND, ring, volumes...; firmware/roles.py)", check=_login_name)
    user_password_hash: str = setting("", "hash of the user role's password; empty = the user "
                                      "cannot sign in (python -m firmware passwd --role user)",
                                      secret=True, check=lambda v: v and parse_password_hash(v))
    user_must_change: bool = setting(False, "the user's password was set by the administrator:"
                                     " the user changes it at the next sign-in")


class PagingSettings(Record, eq=False):
    """[paging]: intercom calls and multicast pages."""
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


class LogSettings(Record, eq=False):
    """[log]: DIR/logs."""
    level: str = setting("info", "log level of DIR/logs/phone.log",
                         choices=("debug", "info", "warning", "error"))
    sip_trace: bool = setting(False, "write every SIP message to DIR/logs/sip.log (at once)")
    max_kb: int = setting(1024, "size of a log file before it is rotated (KiB)", min=16,
                          max=1048576)
    keep: int = setting(5, "rotated log files kept", min=1, max=100)


def _ldap_check(what: str):
    """firmware/directory/ldap.py's check, imported when an [ldap] value is first checked."""
    def check(value):
        from firmware.directory import ldap
        return getattr(ldap, f"check_{what}")(value)
    return check


class LdapServerSettings(Record, eq=False):
    """[ldap2]: a second LDAP server, searched after [ldap]'s (manual §1 "LDAP(2)")."""
    server: str = setting("", "LDAP server's DNS name or IP address; empty = not used",
                          check=_ldap_check("host"))
    port: int = setting(389, "LDAP server port (389; LDAPS: 636)", min=1, max=65535)
    base: str = setting("", "search base, e.g. ou=people,dc=example,dc=com", check=_text)
    user: str = setting("", "bind DN (simple bind); empty = anonymous", check=_text)
    password: str = setting("", "bind password", secret=True, check=_text)
    name_filter: str = setting("(|(cn=%)(sn=%))", "filter of a name search: % or %s is what "
                               "was typed + * (a prefix), escaped (RFC 4515)",
                               check=_ldap_check("filter"))
    number_filter: str = setting("(|(telephoneNumber=%)(mobile=%)(homePhone=%))", "filter of "
                                 "a number search, % or %s as in name_filter",
                                 check=_ldap_check("filter"))
    name_attributes: tuple = setting(("cn",), "attributes of a hit's name, the first one "
                                     "the entry has is shown", min=1, max=10,
                                     check=_ldap_check("attribute"))
    number_attributes: tuple = setting(("telephoneNumber", "mobile", "homePhone"),
                                       "attributes of a hit's numbers", min=1, max=10,
                                       check=_ldap_check("attribute"))
    max_hits: int = setting(50, "most hits asked of the server; 0 = all (a search keeps the "
                            "first 500 of both servers)", min=0, max=32000)
    version: int = setting(3, "LDAP protocol version of the bind", choices=(2, 3))
    security: str = setting("none", "none, starttls (on the port) or ldaps (TLS from the "
                            "start)", choices=("none", "starttls", "ldaps"))
    ca_file: str = setting("", "CA certificates (PEM file) the server's certificate is "
                           "checked against; empty = the system's", check=_text)
    timeout: int = setting(3, "seconds to connect and to wait for each answer", min=1, max=30)


class LdapSettings(LdapServerSettings, eq=False):
    """[ldap]: the LDAP phone book (manual: LDAP appendix); [ldap2] a second server."""
    incoming: bool = setting(False, "look the caller's number up while a call rings (the "
                             "name is shown when it comes; the ring never waits)")
    dial: bool = setting(False, "look up the digits typed (predial: the servers' hits join "
                         "the search row once typing pauses) and a number we call as the "
                         "call goes out (its name on the calling and talking screens); "
                         "manual: lookup for predial/dial")
    sort: bool = setting(False, "sort hits by name (by number when they have no name)")
    search_delay: int = setting(0, "ms the LCD's LDAP search waits after the last key (a key "
                                "within it starts the wait again; manual: Search Delay)",
                                min=0, max=2000)


class Settings(Record, eq=False):
    """Every section; one object for the life of the process (SettingsStore)."""
    sip: SipSettings = field(default_factory=SipSettings)
    account: dict[int, AccountSettings] = field(
        default_factory=lambda: {i: AccountSettings() for i in range(1, ACCOUNTS + 1)})
    phone: PhoneSettings = field(default_factory=PhoneSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    forward: ForwardSettings = field(default_factory=ForwardSettings)
    dialplan: DialplanSettings = field(default_factory=DialplanSettings)
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    hardware: HardwareSettings = field(default_factory=HardwareSettings)
    lcd: LcdSettings = field(default_factory=LcdSettings)
    volume: VolumeSettings = field(default_factory=VolumeSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    web: WebSettings = field(default_factory=WebSettings)
    log: LogSettings = field(default_factory=LogSettings)
    paging: PagingSettings = field(default_factory=PagingSettings)
    ldap: LdapSettings = field(default_factory=LdapSettings)
    ldap2: LdapServerSettings = field(default_factory=LdapServerSettings)

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
        """Every section copied (the accounts each), so changing the copy leaves this."""
        copied = {}
        for name in self._names:
            value = getattr(self, name)
            copied[name] = ({i: replace(a) for i, a in value.items()}
                            if isinstance(value, dict) else replace(value))
        return Settings(**copied)


SECTIONS: dict[str, type] = {"sip": SipSettings, "phone": PhoneSettings,
                             "time": TimeSettings,
                             "forward": ForwardSettings, "dialplan": DialplanSettings,
                             "provisioning": ProvisioningSettings,
                             "hardware": HardwareSettings, "lcd": LcdSettings,
                             "volume": VolumeSettings, "network": NetworkSettings,
                             "web": WebSettings, "log": LogSettings,
                             "paging": PagingSettings, "ldap": LdapSettings,
                             "ldap2": LdapServerSettings}
SECTIONS.update({f"account.{i}": AccountSettings for i in range(1, ACCOUNTS + 1)})


def fields() -> list[tuple[str, Field]]:
    """Every setting as (dotted key, field), in schema order."""
    out = []
    for sec, cls in SECTIONS.items():
        for f in cls._fields.values():
            out.append((f"{sec}.{f.name}", f))
    return out


FIELDS = dict(fields())
