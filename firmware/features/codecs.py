"""The audio codecs follow sip.codecs at once (manual §7 "Audio" > Audio Codecs): when the
list changes (the web's Audio page, PATCH /api/settings, provisioning, SIGHUP) the SIP
thread sets pjsua's codec priorities and the gate's codec set (SipEngine.codecs,
firmware/sip/codecs.py). New calls offer and accept the new list; calls up keep what they
agreed. At start the engine took the list from SipConfig."""
from __future__ import annotations

import logging

from firmware.events import SettingsChanged

log = logging.getLogger("deskphone.sip")


def setup(ctx) -> "Codecs":
    return Codecs(ctx)


class Codecs:
    def __init__(self, ctx):
        self.ctx = ctx
        ctx.bus.on(SettingsChanged, self.on_settings)
        # a change saved between SIP's start and this feature's (the first REGISTER)
        if tuple(ctx.settings.sip.codecs) != tuple(ctx.sip.config.codecs):
            self.apply()

    def on_settings(self, ev: SettingsChanged) -> None:
        if "sip.codecs" in ev.keys:
            self.apply()

    def apply(self) -> None:
        names = tuple(self.ctx.settings.sip.codecs)
        log.info("codecs: %s", ", ".join(names) or "(none)")
        self.ctx.sip.codecs(names)
