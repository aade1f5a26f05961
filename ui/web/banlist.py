"""Phone Book > BanList (manual §7): the ban list as contacts on the web, plain HTML forms
that work without JavaScript.

    /phonebook/banlist              Serial Number, Description, First Name, Last Name,
                                    Mobile, Home and Office Number, Account; Edit, Delete;
                                    Add BanList, Delete All BanList (asked first)
    /phonebook/banlist/new          Add BanList (POST: add)
    /phonebook/banlist/<n>          an entry's form (POST: save); /<n>/delete (POST)
    /phonebook/banlist/delete-all   POST: a page that asks; its button posts confirm=yes

Every change goes to firmware/banlist.py `BanList` (the object the LCD's Ban soft key uses,
firmware/features/banlist.py): its checks and capacity ("Ban list full: 100 entries"); a
refused change saves nothing and the form comes back as typed with the reason beside its
field. A change is refused by the SIP thread's next INVITE already. An entry is named by its
place and a mark of what the page showed (`was`): when the list changed meanwhile (the LCD
banned a caller, another browser deleted one), nothing is changed in its place.

The setting phone.blacklist (numbers and prefixes ending in *, what provisioning's
BlackTabs sets) is refused on every line too; it is shown here and edited on the Phone Book
settings page (/settings/phonebook). Both roles: the phone book is the desk user's.
"""
from __future__ import annotations

import logging

from aiohttp import web

from firmware.banlist import CAPACITY, NUMBERS, TEXTS, Ban
from firmware.phonebooks import NAME_MAX, NUMBER_MAX, BookError
from ui.web import common, pages
from ui.web.common import API
from ui.web.forms import (account, button_form, confirm, damage, field, hidden, mark,
                          not_found, phone_number, plural, respond, whole_number)
from ui.web.html import csrf_field, esc, notice

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

URL = "/phonebook/banlist"
TITLE = "BanList"
ACCOUNTS = (("", "Auto (every line)"), ("1", "Account 1"), ("2", "Account 2"),
            ("3", "Account 3"))
DONE = {"added": "Added: refused from the next call on.", "saved": "Saved.",
        "deleted": "Deleted.", "cleared": "Every entry deleted.", "dismissed": ""}


def _list(request):
    return request.app[API].banlist


def _post_button(request, action: str, button: str, *, was: str = "", label: str = "") -> str:
    """A form that is one red-lettered button (Delete, Delete All) beside a row or a link."""
    return button_form(action, request, button, {"was": was} if was else {}, danger=True,
                       label=label)


# -- the list ----------------------------------------------------------------------------------

@routes.get(URL)
@common.for_user
async def show(request):
    done = DONE.get(request.query.get("done", ""))
    top = notice(done) if done else ""
    damaged = damage(request, _list(request).trouble, URL + "/dismiss")
    return respond(request, TITLE, damaged + top + _table(request))


@routes.post(URL + "/dismiss")
@common.for_user
async def dismiss(request):
    """The notice of a damaged banlist.json put away (BanList.dismiss)."""
    await request.post()
    return _change(request, _list(request).dismiss, "dismissed",
                   lambda why: respond(request, TITLE, notice(f"Not dismissed: {why}",
                                                               "error"), status=500))


def _table(request) -> str:
    entries = _list(request).entries
    head = ("Serial Number", "Description", "First Name", "Last Name", "Mobile Number",
            "Home Number", "Office Number", "Account", "")
    rows = []
    for n, b in enumerate(entries, 1):
        cells = [str(n), *(getattr(b, a) for a, _ in TEXTS + NUMBERS),
                 f"Account {b.account}" if b.account else "Auto"]
        who = b.name or b.numbers[0]
        actions = (f'<a href="{URL}/{n}" aria-label="Edit {esc(who)}">Edit</a> '
                   + _post_button(request, f"{URL}/{n}/delete", "Delete", was=mark(b),
                                  label=f"Delete {who}"))
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells)
                    + f"<td>{actions}</td></tr>")
    if not rows:
        rows.append(f'<tr><td colspan="{len(head)}">No entries: a number here, or one '
                    'banned from the phone while it rang (Ban), is refused.</td></tr>')
    ths = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    patterns = request.app[API].settings_json()["settings"]["phone.blacklist"]
    setting = ", ".join(patterns) if patterns else "none"
    return (f'<p class="help">Callers with a number below are refused (the phone\'s reject '
            f'code) on the entry\'s account, or on every line when it is Auto; a number '
            f'ending in * is a prefix (0900* refuses 0900123). '
            f'{len(entries)} of {CAPACITY} entries.</p>'
            f'<div class="rules"><table class="book"><thead><tr>{ths}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>"
            f'<p><a href="{URL}/new">Add BanList</a> '
            + (_post_button(request, f"{URL}/delete-all", "Delete All BanList")
               if entries else "")
            + f'</p><p class="help">Also refused on every line: {esc(setting)} (the setting '
            '"Banned numbers and prefixes" on <a href="/settings/phonebook">Phone Book '
            'settings</a>: numbers, and prefixes ending in * as 1900*).</p>')


# -- one entry ---------------------------------------------------------------------------------

def _entry(request) -> tuple[int, Ban]:
    """The entry /<n> names (1-based, as Serial Number); 404 for another."""
    n = whole_number(request.match_info["n"]) or 0
    entries = _list(request).entries
    if not 1 <= n <= len(entries):
        raise not_found(request, TITLE, f"No ban list entry {request.match_info['n'][:20]}: "
                        "it was deleted, or the list changed.", URL, "The ban list")
    return n - 1, entries[n - 1]


def _typed(form) -> Ban:
    """The entry a posted form holds: numbers without their layout, as a contact's
    (forms.phone_number); a bad number or an account that is not 1-3 goes to check_ban."""
    return Ban(**{a: str(form.get(a, "")).strip() for a, _ in TEXTS},
               **{a: phone_number(str(form.get(a, ""))) for a, _ in NUMBERS},
               account=account(str(form.get("account", ""))))


def _form(request, action: str, ban: Ban, button: str, *, errors: dict | None = None,
          was: str = "") -> str:
    errors = errors or {}
    rows = []
    for attr, label in TEXTS + NUMBERS + (("account", "Account"),):
        fid, why = f"f-{attr}", errors.get(attr, "")
        if attr == "account":
            current = "" if ban.account is None else str(ban.account)
            control = f'<select id="{fid}" name="account">' + "".join(
                f'<option value="{v}"{" selected" if v == current else ""}>{esc(t)}</option>'
                for v, t in ACCOUNTS) + "</select>"
            help_ = "the ban contact can't call this account (Auto: every line)"
        else:
            number = (attr, label) in NUMBERS
            control = (f'<input type="text" id="{fid}" name="{attr}" value="'
                       f'{esc(getattr(ban, attr))}" maxlength="'
                       f'{NUMBER_MAX if number else NAME_MAX}"'
                       f'{" inputmode=tel" if number else ""} autocomplete="off">')
            help_ = (f"1-{NUMBER_MAX} digits (0-9 * #; spaces and dashes are left out); "
                     "ending in *, a prefix: 0900* bans 0900123" if number else "")
        rows.append(field(attr, label, control, error=why, help=help_))
    return (f'<form method="post" action="{esc(action)}" class="settings">'
            f'{csrf_field(pages._csrf(request))}{hidden({"was": was} if was else {})}'
            f'{"".join(rows)}<div class="actions">'
            f'<button type="submit">{esc(button)}</button> <a href="{URL}">Cancel</a></div>'
            '</form>')


def _change(request, fn, done: str, form_again) -> web.Response:
    """Do a change of the list: 303 to the list with `done`, or the page again (400) with
    the reason (beside its field when it names one), nothing saved."""
    try:
        fn()
    except (BookError, OSError) as e:
        why = str(e) if isinstance(e, BookError) else \
            f"the ban list cannot be written ({getattr(e, 'strerror', '') or e})"
        log.info("web ban list: refused: %s", why)
        return form_again(why)
    log.info("web ban list: %s", done)
    raise web.HTTPSeeOther(f"{URL}?done={done}")


def _refused(request, title: str, action: str, ban: Ban, button: str, was: str = "",
             at: int | None = None):
    def again(why: str) -> web.Response:
        errors = _list(request).wrong(ban, at)
        top = notice("Nothing was saved: " + (
            "see beside each field." if errors else why), "error")
        return respond(request, title, top + _form(request, action, ban, button,
                                                    errors=errors, was=was), status=400)
    return again


@routes.get(URL + "/new")
@common.for_user
async def new(request):
    return respond(request, "Add BanList", _form(request, URL + "/new", Ban(), "Add"))


@routes.post(URL + "/new")
@common.for_user
async def add(request):
    ban = _typed(await request.post())
    return _change(request, lambda: _list(request).add(ban), "added",
                   _refused(request, "Add BanList", URL + "/new", ban, "Add"))


@routes.get(URL + r"/{n:\d+}")
@common.for_user
async def edit(request):
    n, ban = _entry(request)
    return respond(request, "Edit BanList", _form(request, f"{URL}/{n + 1}", ban, "Save",
                                                   was=mark(ban)))


def _moved(request, form) -> tuple[int, Ban, web.Response | None]:
    """The entry /<n> names and, when it is no longer what the page showed (the list
    changed meanwhile), the 409 page that says so. Called once the form is read: between
    this and the change nothing awaits, so the entry checked is the entry changed."""
    n, ban = _entry(request)
    if str(form.get("was", "")) == mark(ban):
        return n, ban, None
    log.info("web ban list: entry %d changed meanwhile: nothing changed", n + 1)
    return n, ban, respond(request, TITLE, notice(
        "The ban list changed since the page was shown: nothing was changed.", "error")
        + f'<p><a href="{URL}">Look at the list again</a></p>', status=409)


@routes.post(URL + r"/{n:\d+}")
@common.for_user
async def save(request):
    form = await request.post()
    n, old, moved = _moved(request, form)
    if moved:
        return moved
    ban = _typed(form)
    return _change(request, lambda: _list(request).edit(n, ban), "saved",
                   _refused(request, "Edit BanList", f"{URL}/{n + 1}", ban, "Save",
                            was=mark(old), at=n))


@routes.post(URL + r"/{n:\d+}/delete")
@common.for_user
async def delete(request):
    n, _, moved = _moved(request, await request.post())
    if moved:
        return moved
    return _change(request, lambda: _list(request).delete(n), "deleted",
                   lambda why: respond(request, TITLE, notice(f"Not deleted: {why}",
                                                               "error"), status=500))


@routes.post(URL + "/delete-all")
@common.for_user
async def delete_all(request):
    """Delete All BanList: a page that asks first (no script needed), then its button."""
    form = await request.post()
    if form.get("confirm") != "yes":
        count = len(_list(request).entries)
        return respond(request, "Delete All BanList", confirm(
            request, f"{URL}/delete-all", plural(
                count, "Delete the 1 entry of the ban list? Its caller rings again.",
                "Delete all {n} entries of the ban list? Their callers ring again.")
            + ' The numbers of the setting "Banned numbers and prefixes" (Phone Book '
            'settings) stay.', "Delete All BanList", URL))
    return _change(request, _list(request).clear, "cleared",
                   lambda why: respond(request, TITLE, notice(f"Not deleted: {why}",
                                                               "error"), status=500))
