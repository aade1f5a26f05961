"""SIP settings that apply at once, without a restart: the audio codecs (manual §7
"Audio" > Audio Codecs, sip.codecs) and the SIP message trace (§7 "Log", log.sip_trace).

When one changes (the web's pages, PATCH /api/settings, provisioning, SIGHUP) the SIP
thread is told: SipEngine.codecs sets pjsua's codec priorities and the gate's codec set
(firmware/sip/codecs.py) — new calls offer and accept the new list, calls up keep what
they agreed; SipEngine.sip_trace sets pjlib's log level, and firmware/logs.py has already
opened or closed DIR/logs/sip.log (SettingsService). At start the engine took both from
SipConfig."""
from __future__ import annotations

import logging

from firmware.events import SettingsChanged

log = logging.getLogger("deskphone.sip")


def setup(ctx) -> "SipSettings":
    return SipSettings(ctx)


class SipSettings:
    def __init__(self, ctx):
        self.ctx = ctx
        ctx.bus.on(SettingsChanged, self.on_settings)
        # a change saved between SIP's start and this feature's (the first REGISTER)
        config, settings = ctx.sip.config, ctx.settings
        self.on_settings(SettingsChanged(
            (["sip.codecs"] if tuple(settings.sip.codecs) != tuple(config.codecs) else [])
            + (["log.sip_trace"] if settings.log.sip_trace != config.trace else [])))

    def on_settings(self, ev: SettingsChanged) -> None:
        if "sip.codecs" in ev.keys:
            names = tuple(self.ctx.settings.sip.codecs)
            log.info("codecs: %s", ", ".join(names) or "(none)")
            self.ctx.sip.codecs(names)
        if "log.sip_trace" in ev.keys:
            on = self.ctx.settings.log.sip_trace
            # said once the SIP thread has it: from that line on, what the log says holds
            self.ctx.sip.sip_trace(on).add_done_callback(lambda f: _said(f, on))


def _said(done, on: bool) -> None:
    if done.exception() is not None:
        log.warning("SIP trace not switched %s: %s", "on" if on else "off", done.exception())
    else:
        log.info("SIP trace %s", "on: DIR/logs/sip.log" if on else "off")
