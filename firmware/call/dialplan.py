"""Dial plan: what the keys typed so far mean, and what to send.

Three things decide it, and the phone asks `Dialler` on every key press:

* a **digit map** (`dialplan.digit_map`), Cisco/Linksys SPA syntax, because that is what
  ATAs and desk phones use and what administrators already write;
* the manual's **dial rules** (`dialplan.rules`, §7 Web Settings > Advance > Dial Plan):
  a prefix, insert a number, delete digits, or call a phone by its IP address;
* the **emergency numbers** (`phone.emergency`), which always dial at once.

The module is pure (no I/O, no SIP): the phone turns a `Decision` into timers and calls.

Digit map
---------
``L:8,S:4,( pattern | pattern ... )``; white space is ignored; the outer parentheses may be
left out. A pattern is a row of elements:

=============  =============================================================================
``0``-``9``    that key; ``*`` and ``#`` too
``x``          any digit 0-9 (not * or #)
``[2-9]``      one key of a set; ranges and keys mix: ``[13-5*]``
``.``          the element before it, 0 or more times: ``01.`` = 0, 01, 011 ...
``<a:b>``      ``a`` is dialled, ``b`` is sent: ``<9:>`` deletes a 9, ``<:1>`` inserts 1,
               ``<00:+>`` replaces; ``a`` holds keys, x, sets and ``.``; ``b`` keys and +
``!``          at the end: the pattern is barred, such a number is never dialled
``S<n>``       short (interdigit) timer of this pattern, seconds: ``S0`` dials at once
``L<n>``       long timer: seconds to wait for the next key once the match got here
``,``          "outside line" tone point in the Linksys syntax: accepted, no tone is played
``S:n,`` ``L:n,``  before the map: short / long timer for the whole map
=============  =============================================================================

Matching follows the Linksys administration guide. Every pattern is a candidate; a key
removes the candidates it does not fit. Then:

* no candidate left: **impossible** (the phone gives re-order);
* candidates left, none complete: **partial** (wait; ``timeout`` None = the phone's own
  dial timeout, or the L timer when one is given);
* one is complete and none can grow any longer: **complete**, dial at once (``timeout`` 0)
  or after the pattern's S timer when it has one;
* one is complete and some candidate (itself included, ``xxx.``) can still take more keys:
  **complete** with the short timer (the pattern's S timer, else the map's ``S:n,``, else 3 s).
  More keys in that time keep matching; silence dials.

When several patterns are complete the **most specific** one decides the number, the timer
and barring: the most literal keys, then the most single-key elements (a repeat counts
nothing), then the smallest sets; on a tie a barred pattern beats an allowed one, then the
earlier pattern wins. So ``(1947xxxxxxx!|1xxxxxxxxxx)`` bars the 947 area code and
``(1947xxxxxxx!|19475550100)`` still lets that one number through. A barred winner is
**barred** only when no allowed candidate can still grow; until then the match is partial.

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

from firmware.errors import DeskphoneError

__all__ = ["DigitMap", "DigitMapError", "Match", "check_digit_map", "Rule", "parse_rule",
           "check_rule", "apply_rules", "is_emergency", "Dialler", "Decision"]

KEYS = "0123456789*#"
DIGITS = frozenset("0123456789")
SHORT_TIMER = 3          # Linksys Interdigit_Short_Timer default, seconds
MAX_TIMER = 60

PARTIAL, COMPLETE, IMPOSSIBLE, BARRED = "partial", "complete", "impossible", "barred"


class DigitMapError(DeskphoneError, ValueError):
    """A digit map that cannot be parsed; `position` is 1-based, for a caret under it."""

    def __init__(self, position: int, reason: str):
        super().__init__(f"position {position}: {reason}")
        self.position = position
        self.reason = reason

    def caret(self, text: str) -> str:
        """The map and a caret under the fault, for a log or an error page."""
        return f"{text}\n{' ' * (self.position - 1)}^ {self.reason}"


# --- digit map: parsing ---------------------------------------------------------------------

# A pattern compiles to steps: ("k", keys, repeat, keep) consumes one key (0+ times when
# repeat; keep=False inside <a:b>), ("e", text) sends text, ("t", "S"|"L", seconds).

@dataclass(frozen=True)
class Pattern:
    text: str
    steps: tuple
    barred: bool


class _Parser:
    SPECIAL = {
        "(": "'(' inside a pattern: parentheses cannot be nested",
        "]": "']' without '['",
        ">": "'>' without '<'",
        ":": "':' outside <...>: a substitution is <dialled:sent>, e.g. <9:>",
        "P": "P (pause, hot line) is not supported: use phone.hotline and "
             "phone.hotline_delay",
    }

    def __init__(self, text: str):
        self.t = text
        self.i = 0

    def fail(self, i: int, reason: str):
        raise DigitMapError(i + 1, reason)

    def ws(self) -> None:
        t, i = self.t, self.i
        while i < len(t) and t[i].isspace():
            i += 1
        self.i = i

    def peek(self) -> str:
        return self.t[self.i] if self.i < len(self.t) else ""

    def parse(self) -> tuple[dict, list[Pattern]]:
        self.ws()
        if not self.peek():
            self.fail(0, "empty digit map (leave the setting empty for none)")
        timers = self.master_timers()
        self.ws()
        if self.peek() == "(":
            opened = self.i
            self.i += 1
            patterns = self.alternatives(closing=True)
            if self.peek() != ")":
                self.fail(opened, "'(' is never closed: add ')' at the end")
            self.i += 1
            self.ws()
            if self.peek():
                self.fail(self.i, "text after ')': put every pattern inside the parentheses")
        else:
            patterns = self.alternatives(closing=False)
        return timers, patterns

    def master_timers(self) -> dict:
        timers: dict = {}
        while True:
            self.ws()
            start = self.i
            if self.peek().upper() not in ("S", "L"):
                return timers
            kind = self.peek().upper()
            self.i += 1
            self.ws()
            if self.peek() != ":":
                self.i = start              # S5 ... : a local timer of the first pattern
                return timers
            self.i += 1
            self.ws()
            timers[kind] = self.seconds(start, f"{kind}:")
            self.ws()
            if self.peek() == ",":
                self.i += 1

    def seconds(self, at: int, what: str) -> int:
        t, i = self.t, self.i
        while i < len(t) and t[i] in DIGITS:
            i += 1
        if i == self.i:
            self.fail(at, f"bad timer: {what} needs seconds right after it, e.g. {what}0 or "
                          f"{what}5")
        value = int(t[self.i:i])
        if value > MAX_TIMER:
            self.fail(at, f"bad timer: {what}{value} is more than {MAX_TIMER} seconds")
        self.i = i
        return value

    def alternatives(self, closing: bool) -> list[Pattern]:
        patterns = []
        while True:
            self.ws()
            start = self.i
            steps, barred = self.pattern()
            if not steps:
                self.fail(start, "empty alternative: a pattern is missing here")
            if not any(s[0] in "ke" for s in steps):
                self.fail(start, "this pattern has only a timer: add the keys it matches")
            patterns.append(Pattern(self.t[start:self.i].strip(), tuple(steps), barred))
            ch = self.peek()
            if ch == "|":
                self.i += 1
                continue
            if ch == ")" and not closing:
                self.fail(self.i, "')' without '('")
            return patterns                 # at ')' or the end; the caller checks which

    def pattern(self) -> tuple[list, bool]:
        steps: list = []
        last = None                         # what '.' would repeat: "key", or why not
        while True:
            self.ws()
            ch = self.peek()
            at = self.i
            if ch in ("", "|", ")"):
                return steps, False
            if ch == "!":
                self.i += 1
                self.ws()
                if self.peek() not in ("", "|", ")"):
                    self.fail(at, "'!' bars a pattern and must come last in it")
                if not any(s[0] == "k" for s in steps):
                    self.fail(at, "'!' bars a pattern, but there is nothing before it")
                return steps, True
            if ch == "<":
                self.substitution(steps)
                last = "a <substitution>"
            elif ch in "SsLl":
                self.i += 1
                if self.peek() == ":" or (self.peek().isspace() and self._colon_ahead()):
                    self.fail(at, f"{ch.upper()}:n, sets a timer for the whole map and goes "
                                  f"before '('")
                steps.append(("t", ch.upper(), self.seconds(at, ch.upper())))
                last = "a timer"
            elif ch == ",":
                self.i += 1
                last = "','"
            elif ch == ".":
                self.repeat(steps, last, at)
                last = "'.'"
            else:
                keys = self.element(inside=False)
                steps.append(("k", keys, False, True))
                last = "key"

    def _colon_ahead(self) -> bool:
        j = self.i
        while j < len(self.t) and self.t[j].isspace():
            j += 1
        return j < len(self.t) and self.t[j] == ":"

    def repeat(self, steps: list, last, at: int) -> None:
        if last is None:
            self.fail(at, "'.' repeats the key before it, and there is none")
        if last == "'.'":
            self.fail(at, "'.' after '.': one is enough")
        if last != "key":
            self.fail(at, f"'.' cannot repeat {last}: put it after a key, x or [set]")
        kind, keys, _, keep = steps[-1]
        steps[-1] = (kind, keys, True, keep)
        self.i += 1

    def element(self, inside: bool) -> frozenset:
        """One key, x or [set] at self.i."""
        ch = self.peek()
        at = self.i
        self.i += 1
        if ch in KEYS:
            return frozenset(ch)
        if ch in "xX":
            return DIGITS
        if ch == "[":
            return self.keyset(at)
        if inside and ch in "<(|)!SsLl":
            self.fail(at, f"{ch!r} inside <...>: a substitution is <dialled:sent>, e.g. <9:>")
        if ch.upper() in self.SPECIAL:
            self.fail(at, self.SPECIAL[ch.upper()])
        self.fail(at, f"unknown character {ch!r}: a digit map uses 0-9 * # x [ ] . < : > ! "
                      f"S L | ( )")

    def keyset(self, opened: int) -> frozenset:
        keys: set = set()
        while True:
            self.ws()
            ch = self.peek()
            at = self.i
            if not ch:
                self.fail(opened, "'[' is never closed: add ']'")
            self.i += 1
            if ch == "]":
                if not keys:
                    self.fail(at, "empty set []: put the keys it allows inside, e.g. [2-9]")
                return frozenset(keys)
            if ch == "-":
                self.fail(at, "a range needs a digit on each side, like [2-9]")
            if ch not in KEYS:
                self.fail(at, f"{ch!r} cannot be in a [set]: only 0-9 * # and ranges like 2-9")
            self.ws()
            if self.peek() == "-":
                self.i += 1
                self.ws()
                hi = self.peek()
                if ch not in DIGITS or hi not in DIGITS:
                    self.fail(at, "a range joins two digits, like [2-9]")
                if hi < ch:
                    self.fail(at, f"bad range {ch}-{hi} goes backwards: write [{hi}-{ch}]")
                self.i += 1
                keys.update(str(d) for d in range(int(ch), int(hi) + 1))
            else:
                keys.add(ch)

    def substitution(self, steps: list) -> None:
        opened = self.i
        self.i += 1
        last = None
        while True:                          # what is dialled
            self.ws()
            ch = self.peek()
            at = self.i
            if not ch:
                self.fail(opened, "'<' is never closed: a substitution is <dialled:sent>")
            if ch == ":":
                self.i += 1
                break
            if ch == ">":
                self.fail(at, "a substitution needs ':' between what is dialled and what is "
                              "sent, e.g. <9:>")
            if ch == ",":
                self.i += 1
                last = "','"
            elif ch == ".":
                self.repeat(steps, last, at)
                last = "'.'"
            else:
                steps.append(("k", self.element(inside=True), False, False))
                last = "key"
        sent = []
        while True:                          # what is sent instead
            self.ws()
            ch = self.peek()
            at = self.i
            if not ch:
                self.fail(opened, "'<' is never closed: add '>'")
            self.i += 1
            if ch == ">":
                break
            if ch not in KEYS + "+":
                self.fail(at, f"{ch!r} cannot be sent: <dialled:sent> sends 0-9 * # +")
            sent.append(ch)
        if sent:
            steps.append(("e", "".join(sent)))


# --- digit map: matching --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Match:
    """What the keys so far are, for the digit map.

    `number` is what would be sent if dialled now (the winning complete pattern's
    substitutions) and None while no pattern is complete. `timeout` is the seconds to
    wait for another key: 0 = dial now, None = the phone's own dial timeout. `barred`
    says that dialling now would be refused (state barred, or partial while the complete
    winner is barred and an allowed pattern may still match).
    """
    state: str
    number: str | None = None
    timeout: float | None = None
    pattern: str | None = None
    barred: bool = False


_IMPOSSIBLE = Match(IMPOSSIBLE)


class DigitMap:
    """A parsed digit map, compiled once into a lazily built DFA over the keys.

    Each DFA state is the set of pattern positions still alive; a key press is one dict
    lookup once the state has been seen, so typing costs microseconds even on a Pi Zero.
    The states are built as keys arrive: use a map from one thread (the phone's loop).
    """

    def __init__(self, text: str, patterns: list[Pattern], timers: dict):
        self.text = text
        self.patterns = tuple(patterns)
        self.short_timer = timers.get("S", SHORT_TIMER)
        self.long_timer = timers.get("L")
        self._compile()

    @classmethod
    def parse(cls, text: str) -> DigitMap:
        if not isinstance(text, str):
            raise TypeError("a digit map is a string")
        timers, patterns = _Parser(text).parse()
        return cls(text, patterns, timers)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"DigitMap.parse({self.text!r})"

    # NFA positions of all patterns are numbered globally: pattern p, step i -> base[p] + i;
    # base[p] + len(steps) is where p accepts.
    def _compile(self) -> None:
        consume, repeat, owner, long_at, accept = [], [], [], [], []
        self._regex, self._short, self._rank = [], [], []
        for p, pat in enumerate(self.patterns):
            long = None
            for step in pat.steps:
                owner.append(p)
                long_at.append(long)
                if step[0] == "k":
                    consume.append(step[1])
                    repeat.append(step[2])
                else:
                    consume.append(None)
                    repeat.append(False)
                    if step[0] == "t" and step[1] == "L":
                        long = step[2]
            accept.append(len(owner))
            owner.append(p)
            long_at.append(long)
            consume.append(None)
            repeat.append(False)
            self._regex.append(_regex(pat.steps))
            shorts = [s[2] for s in pat.steps if s[0] == "t" and s[1] == "S"]
            self._short.append(shorts[-1] if shorts else None)
            fixed = [s[1] for s in pat.steps if s[0] == "k" and not s[2]]
            self._rank.append((sum(len(k) == 1 for k in fixed), len(fixed),
                               -sum(len(k) for k in fixed), pat.barred, -p))
        self._consume, self._repeat, self._owner = consume, repeat, owner
        self._long_at, self._accept, self._accepting = long_at, accept, frozenset(accept)
        self._closure = [self._close(i) for i in range(len(consume))]
        starts = frozenset().union(*(self._closure[a - len(pat.steps)]
                                     for a, pat in zip(accept, self.patterns)))
        self._sets: list[frozenset] = [frozenset()]      # state 0: nothing can match
        self._index: dict[frozenset, int] = {frozenset(): 0}
        self._delta: list[dict] = [dict.fromkeys(KEYS, 0)]
        self._info: list = [_IMPOSSIBLE]
        self._start = self._state(starts)

    def _close(self, i: int) -> frozenset:
        """Positions reachable from i without a key: past timers, insertions, repeats."""
        out = {i}
        while self._consume[i] is None or self._repeat[i]:
            if i in self._accepting:
                break
            i += 1
            out.add(i)
        return frozenset(out)

    def _state(self, positions: frozenset) -> int:
        n = self._index.get(positions)
        if n is None:
            n = len(self._sets)
            self._sets.append(positions)
            self._index[positions] = n
            self._delta.append({})
            self._info.append(None)
        return n

    def _next(self, s: int, key: str) -> int:
        out: set = set()
        for i in self._sets[s]:
            keys = self._consume[i]
            if keys is not None and key in keys:
                out |= self._closure[i if self._repeat[i] else i + 1]
        n = self._state(frozenset(out))
        self._delta[s][key] = n
        return n

    def _classify(self, s: int) -> tuple:
        """(state, winning pattern, timeout, barred) of a DFA state, computed once."""
        positions = self._sets[s]
        live = {self._owner[i] for i in positions if self._consume[i] is not None}
        done = [p for p, a in enumerate(self._accept) if a in positions]
        longs = [self._long_at[i] for i in positions
                 if self._consume[i] is not None and self._long_at[i] is not None]
        wait = max(longs) if longs else self.long_timer
        if not done:
            return (PARTIAL, None, wait, False) if live else (IMPOSSIBLE, None, None, False)
        best = max(done, key=self._rank.__getitem__)
        own = self._short[best]
        if self.patterns[best].barred:
            if any(not self.patterns[p].barred for p in live):
                return PARTIAL, best, wait, True
            return BARRED, best, None, True
        if live:
            return COMPLETE, best, own if own is not None else self.short_timer, False
        return COMPLETE, best, own if own is not None else 0, False

    def match(self, digits: str) -> Match:
        """Classify the keys typed so far (see the module docstring for the rules)."""
        s = self._start
        delta = self._delta
        for key in digits:
            n = delta[s].get(key)
            if n is None:
                if key not in KEYS:
                    return _IMPOSSIBLE
                n = self._next(s, key)
            s = n
            if not s:
                return _IMPOSSIBLE
        info = self._info[s]
        if info is None:
            info = self._info[s] = self._classify(s)
        state, best, timeout, barred = info
        if best is None:
            return Match(state, None, timeout)
        return Match(state, self._send(best, digits), timeout, self.patterns[best].text, barred)

    def _send(self, p: int, digits: str) -> str:
        rx, template = self._regex[p]
        m = rx.fullmatch(digits)
        return "".join(m.group(part) if isinstance(part, int) else part for part in template)


def _regex(steps: tuple) -> tuple[re.Pattern, list]:
    """A regex of one pattern and the template that rebuilds what it sends."""
    parts, template, groups = [], [], 0
    for step in steps:
        if step[0] == "k":
            cls = "[" + "".join(re.escape(k) for k in sorted(step[1])) + "]"
            if step[2]:
                cls += "*"
            if step[3]:
                groups += 1
                cls = f"({cls})"
                template.append(groups)
            parts.append(cls)
        elif step[0] == "e":
            template.append(step[1])
    return re.compile("".join(parts)), template


def check_digit_map(text: str) -> None:
    """Settings check for dialplan.digit_map: empty = none, else it must parse."""
    if text.strip():
        DigitMap.parse(text)


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
