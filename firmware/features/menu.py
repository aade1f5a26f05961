"""The LCD menu (manual §6, "Use phone keypad to setting"): MENU, or OK on the standby
screen, opens it. DIRECTORY opens the phone book page (the books and Call history)
and SERVICE the services page (DND, forwarding, voicemail, auto answer); pressed again
they close it (manual §3: "Open or Close the Services menu").

Up/down move, OK or Enter opens, C or Back goes back, a digit picks an entry. The pages
are the menu model's (firmware/menus.py): the manual's tree over the settings schema.
An entry that names a setting shows its value on the right and opens an editor: a list
to pick from (on/off, choices) or the text editor (ui/textentry.py: multi-tap letters,
numbers, addresses, masked passwords). OK or Save saves through the one settings path
(SettingsService.update: the schema checks it, the file is written atomically, every
part hears SettingsChanged); a refusal is shown on the editor with the schema's reason
and nothing is saved. A SIP account page keeps its changes until "Submit changes".
"System setting > Advanced setting" asks for the advanced password first (empty from the
factory, as in the manual; once given, it holds until the menu closes).

The menu sits on top of whatever the phone is doing: keys that belong to calls (line
keys, speaker, headset, hold, the hook...) close it and go on to the phone, and a ringing
call takes the screen, so a call is never lost because a menu was open. Pages of other
modules ("calllog:missed", "provision:status") are asked for with PageRequested; a page
with a `kind` of theirs takes its own keys; a module whose pages this walker walks
(Function setting > Expansion) is their owner (`own`): it says what OK and a typed value
do, and whether a page's changes wait for Submit (`changed`: then leaving it asks too).
While a page is open the menu is a mode on the Phone's stack (firmware/call/controls.py)
and is asked about every key first.
"""
from __future__ import annotations

import hmac
import logging
import time
from typing import Callable

from firmware import menus
from firmware.pages import IDLE_S, IDLE_TIMER
from firmware.bus import Bus, Timers
from firmware.call.controls import Mode
from firmware.call.state import MenuPage, PhoneState, Screen
from firmware.settings import check, factory_values
from firmware.errors import SettingError, SettingsInvalid
from firmware.events import (CallIncoming, DiagnoseRequested, KeyHeld, KeyPressed,
                             PageRequested, RegistrationChanged, TimerFired)
from firmware.present import local_time
from ui.textentry import TextEntry

log = logging.getLogger("deskphone.menu")

MENU_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "soft1", "soft2",
             "soft3", "soft4", *"0123456789*#"}
TAP_TIMER = "menu.multitap"
ASK = "password"                  # the key of the advanced password's page
DIRECTORY = "phonebook"           # the page DIRECTORY opens: the phone book (and call history)
LEAVE = "unsubmitted"             # the question on leaving a submit page with changes
ASK_LEAVE = "Submit changes? OK: submit, Back: discard"


def setup(ctx) -> "Menus":
    """The feature module's entry: a screen on top of the phone (nothing to close); the
    modules whose pages it walks find it as ctx.provide'd "menu" (`own`)."""
    menu = Menus(bus=ctx.bus, timers=ctx.timers, state=ctx.state, status=ctx.status,
                 controls=ctx.phone.controls, settings=ctx.settings, update=ctx.update,
                 restart=ctx.restart)
    ctx.provide("menu", menu)
    return menu


class Menus:
    def __init__(self, *, bus: Bus, timers: Timers, state: PhoneState,
                 status: Callable[[str], list[str]], controls, settings,
                 update: Callable[[dict], tuple[list[str], list[str]]],
                 restart: Callable[[], None] = lambda: None):
        self.bus, self.timers, self.state, self.controls = bus, timers, state, controls
        self.settings, self.update, self.restart = settings, update, restart
        self.status = status      # page key -> lines to read (App knows the network...)
        self.draft: dict[str, object] = {}    # a submit page's changes, not saved yet
        self.unlocked = False                 # the advanced password was given
        self.owners: dict[str, object] = {}   # pages another module builds (`own`)
        self.watch = 0            # the line just submitted: its registration is told (notice)
        self.saved_here: set[str] = set()     # keys this menu saved since it opened
        # on the stack while a page is open; a call list may close the last page itself
        self.mode = Mode("menu", pressed=self.on_key, hook=self.close_for_calls,
                         ended=lambda: not state.menu)
        controls.add_key("menu", self.key_menu)
        controls.add_key("directory", lambda: self.key_page(DIRECTORY))
        controls.add_key("service", lambda: self.key_page("services"))
        self._open_at_press = False           # a page was open when the key went down
        bus.on(KeyPressed, self._pressed, first=True)
        bus.on(CallIncoming, self.close_for_calls)
        bus.on(KeyHeld, self.on_held)
        bus.on(TimerFired, self.on_timer)
        bus.on(RegistrationChanged, self.on_registration)

    # -- opening and closing ---------------------------------------------------------------

    def open(self, key: str) -> None:
        page = menus.TREE[key]
        if page.role == "admin" and not self.unlocked:
            self._edit(ASK, "Advanced password", TextEntry(secret=True, max_len=32),
                       ["Empty from the factory: press Save"], then=key)
            return
        if page.text:
            self._push(MenuPage(key, page.title, self.status(key), text=True))
            return
        self._push(MenuPage(key, page.title, [e.label for e in page.entries],
                            data=self._values(page)))

    def _push(self, page: MenuPage) -> None:
        if not self.state.menu:
            # opened afresh: a page another module drew (a call list, the phone book) may
            # have closed the menu for a call without close(): the password is asked again
            self.draft.clear()
            self.unlocked = False
            self.watch = 0
            self.saved_here.clear()
        self.state.menu.append(page)
        self.controls.push(self.mode)
        self.timers.start(IDLE_TIMER, IDLE_S)

    def close(self) -> None:
        self.state.ring_preview = 0
        self.state.menu.clear()
        self.draft.clear()
        self.unlocked = False
        self.saved_here.clear()
        self.timers.cancel(TAP_TIMER)
        self.controls.pop(self.mode)

    def _apply(self, values: dict) -> tuple[list[str], list[str]]:
        """Save through the one settings path, remembering what this menu changed."""
        changed, restart = self.update(values)
        self.saved_here.update(changed)
        return changed, restart

    def made_here(self, key: str) -> bool:
        """Did this open menu save `key`? (The keyboard lock asks when it hears the change:
        a lock chosen here engages when the menu is left, one set elsewhere closes it.)
        Asked once per change."""
        if key in self.saved_here:
            self.saved_here.discard(key)
            return True
        return False

    def _preview(self, page: MenuPage) -> None:
        """A ring type list rings the type under the cursor (manual §6 "Ring type": "it
        will auto ringing"); leaving it stops the ring."""
        if page.kind == "choice" and page.key in menus.RING_TYPES:
            self.state.ring_preview = page.data[page.index] or \
                self.settings.volume.ring_type

    def _waiting(self, page: MenuPage) -> bool:
        """Changes made on `page` that wait for "Submit changes": a submit page's draft
        (a SIP account), or what the page's owner says (`owner.changed(page)`: an
        expansion key)."""
        if page.kind:
            return False
        owner = self._owner(page.key)
        if owner is not None:
            changed = getattr(owner, "changed", None)
            return bool(changed is not None and changed(page))
        return bool(self.draft) and menus.TREE.get(page.key, menus.Page("")).submit

    def _ask_first(self, then: str) -> bool:
        """Leaving a page with changes not submitted (Back, C, MENU): ask whether to
        submit them (manual's phones: "Save changes?"), never drop them silently. True when
        the question is shown; `then` ("back", "close") is what follows the answer."""
        top = self.state.menu[-1] if self.state.menu else None
        if top is None or not self._waiting(top):
            return False
        self._push(MenuPage(LEAVE, top.title, [ASK_LEAVE], kind="confirm", data=[then]))
        return True

    def back(self, ask: bool = True) -> None:
        """Back to the page below (ask: first whether changes waiting here are submitted)."""
        if ask and self._ask_first("back"):
            return
        self.state.ring_preview = 0
        gone = self.state.menu.pop()
        if gone.kind == "edit":
            self.timers.cancel(TAP_TIMER)
        if menus.TREE.get(gone.key, menus.Page("")).submit:
            self.draft.clear()                # left without "Submit changes": not saved
        if not self.state.menu:
            self.close()
        else:
            self._refresh(self.state.menu[-1])

    def leave(self) -> None:
        """MENU on any page: the menu closes. Under a page with changes waiting (on its
        editor, a choice list, Network > View, a refusal), that page comes back first and
        asks (_ask_first), so MENU never drops them unasked."""
        menu = self.state.menu
        waiting = [i for i, page in enumerate(menu) if self._waiting(page)]
        if waiting:
            del menu[waiting[-1] + 1:]
            self.timers.cancel(TAP_TIMER)
            self.state.ring_preview = 0
            if self._ask_first("close"):
                return
        self.close()

    def idle(self) -> None:
        """IDLE_S without a key: back to the standby or call screen, whatever page is open
        (a call list, the phone book too; a call goes on). Not while something typed waits:
        an account's changes for Submit, an editor (a password being looked up is not lost),
        a page whose mode says it holds typed text (`holding`: an LDAP search's text or
        hits, firmware/features/ldapsearch.py)."""
        s = self.state
        if not s.menu or s.diag:
            return
        if self.draft or s.menu[-1].kind == "edit" or any(map(self._waiting, s.menu)) \
                or self.controls.query("holding"):
            self.timers.start(IDLE_TIMER, IDLE_S)
            return
        log.info("menu: %d s without a key, closed", IDLE_S)
        s.menu.clear()                # the modes of pages other modules drew end with it
        self.close()

    def close_for_calls(self, *_) -> bool:
        """A call comes in or the hook moves: the menu gives the screen back (not under
        a diagnose test, which shows the hook itself)."""
        if self.state.menu and not self.state.diag:
            self.close()
        return False

    # -- keys ------------------------------------------------------------------------------

    def _pressed(self, ev: KeyPressed) -> None:
        """Before anyone reads a key: was a page open? (a menu or call list on top closes
        itself on a key that is not its own, before DIRECTORY or SERVICE is handled)"""
        self._open_at_press = bool(self.state.menu)
        if self.state.menu:
            self.timers.start(IDLE_TIMER, IDLE_S)     # any key on any page: not idle yet

    def standby_key(self) -> None:
        """The page that was open when this key went down was not the menu's and closed
        itself for it, the key to do what it does on the standby screen (the keyboard
        lock's unlock page: DIRECTORY in "menu key" mode): DIRECTORY and SERVICE then open
        their page instead of closing the one that was open."""
        self._open_at_press = False

    def key_page(self, key: str) -> None:
        """DIRECTORY, SERVICE: open their page, or close the menu they were pressed on.
        Not over a ringing call or a test; over a call it opens, the call goes on."""
        if self._open_at_press:
            self.close()
        elif not self.state.diag and self.state.screen() is not Screen.RINGING:
            self.open(key)

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
        page, key = s.menu[-1], ev.key
        if page.kind == "edit":
            return self._edit_key(page, key)
        if page.kind == "confirm":
            return self._confirm_key(page, key)
        if page.kind and page.kind != "choice":
            return False              # a module's page (a call list): that module's keys
        if key == "menu":
            self.leave()
        elif key in ("cancel", "soft4", "left"):
            self.back()
        elif key in ("up", "down"):
            step = -1 if key == "up" else 1
            if page.text:             # scrolls by the rows the LCD shows in this language
                from ui.lcd_menu import page_rows     # PIL: drawing loaded it by now
                last = max(0, len(page.items) - page_rows(s.language))
                page.index = max(0, min(last, page.index + step))
            elif page.items:
                page.index = (page.index + step) % len(page.items)
                self._preview(page)
        elif not page.text and key in ("ok", "soft1", "right"):
            self.enter(page, page.index)
        elif not page.text and key.isdigit() and 1 <= int(key) <= len(page.items):
            page.index = int(key) - 1
            self.enter(page, page.index)
        return True

    def on_held(self, ev: KeyHeld) -> None:
        """C held on the text editor clears what was typed."""
        s = self.state
        if s.menu and s.menu[-1].kind == "edit" and s.screen() is Screen.MENU:
            s.menu[-1].data[0].hold(ev.key)

    def on_timer(self, ev: TimerFired) -> None:
        if ev.name == IDLE_TIMER:
            self.idle()
        if ev.name == TAP_TIMER and self.state.menu and self.state.menu[-1].kind == "edit":
            editor = self.state.menu[-1].data[0]
            editor.tick(self.bus.loop.time())
            self._tap_timer(editor)

    def own(self, prefix: str, owner) -> None:
        """Pages whose key starts with `prefix` ("expansion", "expansion.key") are built by
        `owner` (firmware/features/expansion.py): walked here like any page, but what OK on
        an entry does is `owner.enter(page, index)`, a typed value `owner.save(page, text)`."""
        self.owners[prefix] = owner

    def take_keys(self) -> None:
        """An owner opened a page of its own with nothing of the menu below it (a caller's
        Add, from the ringing screen or a call list, firmware/features/contacts.py): the
        walker takes its keys and the pages' minute starts, as when the menu opens one."""
        self.controls.push(self.mode)
        self.timers.start(IDLE_TIMER, IDLE_S)

    def _owner(self, key: str):
        return self.owners.get(key.partition(".")[0])

    def enter(self, page: MenuPage, index: int) -> None:
        owner = self._owner(page.key)
        if owner is not None:
            owner.enter(page, index)
            return
        if page.kind == "choice":
            self._save(page, page.data[index])
            return
        entry = menus.TREE[page.key].entries[index]
        if entry.setting:
            self._open_setting(entry)
        elif entry.page:
            self.open(entry.page)
        elif entry.action == "submit":
            self._submit()
        elif entry.action in menus.TYPED:       # Time & date > Manual setting
            typed = menus.TYPED[entry.action]
            self._edit(entry.action, entry.label,
                       TextEntry(typed.start(self.state, time.time()), mode="123"),
                       [typed.hint])
        elif entry.action in menus.CONFIRM:
            title, question = menus.CONFIRM[entry.action]
            self._push(MenuPage(entry.action, title, [question], kind="confirm"))
        elif entry.action.startswith("diag:"):
            self.bus.post(DiagnoseRequested(entry.action[5:]))
        elif entry.action.startswith("key:"):    # what a key does (MESSAGE: voice mail)
            self.close()
            self.controls.press(entry.action[4:])
        elif ":" in entry.action:
            self.bus.post(PageRequested(entry.action))

    # -- values ----------------------------------------------------------------------------

    def _value(self, key: str):
        return self.draft[key] if key in self.draft else self.settings.get(key)

    def _values(self, page: menus.Page) -> list[str]:
        """What each entry shows on the right: a setting's value, else nothing."""
        today = self._today()
        return [menus.shown(e.setting, self._value(e.setting), today) if e.setting else ""
                for e in page.entries]

    def _today(self):
        """The phone's time now, as the standby screen shows it (its zone, the SNTP or
        hand-set shift): a date format's example is today's date there."""
        return local_time(self.state, self.state.now or time.time())

    def _refresh(self, page: MenuPage) -> None:
        tree = menus.TREE.get(page.key)
        if tree is not None and not page.kind and not page.text:
            page.data = self._values(tree)

    def _open_setting(self, entry: menus.Entry) -> None:
        key, value = entry.setting, self._value(entry.setting)
        kind = menus.kind(key)
        if kind in ("bool", "choice"):
            options, today = list(menus.choices(key)), self._today()
            self._push(MenuPage(key, entry.label, [menus.shown(key, v, today)
                                                     for v in options],
                                index=options.index(value) if value in options else 0,
                                kind="choice", data=options))
            self._preview(self.state.menu[-1])
            return
        f = menus.FIELDS[key]
        text = "" if kind == "secret" else str(value)
        # the model's input hint: an extension number starts in 123 even when empty
        mode, hint = menus.TYPING.get(entry.typing, ("", ""))
        editor = TextEntry(text, kind=kind if kind in ("number", "ip", "dial") else "text",
                           secret=kind == "secret", max_len=f.metadata["max_len"],
                           mode=mode or ("123" if text.isdigit() else None))
        self._edit(key, entry.label, editor,
                   ["; ".join(t for t in (menus.help_text(key), hint) if t)])

    def _edit(self, key: str, title: str, editor: TextEntry, lines: list[str],
              then: str = "") -> None:
        """The text editor's page: data = [editor, the page to open after (a password)]."""
        self._push(MenuPage(key, title, lines, kind="edit", data=[editor, then]))

    def _edit_key(self, page: MenuPage, key: str) -> bool:
        editor: TextEntry = page.data[0]
        if key == "menu":
            self.leave()
        elif key == "soft4" or (key == "cancel" and not editor.text):
            self.back()
        elif key == "soft1":
            editor.next_mode()
        elif key in ("ok", "soft2"):
            editor.settle()
            if page.key == ASK:
                self._unlock(page, editor.text)
            elif page.key in menus.TYPED:
                self._save_typed(page, editor.text)
            elif self._owner(page.key) is not None:
                self._owner(page.key).save(page, editor.text)
            else:
                self._save(page, editor.text)
        elif key == "soft3":
            editor.press("cancel", self.bus.loop.time())
        else:
            editor.press(key, self.bus.loop.time())
        self._tap_timer(editor)
        return True

    def _tap_timer(self, editor: TextEntry) -> None:
        due = editor.due()
        if due is None:
            self.timers.cancel(TAP_TIMER)
        else:
            self.timers.start(TAP_TIMER, max(0.0, due - self.bus.loop.time()))

    def _save(self, page: MenuPage, value) -> None:
        key = page.key
        if isinstance(value, str) and menus.kind(key) == "number":
            value = value.strip() or "0"
        parent = menus.TREE[self.state.menu[-2].key]
        if parent.submit:             # kept for "Submit changes", checked now all the same
            try:
                self.draft[key] = _checked(key, value)
            except SettingsInvalid as e:
                page.items[1:] = [e.problems[0].reason]
                return
            self._enable_new(key)
            self.back()
            return
        try:
            _, restart = self._apply({key: value})
        except SettingsInvalid as e:
            page.items[1:] = [e.problems[0].reason]
            return
        self.back()
        if restart:
            self.state.notice = f"{page.title}: applies after a restart"

    def _save_typed(self, page: MenuPage, text: str) -> None:
        """Typed text that becomes settings (Manual setting: a date and time): saved, or the
        reason it is refused on the editor and nothing saved."""
        try:
            self._apply(menus.TYPED[page.key].parse(text, self.state, time.time()))
        except SettingsInvalid as e:
            page.items[1:] = [e.problems[0].reason]
        except ValueError as e:
            page.items[1:] = [str(e)]
        else:
            self.back()

    def _enable_new(self, key: str) -> None:
        """A new account (user and server empty when the page opened) gets Enable account
        = Enable as soon as both are typed: the person filling in a line wants it to work,
        as a desk phone's wizard does; the row shows it before Submit, and Disable can
        still be chosen. An account that had them keeps the Enable it has."""
        head, _, field = key.rpartition(".")
        if not head.startswith("account.") or field not in ("user", "server"):
            return
        k = head + "."
        if self.settings.get(k + "user") or self.settings.get(k + "server") or \
                k + "enable" in self.draft or self._value(k + "enable"):
            return
        if self._value(k + "user") and self._value(k + "server"):
            self.draft[k + "enable"] = True

    def _submit(self) -> bool:
        """"Submit changes" on an account page: everything changed on it, saved at once;
        the LCD says so, then how the line's registration goes (on_registration). True
        when it was saved (or there was nothing to save)."""
        page = self.state.menu[-1]
        if not self.draft:
            self.state.notice = "Nothing changed"
            return True
        try:
            changed, restart = self._apply(dict(self.draft))
        except SettingsInvalid as e:
            self.state.notice = f"Not saved: {e.problems[0]}"
            return False
        self.draft.clear()
        self._refresh(page)
        self.state.notice = f"{page.title} saved" + (": applies after a restart"
                                                     if restart else "")
        if page.key.startswith("account."):
            n = int(page.key.partition(".")[2])
            k = f"account.{n}."
            if not self.settings.get(k + "enable"):
                if self.settings.get(k + "user") and self.settings.get(k + "server"):
                    self.state.notice = f"{page.title} saved but disabled: set Enable account"
            elif not restart:
                self.watch = n
                self.state.notice = f"{page.title} saved; Line {n}: registering..."
        log.info("menu: %s submitted (%s)", page.title, ", ".join(changed))
        return True

    def on_registration(self, ev: RegistrationChanged) -> None:
        """After Submit changes: the line's first answer, on the LCD a while ("Line 1:
        registered", or why not)."""
        if not self.watch or ev.account != self.watch or not self.state.menu:
            return
        self.watch = 0
        said = "registered" if ev.active else (ev.reason or "not registered") + \
            (f" ({ev.code})" if ev.code else "")
        self.state.notice = f"Line {ev.account}: {said}"

    def _confirm_key(self, page: MenuPage, key: str) -> bool:
        """Load default settings, Reboot: OK does it, Back or C does not. Leaving a page
        with changes (LEAVE): OK submits them, Back or C drops them; then on as asked."""
        if page.key == LEAVE:
            if key in ("ok", "soft1", "cancel", "soft4", "left", "menu"):
                self.state.menu.pop()
                owner = self._owner(self.state.menu[-1].key)
                if key in ("ok", "soft1") and not (owner.submit() if owner is not None
                                                   else self._submit()):
                    return True           # refused: the page stays, saying why
                self.draft.clear()
                if page.data[0] == "close" or key == "menu":
                    self.close()
                else:
                    self.back(ask=False)
            return True
        if key in ("ok", "soft1"):
            if page.key == "defaults":
                log.warning("menu: load default settings (from the LCD)")
                try:
                    self.update(factory_values())
                except SettingsInvalid as e:      # the factory values always pass
                    page.items[1:] = [str(e)]
                    return True
            log.warning("menu: restart (from the LCD: %s)", page.title)
            self.close()
            self.state.notice = "Restarting..."
            self.restart()
        elif key == "menu":
            self.close()
        elif key in ("cancel", "soft4", "left"):
            self.back()
        return True

    def _unlock(self, page: MenuPage, typed: str) -> None:
        want = self.settings.lcd.advanced_password
        if not hmac.compare_digest(typed.encode(), want.encode()):
            page.items[1:] = ["Wrong password"]
            page.data[0].hold("cancel")
            return
        self.unlocked = True
        then = page.data[1]
        self.state.menu.pop()
        self.open(then)


def _checked(key: str, value):
    """The value as the schema takes it (SettingsInvalid when it does not)."""
    try:
        return check(key, value)
    except SettingError as e:
        raise SettingsInvalid([e]) from None
