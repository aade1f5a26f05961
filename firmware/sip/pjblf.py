"""BLF subscriptions on the pjsua thread: one interface over two pjproject generations.

pjsua keeps each subscription (SUBSCRIBE, refresh before expiry, dialog) through a buddy:
- pjproject >= 2.16: `Buddy.subscribeDlgEvent()`, NOTIFYs through
  `onBuddyEvSubDlgEventState` (native; not testable here, only the 2.15 wheel exists);
- pjsua2 2.15 (the PyPI wheel): the C function `pjsua_buddy_subscribe_dlg_event` through
  ctypes. 2.15 has no callback for dialog events (and its info struct keeps only the first
  dialog), so a small pjsip module reads every NOTIFY body itself, ahead of the dialog
  layer, and lets pjsip answer it as usual.
In both, the same module sees the answers to our SUBSCRIBEs (403, 489, 481 after a server
restart), which pjsua does not report. Presence (PIDF) mode uses the plain pjsua2 buddy.

Everything here runs on the pjsua thread (notes/pjsua2.md); results leave as events
(`BlfNotified`, `BlfSubscriptionChanged`) through `SipEngine.post`.
"""
from __future__ import annotations

import ctypes
import logging
import sys
import time
from typing import Callable

import pjsua2 as pj

from firmware.sip import pjc
from firmware.events import BlfNotified, BlfSubscriptionChanged, Event

log = logging.getLogger("deskphone.blf")

_TAP_PRIORITY = 15          # before the transaction layer (16): sees responses and NOTIFYs
_RX_RESPONSE_CB = pjc._RX_CB


def uri_key(uri: str) -> str:
    """'<sip:1002@127.0.0.1:5070;transport=udp>' -> '1002@127.0.0.1': how a NOTIFY's From
    and a SUBSCRIBE's To are matched to what we subscribed to."""
    u = uri.strip()
    if "<" in u:
        u = u[u.find("<") + 1:u.find(">") if ">" in u else None]
    u = u.split(";", 1)[0]
    if u.lower().startswith(("sip:", "sips:")):
        u = u.split(":", 1)[1]
    user, at, host = u.rpartition("@")
    if host.startswith("["):
        host = host[:host.find("]") + 1]
    else:
        host = host.split(":", 1)[0]
    return f"{user}{at}{host}".lower()


def split_message(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """(first line, lower-case header -> first value, body) of a SIP message."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    compact = {"f": "from", "t": "to", "i": "call-id", "o": "event", "c": "content-type",
               "l": "content-length"}
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" not in line:
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.setdefault(compact.get(name, name), value.strip())
    try:
        length = int(headers.get("content-length", len(body)))
        body = body[:length]
    except ValueError:
        pass
    return lines[0], headers, body


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
        self._mod: pjc._PjsipModule | None = None
        self._keep: list = []
        self._lib = None
        self.native = hasattr(pj.Buddy, "subscribeDlgEvent")
        self.problem = ""          # why dialog BLF cannot work here ("" = it can)

    # -- start-up self-check -----------------------------------------------------------------

    def start(self) -> str:
        """Register the tap and check what this pjsip offers; returns the problem, if any."""
        lib = pjc._load()
        if lib is None or sys.maxsize <= 2 ** 32:
            self.problem = "the pjsip C API is not reachable from Python on this build"
            return self.problem
        self._lib = lib
        if not self.native:
            try:
                lib.pjsua_buddy_subscribe_dlg_event.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.pjsua_buddy_subscribe_dlg_event.restype = ctypes.c_int
            except AttributeError:
                self.problem = ("this pjsip has neither Buddy.subscribeDlgEvent (>= 2.16) nor "
                                "pjsua_buddy_subscribe_dlg_event (2.13-2.15): use "
                                "phone.blf_mode = presence")
                return self.problem
        lib.pjsip_rx_data_get_info.restype = ctypes.c_char_p
        lib.pjsip_rx_data_get_info.argtypes = [ctypes.c_void_p]
        mod = pjc._PjsipModule()
        mod.name = pjc._s("mod-deskphone-blf", self._keep)
        mod.id = -1
        mod.priority = _TAP_PRIORITY
        for field, fn in (("on_rx_request", self._on_rx_request),
                          ("on_rx_response", self._on_rx_response)):
            cb = pjc._RX_CB(fn)
            self._keep.append(cb)
            setattr(mod, field, ctypes.cast(cb, ctypes.c_void_p))
        st = lib.pjsip_endpt_register_module(ctypes.c_void_p(lib.pjsua_get_pjsip_endpt()),
                                             ctypes.byref(mod))
        if st != 0:
            self.problem = f"BLF NOTIFY reader not registered: {pjc.status_text(st)}"
            return self.problem
        self._mod = mod
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
        if self._lib is not None and self._mod is not None:
            self._lib.pjsip_endpt_unregister_module(
                ctypes.c_void_p(self._lib.pjsua_get_pjsip_endpt()), ctypes.byref(self._mod))
        self._mod = None

    # -- subscriptions ---------------------------------------------------------------------

    def watch(self, uri: str, account: int, event: str = "dialog") -> None:
        """Subscribe (again: a fresh subscription replaces the old one)."""
        key = uri_key(uri)
        old = self.watches.pop(key, None)
        if old is not None:
            self._drop(old)
        w = _Watch(uri, account, event)
        self.watches[key] = w
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
                        raise RuntimeError(pjc.status_text(st))
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

    # -- the tap ---------------------------------------------------------------------------

    def _on_rx_request(self, rdata: int) -> int:
        try:
            if not self.watches:
                return 0
            info = self._lib.pjsip_rx_data_get_info(ctypes.c_void_p(rdata)) or b""
            if not info.startswith(b"Request msg NOTIFY"):
                return 0
            raw = pjc.packet(rdata, "NOTIFY")   # the self-checked layout (pjc)
            if raw is None:
                return 0
            self.on_notify(raw, time.monotonic())
        except Exception:  # noqa: BLE001 - never raise into C
            log.exception("BLF NOTIFY")
        return 0                  # pjsip answers it (200 in the dialog, 481 otherwise)

    def on_notify(self, raw: bytes, received: float) -> None:
        _, h, body = split_message(raw)
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
        self.post(BlfNotified(w.uri, body, h.get("subscription-state", ""), event, received))

    def _on_rx_response(self, rdata: int) -> int:
        try:
            if not self.watches:
                return 0
            info = self._lib.pjsip_rx_data_get_info(ctypes.c_void_p(rdata)) or b""
            if b"SUBSCRIBE" not in info:
                return 0
            raw = pjc.packet(rdata, "SIP/2.0")
            if raw is None:
                return 0
            self.on_response(raw)
        except Exception:  # noqa: BLE001
            log.exception("BLF SUBSCRIBE response")
        return 0

    def on_response(self, raw: bytes) -> None:
        first, h, _ = split_message(raw)
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
        self.post(BlfSubscriptionChanged(w.uri, code, parts[2] if len(parts) > 2 else "",
                                         expires))
