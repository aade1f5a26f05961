"""Our pjsip module before the transaction layer: the one tap every received message passes.

At priority 15 (before the transaction layer at 16, which swallows retransmissions and the
answers to our own requests, and before the dialog layer at 32, which takes in-dialog
NOTIFYs) it sees everything. It takes two things itself and lets the rest through:
- the start-up probe (native.check_probe: our own OPTIONS, read back to check rx_data);
- out-of-dialog `NOTIFY Event: check-sync` (PBXs asking the phone to fetch its provisioning
  files again, `;reboot=true` to reboot too; pjsua would answer 501), answered with the
  status `on_check_sync(reboot, source)` returns.
and hands BLF NOTIFYs and the answers to our SUBSCRIBEs to the BLF reader while one listens
(firmware/sip/pjblf.py; responses run Python only then). docs/sip-gate.md has the order of
all modules.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from firmware.sip import native
from firmware.sip.text import Message, token, via_host

log = logging.getLogger("deskphone.sip.taps")


class Taps:
    """Register after libStart, close before libDestroy; runs on the pjsua thread."""

    def __init__(self, on_check_sync: Callable[[bool, str], int]):
        self.on_check_sync = on_check_sync
        self.listener = None       # the BLF reader: on_notify(raw, when), on_response(raw)
        self._mod: native._PjsipModule | None = None
        self._response_cb = None

    def register(self) -> bool:
        self._mod = native.register_module("mod-deskphone-tap", native.TAP_PRIORITY,
                                           on_request=self._on_request,
                                           on_response=self._on_response)
        if self._mod is None:
            return False
        self._response_cb = self._mod.on_rx_response
        self._mod.on_rx_response = None       # until a BLF reader listens
        return True

    def listen(self, listener) -> bool:
        """Give BLF NOTIFYs and SUBSCRIBE answers to `listener` (None: to nobody)."""
        if self._mod is None:
            return False
        self.listener = listener
        # pjsip reads the pointer for every message: no answer runs Python without BLF
        self._mod.on_rx_response = self._response_cb if listener is not None else None
        return True

    def close(self) -> None:
        native.unregister_module(self._mod)
        self._mod = None
        self.listener = None

    def _on_request(self, rdata: int) -> int:
        info = native.rx_info(rdata)
        if info.startswith(b"Request msg OPTIONS") and native.rx_layout is None:
            return 1 if native.check_probe(rdata) else 0      # our probe gets no answer
        if not info.startswith(b"Request msg NOTIFY"):
            return 0
        raw = native.packet(rdata, "NOTIFY")
        if raw is None:
            return 0
        msg = Message.parse(raw)
        event = msg.get("event")
        if token(event) in ("check-sync", "resync"):
            real = native.source(rdata)   # where the packet came from, not what Via claims
            reboot = "reboot=true" in event.replace(" ", "").lower()
            code = self.on_check_sync(reboot, real[0] if real else via_host(msg.get("via")))
            native.respond(rdata, code)
            return 1
        if self.listener is not None:
            self.listener.on_notify(raw, time.monotonic())
        return 0                  # pjsip answers it (200 in the dialog, 481 otherwise)

    def _on_response(self, rdata: int) -> int:
        if self.listener is None or b"SUBSCRIBE" not in native.rx_info(rdata):
            return 0
        raw = native.packet(rdata, "SIP/2.0")
        if raw is not None:
            self.listener.on_response(raw)
        return 0


