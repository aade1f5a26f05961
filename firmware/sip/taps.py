"""Our pjsip module before the transaction layer: where BLF NOTIFYs are read.

At priority 15 (before the transaction layer at 16, which swallows retransmissions and the
answers to our own requests, and before the dialog layer at 32, which takes in-dialog
NOTIFYs) it sees everything. pjsip calls it only while it has something to do, so an
INVITE (and every other message) runs no Python here otherwise:
- the start-up probe (native.check_probe: our own OPTIONS, read back to check rx_data),
  until it has been read;
- while a BLF reader listens (firmware/sip/pjblf.py): BLF NOTIFYs and the answers to our
  SUBSCRIBEs.
An out-of-dialog `NOTIFY Event: check-sync` is the gate's (firmware/sip/gate.py).
docs/sip-gate.md has the order of all modules.
"""
from __future__ import annotations

import logging
import time

from firmware.sip import native

log = logging.getLogger("deskphone.sip.taps")


class Taps:
    """Register after libStart, close before libDestroy; runs on the pjsua thread."""

    def __init__(self):
        self.listener = None       # the BLF reader: on_notify(raw, when), on_response(raw)
        self._mod: native._PjsipModule | None = None
        self._request_cb = self._response_cb = None

    def register(self) -> bool:
        self._mod = native.register_module("mod-deskphone-tap", native.TAP_PRIORITY,
                                           on_request=self._on_request,
                                           on_response=self._on_response)
        if self._mod is None:
            return False
        self._request_cb = self._mod.on_rx_request
        self._response_cb = self._mod.on_rx_response
        self._attach()
        return True

    def _attach(self) -> None:
        """pjsip reads the pointers for every message: only what is needed runs Python."""
        listening = self.listener is not None
        self._mod.on_rx_request = (self._request_cb if listening or native.rx_layout is None
                                   else None)
        self._mod.on_rx_response = self._response_cb if listening else None

    def listen(self, listener) -> bool:
        """Give BLF NOTIFYs and SUBSCRIBE answers to `listener` (None: to nobody)."""
        if self._mod is None:
            return False
        self.listener = listener
        self._attach()
        return True

    def close(self) -> None:
        native.unregister_module(self._mod)
        self._mod = None
        self.listener = None

    def _on_request(self, rdata: int) -> int:
        info = native.rx_info(rdata)
        if info.startswith(b"Request msg OPTIONS") and native.rx_layout is None:
            ours = native.check_probe(rdata)
            if native.rx_layout is not None:
                self._attach()        # the probe is read: no more requests unless BLF
            return 1 if ours else 0   # our probe gets no answer
        if not info.startswith(b"Request msg NOTIFY"):
            return 0
        raw = native.packet(rdata, "NOTIFY")
        if raw is None:
            return 0
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


