"""Keyboard lock (manual §7 Advance > Phone Setting > Basic, "Key Board Lock"): which keys
a locked phone still takes, and the password that unlocks it.

THE MODES (phone.keylock, named as the manual names them):
- "menu key" ("only lock the Menu function, others can normal work"): MENU, and OK on the
  standby screen (it opens the menu), are locked; every other key works.
- "function keys" ("include Menu/Redial/Transfer/Hold etc. you just can use the number
  keys and speaker key"): the digits, SPEAKER and HEADSET (the speaker's twin), the hook,
  OK and C (send, answer, erase), the line keys (call appearances: answer, take a line)
  and VOL+/VOL- work, and of the soft keys those of a call (Answer, Reject, Send, <-,
  Cancel, End). Locked: MENU, REDIAL, TRANSFER, CONF, HOLD, MUTE, DIRECTORY, MESSAGE,
  SERVICE, the arrows, the programmable and expansion keys, the standby screen's soft
  keys (Redial, DND).
- "all keys" ("as the name implies"): every key, but a ringing call can still be answered
  (the hook, SPEAKER, HEADSET, OK, Answer, its line key) and a call ended (the hook,
  SPEAKER, HEADSET, End, Reject, C, its line key); VOL+/VOL- work while a call is up.
- "lock & answer" ("Auto open Auto-answer and lock the keys"): all keys, and
  phone.auto_answer is switched on as it locks (back off as it unlocks, when the lock
  turned it on), so calls are answered by themselves.

EMERGENCY NUMBERS (phone.emergency) always dial: in every mode a digit reaches the dial
screen while what is typed may still become one, and it goes out as any number does (#,
OK, Send, the handset, SPEAKER; the dial plan sends it at once). While all keys are locked
nothing else goes out, whatever asks (the `placing` question of the mode stack), and an
emergency call on screen takes its digits (a service's menu).

LOCKING: setting a mode locks at once (the manual re-arms the lock by setting it again);
a long # on the standby screen locks again with the mode set (as Escene and Yealink desk
phones do); the lock survives a restart (DIR/keylock.json: pulling the plug does not
unlock). A menu open on the LCD closes as the lock engages (its Keyboard lock > off
would unlock without the password), unless the mode was chosen in it: then the lock
engages as the menu is left. While locked this is a Mode on the Phone's stack
(firmware/call/controls.py) asked about every key first; "Locked" (a padlock) shows on
the standby screen.

UNLOCKING: MENU ("The Menu key can open it"), or OK on the standby screen, opens "Unlock
keys": the password typed with the one editor (ui/textentry.py, masked, digits first),
OK or Unlock. The right one unlocks; the mode stays, so a long # locks again (the manual
switches the lock off instead, and then nothing would be left for # to lock with; Off in
Function setting > Keyboard lock switches it off). A wrong one says so and the phone stays
locked; C on an empty field, or Back, leaves it locked. The password (phone.keylock_password)
is empty from the factory as in the manual: OK alone unlocks then, as on the manual's phone
(a password nobody set cannot be asked for). A call key closes the page; a ringing call
takes the screen (the menu feature closes every page for it).
"""
from __future__ import annotations

import dataclasses
import hmac
import json
import logging
from pathlib import Path

from firmware.call.controls import BLANK, Mode
from firmware.call.dialplan import is_emergency
from firmware.call.state import AudioDevice, CallState, MenuPage, Screen
from firmware.events import KeyHeld, KeyPressed, SettingsChanged, TimerFired
from firmware.files import atomic_write
from firmware.present import softkeys
from ui.textentry import TextEntry

log = logging.getLogger("deskphone.keylock")

PAGE = "keylock"                  # the unlock page's MenuPage.key (kind "edit": the editor)
TAP_TIMER = "keylock.multitap"
LOCKED = "Keys locked: MENU unlocks"
HELP = "Type the unlock password, then OK. C: stay locked"
EVERY = ("all keys", "lock & answer")
# soft key actions of a call: free in every mode
CALL_ACTIONS = frozenset({"answer", "reject", "end", "send", "backspace", "cancel"})
# hard keys that work in "function keys" mode (and the digits, the line keys)
FUNCTION_FREE = frozenset({"speaker", "headset", "ok", "cancel", "volup", "voldown"})


def setup(ctx) -> "KeyLock":
    """The feature module's entry: locks at once when it was locked before the restart."""
    return KeyLock(ctx)


class KeyLock:
    def __init__(self, ctx):
        self.bus, self.timers, self.state = ctx.bus, ctx.timers, ctx.state
        self.settings, self.update, self.phone = ctx.settings, ctx.update, ctx.phone
        self.path = Path(ctx.data_dir) / "keylock.json"
        self.menu = ctx.provided.get("menu")   # the LCD menu (features/menu.py), if loaded
        self.auto_answer_ours = False       # lock & answer switched auto answer on
        self.mode = Mode("keylock", pressed=self.on_key, key=self.on_named, hook=self.on_hook,
                         placing=self.on_placing, softkeys=self.softkeys)
        self.mode.ACTIONS = frozenset({"unlock"})
        ctx.bus.on(KeyHeld, self.on_held)
        ctx.bus.on(SettingsChanged, self.on_settings)
        ctx.bus.on(TimerFired, self.on_timer)
        if self._was_locked():
            self.lock(keep=False)     # as it was: nothing to write before the REGISTER

    # -- locking and unlocking -------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.settings.phone.keylock

    def lock(self, keep: bool = True) -> None:
        """Lock the keys the setting names (nothing when it is off)."""
        kind = self.kind
        if kind == "off":
            if self.state.keylock:
                self.unlock()
            return
        self.state.keylock = kind
        notice = LOCKED
        if kind == "lock & answer" and not self.settings.phone.auto_answer:
            self.auto_answer_ours = self._auto_answer(True)
            if not self.auto_answer_ours:
                notice = "Keys locked; auto answer could not be saved"
        elif kind != "lock & answer":
            self._auto_answer_back()
        self.phone.controls.push(self.mode)
        self.state.notice = notice
        if keep:
            self._keep()
        log.info("keys locked: %s", kind)

    def unlock(self) -> None:
        self._close_page()
        was = self.state.keylock
        self.state.keylock = ""
        self._auto_answer_back()
        self.phone.controls.pop(self.mode)
        self._keep()
        if was:
            self.state.notice = "Keys unlocked: hold # to lock"
            log.info("keys unlocked")

    def _auto_answer_back(self) -> None:
        if self.auto_answer_ours:
            self.auto_answer_ours = False
            self._auto_answer(False)

    def _auto_answer(self, on: bool) -> bool:
        """Switch phone.auto_answer (saved, as the menu saves it); False when it could not
        be saved (the keys lock all the same; the log says why)."""
        try:
            self.update({"phone.auto_answer": on})
            return True
        except Exception as e:  # noqa: BLE001 - a full disk must not leave the keys open
            log.warning("keylock: auto answer %s not saved: %s", on, e)
            return False

    def on_settings(self, ev: SettingsChanged) -> None:
        """A mode set (here or on the web) locks at once; Off unlocks. A menu open on the
        LCD closes as it locks (else its Keyboard lock > off would unlock without the
        password), unless the mode was chosen in that menu: then the lock engages when
        it is left (on_key lets an open menu keep its keys)."""
        if "phone.keylock" not in ev.keys:
            return
        ours = self.menu is not None and self.menu.made_here("phone.keylock")
        if self.kind != "off" and self.state.menu and not ours:
            if self.menu is not None:
                self.menu.close()
            self.state.menu.clear()
        self.lock()

    def on_held(self, ev: KeyHeld) -> None:
        """A long # on the standby screen locks (its short press typed a # there first)."""
        s = self.state
        if ev.key != "#" or s.keylock or self.kind == "off" or s.calls or s.menu or s.diag:
            return
        if s.predial in ("", "#"):
            self.phone.predial("", s.predial_line)
            self.lock()

    # -- what a locked phone does with a key -----------------------------------------------

    def on_key(self, ev: KeyPressed) -> bool:
        """True: the lock took the key (the unlock page's, or a locked one)."""
        page = self._page()
        if page is not None:
            if self._page_key(page, ev.key):
                return True
            self._close_page()
            if self._free(ev.key) and self.menu is not None:
                self.menu.standby_key()   # DIRECTORY ("menu key" mode): the phone book
        elif self.state.menu:
            return False              # a page opened before the lock: its own keys
        if self._free(ev.key):
            return False
        if ev.key == "menu":
            self.open_page()
        else:
            self.state.notice = LOCKED
        return True

    def _free(self, key: str) -> bool:
        """Does `key` do what it always does in this mode, now?"""
        s, kind = self.state, self.state.keylock
        if kind == "menu key":
            return key != "menu"
        if key == "menu" or key.startswith(("p", "e")) and key[1:2].isdigit():
            return False              # programmable and expansion keys
        if len(key) == 1:             # 0-9 * #
            return kind == "function keys" or self._emergency_digit(key)
        if key.startswith("soft") and key[4:].isdigit():
            cells = softkeys(s)
            i = int(key[4:]) - 1
            return 0 <= i < len(cells) and cells[i][1] in CALL_ACTIONS
        if key.startswith("line") and key[4:].isdigit():
            call = s.on_line(int(key[4:]))
            return kind == "function keys" or call is not None and (
                call.state is CallState.RINGING or call.id == s.focus)
        if kind == "function keys":
            return key in FUNCTION_FREE
        if key in ("volup", "voldown"):
            return bool(s.calls)
        return key in FUNCTION_FREE   # all keys: what answers, sends, erases, ends

    def _emergency_digit(self, d: str) -> bool:
        """All keys locked: a digit that may still make an emergency number, the send key
        after one, or a digit in an emergency call (its service's menu)."""
        s, patterns = self.state, self.settings.phone.emergency
        f = s.focused
        if f is not None and f.state is not CallState.DIALING:
            return f.state is CallState.CONNECTED and is_emergency(f.number, patterns)
        typed = f.number if f is not None else s.predial
        if d == self.settings.phone.send_key and is_emergency(typed, patterns):
            return True
        return any(_may_become(typed + d, p) for p in patterns)

    def on_named(self, key: str) -> bool:
        """A key by name (OK on the standby screen asks for MENU; a memory key drives
        TRANSFER): MENU opens the unlock page, a locked function key is refused."""
        if key == "menu":
            self.open_page()
            return True
        if self._free(key):
            return False
        self.state.notice = LOCKED
        return True

    def on_hook(self, offhook: bool) -> bool:
        """The hook always works (answer, hang up, an emergency call): the page closes."""
        self._close_page()
        return False

    def on_placing(self, call) -> bool:
        """All keys locked: only an emergency number goes out, whoever dials it."""
        if self.state.keylock not in EVERY or is_emergency(call.number,
                                                            self.settings.phone.emergency):
            return False
        self.phone.end_call(call)
        if self.state.audio is not AudioDevice.HANDSET:
            self.phone.release_device()
        self.state.notice = "Keys locked: only emergency numbers"
        return True

    # -- the unlock page -------------------------------------------------------------------

    def open_page(self) -> None:
        if self._page() is None:
            editor = TextEntry(secret=True, max_len=32, mode="123")
            self.state.menu.append(MenuPage(PAGE, "Unlock keys", [HELP], kind="edit",
                                            data=[editor, ""]))

    def _page(self) -> MenuPage | None:
        s = self.state
        if s.menu and s.menu[-1].key == PAGE and s.screen() is Screen.MENU:
            return s.menu[-1]
        return None

    def _close_page(self) -> None:
        s = self.state
        if s.menu and s.menu[-1].key == PAGE:
            s.menu.pop()
            self.timers.cancel(TAP_TIMER)

    def _page_key(self, page: MenuPage, key: str) -> bool:
        """A key on the unlock page; False: not the page's (a call key)."""
        editor: TextEntry = page.data[0]
        now = self.bus.loop.time()
        if key in ("ok", "soft2"):
            editor.settle()
            self._try(page, editor)
        elif key == "soft1":
            editor.next_mode()
        elif key in ("menu", "soft4") or key == "cancel" and not editor.text:
            self._close_page()
            return True
        elif key == "soft3":
            editor.press("cancel", now)
        elif not editor.press(key, now) and key not in ("up", "down"):
            return False
        due = editor.due()
        if due is None:
            self.timers.cancel(TAP_TIMER)
        else:
            self.timers.start(TAP_TIMER, max(0.0, due - now))
        return True

    def _try(self, page: MenuPage, editor: TextEntry) -> None:
        want = self.settings.phone.keylock_password
        if hmac.compare_digest(editor.text.encode(), want.encode()):
            self.unlock()
            return
        log.info("keys: a wrong unlock password")
        page.items[1:] = ["Wrong password: still locked. Type it again, then OK"]
        editor.hold("cancel")

    def on_timer(self, ev: TimerFired) -> None:
        page = self._page()
        if ev.name == TAP_TIMER and page is not None:
            page.data[0].tick(self.bus.loop.time())

    def softkeys(self, s) -> dict:
        """The editor's Save reads Unlock on the unlock page; while function or all keys
        are locked, only a call's soft keys show (no Redial, DND, Hold, Xfer...)."""
        if s.menu and s.menu[-1].key == PAGE:
            return {"menu": {1: ("Unlock", "unlock")}}
        if s.keylock == "menu key" or s.menu:
            return {}
        own = softkeys(dataclasses.replace(s, soft={}))     # the screen's row, no mode's
        return {s.screen().value: {i: BLANK for i, (_, action) in enumerate(own)
                                   if action not in CALL_ACTIONS}}

    # -- kept across a restart -------------------------------------------------------------

    def _was_locked(self) -> bool:
        """Locked before the restart; without a file, locked when a mode is set (a phone
        provisioned with a lock arrives locked)."""
        try:
            doc = json.loads(self.path.read_text())
            self.auto_answer_ours = bool(doc.get("auto_answer_ours"))
            return bool(doc.get("locked"))
        except FileNotFoundError:
            return self.kind != "off"
        except (OSError, ValueError, AttributeError) as e:
            log.warning("keylock: %s unreadable (%s): locked as the setting says", self.path, e)
            return self.kind != "off"

    def _keep(self) -> None:
        doc = {"locked": bool(self.state.keylock), "auto_answer_ours": self.auto_answer_ours}
        try:
            atomic_write(self.path, json.dumps(doc).encode() + b"\n")
        except OSError as e:
            log.warning("keylock: cannot keep the lock in %s: %s", self.path, e)


def _may_become(typed: str, pattern: str) -> bool:
    """Can `typed` still become a number `pattern` (911, or a prefix 11*) matches?"""
    if pattern.endswith("*") and len(pattern) > 1:
        stem = pattern[:-1]
        return stem.startswith(typed) or typed.startswith(stem)
    return pattern.startswith(typed)
