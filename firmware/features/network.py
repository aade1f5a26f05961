"""Network settings applied (manual §6 "Network Setting"): when [network] changes (the
LCD's System setting > Advanced setting > Network, Submit changes; the web; provisioning),
the board's way of changing the OS network runs and the LCD says what happened —
applied, refused (why), or kept without being applied on a board that leaves the network
to the OS (the sim board). firmware/system/network.py does the work."""
from __future__ import annotations

import logging

from firmware.events import SettingsChanged
from firmware.system import network

log = logging.getLogger("deskphone.network")


def setup(ctx) -> "Network":
    return Network(ctx)


class Network:
    def __init__(self, ctx):
        self.ctx = ctx
        ctx.bus.on(SettingsChanged, self.on_settings)

    def on_settings(self, ev: SettingsChanged) -> None:
        if any(k.startswith("network.") for k in ev.keys):
            said = network.apply(self.ctx.settings.network, self.ctx.board_spec)
            log.info("%s", said)
            self.ctx.state.notice = said
