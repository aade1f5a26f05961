"""BLF and BLA lamps: who is idle, ringing or busy (manual §3 "Turn on BLF", LP-388 BLI).

One subscription per watched number (RFC 4235 dialog events, or PIDF presence with
phone.blf_mode = presence), shared by every key that shows it. The SIP side lives on the
pjsua thread (firmware/sip/pjblf.py); here, on the loop, NOTIFY bodies become lamps:

    idle      green, steady       nobody is on the phone there
    ringing   red, fast flash     a call rings there (the key picks it up)
    busy      red, steady         in a call, or calling out
    held      green, slow flash   a shared (BLA) line holds a call
    unknown   amber, slow flash   not watched: subscription refused or lost, no server,
                                  a NOTIFY we could not read — never shown as idle

A refused or lost subscription is tried again (phone.blf_retry); one the server forgot
(481 after a restart, Subscription-State: terminated;reason=deactivated|timeout) at once.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from defusedxml import ElementTree
from xml.etree.ElementTree import ParseError

from firmware.bus import Bus, Timers
from firmware.events import BlfNotified, BlfSubscriptionChanged, TimerFired
from firmware.sip import uri_key

log = logging.getLogger("deskphone.blf")

NS = "{urn:ietf:params:xml:ns:dialog-info}"
PIDF = "{urn:ietf:params:xml:ns:pidf}"
LAMPS = ("idle", "ringing", "busy", "held", "unknown")
GRACE = 10.0               # s past the granted expiry before a silent subscription is lost
MAX_BODY = 64 * 1024
PACE, PACE_EVERY = 10, 0.05   # subscriptions sent at once, and how often (200 keys: 1 s)


class BadNotify(ValueError):
    """A NOTIFY body we cannot use; the message says why."""


@dataclass
class Dialog:
    id: str
    state: str                 # trying | proceeding | early | confirmed | terminated
    direction: str = ""        # initiator | recipient | ""
    call_id: str = ""
    local_tag: str = ""        # the watched party's tag
    remote_tag: str = ""       # the other party's tag
    remote: str = ""           # the other party's identity URI
    held: bool = False         # +sip.rendering=no on the watched side (BLA)


@dataclass
class DialogInfo:
    entity: str
    version: int
    full: bool
    dialogs: list[Dialog]


def _attr(el, name: str) -> str:
    return (el.get(name) or "").strip()


def parse_dialog_info(body: bytes) -> DialogInfo:
    """RFC 4235 dialog-info XML; BadNotify with the reason if it is not that."""
    if not body.strip():
        raise BadNotify("empty body")
    if len(body) > MAX_BODY:
        raise BadNotify(f"body of {len(body)} bytes is too large")
    try:
        root = ElementTree.fromstring(body)
    except ParseError as e:
        raise BadNotify(f"not well-formed XML ({e})") from None
    except Exception as e:  # noqa: BLE001 - defusedxml refuses entities, DTDs...
        raise BadNotify(f"refused XML ({type(e).__name__})") from None
    if root.tag != f"{NS}dialog-info":
        raise BadNotify(f"root element {root.tag!r} is not dialog-info "
                        f"(urn:ietf:params:xml:ns:dialog-info)")
    try:
        version = int(_attr(root, "version") or "0")
    except ValueError:
        raise BadNotify(f"version {root.get('version')!r} is not a number") from None
    state = _attr(root, "state") or "full"
    if state not in ("full", "partial"):
        raise BadNotify(f"state {state!r} is neither full nor partial")
    dialogs = []
    for d in root.findall(f"{NS}dialog"):
        st = d.find(f"{NS}state")
        if st is None or not (st.text or "").strip():
            raise BadNotify(f"dialog {d.get('id')!r} has no state")
        remote = ""
        r = d.find(f"{NS}remote/{NS}identity")
        if r is None:
            r = d.find(f"{NS}remote/{NS}target")
            remote = _attr(r, "uri") if r is not None else ""
        else:
            remote = (r.text or "").strip()
        held = any(_attr(p, "pname") == "+sip.rendering" and _attr(p, "pvalue") == "no"
                   for p in d.findall(f"{NS}local/{NS}target/{NS}param"))
        dialogs.append(Dialog(id=_attr(d, "id"), state=(st.text or "").strip().lower(),
                              direction=_attr(d, "direction"), call_id=_attr(d, "call-id"),
                              local_tag=_attr(d, "local-tag"),
                              remote_tag=_attr(d, "remote-tag"), remote=remote, held=held))
    return DialogInfo(_attr(root, "entity"), version, state == "full", dialogs)


def parse_pidf(body: bytes) -> str:
    """PIDF presence -> idle | busy | unknown (offline)."""
    try:
        root = ElementTree.fromstring(body)
    except Exception as e:  # noqa: BLE001
        raise BadNotify(f"not well-formed XML ({type(e).__name__})") from None
    if root.tag != f"{PIDF}presence":
        raise BadNotify(f"root element {root.tag!r} is not a PIDF presence document")
    basic = [(b.text or "").strip().lower() for b in root.iter(f"{PIDF}basic")]
    if "open" not in basic:
        return "unknown"
    text = " ".join((el.text or "") + " " + el.tag for el in root.iter()).lower()
    if any(w in text for w in ("on-the-phone", "on the phone", "busy", "}meeting")):
        return "busy"
    return "idle"


def lamp_of(dialogs: list[Dialog]) -> str:
    live = [d for d in dialogs if d.state != "terminated"]
    if any(d.state in ("early", "proceeding", "trying") and d.direction != "initiator"
           for d in live):
        return "ringing"
    if live and all(d.held for d in live if d.state == "confirmed") and \
            any(d.state == "confirmed" for d in live):
        return "held"
    return "busy" if live else "idle"


@dataclass
class Watched:
    uri: str
    account: int
    keys: list[str] = field(default_factory=list)
    lamp: str = "unknown"
    reason: str = "not subscribed yet"
    dialogs: dict[str, Dialog] = field(default_factory=dict)
    version: int = -1
    subscribed: bool = False      # a SUBSCRIBE went out for it
    warned: bool = False          # first failure WARNING, repeats DEBUG


class Blf:
    """Lamps of the BLF and BLA keys. `want()` says which keys watch which URI."""

    def __init__(self, *, bus: Bus, timers: Timers, sip, state, settings):
        self.bus, self.timers, self.sip, self.state = bus, timers, sip, state
        self.settings = settings
        self.watched: dict[str, Watched] = {}     # uri_key -> watched
        self.problems: dict[str, str] = {}        # key name -> why unknown (no server...)
        self.registered: set[int] = set()
        self.latencies: list[float] = []          # NOTIFY received -> lamp set, seconds
        self.notifies = 0
        self._watcher = None
        self._queue: list[str] = []               # uri_keys waiting to be subscribed
        bus.on(BlfNotified, self.on_notify)
        bus.on(BlfSubscriptionChanged, self.on_subscription)
        bus.on(TimerFired, self.on_timer)

    # -- the SIP side ------------------------------------------------------------------------

    def start(self) -> None:
        """Create the pjsua-thread half (queued until SIP runs)."""
        from firmware.sip.pjblf import Watcher
        self._watcher = Watcher(self.sip, self.sip.post)

        def start():
            problem = self._watcher.start()
            self.sip.closers.append(self._watcher.close)
            if problem:
                log.warning("BLF: %s", problem)
        self.sip.submit(start)

    def _subscribe(self, w: Watched) -> None:
        """Queue a (re)subscription: they leave PACE at a time, so 200 keys do not flood
        the server (or our own socket with 200 answers and 200 NOTIFYs at once)."""
        if self._watcher is None:
            return
        w.subscribed = True
        w.version = -1
        k = uri_key(w.uri)
        if k not in self._queue:
            self._queue.append(k)
        if not self.timers.active("blf.pace"):
            self.timers.start("blf.pace", 0)     # once this handler has queued them all

    def _pace(self) -> None:
        event = "presence" if self.settings.phone.blf_mode == "presence" else "dialog"
        sent = 0
        while self._queue and sent < PACE:
            w = self.watched.get(self._queue.pop(0))
            if w is not None:
                self.sip.submit(self._watcher.watch, w.uri, w.account, event)
                sent += 1
        if sent:
            self.timers.start("blf.pace", PACE_EVERY)     # the next ones wait their turn

    def _unsubscribe(self, w: Watched) -> None:
        if self._watcher is not None and w.subscribed:
            self.sip.submit(self._watcher.unwatch, w.uri)
        self.timers.cancel(f"blf.retry.{uri_key(w.uri)}")
        self.timers.cancel(f"blf.lapse.{uri_key(w.uri)}")

    # -- what the keys want ------------------------------------------------------------------

    def want(self, keys: dict[str, tuple[str, int]], problems: dict[str, str]) -> None:
        """keys: key name -> (URI, account) to watch; problems: key name -> why it cannot
        be watched (shown as unknown)."""
        by_uri: dict[str, Watched] = {}
        for name, (uri, account) in keys.items():
            k = uri_key(uri)
            if k in by_uri:                # another key shows the same number
                by_uri[k].keys.append(name)
                continue
            w = self.watched.get(k)
            if w is None or w.account != account:
                if w is not None:
                    self._unsubscribe(w)
                w = Watched(uri, account)
            w.keys = [name]
            by_uri[k] = w
        for k, w in self.watched.items():
            if k not in by_uri:
                self._unsubscribe(w)
        self.watched = by_uri
        self.problems = dict(problems)
        for w in self.watched.values():
            if not w.subscribed and w.account in self.registered:
                self._subscribe(w)
        self._show()

    def registration(self, account: int, active: bool) -> None:
        """A line registered (subscribe its keys; again after a server restart) or lost
        its registration."""
        if active and account not in self.registered:
            self.registered.add(account)
            for w in self.watched.values():
                if w.account == account:
                    self._subscribe(w)
        elif not active:
            self.registered.discard(account)

    def resubscribe(self) -> None:
        for w in self.watched.values():
            if w.account in self.registered:
                self._subscribe(w)

    def lamp(self, key: str) -> str:
        if key in self.problems:
            return "unknown"
        for w in self.watched.values():
            if key in w.keys:
                return w.lamp
        return ""

    def watched_by(self, key: str) -> Watched | None:
        return next((w for w in self.watched.values() if key in w.keys), None)

    def why(self, key: str) -> str:
        if key in self.problems:
            return self.problems[key]
        w = self.watched_by(key)
        return w.reason if w is not None else ""

    def _show(self) -> None:
        lamps = self.state.key_lamps
        for key in [k for k, v in lamps.items() if v in LAMPS]:
            del lamps[key]
        for w in self.watched.values():
            for key in w.keys:
                lamps[key] = w.lamp
        for key in self.problems:
            lamps[key] = "unknown"

    def _set(self, w: Watched, lamp: str, reason: str = "") -> None:
        w.lamp, w.reason = lamp, reason
        for key in w.keys:
            if key not in self.problems:
                self.state.key_lamps[key] = lamp

    def _failed(self, w: Watched, reason: str, *, retry: float | None = None) -> None:
        if reason != w.reason or w.lamp != "unknown":
            (log.debug if w.warned else log.warning)(
                "BLF %s: %s; lamp shows unknown", w.uri, reason)
            w.warned = True
        w.dialogs.clear()
        self._set(w, "unknown", reason)
        delay = self.settings.phone.blf_retry if retry is None else retry
        self.timers.cancel(f"blf.lapse.{uri_key(w.uri)}")
        self.timers.start(f"blf.retry.{uri_key(w.uri)}", delay, uri_key(w.uri))

    def _alive(self, w: Watched, expires: int) -> None:
        if expires > 0:
            self.timers.start(f"blf.lapse.{uri_key(w.uri)}", expires + GRACE, uri_key(w.uri))

    # -- events ------------------------------------------------------------------------------

    def on_subscription(self, ev: BlfSubscriptionChanged) -> None:
        w = self.watched.get(uri_key(ev.uri))
        if w is None:
            return
        if 200 <= ev.code < 300:
            w.warned = False
            self._alive(w, ev.expires)
            if w.lamp == "unknown" and w.reason.startswith(("not subscribed", "SUBSCRIBE")):
                w.reason = "subscribed, waiting for the first NOTIFY"
            return
        why = f"SUBSCRIBE answered {ev.code} {ev.reason}".strip() if ev.code else ev.reason
        if ev.code == 481:        # the server forgot the subscription (restart): at once
            self._failed(w, why + " (server lost the subscription)", retry=0.5)
        elif ev.code == 489:
            self._failed(w, why + " (the server has no dialog events: try "
                              "phone.blf_mode = presence)")
        elif ev.code == 403:
            self._failed(w, why + " (the server does not let this line watch that number)")
        else:
            self._failed(w, why)

    def on_notify(self, ev: BlfNotified) -> None:
        w = self.watched.get(uri_key(ev.uri))
        if w is None:
            return
        self.notifies += 1
        sub_state, _, params = ev.state.partition(";")
        sub_state = sub_state.strip().lower()
        p = dict(x.strip().split("=", 1) for x in params.split(";") if "=" in x)
        if sub_state == "terminated":
            reason = p.get("reason", "")
            soon = reason in ("deactivated", "timeout", "")
            retry = p.get("retry-after", "")
            self._failed(w, f"subscription ended by the server ({reason or 'no reason'})",
                         retry=float(retry) if retry.isdigit() else (1.0 if soon else None))
            return
        try:
            self._alive(w, int(p.get("expires", "0")))
        except ValueError:
            pass
        try:
            if ev.event == "presence":
                lamp = parse_pidf(ev.body)
                self._set(w, lamp, "" if lamp != "unknown" else "offline (presence closed)")
            elif not ev.body.strip():
                # an active subscription with nothing to tell: the server knows no dialog
                # of that number (Kamailio's presence_dialoginfo sends this for idle)
                w.dialogs.clear()
                self._set(w, "idle")
            else:
                info = parse_dialog_info(ev.body)
                if info.entity and uri_key(info.entity).split("@")[0] != \
                        uri_key(w.uri).split("@")[0]:
                    raise BadNotify(f"dialog-info is about {info.entity}, not {w.uri}")
                if info.version < w.version:
                    return                 # older than what we showed
                w.version = info.version
                if info.full:
                    w.dialogs = {d.id: d for d in info.dialogs}
                else:
                    for d in info.dialogs:
                        w.dialogs[d.id] = d
                for k in [k for k, d in w.dialogs.items() if d.state == "terminated"]:
                    del w.dialogs[k]
                self._set(w, lamp_of(list(w.dialogs.values())))
                w.warned = False
        except BadNotify as e:
            log.warning("BLF %s: NOTIFY not understood: %s; lamp shows unknown until the "
                        "next good NOTIFY", w.uri, e)
            w.dialogs.clear()
            self._set(w, "unknown", f"NOTIFY not understood: {e}")
        if ev.received:
            # runs after this batch's after-hooks, i.e. once present() has handed the LEDs
            # to the driver: the bench's NOTIFY -> LED
            self.bus.loop.call_soon(self._record, ev.received)

    def _record(self, received: float) -> None:
        self.latencies.append(time.monotonic() - received)
        if len(self.latencies) > 10000:
            del self.latencies[:5000]

    def on_timer(self, ev: TimerFired) -> None:
        if ev.name == "blf.pace":
            self._pace()
        elif ev.name.startswith("blf.retry."):
            w = self.watched.get(ev.data)
            if w is not None and w.account in self.registered:
                self._subscribe(w)
            elif w is not None:
                w.subscribed = False       # subscribes once the line registers
        elif ev.name.startswith("blf.lapse."):
            w = self.watched.get(ev.data)
            if w is not None:
                self._failed(w, "no refresh or NOTIFY from the server in time (server gone?)",
                             retry=1.0)

    def ringing_dialog(self, key: str) -> Dialog | None:
        """The early dialog a BLF pickup replaces: the watched number is being rung."""
        w = self.watched_by(key)
        if w is None:
            return None
        return next((d for d in w.dialogs.values() if d.state in ("early", "proceeding",
                                                                   "trying")
                     and d.direction != "initiator"), None)

    def held_dialog(self, key: str) -> Dialog | None:
        w = self.watched_by(key)
        if w is None:
            return None
        return next((d for d in w.dialogs.values() if d.held), None)
