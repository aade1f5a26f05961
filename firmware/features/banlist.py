"""The ban list on the phone (manual §7 Phone Book > BanList; issue 14 item 6): the list
itself (firmware/banlist.py, handed on as ctx.provide'd "banlist" for the web's BanList
page, ui/web/banlist.py), kept on the SIP thread's incoming policy, and a ringing caller
added to the personal phone book or to the ban list from the LCD.

The manual says nothing of adding a caller from the LCD; this follows what desk phones
that do it offer (Yealink's "Add to Contacts" / "Add to Blacklist"), on the two free
soft keys of the ringing screen (Answer, Reject, Ban, Add):
    Ban   asks once on the same screen ("Ban 1001?": Yes, No, for as long as a notice
          shows; unanswered, Ban and Add come back; OK is Yes and C is No, as on every
          question of the phone, while the handset, Speaker or the line key answer the
          call as always). Yes puts the number in
          the ban list (every line: Account "Auto") and refuses the ringing call as a
          banned caller is refused (phone.reject_code; not a missed call), as the person
          who bans a caller wants the ring to stop. A full list says so ("Ban list
          full"), the call rings on.
    Add   opens the contact editor of firmware/features/contacts.py with the number
          (Office) and the name the call shows (First name) filled in, over the ringing
          call: the ring, the line key and the light strip go on beneath, and lifting the
          handset, Speaker or the line key answers as always (the editor closes, nothing
          saved). Save, or C, gives the ringing screen back.
A call without a number (anonymous: no user, "anonymous", an anonymous.invalid address)
says "No number" and nothing changes; a call log entry's Add says the same at once.

What is kept of a caller: the display name as one line (a tab or a line break in it, which
a caller may send on purpose to make the entry unsavable, becomes a space; at most
NAME_MAX); if the entry is refused all the same, the number alone. A caller whose SIP user
is not a number ("alice") cannot be a ban list entry (its numbers are the manual's 1-19
digits) but is refused all the same: the user goes into phone.blacklist (the setting takes
user names; the policy compares the exact user part the SIP thread reads from From, as
`call.number` is), shown on the web's BanList page under "Also refused on every line". One
that ends in * is not taken there (it would be a prefix: every caller starting so), and the
screen says why.

Every change of the list, from here or the web, lays the new `Bans` on the policy at once
(`sip.policy`, replaced whole: the SIP thread reads whichever object is there); the
Phone carries it over when settings change (firmware/call/config.py). The list is read
by firmware/features/__init__.py `load` before the Phone is made, so the Phone's first
policy refuses the entries already.
"""
from __future__ import annotations

import logging
from pathlib import Path

from firmware.banlist import CAPACITY, Ban, BanList, check_ban
from firmware import pages
from firmware.call.controls import Mode
from firmware.call.state import MenuPage, Screen
from firmware.errors import SettingsInvalid
from firmware.events import KeyPressed, PageRequested, TimerFired
from firmware.i18n import Verbatim
from firmware.presenter import NOTICE_SECONDS
from firmware.phonebooks import NAME_MAX, BookError
from firmware.record import replace
from firmware.sip.policy import is_anonymous

log = logging.getLogger("deskphone.banlist")

ADD_PAGE = "contacts:add"          # the contact editor's page, with a caller's number
CALLER = "banlist:caller:"         # a call log entry's Add (firmware/features/calllog.py)
ASK_TIMER = "banlist.ask"          # "Ban 1002?" and its Yes/No last as long as a notice
KIND = "banlist"                   # the pages of that Add (MenuPage.kind)
CHOICES = {"Add to phone book": "book", "Add to ban list": "ban"}
PAGE_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "soft1", "soft2",
             "soft3", "soft4", *"0123456789*#"}


def one_line(name: str) -> str:
    """A caller's display name as an entry keeps it: tabs and line breaks (which the web's
    checks refuse) as spaces, at most NAME_MAX characters."""
    return " ".join(name.split())[:NAME_MAX].rstrip()


def setup(ctx) -> "BanFeature":
    """The feature module's entry (nothing to close)."""
    feature = BanFeature(ctx)
    ctx.provide("banlist", feature.list)
    return feature


class BanFeature:
    def __init__(self, ctx):
        self.state, self.bus, self.phone, self.sip = ctx.state, ctx.bus, ctx.phone, ctx.sip
        self.timers, self.settings, self.update = ctx.timers, ctx.settings, ctx.update
        # read before the Phone was made (features.load: its first policy has the bans)
        self.list = ctx.provided.get("banlist") or BanList(Path(ctx.data_dir))
        self.list.on_change = self.use
        self.use(self.list.bans)
        self.asking: int | None = None                   # the call "Ban ...?" is about
        self.confirm = Mode("ban?", action=self.answer, key=self.confirm_key,
                            softkeys=self.confirm_keys,
                            ended=lambda: self._ringing(self.asking) is None)
        self.confirm.ACTIONS = frozenset({"ban.yes", "ban.no"})
        controls = ctx.phone.controls
        controls.add_soft_key(Screen.RINGING, 2, "Ban", "ban", self.ask)
        controls.add_soft_key(Screen.RINGING, 3, "Add", "addcaller", self.add_to_book)
        self.page_mode = Mode("ban list", pressed=self.on_key, softkeys=self.softkeys,
                              ended=lambda: not any(p.kind == KIND for p in ctx.state.menu))
        self.page_mode.ACTIONS = frozenset({"ok"})
        ctx.bus.on(PageRequested, self.on_page)
        ctx.bus.on(TimerFired, self.on_timer)

    def use(self, bans) -> None:
        """The list changed (or the phone starts): the SIP thread refuses by it from the
        next INVITE on."""
        self.sip.policy = replace(self.sip.policy, bans=bans)

    # -- the ringing call ------------------------------------------------------------------

    def _ringing(self, call_id: int | None = None):
        """The ringing call a soft key is about: `call_id`'s while it rings, else the one
        Reject would refuse (the waiting call while one is connected)."""
        ringing = self.state.ringing()
        if call_id is not None:
            return next((c for c in ringing if c.id == call_id), None)
        if not ringing:
            return None
        return ringing[-1] if self.phone.connected() else ringing[0]

    def _caller(self):
        """The ringing call Ban or Add is about, when it has a number to keep (an
        anonymous one says so: None)."""
        call = self._ringing()
        if call is not None and is_anonymous({"from": call.uri}, call.number):
            self.state.notice = "No number"
            return None
        return call

    def ask(self) -> None:
        """Ban: the question on the ringing screen, its answer on the soft keys."""
        call = self._caller()
        if call is None:
            return
        self.asking = call.id
        self.state.notice = f"Ban {call.number}?"
        self.phone.controls.push(self.confirm)
        self.timers.start(ASK_TIMER, NOTICE_SECONDS)     # the question and Yes/No go together

    def confirm_keys(self, s) -> dict:
        return {Screen.RINGING.value: {2: ("Yes", "ban.yes"), 3: ("No", "ban.no")}}

    def confirm_key(self, key: str) -> bool:
        """OK and C answer the question as everywhere on the phone (OK: delete, C: keep):
        OK is Yes, C is No (the question goes, the ring goes on). Without this OK answered
        the caller and C refused the call, nobody banned. The handset, Speaker and the line
        key are no question's keys: they answer the call as always (the mode then ends)."""
        answers = {"ok": "ban.yes", "cancel": "ban.no"}
        return key in answers and self.answer(answers[key])

    def answer(self, action: str) -> bool:
        if action not in self.confirm.ACTIONS:
            return False
        call = self._ringing(self.asking)
        self.phone.controls.pop(self.confirm)
        self.timers.cancel(ASK_TIMER)
        self.asking = None
        self.state.notice = ""
        if action == "ban.yes" and call is not None:
            self.ban(call)
        return True

    def on_timer(self, ev: TimerFired) -> None:
        """Not answered while the question showed: Ban and Add again, nothing banned."""
        if ev.name == ASK_TIMER and self.phone.controls.active(self.confirm):
            self.phone.controls.pop(self.confirm)
            self.asking = None
            if self.state.notice.startswith("Ban "):      # the question, if still shown
                self.state.notice = ""

    def ban(self, call) -> None:
        """The caller banned (`keep`), the call refused; refused, the call rings on."""
        why = self.keep(call.number, call.name)
        if why:
            self.state.notice = why                     # one row of the ringing screen
            return
        log.info("LCD: %s banned while ringing; the call is refused", call.number)
        self.phone.end_call(call)
        self.state.notice = f"Banned: {call.number}"

    def keep(self, number: str, name: str) -> str:
        """`number` banned from now on: an entry of the ban list (unless one has it), with the
        name as one line, else the number alone; a SIP user that is no number into
        phone.blacklist (module doc). "" when done, else why not, short (the log has it all)."""
        if self.list.find(number) >= 0 or number in self.settings.phone.blacklist:
            return ""
        if "mobile" in check_ban(Ban(mobile=number)) or number.endswith("*"):  # no number,
            # or one the list would take as a prefix (every caller it starts)
            return self._blacklist(number)
        why = ""
        for ban in (Ban(first_name=one_line(name), mobile=number), Ban(mobile=number)):
            try:
                self.list.add(ban)
                return ""
            except (BookError, OSError) as e:
                log.warning("LCD: ban of %s (%r) refused: %s", number, ban.first_name, e)
                if len(self.list.entries) >= CAPACITY:
                    return "Ban list full"
                why = f"Not saved: {e}"
        return why

    def _blacklist(self, user: str) -> str:
        """A SIP user that is not a number: refused on every line through phone.blacklist."""
        if user.endswith("*"):
            log.warning("LCD: %r not banned: a trailing * would ban every caller it starts",
                        user)
            return f"Not saved: {user} ends in *"
        try:
            self.update({"phone.blacklist": (*self.settings.phone.blacklist, user)})
        except SettingsInvalid as e:
            log.warning("LCD: %r not put in phone.blacklist: %s", user, e)
            return f"Not saved: {e.problems[0].reason}"
        log.info("LCD: SIP user %r is no number: banned through phone.blacklist", user)
        return ""

    def add_to_book(self) -> None:
        """Add: the contact editor, filled in with the caller, over the ringing call."""
        call = self._caller()
        if call is not None:
            self._open_editor(call.number, call.name)

    def _open_editor(self, number: str, name: str) -> None:
        """The contact editor of firmware/features/contacts.py, filled in (it opens its page
        over a ringing call, and has it walked with no menu below)."""
        self.bus.post(PageRequested(f"{ADD_PAGE}:{number}:{one_line(name)}"))

    def on_page(self, ev: PageRequested) -> None:
        """A call log entry's Add ("banlist:caller:<number>:<name>")."""
        if ev.page.startswith(CALLER):
            number, _, name = ev.page[len(CALLER):].partition(":")
            self._push(MenuPage("banlist.caller", Verbatim(name or number), list(CHOICES),
                                kind=KIND, data=[number, name]))

    # -- a call log entry's Add: to the phone book or the ban list ---------------------------

    def _push(self, page: MenuPage) -> None:
        self.state.menu.append(page)
        self.phone.controls.push(self.page_mode)

    def on_key(self, ev: KeyPressed) -> bool:
        """A key while one of these pages is on top (asked first): True when it took it."""
        return pages.key(self.state, KIND, ev.key, PAGE_KEYS, self.page_key,
                         lambda page, line: None)

    def page_key(self, page: MenuPage, key: str) -> None:
        s = self.state
        number, name = page.data
        if key in ("cancel", "soft4", "left"):
            s.menu.pop()
            while page.key == "banlist.done" and s.menu and s.menu[-1].kind == KIND:
                s.menu.pop()                             # banned: back to the call log
        elif key == "menu":
            s.menu.clear()
        elif page.text:                                  # "Ban 1002?": OK bans
            if key in ("ok", "soft1"):
                self._ban_entry(number, name)
        elif key in ("up", "down"):
            page.index = (page.index + (1 if key == "down" else -1)) % len(page.items)
        elif key in ("ok", "soft1", "right", "1", "2"):
            chosen = int(key) - 1 if key.isdigit() else page.index
            if CHOICES[page.items[chosen]] == "book":
                self._open_editor(number, name)
            else:
                self._push(MenuPage("banlist.confirm", "Ban list",
                                    [f"Ban {number}?", "OK: ban, C: keep"], text=True,
                                    kind=KIND, data=[number, name]))

    def _ban_entry(self, number: str, name: str) -> None:
        """OK on "Ban 1002?": into the ban list; the page says what came of it (C: back
        to the call log)."""
        page = self.state.menu[-1]
        why = self.keep(number, name)
        if why:
            page.items = [why, "C: back"]
            return
        log.info("LCD: %s banned from the call log", number)
        page.key = "banlist.done"
        page.items = [f"Banned: {number}", "Its calls are refused.", "C: back"]

    def softkeys(self, s) -> dict:
        page = s.menu[-1] if s.menu else None
        if page is not None and page.key == "banlist.confirm" and \
                page.items[1:] == ["OK: ban, C: keep"]:
            return {Screen.MENU.value: {0: ("OK", "ok")}}
        return {}
