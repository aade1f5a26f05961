"""Escene's XML provisioning files, mapped onto our settings and key layout.

`<MAC>.xml` and `sys_<model>.xml` are `<all>` holding sections: a plural container of
singular elements (`<sipUsers><sipUser id="0" .../></sipUsers>`), every setting an
attribute, ids 0-based, the vendor's spellings kept (`Privisions`, `Freqency`, ...).
docs/provisioning-files.md has the full field map and the reasons behind each entry.

Reading never changes a setting: `parse_config` returns the values it found (checked with
`firmware.settings.check`), what it ignored (for the log) and what is wrong (the engine then
applies nothing from the file). `export_config` writes our settings in the same format, plus
a `<deskphones>` section of our own for settings Escene has no field for, so that export
and import round-trip every setting.
"""
from __future__ import annotations

import json
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from firmware.errors import SettingError
from firmware import timeofday
from firmware.settings import (ACCOUNTS, FIELDS, Settings, check, flatten, hash_password,
                               password_problem)
from firmware.sip import codecs as codec_names
from provisioning import crypto
from provisioning.errors import BadFile, DecryptError
from provisioning.keys import (MEMORY_KEYS, MEMORY_TYPES, MODULE_KEYS, MODULES,
                               PROGRAM_FUNCTIONS, PROGRAM_KEY_IDS, KeyLayout, MemoryKey,
                               ProgramKey)

MAX_BYTES = 1 << 20          # a config or keys file; a full Escene MAC file is ~30 KiB
AUTO_LINE = 127              # SipAccounts / accountid: no particular line
ESCENE_LINES = 8             # sipUser id 0..7 exist in Escene files


# --- safe XML -------------------------------------------------------------------------

class _LineBuilder:
    """TreeBuilder target that remembers the line each element starts on. A namespace is
    dropped from element names: some PBXs put a default xmlns on a Yealink phone book
    (`<YealinkIPPhoneDirectory xmlns="http://www.w3.org/2005/Atom">`), which names nothing
    the phone reads; Escene files have none."""

    def __init__(self, lines: dict):
        self.tb = ET.TreeBuilder()
        self.lines = lines
        self.expat = None

    def start(self, tag, attrs):
        elem = self.tb.start(tag.rpartition("}")[2], attrs)
        self.lines[elem] = self.expat.CurrentLineNumber if self.expat else 0
        return elem

    def end(self, tag):
        return self.tb.end(tag.rpartition("}")[2])

    def data(self, text):
        self.tb.data(text)

    def close(self):
        return self.tb.close()


def parse_xml(data: bytes, *, name: str, max_bytes: int = MAX_BYTES,
              root: str | tuple[str, ...] = "all"
              ) -> tuple[ET.Element, dict[ET.Element, int]]:
    """The root element and each element's line; BadFile for anything we refuse. `root`:
    the root element expected, or those accepted (a phone book import tells the format by it).

    No DTD, no entity declarations, no external references: provisioning files have none,
    and each is a known attack (billion laughs, reading local files).
    """
    if len(data) > max_bytes:
        raise BadFile(f"{name} is {len(data)} bytes; the limit is {max_bytes // 1024} KiB")
    if crypto.is_encrypted(data):
        raise DecryptError(f"{name} is AES-encrypted: set provisioning.aes_key")
    if not data.strip():
        raise BadFile(f"{name} is empty")
    lines: dict[ET.Element, int] = {}
    target = _LineBuilder(lines)
    parser = DefusedXMLParser(target=target, forbid_dtd=False, forbid_entities=True,
                              forbid_external=True)
    target.expat = parser.parser
    doctype = []
    parser.parser.StartDoctypeDeclHandler = lambda *a: doctype.append(a[0])
    try:
        parser.feed(data)
        elem = parser.close()
    except EntitiesForbidden:
        raise BadFile(f"{name} contains an XML entity declaration; refused (entity "
                      f"expansion attack?)") from None
    except ExternalReferenceForbidden as e:
        raise BadFile(f"{name} refers to an external entity ({e.sysid}); refused") from None
    except DefusedXmlException as e:
        raise BadFile(f"{name}: {e}; refused") from None
    except ET.ParseError as e:
        line, col = e.position
        reason = str(e).split(":")[0]
        raise BadFile(f"{name} is not well-formed XML: {reason} at line {line}, column "
                      f"{col + 1}") from None
    if doctype:
        raise BadFile(f"{name} contains a DTD (<!DOCTYPE {doctype[0]}>); refused: "
                      f"provisioning files have none")
    roots = (root,) if isinstance(root, str) else root
    if elem.tag not in roots:
        raise BadFile(f"{name}: the root element is <{elem.tag}>, expected "
                      + " or ".join(f"<{r}>" for r in roots))
    return elem, lines


def element_where(section: ET.Element, elem: ET.Element, lines: dict,
                  ident: int | str | None = None) -> str:
    """'sipUsers/sipUser id=0 (line 12)': where a problem is, for people."""
    line = lines.get(elem)
    return (f"{section.tag}/{elem.tag}" + (f" id={ident}" if ident is not None else "")
            + (f" (line {line})" if line else ""))


# --- value conversions ----------------------------------------------------------------

def _flag(text: str) -> bool:
    t = text.strip()
    if t not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return t == "1"


def _int(text: str) -> int:
    t = text.strip()
    if not t.lstrip("-").isdigit():
        raise ValueError("must be a whole number")
    return int(t)


def _hostport(value: str) -> tuple[str, str]:
    """'sip:Host:5060;transport=udp' -> ('host', '5060'); best effort, for comparing."""
    v = value.strip()
    if v.lower().startswith(("sip:", "sips:")):
        v = v.split(":", 1)[1]
    v = v.split(";", 1)[0]
    if v.startswith("["):
        host, _, rest = v[1:].partition("]")
        return host.lower(), rest[1:] if rest.startswith(":") else ""
    if v.count(":") == 1:
        host, port = v.split(":")
        return host.lower(), port
    return v.lower(), ""


Note = Callable[..., None]
"""A rule's notes: note(text) for the log; note(text, skipped=True) for a value the file sets
that is not applied (a codec this phone lacks, a weak web password): the provisioning run's
report names those (ConfigResult.skipped)."""


@dataclass(frozen=True)
class Rule:
    """Escene attributes read and written together, and the settings they carry.

    `read` gets the attributes present (at least one; names as in `attrs`) and returns
    {setting: value}, raising ValueError for a bad value; `write` gets the values present
    (at least one) and returns the attributes.
    """
    attrs: tuple[str, ...]
    keys: tuple[str, ...]
    read: Callable[[dict[str, str], Note], dict[str, Any]]
    write: Callable[[dict[str, Any]], dict[str, str]]


def simple(attr: str, key: str, kind: str = "text", table: dict | None = None) -> Rule:
    """One attribute, one setting. kind: text, flag, int, or enum (table: text -> value)."""
    def read(a: dict[str, str], note: Note) -> dict[str, Any]:
        raw = a[attr]
        if kind == "text":
            return {key: raw}
        if not raw.strip():
            note(f"{attr} is empty; {key} left unchanged")
            return {}
        if kind == "flag":
            return {key: _flag(raw)}
        if kind == "int":
            return {key: _int(raw)}
        if raw.strip() not in table:
            raise ValueError(f"must be one of {', '.join(k for k in table)}")
        return {key: table[raw.strip()]}

    def write(v: dict[str, Any]) -> dict[str, str]:
        value = v[key]
        if kind == "flag":
            return {attr: "1" if value else "0"}
        if kind == "enum":
            back = {val: text for text, val in table.items()}
            return {attr: back[value]} if value in back else {}
        return {attr: str(value)}

    return Rule((attr,), (key,), read, write)


def enum(values: list | tuple, *, start: int = 0, also: dict | None = None) -> dict[str, Any]:
    """{'0': values[0], '1': values[1], ...} (+ extra accepted spellings, read only, first)."""
    table = dict(also or {})
    table.update({str(i): v for i, v in enumerate(values, start)})
    return table


def server_rule(domain: str, proxy: str, server_key: str, proxy_key: str | None) -> Rule:
    """DomainName + ProxyServerAddress -> server and outbound proxy.

    Generators write the registrar host in DomainName and repeat it, with the port, in
    ProxyServerAddress when there is no outbound proxy (FusionPBX). So: a proxy address on
    the same host (and a compatible port) is the server again; another host is an outbound
    proxy. Without DomainName the proxy address is the server.
    """
    def read(a: dict[str, str], note: Note) -> dict[str, Any]:
        d, p = a.get(domain), a.get(proxy)
        d = d.strip() if d is not None else None
        p = p.strip() if p is not None else None
        out: dict[str, Any] = {}
        if d is None:                      # only the proxy attribute
            if proxy_key:
                out[proxy_key] = p
            else:
                out[server_key] = p
            return out
        if not d:
            out[server_key] = p or ""
            if proxy_key and p is not None:
                out[proxy_key] = ""
            return out
        out[server_key] = d
        if p is None:
            return out
        (hd, pd), (hp, pp) = _hostport(d), _hostport(p)
        if not p or (hd == hp and (not pd or not pp or pd == pp)):
            if p and not pd:
                out[server_key] = p        # the same server, with its port
            if proxy_key:
                out[proxy_key] = ""
        elif proxy_key:
            out[proxy_key] = p
        else:
            note(f"{proxy}={p!r}: a second outbound proxy is not supported; the secondary "
                 f"server is used directly")
        return out

    def write(v: dict[str, Any]) -> dict[str, str]:
        server = v.get(server_key)
        if proxy_key is None:
            return {domain: server} if server is not None else {}
        outbound = v.get(proxy_key)
        attrs: dict[str, str] = {}
        if outbound:
            if server is not None:
                attrs[domain] = server
            attrs[proxy] = outbound
        elif server is not None:
            if outbound is None:
                attrs[domain] = server
            else:
                attrs[domain] = _hostport(server)[0] if server else ""
                attrs[proxy] = server
        elif outbound is not None:
            attrs[proxy] = ""
        return attrs

    keys = (server_key, proxy_key) if proxy_key else (server_key,)
    return Rule((domain, proxy), keys, read, write)


def switched_rule(flag: str, number: str, key: str) -> Rule:
    """An on/off attribute plus a number (forwarding, hot line) -> one text setting, where
    empty means off."""
    def read(a: dict[str, str], note: Note) -> dict[str, Any]:
        on, num = a.get(flag), (a.get(number) or "").strip()
        if on is None:
            note(f"{number}={num!r} without {flag}: left unchanged")
            return {}
        if not on.strip():
            note(f"{flag} is empty; {key} left unchanged")
            return {}
        if not _flag(on):
            return {key: ""}
        if not num:
            note(f"{flag}=1 but {number} is empty: {key} left unchanged")
            return {}
        return {key: num}

    def write(v: dict[str, Any]) -> dict[str, str]:
        value = v[key]
        return {flag: "1" if value else "0", number: value}

    return Rule((flag, number), (key,), read, write)


def rtp_rule(begin: str, end: str) -> Rule:
    def read(a: dict[str, str], note: Note) -> dict[str, Any]:
        if a.get(begin) is None or not a[begin].strip():
            note(f"{end} without {begin}: the RTP ports are left unchanged")
            return {}
        first = _int(a[begin])
        if a.get(end) is None or not a[end].strip():
            return {"sip.rtp_port": first}
        last = _int(a[end])
        if last <= first:
            raise ValueError(f"{end} must be above {begin}")
        return {"sip.rtp_port": first, "sip.rtp_ports": last - first}

    def write(v: dict[str, Any]) -> dict[str, str]:
        if "sip.rtp_port" not in v:
            return {}
        attrs = {begin: str(v["sip.rtp_port"])}
        if "sip.rtp_ports" in v:
            attrs[end] = str(v["sip.rtp_port"] + v["sip.rtp_ports"])
        return attrs

    return Rule((begin, end), ("sip.rtp_port", "sip.rtp_ports"), read, write)


def _read_time(a: dict[str, str], note: Note) -> dict[str, Any]:
    """`time`: an hour 0-23, 24 = none (what the web page's list writes); HH:MM also."""
    t = a["time"].strip()
    if t in ("", "24"):
        return {"provisioning.time": ""}
    if t.isdigit():
        if int(t) > 23:
            raise ValueError("must be an hour 0-23, 24 (none) or HH:MM")
        return {"provisioning.time": f"{int(t):02d}:00"}
    h, sep, m = t.partition(":")
    if sep and h.isdigit() and len(h) <= 2:
        return {"provisioning.time": f"{int(h):02d}:{m}"}
    raise ValueError("must be an hour 0-23, 24 (none) or HH:MM")


def _write_time(v: dict[str, Any]) -> dict[str, str]:
    t = v["provisioning.time"]
    if not t:
        return {"time": "24"}
    return {"time": str(int(t[:2])) if t.endswith(":00") else t}


def _read_aes(a: dict[str, str], note: Note) -> dict[str, Any]:
    enable, key = a.get("AESEnable"), a.get("AESKey")
    if enable is not None and enable.strip():
        if not _flag(enable):
            return {"provisioning.aes_key": ""}
        if not key:
            note("AESEnable=1 without AESKey: the key set on the phone is kept")
            return {}
    return {"provisioning.aes_key": key} if key is not None else {}


def _write_aes(v: dict[str, Any]) -> dict[str, str]:
    key = v["provisioning.aes_key"]
    return {"AESEnable": "1" if key else "0", "AESKey": key}


def _web_password(attr: str, pw: str | None, name: str | None, role: str,
                  note: Note) -> str | None:
    """The hash of a web password from the file, or None (noted) when it is not taken: empty,
    or one the Password page would refuse (`password_problem`: short, the login name,
    'root', a common one). A weak password from a PBX template (Escene's factory root/root,
    user/user) would otherwise open the web to anyone, without the forced change the
    factory password has. Never stored plain; the password itself is never in a note."""
    if pw is None:
        return None
    if not pw:
        note(f"{attr} is empty: the {role}'s web password is left unchanged")
        return None
    problem = password_problem(pw, (name or "").strip())
    if problem:
        why = problem.replace("the new password", "it").replace("; nothing changed", "")
        note(f"{attr}: not applied, the {role}'s web password is left unchanged: {why}",
             skipped=True)
        return None
    return hash_password(pw)


def _read_web_password(a: dict[str, str], note: Note) -> dict[str, Any]:
    """`Password`: the administrator's. A password the server set is the administrator's
    own (the server is theirs): no forced change, as after the Password page."""
    digest = _web_password("Password", a.get("Password"), a.get("UsrName"), "administrator",
                           note)
    return {"web.password_hash": digest} if digest else {}


def _read_web_user(a: dict[str, str], note: Note) -> dict[str, Any]:
    """`User`/`UserPassword` (manual §7 "Password": the User role, firmware/roles.py) ->
    web.user_name / web.user_password_hash, treated as the administrator's `UsrName` /
    `Password`: hashed, empty or weak -> unchanged. A server's user password is not one the
    user must change first (web.user_must_change off): the server writes it again at every
    check, so a forced change would be undone by the next one — like the administrator's,
    it is the server's to manage. A `User` equal to `UsrName` would be the administrator's
    login: the user account is left as it is."""
    name = a.get("User")
    if name is not None and not name.strip():
        note("User is empty: the user role's login name is left unchanged")
        name = None
    if name is not None and name.strip() == (a.get("UsrName") or "").strip():
        note(f"User={name!r} is the administrator's login name (UsrName): the user role's "
             f"name and password are left unchanged", skipped=True)
        return {}
    out: dict[str, Any] = {} if name is None else {"web.user_name": name.strip()}
    digest = _web_password("UserPassword", a.get("UserPassword"),
                           name if name is not None else "user", "user role", note)
    if digest:
        out.update({"web.user_password_hash": digest, "web.user_must_change": False})
    return out


def _write_web_user(v: dict[str, Any]) -> dict[str, str]:
    """Only the login name: passwords never leave as text (their hashes go in
    <deskphones> with the secrets)."""
    return {"User": v["web.user_name"]} if "web.user_name" in v else {}


# Escene's codec names (SipDSPs enableCodeN / disableCodeN) -> ours (firmware/sip/codecs.py)
ESCENE_CODECS = {"G722": "G722", "G711A": "PCMA", "G711U": "PCMU", "G729A": "G729",
                 "G729": "G729", "G723": "G7231", "G7231": "G7231", "G723.1": "G7231",
                 "iLBC": "iLBC", "GSM": "GSM"}
_CODEC_TO_ESCENE = {"G722": "G722", "PCMA": "G711A", "PCMU": "G711U", "G729": "G729A",
                    "G7231": "G723"}
_CODEC_SLOTS = 20                   # sip.codecs holds at most 20 names
_ENABLE = tuple(f"enableCode{i}" for i in range(_CODEC_SLOTS))
_DISABLE = tuple(f"disableCode{i}" for i in range(_CODEC_SLOTS))


def _codec_of(name: str) -> str | None:
    """Our name for a codec of the file: Escene's spelling (G711A) or ours (PCMA,
    speex/16000), any case; None when this firmware knows no such codec."""
    known = {k.lower(): v for k, v in ESCENE_CODECS.items()}
    if name.lower() in known:
        return known[name.lower()]
    try:
        codec_names.check_name(name)
    except ValueError:
        return None
    base, sep, rate = name.partition("/")
    canon = next(k for k in codec_names.KNOWN if k.lower() == base.lower())
    return canon + sep + rate


def _read_codecs(a: dict[str, str], note: Note) -> dict[str, Any]:
    """`enableCode0..` in number order -> sip.codecs (first = preferred; what is not enabled
    is disabled, so `disableCodeN` only lists the rest). A name this firmware does not know
    is noted and skipped, never a problem: the rest of the list and of the file apply."""
    names: list[str] = []
    for attr in _ENABLE:
        raw = (a.get(attr) or "").strip()
        if not raw:
            continue
        ours = _codec_of(raw)
        if ours is None:
            note(f"{attr}={raw!r}: no such codec in this firmware; skipped (the manual's "
                 f"G722, G711A, G711U, G729A, G723, or a sip.codecs name)", skipped=True)
        elif ours not in names:
            names.append(ours)
    if not names:
        if any(a.get(attr, "").strip() for attr in _ENABLE):
            note("no enabled codec this firmware knows: sip.codecs left unchanged",
                 skipped=True)
        return {}
    return {"sip.codecs": tuple(names)}


def _write_codecs(v: dict[str, Any]) -> dict[str, str]:
    """sip.codecs as enableCodeN (Escene's names where it has one, ours otherwise), and
    the manual's codecs not in the list as disableCodeN, so an Escene phone reads the
    same choice."""
    names = v["sip.codecs"]
    attrs = {f"enableCode{i}": _CODEC_TO_ESCENE.get(n, n) for i, n in enumerate(names)}
    off = [e for ours, e in _CODEC_TO_ESCENE.items() if ours not in names]
    attrs.update({f"disableCode{i}": e for i, e in enumerate(off)})
    return attrs


def _read_blf_transfer(a: dict[str, str], note: Note) -> dict[str, Any]:
    enable, mode = a.get("BLFTransferEnable"), a.get("BLFTransferMode")
    if enable is not None and enable.strip() and not _flag(enable):
        return {"phone.blf_transfer": "off"}
    if mode is None or not mode.strip():
        return {}
    return {"phone.blf_transfer": "attended" if _flag(mode) else "blind"}


def _write_blf_transfer(v: dict[str, Any]) -> dict[str, str]:
    mode = v["phone.blf_transfer"]
    if mode == "off":
        return {"BLFTransferEnable": "0"}
    return {"BLFTransferEnable": "1", "BLFTransferMode": "1" if mode == "attended" else "0"}


RETURN_CODES = enum((486, 480, 603), also={"486": 486, "480": 480, "603": 603})
DATE_FORMATS = enum(timeofday.DATE_FORMATS)      # DateFormat 0..8: the LCD's list too


def _account_rules(n: int) -> list[Rule]:
    a = f"account.{n}."
    return [
        simple("EnableAccount", a + "enable", "flag"),
        simple("Describe", a + "label"),
        simple("UserName", a + "display_name"),
        simple("UserNumber", a + "user"),
        simple("approveName", a + "auth_user"),
        simple("Password", a + "password"),
        server_rule("DomainName", "ProxyServerAddress", a + "server", a + "outbound_proxy"),
        server_rule("SecondDomainName", "SecondProxyServerAddress", a + "secondary_server",
                    None),
        simple("RefreshTime", a + "expires", "int"),
        simple("AnonymousCall", a + "anonymous", "flag"),
        simple("AnonymousCallReject", a + "anonymous_reject", "flag"),
        # one value for all lines here: the first line's wins
        simple("PollingRegistrationTime", "sip.retry_interval", "int"),
        simple("UserSessionTimerEnable", "sip.session_timers", "flag"),
        simple("SessionTimer", "sip.session_expires", "int"),
        rtp_rule("RTPBegin", "RTPEND"),
    ]


@dataclass(frozen=True)
class Section:
    """A section we map: container and element names, its rules, and whether elements are
    numbered (`id`)."""
    container: str
    element: str
    rules: Callable[[int | None], list[Rule]]
    indexed: bool = False


SECTIONS: list[Section] = [
    Section("sipServers", "sipserver", lambda i: [
        simple("LocalPort", "sip.port", "int"),
        rtp_rule("BeginPort", "EndPort"),
    ]),
    Section("sipUsers", "sipUser", lambda i: _account_rules(i + 1), indexed=True),
    Section("Privisions", "privision", lambda i: [
        simple("AutoPrivisionFlag", "provisioning.enable", "flag"),
        simple("Firmware", "provisioning.url"),
        simple("protocol", "provisioning.protocol", "enum",
               enum(("tftp", "http", "ftp", "https"))),
        simple("username", "provisioning.username"),
        simple("password", "provisioning.password"),
        simple("DHCPOptionFlag", "provisioning.dhcp_option66", "flag"),
        simple("Bootingchecked", "provisioning.on_boot", "flag"),
        simple("Freqency", "provisioning.frequency_hours", "int"),
        Rule(("time",), ("provisioning.time",), _read_time, _write_time),
        Rule(("AESEnable", "AESKey"), ("provisioning.aes_key",), _read_aes, _write_aes),
        simple("DownloadFilename", "provisioning.filename_case", "enum",
               {"0": "lower", "2": "lower", "1": "upper"}),
        simple("DownloadFirmwar", "provisioning.firmware", "flag"),
        simple("Downloadconfig", "provisioning.config", "flag"),
        simple("DownloadExtension", "provisioning.expansion", "flag"),
        simple("DownloadPhonebook", "provisioning.enterprise_phonebook", "flag"),
        simple("DownloadPersonPhonebook", "provisioning.personal_phonebook", "flag"),
    ]),
    Section("calls", "call", lambda i: [
        simple("callwaiting", "phone.call_waiting", "flag"),
        simple("PlaycallwaitingTone", "phone.call_waiting_tone", "flag"),
        simple("AvoidDisturbEnableFlag", "phone.dnd", "flag"),
        simple("ReturnCodeWhenRefuse", "phone.reject_code", "enum", RETURN_CODES),
        simple("ReturnCodeWhenDND", "phone.dnd_code", "enum", RETURN_CODES),
        simple("AutoAnswerEnableFlag", "phone.auto_answer", "flag"),
        simple("ConfEndMethod", "phone.conference_exit", "enum",
               enum(("end_all", "transfer"))),
        simple("MisscallDisEnable", "phone.missed_call_display", "flag"),
        simple("FlashHookTime", "hardware.flash_hook_ms", "int"),
        simple("CallLeaveMessageNum", "phone.voicemail"),
        switched_rule("Unconditional", "UnconditionalNum", "forward.always"),
        switched_rule("busytransfer", "busytransferNum", "forward.busy"),
        switched_rule("UnAnswer", "UnAnswerNum", "forward.no_answer"),
        Rule(("BLFTransferEnable", "BLFTransferMode"), ("phone.blf_transfer",),
             _read_blf_transfer, _write_blf_transfer),
        simple("DNDSoftkeyEnable", "phone.dnd_softkey", "flag"),
        simple("SIPQos", "sip.qos_sip", "int"),
        simple("RTPQos", "sip.qos_voice", "int"),
    ]),
    Section("lcds", "lcd", lambda i: [
        simple("Contrast", "lcd.contrast", "int"),
        simple("Light", "lcd.backlight", "int"),
        simple("CloseLightTime", "lcd.backlight_timeout", "int"),
        simple("TimeFormat", "phone.time_format", "enum", enum((24, 12))),
        simple("DateFormat", "phone.date_format", "enum", DATE_FORMATS),
    ]),
    Section("passwords", "password", lambda i: [
        simple("UsrName", "web.user"),
        Rule(("Password", "UsrName"), ("web.password_hash",), _read_web_password,
             lambda v: {}),
        Rule(("User", "UserPassword", "UsrName"),
             ("web.user_name", "web.user_password_hash", "web.user_must_change"),
             _read_web_user, _write_web_user),
    ]),
    Section("SipDSPs", "dsp", lambda i: [
        Rule(_ENABLE + _DISABLE, ("sip.codecs",), _read_codecs, _write_codecs),
    ]),
    Section("DTMEFs", "DTMF", lambda i: [
        simple("DTMFSendType", "phone.dtmf_mode", "enum",
               enum(("rfc2833", "inband", "info", "auto"))),
        simple("RFC2833CodeId", "phone.dtmf_payload", "int"),
    ]),
    Section("RouteGoals", "route", lambda i: [
        simple("DialOutMaxTime", "phone.dial_timeout", "int"),
    ]),
    Section("HotLineFuns", "HotLineFun", lambda i: [
        switched_rule("HotLineState", "HotLineNum", "phone.hotline"),
    ]),
    Section("syss", "sys", lambda i: [
        simple("UpgradeCheck", "provisioning.check_md5", "flag"),
        simple("voicemailToneEnable", "phone.voicemail_tone", "flag"),
    ]),
]

# sections we know and do not use, and why (one log line each)
UNUSED_SECTIONS = {
    "SysTimes": "time and time zone come from the operating system (NTP)",
    "Networks": "the network is configured by the operating system",
    "NATs": "no PC port on this phone",
    "VLANs": "VLANs are configured by the operating system",
    "LDAPs": "no LDAP directory yet",
    "Proxys": "no HTTP/SOCKS proxy",
    "Cwmps": "no TR-069",
    "pnps": "no SIP PnP",
    "SipEncrys": "no RC4 signalling/media encryption",
    "modes": "ring and headset modes are fixed",
    "VPNs": "no VPN",
    "FunCodes": "no feature codes",
    "RouteTabs": "dial rules are dialplan.rules (in <deskphones>)",
    "BlackTabs": "the blacklist is phone.blacklist (in <deskphones>)",
    "logs": "logging is log.* (in <deskphones>)",
    "hotlineBLFs": "BLF keys come from <account>_Extern.xml",
}

OURS = ("deskphones", "deskphone")   # our own section: <deskphone key="..." value="..."/>
_QUIET = {"id", "ID"}
_SECRET_ATTRS = {"password", "aeskey", "userpassword"}     # never echoed into logs


@dataclass
class ConfigResult:
    """What a settings file says. `values` are checked and ready for
    `firmware.settings.apply`; `ignored` is for the log (INFO); `skipped`, a part of
    `ignored`, the values the file sets that are not applied while the rest is (an unknown
    codec, a weak web password): for the run's report; any `problems` mean the file is bad
    and nothing of it may be applied. `kind` is 'escene' or 'toml' (a TOML
    backup lists only what differs from the defaults: restore it onto factory settings)."""
    values: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kind: str = "escene"
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rules(section: Section, ident: int | None) -> list[Rule]:
    """The section's rules whose settings all exist (a rule may wait for a new setting)."""
    return [r for r in section.rules(ident) if all(k in FIELDS for k in r.keys)]


def read_tree(root: ET.Element, lines: dict | None = None) -> ConfigResult:
    """The settings in an `<all>` tree (see `parse_config`)."""
    lines = lines or {}
    res = ConfigResult()
    origin: dict[str, str] = {}
    by_name = {s.container.lower(): s for s in SECTIONS}
    unused = {k.lower(): (k, v) for k, v in UNUSED_SECTIONS.items()}
    found: dict[str, list[ET.Element]] = {}
    ours: list[ET.Element] = []
    for sec in root:
        low = sec.tag.lower()
        where = sec.tag + (f" (line {lines[sec]})" if lines.get(sec) else "")
        if low in by_name:
            found.setdefault(low, []).append(sec)
        elif low == OURS[0]:
            ours.append(sec)
        elif low in unused:
            res.ignored.append(f"{where}: not used: {unused[low][1]}")
        else:
            res.ignored.append(f"{where}: unknown section; ignored")

    for section in SECTIONS:
        seen: set = set()
        for sec in found.get(section.container.lower(), []):
            for elem in sec:
                _read_element(section, sec, elem, lines, seen, res, origin)

    for sec in ours:
        for elem in sec:
            _read_ours(sec, elem, lines, res)
    return res


def _read_element(section: Section, sec: ET.Element, elem: ET.Element, lines: dict,
                  seen: set, res: ConfigResult, origin: dict[str, str]) -> None:
    if not isinstance(elem.tag, str):
        return
    if elem.tag.lower() != section.element.lower():
        res.ignored.append(f"{element_where(sec, elem, lines)}: unknown element; ignored")
        return
    ident = None
    if section.indexed:
        raw = elem.get("id", elem.get("ID"))
        if raw is None or not raw.strip().isdigit():
            res.problems.append(f"{element_where(sec, elem, lines)}: id={raw!r}: each "
                                f"<{section.element}> needs a number id (0 = the first)")
            return
        ident = int(raw)
        if ident >= ACCOUNTS:
            enabled = elem.get("EnableAccount", "").strip() == "1"
            res.ignored.append(
                f"{element_where(sec, elem, lines, ident)}: this phone has {ACCOUNTS} lines "
                f"(id 0-{ACCOUNTS - 1}); ignored" + (" although enabled" if enabled else ""))
            return
    where = element_where(sec, elem, lines, ident)
    if ident in seen:
        res.problems.append(f"{where}: appears twice; which one is meant?")
        return
    seen.add(ident)

    attrs = {k.lower(): (k, v) for k, v in elem.attrib.items()}
    used: set[str] = set()
    for rule in _rules(section, ident):
        present = {a: attrs[a.lower()][1] for a in rule.attrs if a.lower() in attrs}
        if not present:
            continue
        used.update(a.lower() for a in present)
        shown = " ".join(f'{attrs[a.lower()][0]}=' + ("(secret)" if a.lower() in _SECRET_ATTRS
                                                      else f'"{v}"')
                         for a, v in present.items())
        try:
            out = rule.read(present, lambda text, skipped=False:
                            _noted(res, f"{where}: {text}", skipped))
        except ValueError as e:
            res.problems.append(f"{where}: {shown}: {e}")
            continue
        for key, value in out.items():
            try:
                value = check(key, value)
            except SettingError as e:
                res.problems.append(f"{where}: {shown} ({key}): {e.reason}")
                continue
            if key in origin and res.values[key] != value:
                res.ignored.append(f"{where}: {shown} ({key}): one value for the whole "
                                   f"phone; keeping {res.values[key]!r} from {origin[key]}")
                continue
            if key not in origin:
                res.values[key], origin[key] = value, where
    rest = [orig for low, (orig, _) in attrs.items() if low not in used and orig not in _QUIET]
    if rest:
        res.ignored.append(f"{where}: not used by this phone: {', '.join(rest)}")


def _noted(res: ConfigResult, text: str, skipped: bool) -> None:
    res.ignored.append(text)
    if skipped:
        res.skipped.append(text)


def _decode_ours(key: str, text: str) -> Any:
    kind = type(FIELDS[key].default)
    if kind is bool:
        if text.strip().lower() in ("1", "true"):
            return True
        if text.strip().lower() in ("0", "false"):
            return False
        raise ValueError("must be 1 or 0")
    if kind is int:
        return _int(text)
    if kind is tuple:
        try:
            value = json.loads(text) if text.strip() else []
        except ValueError:
            raise ValueError('must be a JSON list, e.g. ["911", "112"]') from None
        return value
    return text


def _encode_ours(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def _read_ours(sec: ET.Element, elem: ET.Element, lines: dict, res: ConfigResult) -> None:
    if not isinstance(elem.tag, str):
        return
    where = element_where(sec, elem, lines)
    if elem.tag.lower() != OURS[1]:
        res.ignored.append(f"{where}: unknown element; ignored")
        return
    key, text = elem.get("key"), elem.get("value")
    if key is None or text is None:
        res.problems.append(f"{where}: needs key=\"...\" and value=\"...\"")
        return
    if key not in FIELDS:
        res.ignored.append(f"{where}: key={key!r}: no such setting in this firmware; ignored")
        return
    shown = "value=(secret)" if FIELDS[key].metadata["secret"] else f"value={text!r}"
    try:
        res.values[key] = check(key, _decode_ours(key, text))
    except ValueError as e:
        res.problems.append(f"{where}: key={key!r} {shown}: {e}")
    except SettingError as e:
        res.problems.append(f"{where}: key={key!r} {shown}: {e.reason}")


def parse_config(data: bytes, *, name: str, max_bytes: int = MAX_BYTES) -> ConfigResult:
    """Our settings in an Escene `<MAC>.xml` / `sys_<model>.xml` (plain bytes).

    Raises BadFile when the file is not XML we accept; a bad value is a problem in the
    result, an unknown section or attribute a line in `ignored`.
    """
    root, lines = parse_xml(data, name=name, max_bytes=max_bytes)
    return read_tree(root, lines)


# --- writing ---------------------------------------------------------------------------

def xml_bytes(root: ET.Element) -> bytes:
    """The file as servers write it: declaration, two-space indent, UTF-8."""
    ET.indent(root, space="  ")
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n")


def build_tree(values: dict[str, Any]) -> ET.Element:
    """An `<all>` tree holding `values` in Escene's sections where a field exists."""
    root = ET.Element("all")
    for section in SECTIONS:
        idents = range(ACCOUNTS) if section.indexed else [None]
        elems = []
        for ident in idents:
            attrs: dict[str, str] = {}
            own = False
            for rule in _rules(section, ident):
                have = {k: values[k] for k in rule.keys if k in values}
                if not have:
                    continue
                written = rule.write(have)
                attrs.update(written)
                if written and any(k.startswith("account.") for k in have):
                    own = True
            if attrs and (own or not section.indexed):
                el = ET.Element(section.element)
                if ident is not None:
                    el.set("id", str(ident))
                for k, v in attrs.items():
                    el.set(k, v)
                elems.append(el)
        if elems:
            container = ET.SubElement(root, section.container)
            container.extend(elems)
    return root


def render_config(values: dict[str, Any], *, comment: str = "") -> bytes:
    """An Escene-format file setting exactly `values` (dotted keys, valid values).

    What no Escene field can carry exactly (a custom date format, our own settings) goes
    into `<deskphones>`, which is read last and so wins.
    """
    root = build_tree(values)
    back = read_tree(root).values
    extra = [k for k in values if k not in back or back[k] != values[k]]
    if extra:
        ours = ET.SubElement(root, OURS[0])
        for key in extra:
            ET.SubElement(ours, OURS[1], key=key, value=_encode_ours(values[key]))
    if comment:
        root.insert(0, ET.Comment(" " + comment.replace("--", "- -") + " "))
    return xml_bytes(root)


def export_config(settings: Settings, *, include_secrets: bool = False) -> bytes:
    """Every setting as an Escene-format `<all>` file; secrets (SIP, provisioning and AES
    keys, the web password hash) only when asked. Without them, importing the file leaves
    the secrets the phone has untouched."""
    values = {k: settings.get(k) for k, f in FIELDS.items()
              if include_secrets or not f.metadata["secret"]}
    note = "deskphone settings" + ("" if include_secrets else " (without passwords and keys)")
    return render_config(values, comment=note)


def import_backup(data: bytes, name: str, *, max_bytes: int = MAX_BYTES) -> ConfigResult:
    """A settings backup: our Escene-format export or our TOML (`settings.toml`); sniffed."""
    if len(data) > max_bytes:
        raise BadFile(f"{name} is {len(data)} bytes; the limit is {max_bytes // 1024} KiB")
    if crypto.is_encrypted(data):
        raise DecryptError(f"{name} is AES-encrypted: decrypt it first (python -m "
                           f"provisioning decrypt --key KEY {name} plain.xml)")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return parse_config(data, name=name, max_bytes=max_bytes)
    try:
        doc = tomllib.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadFile(f"{name} is neither XML nor UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as e:
        raise BadFile(f"{name} is neither XML nor valid TOML: {e}") from None
    res = ConfigResult(kind="toml")
    for key, value in flatten(doc).items():
        if key not in FIELDS:
            res.ignored.append(f"{key}: no such setting in this firmware; ignored")
            continue
        try:
            res.values[key] = check(key, value)
        except SettingError as e:
            res.problems.append(str(e))
    return res


# --- <account>_Extern.xml: programmable keys ------------------------------------------

def _module_of(tag: str) -> tuple[int, str] | None:
    """Container tag -> (module, element tag): Extensions/extension = module 1, ..."""
    low = tag.lower()
    if low == "extensions":
        return 1, "extension"
    if low.startswith("extension") and low.endswith("s") and low[9:-1].isdigit():
        m = int(low[9:-1])
        if 2 <= m <= MODULES:
            return m, f"extension{m}"
    return None


def _line_of(raw: str | None, where: str, note: Note) -> int | None:
    """SipAccounts (0-based line, 127 = automatic) -> account 1..3 or None."""
    if raw is None or not raw.strip():
        return None
    n = _int(raw)
    if n == AUTO_LINE:
        return None
    if 0 <= n < ACCOUNTS:
        return n + 1
    if ACCOUNTS <= n < ESCENE_LINES:
        note(f"{where}: SipAccounts={n}: this phone has {ACCOUNTS} lines; the key uses "
             f"the automatic line")
        return None
    raise ValueError(f"SipAccounts must be 0-{ACCOUNTS - 1} or {AUTO_LINE} (automatic)")


def parse_extern(data: bytes, *, name: str, max_bytes: int = MAX_BYTES) -> KeyLayout:
    """The programmable keys in `<account>_Extern.xml`: memory keys (`hotlines/hotline`, or
    the older `Programbutton` elements), re-purposed fixed keys (`ProgramKeys/ProgramKey`)
    and expansion modules (`Extensions` .. `Extension6s`). BadFile if a value is wrong."""
    root, lines = parse_xml(data, name=name, max_bytes=max_bytes)
    layout = KeyLayout()
    problems: list[str] = []
    memory: dict[tuple[int, int], tuple[MemoryKey, bool]] = {}
    program: dict[str, ProgramKey] = {}
    note = layout.ignored.append

    for sec in root:
        low = sec.tag.lower()
        mod = _module_of(sec.tag)
        old_form = any(isinstance(e.tag, str) and e.tag.lower() == "programbutton" for e in sec)
        if not (low in ("hotlines", "programkeys") or mod or old_form):
            note(f"{sec.tag}: unknown section; ignored")
            continue
        for elem in sec:
            if not isinstance(elem.tag, str):
                continue
            et = elem.tag.lower()
            try:
                if low == "hotlines" and et == "hotline":
                    _memory_key(sec, elem, lines, 0, False, memory, problems, note)
                elif et == "programbutton":
                    _memory_key(sec, elem, lines, 0, True, memory, problems, note)
                elif mod and et == mod[1]:
                    _memory_key(sec, elem, lines, mod[0], False, memory, problems, note)
                elif low == "programkeys" and et == "programkey":
                    _program_key(sec, elem, lines, program, problems, note)
                else:
                    note(f"{element_where(sec, elem, lines)}: unknown element; ignored")
            except ValueError as e:
                problems.append(f"{element_where(sec, elem, lines, _id_text(elem))}: {e}")
    if problems:
        raise BadFile(f"{name}: " + "; ".join(problems[:10])
                      + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))
    layout.memory = sorted((k for k, _ in memory.values()), key=lambda k: (k.module, k.index))
    layout.program = [program[k] for k in PROGRAM_KEY_IDS if k in program]
    return layout


def _id_text(elem: ET.Element):
    return elem.get("id", elem.get("ID"))


def _ident(elem: ET.Element) -> int:
    raw = _id_text(elem)
    if raw is None:
        raise ValueError("has no id")
    try:
        return _int(raw)
    except ValueError:
        raise ValueError(f"id={raw!r} must be a number (0 = the first key)") from None


def _memory_key(sec: ET.Element, elem: ET.Element, lines: dict, module: int, old: bool,
                memory: dict, problems: list[str], note: Note) -> None:
    index = _ident(elem)
    where = element_where(sec, elem, lines, index)
    limit = MEMORY_KEYS if module == 0 else MODULE_KEYS
    if not 0 <= index < limit:
        note(f"{where}: {'the phone' if module == 0 else f'module {module}'} has {limit} "
             f"keys (id 0-{limit - 1}); ignored")
        return
    raw_type = (elem.get("Type") or "").strip()
    kind = _int(raw_type) if raw_type else 0
    if kind == 0:
        return                          # an empty key
    if kind not in MEMORY_TYPES:
        note(f"{where}: Type={kind}: unknown key type; the key stays unprogrammed")
        return
    account = _line_of(elem.get("SipAccounts"), where, note)
    key = MemoryKey(index=index, type=MEMORY_TYPES[kind],
                    number=(elem.get("Num" if old else "HotlineNum") or "").strip(),
                    label=(elem.get("Name") or "").strip(), account=account, module=module)
    slot = (module, index)
    if slot in memory:
        _, was_old = memory[slot]
        if was_old != old:              # both generations in one file: the newer wins
            note(f"{where}: key {key.name} is also in <hotlines>; that one is used")
            if old:
                return
        else:
            problems.append(f"{where}: key {key.name} appears twice")
            return
    memory[slot] = (key, old)


def _program_key(sec: ET.Element, elem: ET.Element, lines: dict, program: dict,
                 problems: list[str], note: Note) -> None:
    ident = _ident(elem)
    where = element_where(sec, elem, lines, ident)
    if not 0 <= ident < len(PROGRAM_KEY_IDS):
        note(f"{where}: no such key (id 0-{len(PROGRAM_KEY_IDS) - 1}); ignored")
        return
    raw_type = (elem.get("Type") or "").strip()
    func = _int(raw_type) if raw_type else 0
    if func == 0:
        return                          # the key keeps its own function
    if func >= len(PROGRAM_FUNCTIONS) or func < 0:
        note(f"{where}: Type={func}: unknown function; the key keeps its own")
        return
    name = PROGRAM_KEY_IDS[ident]
    if name in program:
        problems.append(f"{where}: key {name} appears twice")
        return
    program[name] = ProgramKey(key=name, function=PROGRAM_FUNCTIONS[func],
                               number=(elem.get("Num") or "").strip(),
                               label=(elem.get("Name") or "").strip(),
                               account=_line_of(elem.get("SipAccounts"), where, note))


def _line_attr(account: int | None) -> str:
    return str(AUTO_LINE if account is None else account - 1)


def export_extern(layout: KeyLayout) -> bytes:
    """`layout` as an `<account>_Extern.xml` (the current generation: hotlines)."""
    root = ET.Element("all")
    type_no = {v: k for k, v in MEMORY_TYPES.items()}
    hot = ET.SubElement(root, "hotlines")
    modules = {0: hot}
    for key in sorted(layout.memory, key=lambda k: (k.module, k.index)):
        if key.module < 0:
            continue              # line keys given a function: set on the phone, not in Extern
        if key.module not in modules:
            tag = "Extensions" if key.module == 1 else f"Extension{key.module}s"
            modules[key.module] = ET.SubElement(root, tag)
        el_tag = "hotline" if key.module == 0 else \
            ("extension" if key.module == 1 else f"extension{key.module}")
        ET.SubElement(modules[key.module], el_tag, id=str(key.index), ID=str(key.index),
                      Type=str(type_no[key.type]), HotlineNum=key.number, Name=key.label,
                      SipAccounts=_line_attr(key.account))
    if layout.program:
        pk = ET.SubElement(root, "ProgramKeys")
        for p in layout.program:
            ET.SubElement(pk, "ProgramKey", id=str(PROGRAM_KEY_IDS.index(p.key)),
                          Type=str(PROGRAM_FUNCTIONS.index(p.function)), Num=p.number,
                          Name=p.label, SipAccounts=_line_attr(p.account))
    return xml_bytes(root)
