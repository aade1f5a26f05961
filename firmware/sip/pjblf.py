"""BLF subscriptions on the pjsua thread: one interface over two pjproject generations.

pjsua keeps each subscription (SUBSCRIBE, refresh before expiry, dialog) through a buddy:
- pjproject >= 2.16: `Buddy.subscribeDlgEvent()`, NOTIFYs through
  `onBuddyEvSubDlgEventState` (native; not testable here, only the 2.15 wheel exists);
- pjsua2 2.15 (the PyPI wheel): the C function `pjsua_buddy_subscribe_dlg_event` through
  ctypes. 2.15 has no callback for dialog events (and its info struct keeps only the first
  dialog), so the SIP tap (firmware/sip/taps.py) hands every NOTIFY to `Watcher.on_notify`,
  ahead of the dialog layer, and lets pjsip answer it as usual.
In both, the tap hands over the answers to our SUBSCRIBEs (403, 489, 481 after a server
restart), which pjsua does not report. Presence (PIDF) mode uses the plain pjsua2 buddy.

Everything here runs on the pjsua thread (notes/pjsua2.md); results leave as events
(`BlfNotified`, `BlfSubscriptionChanged`) through `SipEngine.post`.
"""
from __future__ import annotations

import ctypes
import logging
import time
from typing import Callable

import pjsua2 as pj

from firmware.events import BlfNotified, BlfSubscriptionChanged, Event
from firmware.sip import native
from firmware.sip.text import Message, uri_key

log = logging.getLogger("deskphone.blf")

if hasattr(pj.Buddy, "subscribeDlgEvent"):
    class _DlgBuddy(pj.Buddy):
        """pjproject >= 2.16: NOTIFYs of the dialog package arrive here (untested: only the
        2.15 wheel exists where this was written); the tap's copy is dropped as a repeat."""

        def __init__(self, watcher: Watcher):
            super().__init__()
            self.watcher = watcher

        def onBuddyEvSubDlgEventState(self, prm):
            try:
                e = prm.e
                if e.type == pj.PJSIP_EVENT_TSX_STATE and \
                        e.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
                    msg = e.body.tsxState.src.rdata.wholeMsg
                    if msg.startswith("NOTIFY "):
                        self.watcher.on_notify(msg.encode("utf-8"), time.monotonic())
            except Exception:  # noqa: BLE001 - never into C++
                log.exception("BLF dialog event")
else:
    _DlgBuddy = None


def dialog_blf_problem(*, pointer_bytes: int, native: bool, c_api: bool, c_subscribe: bool,
                       pj_version: str = "") -> str:
    """Why dialog BLF cannot work on this build ("" = it can). Pure.

    The native route (pjproject >= 2.16: Buddy.subscribeDlgEvent) is pjsua2's own and works
    on any word size, so it is checked first: a 32-bit Raspberry Pi OS build of 2.16 has
    dialog BLF. Only the 2.13-2.15 route through the C function needs the C API and a
    64-bit build (the only one it was checked on: the x86_64 wheel)."""
    if native:
        return ""
    where = f" (pjproject {pj_version})" if pj_version else ""
    if not c_api:
        return "the pjsip C API is not reachable from Python on this build" + where
    if pointer_bytes < 8:
        return (f"dialog BLF on a 32-bit build needs pjproject >= 2.16{where}: use "
                "phone.blf_mode = presence")
    if not c_subscribe:
        return ("this pjsip has neither Buddy.subscribeDlgEvent (>= 2.16) nor "
                "pjsua_buddy_subscribe_dlg_event (2.13-2.15): use phone.blf_mode = presence")
    return ""


class _Watch:
    def __init__(self, uri: str, account: int, event: str):
        self.uri, self.account, self.event = uri, account, event
        self.buddy: pj.Buddy | None = None
        self.last = ("", "")      # (Call-ID, CSeq) of the last NOTIFY: retransmissions


RCVBUF = 1 << 20      # 200 BLF keys answer in bursts: room for ~500 datagrams


def enlarge_receive_buffer(port: int, size: int = RCVBUF) -> int:
    """Give pjsip's UDP SIP socket (found by its port among our fds) a bigger receive
    buffer; pjsip leaves the system default (~200 KB, ~100 datagrams). Returns the size the
    kernel granted, 0 if the socket was not found."""
    import os
    import socket
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return 0                 # not Linux: the system default stays
    for fd in fds:
        try:
            dup = os.dup(int(fd))
        except (OSError, ValueError):
            continue
        try:
            s = socket.socket(fileno=dup)
        except OSError:
            os.close(dup)
            continue
        try:
            if s.type != socket.SOCK_DGRAM or s.getsockname()[1] != port:
                continue
            try:
                s.setsockopt(socket.SOL_SOCKET, 33, size)      # SO_RCVBUFFORCE (root)
            except OSError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            return s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except (OSError, IndexError, TypeError):
            continue
        finally:
            s.close()
    return 0


class Watcher:
    """Owns the BLF buddies and the tap. Create, `start()`, `watch()`... on the pjsua thread;
    `close()` before libDestroy (SipEngine runs it from its closers)."""

    def __init__(self, engine, post: Callable[[Event], None]):
        self.engine = engine
        self.post = post
        self.watches: dict[str, _Watch] = {}      # uri_key -> watch
        self._lib = None
        self._taps = None
        self.native = hasattr(pj.Buddy, "subscribeDlgEvent")
        self.problem = ""          # why dialog BLF cannot work here ("" = it can)

    # -- start-up self-check -----------------------------------------------------------------

    def start(self) -> str:
        """Register the tap and check what this pjsip offers; returns the problem, if any."""
        lib = native._load()
        c_subscribe = lib is not None and hasattr(lib, "pjsua_buddy_subscribe_dlg_event")
        self.problem = dialog_blf_problem(pointer_bytes=ctypes.sizeof(ctypes.c_void_p),
                                          native=self.native, c_api=lib is not None,
                                          c_subscribe=c_subscribe,
                                          pj_version=getattr(self.engine, "pj_version", ""))
        if self.problem:
            return self.problem
        if lib is None:            # native: NOTIFYs come through pjsua2; no SUBSCRIBE answers
            log.info("BLF: dialog events through pjsua2 Buddy.subscribeDlgEvent")
            return ""
        self._lib = lib
        if not self.native:
            lib.pjsua_buddy_subscribe_dlg_event.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.pjsua_buddy_subscribe_dlg_event.restype = ctypes.c_int
        taps = getattr(self.engine, "taps", None)
        if taps is None or not taps.listen(None):
            self.problem = "BLF NOTIFY reader not available: the SIP tap is not registered"
            return self.problem
        self._taps = taps          # listened to while something is watched (_follow)
        try:
            granted = enlarge_receive_buffer(int(self.engine.local_host.rsplit(":", 1)[1]))
            log.debug("BLF: SIP socket receive buffer %d bytes", granted)
        except (ValueError, IndexError):
            pass
        log.info("BLF: dialog events through %s", "pjsua2 Buddy.subscribeDlgEvent" if
                 self.native else "pjsua_buddy_subscribe_dlg_event (pjsua2 2.15 C API)")
        return ""

    def close(self) -> None:
        for w in list(self.watches.values()):
            self._drop(w)
        self.watches.clear()
        if self._taps is not None and self._taps.listener is self:
            self._taps.listen(None)

    # -- subscriptions ---------------------------------------------------------------------

    def watch(self, uri: str, account: int, event: str = "dialog") -> None:
        """Subscribe (again: a fresh subscription replaces the old one)."""
        key = uri_key(uri)
        old = self.watches.pop(key, None)
        if old is not None:
            self._drop(old)
        w = _Watch(uri, account, event)
        self.watches[key] = w
        self._follow()
        if event == "dialog" and self.problem:
            self.post(BlfSubscriptionChanged(uri, 0, self.problem))
            return
        acc = self.engine.accounts.get(account) or self.engine.accounts.get(0)
        cfg = pj.BuddyConfig()
        cfg.uri = uri
        cfg.subscribe = event == "presence"
        buddy = _DlgBuddy(self) if self.native and event == "dialog" else pj.Buddy()
        try:
            buddy.create(acc, cfg)
            if event == "dialog":
                if self.native:
                    buddy.subscribeDlgEvent(True)
                else:
                    st = self._lib.pjsua_buddy_subscribe_dlg_event(buddy.getId(), 1)
                    if st != 0:
                        raise RuntimeError(native.status_text(st))
        except (pj.Error, RuntimeError) as e:
            reason = e.info() if isinstance(e, pj.Error) else str(e)
            log.warning("BLF: cannot subscribe to %s: %s", uri, reason)
            self.engine._dead.append(buddy)
            self.post(BlfSubscriptionChanged(uri, 0, f"not subscribed: {reason}"))
            return
        w.buddy = buddy

    def unwatch(self, uri: str) -> None:
        w = self.watches.pop(uri_key(uri), None)
        if w is not None:
            self._drop(w)
        self._follow()

    def _follow(self) -> None:
        """The tap hands us NOTIFYs and SUBSCRIBE answers while something is watched;
        otherwise pjsip calls no Python for them (every INVITE would pay for it)."""
        if self._taps is not None:
            self._taps.listen(self if self.watches else None)

    def _drop(self, w: _Watch) -> None:
        if w.buddy is not None:
            try:
                if w.event == "dialog":
                    if self.native:
                        w.buddy.subscribeDlgEvent(False)
                    elif self._lib is not None and w.buddy.isValid():
                        self._lib.pjsua_buddy_subscribe_dlg_event(w.buddy.getId(), 0)
                else:
                    w.buddy.subscribePresence(False)
            except pj.Error as e:
                log.debug("BLF: unsubscribe %s: %s", w.uri, e.info())
            self.engine._dead.append(w.buddy)   # destroyed on this thread, after the callback
            w.buddy = None

    def _lost(self, w: _Watch) -> None:
        """The server ended a dialog subscription (481 to a refresh after a restart, or a
        NOTIFY saying terminated). pjsua 2.15 subscribes such a buddy again by itself, but
        for presence (fixed upstream after 2.15.1): the server's 489 to that SUBSCRIBE came
        here as the answer to ours and left the lamp unknown for phone.blf_retry, whenever
        it beat the BLF feature's own new subscription (a race of two 500 ms timers). So
        the buddy goes as soon as pjsua is done with this message; that stops its timer,
        and firmware/features/blf.py subscribes afresh."""
        if w.event == "dialog" and not self.native:
            self.engine._later.append(lambda: w.buddy is not None and self._drop(w))

    # -- what the tap (firmware/sip/taps.py) hands over -------------------------------------

    def on_notify(self, raw: bytes, received: float) -> None:
        if not self.watches:
            return
        msg = Message.parse(raw)
        h, body = msg.headers(), msg.body.encode()
        event = h.get("event", "").split(";")[0].strip().lower()
        if event not in ("dialog", "presence"):
            return
        w = self.watches.get(uri_key(h.get("from", "")))
        if w is None:
            log.debug("BLF: NOTIFY from %s: not watched", h.get("from", ""))
            return
        mark = (h.get("call-id", ""), h.get("cseq", ""))
        if mark == w.last:
            return                # a retransmission (we sit before the transaction layer)
        w.last = mark
        state = h.get("subscription-state", "")
        if state.split(";", 1)[0].strip().lower() == "terminated":
            self._lost(w)
        self.post(BlfNotified(w.uri, body, state, event, received))

    def on_response(self, raw: bytes) -> None:
        if not self.watches:
            return
        msg = Message.parse(raw)
        first, h = msg.first, msg.headers()
        if not h.get("cseq", "").upper().endswith("SUBSCRIBE"):
            return
        w = self.watches.get(uri_key(h.get("to", "")))
        if w is None:
            return
        parts = first.split(" ", 2)
        try:
            code = int(parts[1])
        except (IndexError, ValueError):
            return
        if code < 200 or code in (401, 407):
            return                # pjsip answers the challenge itself
        try:
            expires = int(h.get("expires", "0"))
        except ValueError:
            expires = 0
        if 200 <= code < 300 and expires == 0 and h.get("expires") is not None:
            return                # the answer to an unsubscribe
        if code == 481:
            self._lost(w)
        self.post(BlfSubscriptionChanged(w.uri, code, parts[2] if len(parts) > 2 else "",
                                         expires))
