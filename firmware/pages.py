"""Pages a feature draws on top of the LCD menu (a call list, the phone book): which keys
such a page takes and which go on to the Phone. Shared by firmware/features/calllog.py
and firmware/features/directory.py, whose modes ask it about every key first.
"""
from __future__ import annotations

from typing import Callable

from firmware.call.state import MenuPage, PhoneState, Screen

# The pages' minute: without a key for IDLE_S, every page on top closes and the screen goes
# back to standby or the call (firmware/features/menu.py `idle` answers the timer). Any
# module that opens a page starts it, the menu's own pages and pages opened with no menu
# below them alike (an LDAP key's search page); a mode holding typed text keeps the pages
# open (Mode.holding, firmware/call/controls.py).
IDLE_TIMER = "menu.idle"
IDLE_S = 60


def top(state: PhoneState, kind: str) -> MenuPage | None:
    """The page of `kind` on top, while the LCD shows it (None: a call rings, it has the
    screen, or another page is on top)."""
    if state.menu and state.menu[-1].kind == kind and state.screen() is Screen.MENU:
        return state.menu[-1]
    return None


def key(state: PhoneState, kind: str, pressed: str, page_keys: set[str],
        on_page: Callable[[MenuPage, str], None],
        predial: Callable[[MenuPage, int | None], None]) -> bool:
    """A key while a page of `kind` is open: True when the page took it (`on_page`). A call
    key (line, speaker, headset...) or a ringing call closes the pages and the menu under
    them and goes on to the Phone; speaker, headset or a line key first pre-dial what is
    under the cursor (`predial(page, line or None)`), so the Phone dials it."""
    if state.diag or not state.menu or state.menu[-1].kind != kind:
        return False                    # a test, or the menu's own page, on top
    page = top(state, kind)
    if page is not None and pressed in page_keys:
        on_page(page, pressed)
        return True
    if page is not None and (pressed in ("speaker", "headset") or pressed.startswith("line")):
        predial(page, int(pressed[4:]) if pressed[4:].isdigit() else None)
    state.menu.clear()                  # the Phone goes off-hook and dials it
    return False


def hook(state: PhoneState, kind: str, offhook: bool,
         predial: Callable[[MenuPage, int | None], None]) -> bool:
    """The hook moved while a page of `kind` is open: lifting the handset pre-dials what is
    under the cursor (the Phone, going off-hook, dials it); any move closes the pages and
    the menu under them (not under a diagnose test, which shows the hook itself)."""
    page = top(state, kind)
    if page is not None and offhook:
        predial(page, None)
    if not state.diag:
        state.menu.clear()
    return False
