"""Dial plan: what the keys typed so far mean, and what to send.

Three things decide it, and the phone asks `Dialler` on every key press:

* a **digit map** (`dialplan.digit_map`), Cisco/Linksys SPA syntax, because that is what
  ATAs and desk phones use and what administrators already write;
* the manual's **dial rules** (`dialplan.rules`, §7 Web Settings > Advance > Dial Plan):
  a prefix, insert a number, delete digits, or call a phone by its IP address;
* the **emergency numbers** (`phone.emergency`), which always dial at once.

Pure, like firmware/call/digitmap.py beside it (no I/O, no SIP, nothing of the phone): the
phone turns a `Decision` into timers and calls. The digit map's syntax and matching are
documented and implemented there; the rules, the emergency numbers and the `Dialler` that
joins the three are here.

Dial rules
----------
One rule per string, ``key=value`` words in any order::

    prefix=9 delete=1                  9 0123 4567      -> 01234567
    prefix=0 insert=00@0               0 44 20...       -> 00044 20...
    prefix=01 insert=1@2 delete=2@0    01 555           -> 1555 (insert first, then delete)
    prefix=8 ip=192.168.1.20:5060      8                -> sip:192.168.1.20:5060
                                       8 1001           -> sip:1001@192.168.1.20:5060

``prefix=`` (keys 0-9 * #) is required, with one or more of:

* ``insert=NUMBER@POS`` put NUMBER (keys and +) after the first POS digits; ``@0`` = in
  front, which may be left out (``insert=00``);
* ``delete=LEN@POS`` remove LEN digits starting after the first POS; ``delete=2`` = the
  first two. As the manual says, insert comes first and delete counts on the number with
  the insertion in it;
* ``ip=HOST[:PORT]`` call that phone directly: the prefix is the code of the phone and is
  not sent; digits typed after it (after insert/delete, which count on those digits) go
  as the user part.

The longest matching prefix wins, so the order of the list does not matter (on equal
prefixes the first one wins). The rules see the number after the digit map's
substitutions and apply to numbers only: a ``sip:`` URI or an address goes unchanged.
Positions past the end of the number mean the end.

Emergency numbers
-----------------
A ``phone.emergency`` entry is a number, or a prefix ending in ``*``. An emergency number
dials at once, as typed, whatever the digit map says (barred included) and untouched by
the rules; so does a number the map or the rules turn into one (``9911`` with ``<9:>``).
The emergency numbers are candidates of every digit map: while more keys could still make
one (``9``, ``91`` of 911) the phone waits instead of refusing, and a pattern that would
dial at once waits the short timer instead.

Send and timeouts
-----------------
Like a Linksys phone, pressing Send (#) or letting the dial timeout run out dials what was
typed: the map's substitutions when a pattern is complete, the digits as typed when none
is (partial, or not in the map at all); a barred number is refused either way. So the
phone calls `Dialler.send` both when the user presses Send and when a ``Decision.after``
or its own dial timeout runs out.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from firmware.call.digitmap import (BARRED, COMPLETE, IMPOSSIBLE, KEYS, PARTIAL, DigitMap,
                                    DigitMapError, Match, check_digit_map)

__all__ = ["DigitMap", "DigitMapError", "Match", "check_digit_map", "Rule", "parse_rule",
           "check_rule", "apply_rules", "is_emergency", "Dialler", "Decision"]

# --- dial rules -----------------------------------------------------------------------------

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                       r"[A-Za-z0-9])?)*$")
_NUMBER = re.compile(r"^[0-9*#+]+$")
_RULE_KEYS = ("prefix", "insert", "delete", "ip")


@dataclass(frozen=True)
class Rule:
    """One dial rule of the manual: a prefix, then insert, delete or call an IP address."""
    prefix: str
    insert: tuple[str, int] | None = None      # (number, position)
    delete: tuple[int, int] | None = None      # (length, position)
    ip: str | None = None                      # host[:port], as the URI wants it

    def __str__(self) -> str:
        words = [f"prefix={self.prefix}"]
        if self.insert:
            words.append(f"insert={self.insert[0]}@{self.insert[1]}")
        if self.delete:
            words.append(f"delete={self.delete[0]}@{self.delete[1]}")
        if self.ip:
            words.append(f"ip={self.ip}")
        return " ".join(words)

    def edit(self, number: str) -> str:
        """Insert first, then delete counting on the number with the insertion in it."""
        if self.insert:
            text, pos = self.insert
            number = number[:pos] + text + number[pos:]
        if self.delete:
            length, pos = self.delete
            number = number[:pos] + number[pos + length:]
        return number

    def apply(self, number: str) -> str:
        if self.ip is None:
            return self.edit(number)
        user = self.edit(number[len(self.prefix):])
        return f"sip:{user}@{self.ip}" if user else f"sip:{self.ip}"


def _count(word: str, value: str, what: str, least: int) -> int:
    if not value.isdigit() or int(value) < least:
        raise ValueError(f"{word}: {what} must be a whole number{' from 1' if least else ''}")
    return int(value)


def _host(value: str) -> str:
    """host[:port] of ip=, as it goes in a URI ([v6] bracketed)."""
    example = f"ip={value}: not an IP address or host name (e.g. ip=192.168.1.20:5060)"
    if value.startswith("["):
        host, close, rest = value[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"ip={value}: write an IPv6 address as [2001:db8::1]:5060")
        port, v6 = rest[1:], host
    elif value.count(":") > 1:
        port, v6 = "", value
    else:
        host, _, port = value.partition(":")
        v6 = None
        if not _HOSTNAME.match(host):
            raise ValueError(example)
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(example) from None
    if v6 is not None:
        try:
            ipaddress.IPv6Address(v6)
        except ValueError:
            raise ValueError(example) from None
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"ip={value}: the port must be 1-65535")
    return value if v6 is None or value.startswith("[") else f"[{value}]"


def parse_rule(text: str) -> Rule:
    """Parse one dial rule (see the module docstring); ValueError says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty rule: write e.g. 'prefix=9 delete=1'")
    seen: dict[str, str] = {}
    for word in text.split():
        key, eq, value = word.partition("=")
        key = key.lower()
        if not eq or not value:
            raise ValueError(f"'{word}' is not key=value (e.g. prefix=9 delete=1)")
        if key not in _RULE_KEYS:
            raise ValueError(f"unknown '{key}=': a rule has prefix=, insert=, delete=, ip=")
        if key in seen:
            raise ValueError(f"'{key}=' given twice")
        seen[key] = value
    if "prefix" not in seen:
        raise ValueError("a rule needs prefix=, the number the user dials first")
    prefix = seen["prefix"]
    if any(ch not in KEYS for ch in prefix):
        raise ValueError(f"prefix={prefix}: a prefix is keys 0-9 * #")
    if len(seen) == 1:
        raise ValueError("a rule needs insert=, delete= or ip= besides prefix=")
    insert = delete = ip = None
    if "insert" in seen:
        word = "insert=" + seen["insert"]
        number, at, pos = seen["insert"].partition("@")
        if not _NUMBER.match(number):
            raise ValueError(f"{word}: insert=NUMBER@POSITION inserts keys 0-9 * # +, "
                             f"e.g. insert=00@0")
        insert = (number, _count(word, pos, "the position", 0) if at else 0)
    if "delete" in seen:
        word = "delete=" + seen["delete"]
        length, at, pos = seen["delete"].partition("@")
        delete = (_count(word, length, "the length", 1),
                  _count(word, pos, "the position", 0) if at else 0)
    if "ip" in seen:
        ip = _host(seen["ip"])
    return Rule(prefix, insert, delete, ip)


def check_rule(text: str) -> None:
    """Settings check for each entry of dialplan.rules."""
    parse_rule(text)


def _rules(rules: Iterable[Rule | str]) -> tuple[Rule, ...]:
    out = [r if isinstance(r, Rule) else parse_rule(r) for r in rules]
    # longest prefix first; sorted() is stable, so equal prefixes keep their order
    return tuple(sorted(out, key=lambda r: -len(r.prefix)))


def apply_rules(number: str, rules: Iterable[Rule | str]) -> str:
    """The number to dial, or a sip: URI for an ip= rule; unchanged when no rule matches."""
    if not _NUMBER.match(number):
        return number
    for rule in _rules(rules):
        if number.startswith(rule.prefix):
            return rule.apply(number)
    return number


# --- emergency numbers ----------------------------------------------------------------------

def is_emergency(number: str, patterns: Iterable[str]) -> bool:
    """True for a number in `patterns` (as phone.emergency holds them: 911, or 11*)."""
    number = number.strip()
    if not number:
        return False
    for p in patterns:
        if p.endswith("*") and len(p) > 1:
            if number.startswith(p[:-1]):
                return True
        elif number == p:
            return True
    return False


# --- what the phone asks while the user types -----------------------------------------------

WAIT, DIAL, REORDER = "wait", "dial", "reorder"
NOT_ALLOWED = "Number not allowed by the dial plan"
NO_SUCH = "No such number in the dial plan"

_IP_STAR = re.compile(r"^\d{1,3}(\*\d{1,3}){3}(\*\d{1,5})?$")       # 192*168*0*10[*5060]
_IP_STAR_START = re.compile(r"^\d{1,3}(\*(\d{1,3}(\*(\d{1,3}(\*(\d{1,3}(\*\d{0,5})?)?)?)?)?)?)?$")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with the keys typed so far.

    wait: let the user type (after None = the phone's dial timeout, else these seconds);
    dial: call `number` after `after` seconds unless another key comes (0 = now);
    reorder: refuse with re-order tone, `reason` for the screen.
    When `after` or the dial timeout runs out, the phone calls `Dialler.send`.
    """
    action: str
    number: str
    after: float | None = None
    reason: str = ""


class Dialler:
    """Digit map, dial rules and emergency numbers together, asked on each key press.

    `send_key` ("#", "*", or None/"none") typed after a number sends it, unless the digit
    map has a pattern that takes that key there (``*xx#``). An address typed with * for
    the dots (192*168*1*20) is sent as typed, never through the rules; with `ip_dialling`
    it is not refused while it is being typed either, as Linksys does when IP dialling is
    enabled: turn it on for a line with no server.
    """

    def __init__(self, digit_map: DigitMap | None, rules: Sequence[Rule | str] = (),
                 emergency: Iterable[str] = (), send_key: str | None = "#", *,
                 ip_dialling: bool = False):
        self.digit_map = digit_map
        self.rules = _rules(rules)
        self.emergency = tuple(emergency)
        self.send_key = send_key if send_key in ("#", "*") else None
        self.ip_dialling = ip_dialling

    def _emergency(self, number: str) -> bool:
        return is_emergency(number, self.emergency)

    def _out(self, number: str) -> str:
        return apply_rules(number, self.rules)

    def _on_the_way(self, number: str) -> bool:
        """Could more keys still make an emergency number of this?"""
        for p in self.emergency:
            body = p[:-1] if p.endswith("*") and len(p) > 1 else p
            if len(body) > len(number) and body.startswith(number):
                return True
        return False

    def digits(self, number: str) -> Decision:
        """After each key: wait, dial (now or after a timer) or refuse."""
        if not number:
            return Decision(WAIT, "", None, "")
        if (self.send_key and len(number) > 1 and number.endswith(self.send_key)
                and (self.digit_map is None
                     or self.digit_map.match(number).state == IMPOSSIBLE)):
            return self.send(number[:-1])
        if self._emergency(number):
            return Decision(DIAL, number, 0, "Emergency number")
        if self.digit_map is None:
            return Decision(WAIT, number, None, "")
        m = self.digit_map.match(number)
        if m.number is not None:
            out = self._out(m.number)
            if self._emergency(m.number) or self._emergency(out):
                return Decision(DIAL, out, 0, "Emergency number")
        # emergency numbers are candidates of every map: they keep a number alive
        on_the_way = self._on_the_way(number)
        if m.state == COMPLETE:
            after = m.timeout
            if on_the_way and not after:
                after = self.digit_map.short_timer
            return Decision(DIAL, out, after, f"Dial plan: {m.pattern}")
        if m.state == PARTIAL or on_the_way:
            return Decision(WAIT, number, m.timeout, "")
        if m.state == BARRED:
            return Decision(REORDER, number, None, NOT_ALLOWED)
        if self.ip_dialling and _IP_STAR_START.match(number):
            return Decision(WAIT, number, None, "IP address")
        return Decision(REORDER, number, None, NO_SUCH)

    def send(self, number: str) -> Decision:
        """Send pressed, or a timer ran out: dial what was typed, unless it is barred."""
        number = number.strip()
        if not number:
            return Decision(WAIT, "", None, "Nothing to dial")
        if self._emergency(number):
            return Decision(DIAL, number, 0, "Emergency number")
        if not _NUMBER.match(number):
            return Decision(DIAL, number, 0, "Address")     # sip: URI, IP address, user@host
        m = self.digit_map.match(number) if self.digit_map is not None else None
        if m is not None and m.number is not None:
            out = self._out(m.number)
            if self._emergency(m.number) or self._emergency(out):
                return Decision(DIAL, out, 0, "Emergency number")
            if m.barred:
                return Decision(REORDER, number, None, NOT_ALLOWED)
            return Decision(DIAL, out, 0, f"Dial plan: {m.pattern}")
        if _IP_STAR.match(number):
            return Decision(DIAL, number, 0, "IP address")     # no rules on an address
        out = self._out(number)
        if self._emergency(out):
            return Decision(DIAL, out, 0, "Emergency number")
        reason = "Sent as dialled" if m is not None else ""
        return Decision(DIAL, out, 0, reason)
