"""The LCD menu (manual §6): MENU, or OK on the standby screen, opens it.

Up/down move, OK or Enter opens, C or Back goes back, a digit picks an entry. The
menu sits on top of whatever the phone is doing: keys that belong to calls (line keys,
speaker, headset, hold, the hook...) close it and go on to the phone, and a ringing call
takes the screen, so a call is never lost because a menu was open.

Pages: Call history (its three lists are drawn and run by firmware/features/calllog.py), View
status (Network, Lines, Software), Auto provision (provisioning/engine.py: status, OK runs
it now) and Diagnose (Keys, LCD, Lights, Sound); later features
add their own pages to MAIN. An entry "module:page" asks that module for the page
(PageRequested); a page with a `kind` belongs to its module, which takes its keys.

While a page is open the menu is a mode on the Phone's stack (firmware/call/controls.py)
and is asked about every key first; MENU itself is a key it adds, and the Phone turns
OK on the standby screen into it.
"""
from __future__ import annotations

import logging
from typing import Callable

from firmware.bus import Bus
from firmware.call.controls import Mode
from firmware.events import CallIncoming, DiagnoseRequested, KeyPressed, PageRequested
from firmware.call.state import MenuPage, PhoneState, Screen

log = logging.getLogger("deskphone.menu")

# page key -> (title, [(entry label, page key, "diag:<test>" or "<module>:<page>")])
TREE: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "main": ("Menu", [("Call history", "calllog"), ("View status", "status"),
                      ("Diagnose", "diagnose"), ("Auto provision", "provision:status")]),
    "calllog": ("Call history", [("Missed calls", "calllog:missed"),
                                 ("Received calls", "calllog:received"),
                                 ("Dialled numbers", "calllog:dialled")]),
    "status": ("View status", [("Network", "status.network"), ("Lines", "status.lines"),
                               ("Software", "status.software")]),
    "diagnose": ("Diagnose", [("Keys", "diag:keys"), ("LCD", "diag:lcd"),
                              ("Lights", "diag:lights"), ("Sound", "diag:sound")]),
}
TEXT_TITLES = {"status.network": "Network", "status.lines": "Lines",
               "status.software": "Software"}
MENU_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "soft1", "soft2",
             "soft3", "soft4", *"0123456789*#"}
ROWS = 5          # entries the LCD shows at once (ui/lcd.py MENU_ROWS)


def setup(ctx) -> "Menus":
    """The feature module's entry: a screen on top of the phone (nothing to close)."""
    return Menus(bus=ctx.bus, state=ctx.state, status=ctx.status, controls=ctx.phone.controls)


class Menus:
    def __init__(self, *, bus: Bus, state: PhoneState, status: Callable[[str], list[str]],
                 controls):
        self.bus, self.state, self.controls = bus, state, controls
        self.status = status      # page key -> lines to read (App knows the network...)
        # on the stack while a page is open; a call list may close the last page itself
        self.mode = Mode("menu", pressed=self.on_key, hook=self.close_for_calls,
                         ended=lambda: not state.menu)
        controls.add_key("menu", self.key_menu)
        bus.on(CallIncoming, self.close_for_calls)

    # -- opening and closing ---------------------------------------------------------------

    def open(self, key: str) -> None:
        if key in TREE:
            title, entries = TREE[key]
            self.state.menu.append(MenuPage(key, title, [label for label, _ in entries]))
        else:
            self.state.menu.append(MenuPage(key, TEXT_TITLES.get(key, key),
                                            self.status(key), text=True))
        self.controls.push(self.mode)

    def close(self) -> None:
        self.state.menu.clear()
        self.controls.pop(self.mode)

    def close_for_calls(self, *_) -> bool:
        """A call comes in or the hook moves: the menu gives the screen back (not under
        a diagnose test, which shows the hook itself)."""
        if self.state.menu and not self.state.diag:
            self.close()
        return False

    # -- keys ------------------------------------------------------------------------------

    def key_menu(self) -> None:
        """MENU (or OK on the standby screen) with no menu open: open it, unless ringing."""
        if not self.state.diag and self.state.screen() is not Screen.RINGING:
            self.open("main")

    def on_key(self, ev: KeyPressed) -> bool:
        """A key while a page is open: True when the menu took it."""
        s = self.state
        if s.diag or not s.menu:
            return False
        if s.screen() is Screen.RINGING or ev.key not in MENU_KEYS:
            self.close()              # a call key: the phone takes it from here
            return False
        if s.menu[-1].kind:
            return False              # a module's page (a call list): that module's keys
        page = s.menu[-1]
        key = ev.key
        if key == "menu":
            self.close()
        elif key in ("cancel", "soft4", "left"):
            s.menu.pop()
            if not s.menu:
                self.controls.pop(self.mode)
        elif key in ("up", "down"):
            step = -1 if key == "up" else 1
            if page.text:
                last = max(0, len(page.items) - ROWS)
                page.index = max(0, min(last, page.index + step))
            elif page.items:
                page.index = (page.index + step) % len(page.items)
        elif not page.text and key in ("ok", "soft1", "right"):
            self.enter(page, page.index)
        elif not page.text and key.isdigit() and 1 <= int(key) <= len(page.items):
            page.index = int(key) - 1
            self.enter(page, page.index)
        return True

    def enter(self, page: MenuPage, index: int) -> None:
        _, entries = TREE[page.key]
        target = entries[index][1]
        if target.startswith("diag:"):
            self.bus.post(DiagnoseRequested(target[5:]))
        elif ":" in target:
            self.bus.post(PageRequested(target))
        else:
            self.open(target)
