"""Digit maps: the Cisco/Linksys SPA syntax administrators write (`dialplan.digit_map`),
parsed and matched against the keys typed so far.

Pure (no I/O, no SIP, nothing of the phone); firmware/call/dialplan.py joins it with the
dial rules and the emergency numbers in its `Dialler`.

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
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from firmware.errors import DeskphoneError

__all__ = ["DigitMap", "DigitMapError", "Match", "check_digit_map"]

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
