"""The incoming policy: THE one place that decides what happens to a new INVITE.

The SIP thread asks `IncomingPolicy.decide` before anything of ours sits between the INVITE
and the 180: ring (180), refuse (403, 433, 486, DND's code...), forward (302), and whether
the call is a page the phone answers by itself (`auto_answer`, honoured only from the
sources `Trust` names). The Phone keeps the policy up to date from the settings (it replaces
the frozen-ish object; the SIP thread reads whatever is there). Pure: no pjsua2 here.
"""
from __future__ import annotations

import ipaddress
import re

from firmware.record import Record, recalled, remembered
from firmware.sip.text import Message, params, split_uri
from firmware.sip.trust import Trust


class Bans(Record, frozen=True):
    """The ban list's numbers as the SIP thread reads them, made once whenever the list
    changes (firmware/banlist.py `BanList.bans`), never read from its file here: a number
    in `everywhere` is refused on every line, an (account, number) of `lines` only on
    that line (the manual's Account of a ban entry: "can't dial to this SIP account").
    An entry's number ending in * is a prefix, as in phone.blacklist (`_listed`): it is in
    `prefixes` as (account or None for every line, the digits before the *)."""

    everywhere: frozenset = frozenset()
    lines: frozenset = frozenset()
    prefixes: tuple = ()

    def refuses(self, number: str, account: int) -> bool:
        """Two set lookups and a scan of the few prefixes, on the SIP thread before the
        180."""
        return number in self.everywhere or (account, number) in self.lines or any(
            number.startswith(p) for line, p in self.prefixes if line in (None, account))

    def __bool__(self) -> bool:
        return bool(self.everywhere or self.lines or self.prefixes)


class IncomingPolicy(Record, frozen=True):
    """How the SIP thread answers a new INVITE before the Phone sees it (a fast 180, or a
    refusal, or a redirect), from settings the Phone keeps up to date, and whom it takes
    requests from at all (`trust`, kept by firmware/sip/trust.py). `decide` is pure."""

    dnd: int = 0               # non-zero: refuse every new call with this status (DND)
    dnd_code: int = 486        # for calls to a line in DND
    dnd_accounts: frozenset = frozenset()
    busy_when_in_call: bool = False   # call waiting off
    max_calls: int = 3         # one per line key
    reject_code: int = 486     # blacklisted callers
    blacklist: tuple = ()      # numbers, or prefixes ending in * (phone.blacklist)
    bans: Bans = Bans()        # the ban list's entries (firmware/banlist.py), by line
    ip_allow: tuple = ()       # ipaddress networks; empty = everyone (IP strategy off)
    anon_reject: frozenset = frozenset()   # accounts refusing hidden callers
    forward_always: str = ""   # sip: URI, or ""
    forward_busy: str = ""
    pages: bool = False        # auto-answer INVITEs are pages (firmware/features/paging.py)
    page_barge_in: bool = True     # a page during a call is mixed in, else refused busy
    page_dnd_emergency: bool = True  # an emergency page gets through DND
    trust: Trust = Trust()     # the lines' servers and who else may do what
    flood_limit: int = 20      # unanswered calls in 2 s from one address: a flood (gate)

    def allows_source(self, ip: str) -> bool:
        """May a request from `ip` start anything (sip.trusted_only)? For every request
        outside a dialog, on the SIP thread: no DNS, a few set lookups."""
        return self.trust.allows(ip)

    def allows_notify(self, ip: str, event: str) -> bool:
        """May `ip` send an unsolicited NOTIFY (no subscription of ours: message-summary,
        check-sync...)? Only the lines' servers and sip.trusted; check-sync then also
        passes provisioning.accept_notify and the lines' servers alone (_on_check_sync)."""
        return self.trust.is_server(ip)

    def page_from(self, ip: str, page):
        """The auto-answer request an INVITE from `ip` may have honoured: only the lines'
        servers and paging.intercom_allow may open the microphone; from anyone else (or
        with paging.intercom off) the call rings like any other (None)."""
        if page is None or not self.pages or not self.trust.may_page(ip):
            return None
        return page

    def decide(self, *, account: int, calls: int, caller: str, anonymous: bool,
               source_ip: str, page=None) -> tuple[int, str]:
        """(SIP status, redirect target). 180 = ring; 302 = forward to target.
        page: the INVITE's auto-answer request (AutoAnswer) or None."""
        if not self.trust.allows(source_ip):
            return 403, ""
        if self.ip_allow and not _ip_in(source_ip, self.ip_allow):
            return 403, ""
        if self.blacklist and _listed(caller, self.blacklist) or \
                self.bans and self.bans.refuses(caller, account):
            return self.reject_code, ""
        if account in self.anon_reject and anonymous:
            return 433, ""                     # Anonymity Disallowed (RFC 5079)
        if page is not None:                   # a page is never forwarded
            refused = self.dnd or (self.dnd_code if account in self.dnd_accounts else 0)
            if refused and not (page.emergency and self.page_dnd_emergency):
                return refused, ""
            if calls >= self.max_calls or (calls and not self.page_barge_in):
                return 486, ""
            return 180, ""
        if self.forward_always:
            return 302, self.forward_always
        refused = self.dnd or (self.dnd_code if account in self.dnd_accounts else 0)
        busy = calls >= self.max_calls or (self.busy_when_in_call and calls > 0)
        if (refused or busy) and self.forward_busy:
            return 302, self.forward_busy
        return (refused or (486 if busy else 180)), ""

    def judge(self, msg: str | Message, *, account: int, calls: int,
              source_ip: str) -> Verdict:
        """Ring, refuse, forward or answer by itself: the verdict on an INVITE (its text,
        or its head as the SIP gate read it). One that reads nothing from the INVITE is
        worked out once per policy, source, line and number of calls, and kept with
        whether the source may page: the next INVITE from there takes it at the cost of
        one lookup (and, from a pager, a look for the auto-answer words), the cold Python
        on the SIP thread before each 180 being what costs."""
        key = (source_ip, account, calls)
        kept = recalled(self, key)
        if kept is not None and not (kept[1] and _could_ask(msg)):
            return kept[0]
        may_ask = self._may_ask(msg, source_ip)
        if self.reads_invite or may_ask:
            return _judge(self, msg, account=account, calls=calls, source_ip=source_ip,
                          may_ask=may_ask)
        return remembered(self, key, lambda: (
            _judge(self, msg, account=account, calls=calls, source_ip=source_ip,
                   may_ask=False),
            self.pages and self.trust.may_page(source_ip)))[0]

    def _may_ask(self, msg: str | Message, source_ip: str) -> bool:
        """Might this INVITE's auto-answer request be honoured (so it must be read)?"""
        return self.pages and self.trust.may_page(source_ip) and _could_ask(msg)

    def asked_by(self, msg: Message, verdict: Verdict) -> AutoAnswer | None:
        """The auto-answer request an INVITE made, honoured or not (for the log, after the
        180: `_judge` reads it only where it may be honoured)."""
        if verdict.asked is not None or not self.pages:
            return verdict.asked
        return auto_answer(msg)

    @property
    def reads_invite(self) -> bool:
        """Does deciding need the INVITE's From and Privacy headers?"""
        return bool(self.blacklist or self.bans or self.anon_reject)


def _listed(number: str, patterns) -> bool:
    for p in patterns:
        if p.endswith("*") and number.startswith(p[:-1]) or number == p:
            return True
    return False


def _ip_in(ip: str, nets) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in nets)


# --- the auto-answer request of an INVITE (paging, intercom: firmware/features/paging.py) ---

RING_ANSWER_DELAY = 2          # Alert-Info: Ring Answer rings this long, then answers


class AutoAnswer(Record, frozen=True):
    """What an INVITE asks for: answer after `delay` seconds; `emergency` passes DND."""

    delay: int
    emergency: bool
    header: str              # which header asked, for the log


MAX_ASKED_DELAY = 3600         # a longer delay is no delay a pager means: a malformed one
_DELAY = re.compile(r"\d{1,5}(\.\d{1,6})?")


def _seconds(text: str) -> int | None:
    """An answer delay as the INVITE gives it, or None when it is not a plain number of
    seconds from 0 to MAX_ASKED_DELAY ("-5", "nan", "inf", "1e309", "abc", ""): a request
    nobody can honour is no request, and the call rings as an ordinary one."""
    text = text.strip()
    if not _DELAY.fullmatch(text):
        return None
    seconds = int(float(text))
    return seconds if seconds <= MAX_ASKED_DELAY else None


def _parsed(msg: str | Message) -> Message:
    return msg if isinstance(msg, Message) else Message.parse(msg)


def _header_lines(msg: str | Message) -> list[tuple[str, str]]:
    """(name, value) of every header, the comma-separated Alert-Info/Call-Info values
    split (one <uri>;params each)."""
    out = []
    for name, value in _parsed(msg).fields:
        if name in ("alert-info", "call-info"):
            out += [(name, v.strip()) for v in re.split(r",(?=\s*<)", value)]
        elif name in _ASKING:
            out.append((name, value))
    return out


# the headers auto_answer reads (the rest of an INVITE is not looked at before its 180)
_ASKING = frozenset({"priority", "answer-mode", "priv-answer-mode", "p-auto-answer"})


def _could_ask(msg: str | Message) -> bool:
    """Might this INVITE ask to be answered by itself? A head the gate parsed is read; a
    text is looked at for the words first (_might_ask)."""
    return isinstance(msg, Message) or _might_ask(msg)


def _might_ask(text: str) -> bool:
    """Is one of the auto-answer headers perhaps in this INVITE's text? (a look for the
    words first: most INVITEs have none of them, and the pattern tries every line)"""
    low = text.lower()
    return ("info" in low or "answer" in low or "priority" in low) and \
        _MAY_ASK.search(text) is not None


# is one of them (or alert-info, call-info) perhaps in an INVITE's text? A match that is no
# such header costs a parse, a miss is none of them (a header's name starts its line)
_MAY_ASK = re.compile(r"^\s*(?:alert-info|call-info|priority|answer-mode|priv-answer-mode|"
                      r"p-auto-answer)\s*:", re.I | re.M)


def auto_answer(msg: str | Message) -> AutoAnswer | None:
    """The auto-answer request of an INVITE, or None for an ordinary call. A header whose
    delay is malformed asks for nothing. Pure. The spellings taken are listed in
    firmware/features/paging.py."""
    found: list[AutoAnswer] = []
    emergency = False

    def ask(delay: str | int, header: str, urgent: bool = False) -> None:
        seconds = delay if isinstance(delay, int) else _seconds(delay)
        if seconds is not None:
            found.append(AutoAnswer(seconds, urgent, header))

    for name, value in _header_lines(msg):
        low = value.lower()
        if name == "priority" and low.strip() == "emergency":
            emergency = True
        elif name in ("call-info", "alert-info"):
            p = params(value)
            if p.get("priority", "").lower() == "emergency":
                emergency = True
            if "answer-after" in p:
                ask(p["answer-after"], name)
            elif "alert-autoanswer" in p.get("info", "").lower() or \
                    "alert-autoanswer" in low.split(";", 1)[0]:
                ask(p.get("delay", "0"), name)
            elif name == "alert-info":
                bare = low.split(";", 1)[0].strip().strip("<>").strip()
                info = p.get("info", "").lower()
                if "auto answer" in (bare, info) or "autoanswer" in (bare, info):
                    ask(p.get("delay", "0"), name)
                elif "ring answer" in (bare, info):
                    ask(RING_ANSWER_DELAY, name)
        elif name in ("answer-mode", "priv-answer-mode"):
            mode = low.split(";", 1)[0].strip()
            if mode == "auto":
                ask(0, name, name == "priv-answer-mode")
        elif name == "p-auto-answer" and low.split(";", 1)[0].strip() not in ("off", "no",
                                                                              "false", "0"):
            ask(params(value).get("delay", "0"), name)
    if not found:
        return None
    first = min(found, key=lambda a: a.delay)
    return AutoAnswer(first.delay, emergency or any(a.emergency for a in found), first.header)


def is_anonymous(headers: dict, number: str) -> bool:
    """Does the caller hide who it is (RFC 3323 Privacy: id, an anonymous From)?"""
    privacy = headers.get("privacy", "").lower()
    return (number.lower() in ("anonymous", "unknown", "") or "id" in privacy.split(";")
            or "anonymous.invalid" in headers.get("from", "").lower())


def caller(msg: str | Message) -> tuple[str, bool]:
    """(the caller's number, hidden?) of an INVITE, for the blacklist and anonymity."""
    h = _parsed(msg).headers()
    number = split_uri(h.get("from", ""))[2]
    return number, is_anonymous(h, number)


class Verdict(Record, frozen=True):
    """What the SIP thread does with a new INVITE: answer `code` (180 ring, 302 forward to
    `target`, else refuse); `page` is the auto-answer request honoured, `asked` the one the
    INVITE made (honoured or not: for the log)."""

    code: int
    target: str = ""
    page: AutoAnswer | None = None
    asked: AutoAnswer | None = None


def _judge(policy: IncomingPolicy, msg: str | Message, *, account: int, calls: int,
           source_ip: str, may_ask: bool) -> Verdict:
    """The policy's verdict on an INVITE's text, received from `source_ip` for line
    `account` while `calls` calls are up. Reads only what the policy needs (the From and
    Privacy headers only with a blacklist or anonymous-call rejection on, the auto-answer
    headers only from a source that may page, and only when one of them is there at all).
    `asked` is None when the source may not page: whether it asked is read after the 180
    (`asked_by`), for the log. may_ask: policy._may_ask(msg, source_ip), worked out once."""
    if may_ask or policy.reads_invite:
        msg = _parsed(msg)             # once, and only when something is read from it
    asked = auto_answer(msg) if may_ask else None
    page = policy.page_from(source_ip, asked)
    number, hidden = caller(msg) if policy.reads_invite else ("", False)
    code, target = policy.decide(account=account, calls=calls, caller=number,
                                 anonymous=hidden, source_ip=source_ip, page=page)
    return Verdict(code, target, page, asked)
