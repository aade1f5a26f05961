"""The ban list on the phone (manual §7 Phone Book > BanList; issue 14 item 6): the list
itself (firmware/banlist.py, handed on as ctx.provide'd "banlist" for the web's BanList
page, ui/web/banlist.py), kept on the SIP thread's incoming policy, and a ringing caller
added to the personal phone book or to the ban list from the LCD.

The manual says nothing of adding a caller from the LCD; this follows what desk phones
that do it offer (Yealink's "Add to Contacts" / "Add to Blacklist"), on the two free
soft keys of the ringing screen (Answer, Reject, Ban, Add):
    Ban   asks once on the same screen ("Ban 1001?": Yes, No). Yes puts the number in
          the ban list (every line: Account "Auto") and refuses the ringing call as a
          banned caller is refused (phone.reject_code; not a missed call), as the person
          who bans a caller wants the ring to stop. A full list says so ("Ban list
          full"), the call rings on.
    Add   opens the contact editor of firmware/features/contacts.py with the number
          (Office) and the name the call shows (First name) filled in, over the ringing
          call: the ring, the line key and the light strip go on beneath, and lifting the
          handset, Speaker or the line key answers as always (the editor closes, nothing
          saved). Save, or C, gives the ringing screen back.
A call without a number (anonymous) says "No number" and nothing changes.

Every change of the list, from here or the web, lays the new `Bans` on the policy at once
(`sip.policy`, replaced whole: the SIP thread reads whichever object is there); the
Phone carries it over when settings change (firmware/call/config.py).
"""
from __future__ import annotations

import logging
from pathlib import Path

from firmware.banlist import CAPACITY, NAME_MAX, Ban, BanList
from firmware.call.controls import Mode
from firmware.call.state import Screen
from firmware.events import PageRequested
from firmware.phonebooks import BookError
from firmware.record import replace

log = logging.getLogger("deskphone.banlist")

ADD_PAGE = "contacts:add"          # the contact editor's page, with a caller's number


def setup(ctx) -> "BanFeature":
    """The feature module's entry (nothing to close)."""
    feature = BanFeature(ctx)
    ctx.provide("banlist", feature.list)
    return feature


class BanFeature:
    def __init__(self, ctx):
        self.state, self.bus, self.phone, self.sip = ctx.state, ctx.bus, ctx.phone, ctx.sip
        self.menu = ctx.provided.get("menu")             # the walker the editor is on
        self.list = BanList(Path(ctx.data_dir), on_change=self.use)
        self.use(self.list.bans)
        self.asking: int | None = None                   # the call "Ban ...?" is about
        self.confirm = Mode("ban?", action=self.answer, softkeys=self.confirm_keys,
                            ended=lambda: self._ringing(self.asking) is None)
        self.confirm.ACTIONS = frozenset({"ban.yes", "ban.no"})
        controls = ctx.phone.controls
        controls.add_soft_key(Screen.RINGING, 2, "Ban", "ban", self.ask)
        controls.add_soft_key(Screen.RINGING, 3, "Add", "addcaller", self.add_to_book)
        ctx.bus.on(PageRequested, self.on_page)

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
        if call is not None and not call.number:
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

    def confirm_keys(self, s) -> dict:
        return {Screen.RINGING.value: {2: ("Yes", "ban.yes"), 3: ("No", "ban.no")}}

    def answer(self, action: str) -> bool:
        if action not in self.confirm.ACTIONS:
            return False
        call = self._ringing(self.asking)
        self.phone.controls.pop(self.confirm)
        self.asking = None
        self.state.notice = ""
        if action == "ban.yes" and call is not None:
            self.ban(call)
        return True

    def ban(self, call) -> None:
        """The caller into the ban list (unless an entry has it already), the call refused."""
        if self.list.find(call.number) < 0:
            try:
                self.list.add(Ban(first_name=call.name[:NAME_MAX], mobile=call.number))
            except (BookError, OSError) as e:
                log.warning("LCD: ban of %s refused: %s", call.number, e)
                # one row of the ringing screen: the reason short (the log has it all)
                self.state.notice = "Ban list full" if isinstance(e, BookError) and \
                    len(self.list.entries) >= CAPACITY else "Not saved"
                return
        log.info("LCD: %s banned while ringing; the call is refused", call.number)
        self.phone.end_call(call)
        self.state.notice = f"Banned: {call.number}"

    def add_to_book(self) -> None:
        """Add: the contact editor, filled in with the caller, over the ringing call."""
        call = self._caller()
        if call is not None:
            self.bus.post(PageRequested(f"{ADD_PAGE}:{call.number}:{call.name}"))

    def on_page(self, ev: PageRequested) -> None:
        """After the contact editor opened its page (its module was set up before this
        one, so it heard the request first): the page keeps the screen over the ring, and
        the walker takes the keys."""
        if not ev.page.startswith(ADD_PAGE + ":") or not self.state.menu:
            return
        if self.state.ringing():
            self.state.menu[-1].over_ring = True
        if self.menu is not None:
            self.phone.controls.push(self.menu.mode)
