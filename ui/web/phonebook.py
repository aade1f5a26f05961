"""Phone Book > Group and Phone Book > Contact (manual §7): the personal phone book on the
web, as plain HTML forms that work without JavaScript.

    /phonebook/groups     ID, Group Name, Description, book; Add Group, Edit, Delete,
                          Delete All Group
    /phonebook/contacts   Serial Number, First Name, Last Name, Mobile, Office, Other, Group,
                          Account; Add Contact, Edit, Delete, Delete All Contact

The personal book is the user's own contacts and groups (DATA/phonebook/own.json: Edit and
Delete) and auto provisioning's (shown marked "provisioned", read-only: they are changed
where they come from). Delete All touches only the user's own, says so and is asked first:
its button posts once for a page that asks, whose button posts again with confirm=yes.

Every change goes through Api.change_phonebook to firmware/phonebooks.py `Books`, the object
the LCD uses (under its lock): its checks and capacity ("Phone book full: 300 contacts",
"Mobile: 1-19 digits (0-9 * #, a leading +)"). A refused change saves nothing; the form
comes back as typed with Books' reason beside its field. The LCD's phone book pages follow
at once (PhoneBookChanged). A contact is named by its place in own.json and a mark of what the page
showed (`was`): when the LCD changed the book meanwhile, Books finds that contact again or
refuses, never changes another one in its place.

300 contacts stay usable: the Contact page shows PER_PAGE at a time (Previous / Next) and
has a filter box (?q=: a part of a name or of a number).

Both roles: the phone book is the desk user's (@for_user), and the administrator's too.
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from firmware.phonebooks import (CAPACITY, DESCRIPTION_MAX, NAME_MAX, NUMBER_MAX,
                                 BookError)
from ui.web import common, forms, pages
from ui.web.common import API
from ui.web.forms import button_form as _button_form
from ui.web.forms import field as _field
from ui.web.forms import hidden, mark, not_found, plural, whole_number
from ui.web.html import csrf_field, esc, notice

log = logging.getLogger("deskphone.web")

routes = web.RouteTableDef()

GROUPS, CONTACTS = "/phonebook/groups", "/phonebook/contacts"
PER_PAGE = 50
ACCOUNTS = ("", "1", "2", "3")                  # "" = Auto: the default line (Escene's 127)
# a contact's fields as the manual's Contact page names them, in its order
FIELDS = (("first_name", "First Name"), ("last_name", "Last Name"),
          ("mobile", "Mobile Number"), ("office", "Office Number"),
          ("other", "Other Number"), ("group", "Group"), ("account", "Account"))
NUMBERS = ("mobile", "office", "other")
# Books' reasons begin with what they are about: the field they are shown beside
BESIDE = (("First name", "first_name"), ("Last name", "last_name"), ("Mobile", "mobile"),
          ("Office", "office"), ("Other", "other"), ("Line", "account"),
          ("No group", "group"), ("Group name", "name"), ("A group needs", "name"),
          ("Group '", "name"), ('Group "', "name"), ("Groups full", "name"),
          ("Description", "description"))
DONE = {"added": "Added.", "saved": "Saved.", "deleted": "Deleted."}


def _account(value) -> str:
    return f"Account {value}" if value else "Auto"


def _beside(reason: str) -> dict[str, str]:
    """{field: reason} for the field Books' reason names ("" when it names none)."""
    field = next((f for prefix, f in BESIDE if reason.startswith(prefix)), "")
    return {field: reason}


def _respond(request, title: str, body: str, status: int = 200) -> web.Response:
    """A page in the settings pages' frame, "Phone Book" marked in the page list."""
    nav = ('<nav class="modules" aria-label="Phone book pages"><p>'
           f'<a href="{GROUPS}">Group</a> | <a href="{CONTACTS}">Contact</a> | '
           '<a href="/settings/phonebook">Phone Book settings</a></p></nav>')
    return forms.respond(request, title, nav + body, status)


def _done(request) -> str:
    q = request.query
    if "all" in q:
        return notice(f"Deleted {q['all']} of your own; provisioned ones stay.")
    return notice(DONE[q["done"]]) if q.get("done") in DONE else ""


def _text(name: str, value: str, max_len: int, *, tel: bool = False) -> str:
    kind = ' inputmode="tel"' if tel else ""
    return (f'<input type="text" id="f-{name}" name="{name}" value="{esc(value)}" '
            f'maxlength="{max_len}"{kind} autocomplete="off" spellcheck="false">')


def _select(name: str, pairs, current: str) -> str:
    opts = "".join(f'<option value="{esc(v)}"{" selected" if v == current else ""}>'
                   f'{esc(shown)}</option>' for v, shown in pairs)
    return f'<select id="f-{name}" name="{name}">{opts}</select>'


def _form(action: str, request, inner: str, button: str, values: dict | None = None) -> str:
    return (f'<form method="post" action="{esc(action)}" class="settings">'
            f'{csrf_field(pages._csrf(request))}{hidden(values or {})}{inner}'
            '<div class="actions">'
            f'<button type="submit">{esc(button)}</button> <a href="'
            f'{GROUPS if action.startswith(GROUPS) else CONTACTS}">Cancel</a></div></form>')


def _table(head, rows) -> str:
    ths = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    return (f'<div class="rules"><table class="book"><thead><tr>{ths}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _refused(request, e: Exception) -> str:
    why = str(e) if isinstance(e, BookError) else \
        f"the phone book cannot be written ({getattr(e, 'strerror', '') or e})"
    log.info("web phone book: refused: %s", why)
    return notice(f"Nothing was saved: {why}", "error")


# -- Group -------------------------------------------------------------------------------------

def _groups(books) -> list[tuple[int, object, bool]]:
    """The personal book's groups with their ID: (id, Group, own), provisioned first."""
    books.refresh()
    provisioned = list(books.book("personal").groups)      # as Books.groups lists them
    names = {g.name for g in provisioned}
    own = [g for g in books.book("own").groups if g.name not in names]
    return [(i, g, mine) for i, (g, mine) in enumerate(
        [(g, False) for g in provisioned] + [(g, True) for g in own], 1)]


@routes.get(GROUPS)
@common.for_user
async def groups_page(request):
    books = request.app[API].books
    rows = []
    for gid, g, own in _groups(books):
        if own:
            acts = (f'<a href="{GROUPS}/edit?{urlencode({"name": g.name})}" aria-label="Edit '
                    f'{esc(g.name)}">Edit</a> ' + _button_form(
                        f"{GROUPS}/delete", request, "Delete", {"name": g.name},
                        label=f"Delete {g.name}"))
        else:
            acts = "provisioned"
        rows.append(f'<tr data-group="{esc(g.name)}"><td>{gid}</td><td>{esc(g.name)}</td>'
                    f'<td>{esc(g.description)}</td><td>{"yours" if own else "provisioned"}'
                    f'</td><td>{acts}</td></tr>')
    body = (_done(request)
            + (_table(("ID", "Group Name", "Description", "Book", ""), rows) if rows else
               "<p>No groups yet.</p>")
            + f'<p class="link-row"><a href="{GROUPS}/new">Add Group</a></p>'
            + _button_form(f"{GROUPS}/delete-all", request, "Delete All Group", {},
                           danger=True)
            + '<p class="help">A group\'s contacts stay when it is deleted, in no group. '
              'Provisioned groups come from auto provisioning: change them there.</p>')
    return _respond(request, "Phone Book: Group", body)


def _group_form(request, action: str, values: dict, errors: dict, hidden=None) -> str:
    inner = (_field("name", "Group Name", _text("name", values.get("name", ""), NAME_MAX),
                    error=errors.get("name", ""), help=f"Up to {NAME_MAX} characters")
             + _field("description", "Description",
                      _text("description", values.get("description", ""), DESCRIPTION_MAX),
                      error=errors.get("description", ""),
                      help=f"Optional, up to {DESCRIPTION_MAX} characters"))
    return _form(action, request, inner, "Submit", hidden)


def _save(request, title: str, back: str, done: str, again, change: str, *args, **kw):
    """A form's change through Books: done, 303 back to the list saying so; refused,
    the form again as typed (`again(errors)`) with Books' reason beside its field, 400."""
    try:
        request.app[API].change_phonebook(change, *args, **kw)
    except (BookError, OSError) as e:
        return _respond(request, title, _refused(request, e) + again(_beside(str(e))),
                        status=400)
    log.info("web phone book: %s: %s", title, done)
    raise web.HTTPSeeOther(f"{back}?done={done}")


@routes.get(GROUPS + "/new")
@common.for_user
async def group_new(request):
    return _respond(request, "Add Group", _group_form(request, f"{GROUPS}/new", {}, {}))


@routes.post(GROUPS + "/new")
@common.for_user
async def group_add(request):
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "description")}
    return _save(request, "Add Group", GROUPS, "added",
                 lambda errors: _group_form(request, f"{GROUPS}/new", values, errors),
                 "add_group", values["name"], values["description"])


@routes.get(GROUPS + "/edit")
@common.for_user
async def group_edit_page(request):
    name = request.query.get("name", "")
    found = [g for _, g, own in _groups(request.app[API].books) if own and g.name == name]
    if not found:
        raise not_found(request, "Edit Group", f"No group {name[:NAME_MAX]!r} of yours: it "
                        "was deleted or renamed, or it is provisioned.", GROUPS, "The groups")
    g = found[0]
    return _respond(request, "Edit Group", _group_form(
        request, f"{GROUPS}/edit", {"name": g.name, "description": g.description}, {},
        {"old": g.name}))


@routes.post(GROUPS + "/edit")
@common.for_user
async def group_edit(request):
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("name", "description")}
    old = str(form.get("old", ""))
    return _save(request, "Edit Group", GROUPS, "saved",
                 lambda errors: _group_form(request, f"{GROUPS}/edit", values, errors,
                                            {"old": old}),
                 "rename_group", old, values["name"], values["description"])


@routes.post(GROUPS + "/delete")
@common.for_user
async def group_delete(request):
    form = await request.post()
    return _delete(request, GROUPS, "delete_group", str(form.get("name", "")))


@routes.post(GROUPS + "/delete-all")
@common.for_user
async def groups_delete_all(request):
    def question() -> str:
        every = _groups(request.app[API].books)
        own = sum(1 for _, _, mine in every if mine)
        others = len(every) - own
        return (plural(own, "Delete your 1 group? Its contacts stay, in no group.",
                       "Delete all {n} of your groups? Their contacts stay, in no group.")
                + (" " + plural(others, "The provisioned group stays (it comes from auto "
                                "provisioning).", "The {n} provisioned groups stay (they "
                                "come from auto provisioning).") if others else ""))
    return await _delete_all(request, GROUPS, "Delete All Group", "delete_all_groups",
                             question)


def _delete(request, back: str, change: str, *args, **kw) -> web.Response:
    """A row's Delete: done, 303 back to the list; refused, why (nothing changed)."""
    try:
        request.app[API].change_phonebook(change, *args, **kw)
    except (BookError, OSError) as e:
        return _respond(request, "Phone Book", _refused(request, e) + (
            f'<p><a href="{back}">Back to the list</a></p>'), status=400)
    raise web.HTTPSeeOther(f"{back}?done=deleted")


async def _delete_all(request, back: str, title: str, change: str, question):
    """Delete All, asked first: without confirm=yes a page that says what it deletes and
    what stays (`question()`, counted once the form is read), whose button posts again
    with it; then only the user's own go."""
    form = await request.post()
    if form.get("confirm") != "yes":
        return _respond(request, title, forms.confirm(request, f"{back}/delete-all",
                                                      question(), title, back))
    try:
        n = request.app[API].change_phonebook(change)
    except OSError as e:
        return _respond(request, title, _refused(request, e), status=500)
    log.info("web phone book: %s: %d of the user's deleted", title, n)
    raise web.HTTPSeeOther(f"{back}?all={n}")


# -- Contact -----------------------------------------------------------------------------------

def _matches(contact, q: str) -> bool:
    """The filter box: a part of the first, last or whole name (case and accents
    ignored) or of a number."""
    from provisioning.phonebook import _fold
    t = _fold(q.strip())
    return not t or any(t in _fold(n) for n in (contact.first_name, contact.last_name,
                                                 contact.name)) \
        or any(q.strip() in n for n in contact.numbers)


@routes.get(CONTACTS)
@common.for_user
async def contacts_page(request):
    books = request.app[API].books
    books.refresh()
    everyone = books.listed("personal")
    q, shown, page, pager = filtered(request, everyone, CONTACTS, "Contact pages")
    rows = []
    for n, x in page:
        c = x.contact
        if x.own:
            who = c.name or (c.numbers[0] if c.numbers else "")
            acts = (f'<a href="{CONTACTS}/{x.index}" aria-label="Edit {esc(who)}">Edit</a> '
                    + _button_form(f"{CONTACTS}/{x.index}/delete", request, "Delete",
                                   {"was": mark(c)}, label=f"Delete {who}"))
        else:
            acts = "provisioned"
        cells = (n, c.first_name, c.last_name, c.mobile, c.office, c.other, c.group,
                 _account(c.account))
        rows.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in cells)
                    + f"<td>{acts}</td></tr>")
    trouble = books.trouble.get("personal")
    own = len(books.book("own").contacts)
    body = (forms.damage(request, books.trouble.get("own", ""), CONTACTS + "/dismiss")
            + _done(request)
            + (notice("The provisioned personal book cannot be read: the next auto "
                      "provisioning run writes it again.", "error") if trouble else "")
            + filter_form(CONTACTS, q)
            + f'<p class="help">{len(everyone)} of {CAPACITY["personal"]} contacts ({own} '
              f'yours)' + (f'; {len(shown)} match' if q else "") + ".</p>"
            + (_table(("Serial Number", "First Name", "Last Name", "Mobile", "Office",
                       "Other", "Group", "Account", ""), rows) if rows else
               f"<p>{'No contact matches.' if q else 'No contacts yet.'}</p>")
            + pager
            + f'<p class="link-row"><a href="{CONTACTS}/new">Add Contact</a></p>'
            + _button_form(f"{CONTACTS}/delete-all", request, "Delete All Contact", {},
                           danger=True)
            + '<p class="help">Provisioned contacts come from auto provisioning: change '
              'them there.</p>')
    return _respond(request, "Phone Book: Contact", body)


def filtered(request, listed: list, base: str, label: str):
    """A book's page of contacts: the filter box's text `q`, the contacts it matches (with
    their Serial Number, 1..N by name over the whole book), the PER_PAGE of them the
    page=N query asks for, and the Previous / Next links (`label` names them for a screen
    reader). The Contact and the Enterprise Phonebook pages."""
    q = request.query.get("q", "")
    shown = [(n, x) for n, x in enumerate(listed, 1) if _matches(x.contact, q)]
    count = max(1, -(-len(shown) // PER_PAGE))
    at = min(count, max(1, whole_number(request.query.get("page", "1")) or 1))
    return q, shown, shown[(at - 1) * PER_PAGE:at * PER_PAGE], \
        _pager(base, label, q, at, count)


def filter_form(base: str, q: str) -> str:
    return (f'<form method="get" action="{base}" class="filter"><label for="f-q">'
            f'Filter</label> <input type="search" id="f-q" name="q" value="{esc(q)}" '
            f'placeholder="a name or a number"> <button type="submit">Filter</button>'
            + (f' <a href="{base}">Show all</a>' if q else "") + "</form>")


def _pager(base: str, label: str, q: str, at: int, count: int) -> str:
    if count == 1:
        return ""

    def link(n: int, text: str) -> str:
        return f'<a href="{base}?{urlencode({**({"q": q} if q else {}), "page": n})}" ' \
               f'rel="{"prev" if n < at else "next"}">{text}</a>'
    parts = ([link(at - 1, "Previous")] if at > 1 else []) + [f"Page {at} of {count}"] + \
        ([link(at + 1, "Next")] if at < count else [])
    return f'<nav class="pager" aria-label="{label}"><p>' + " · ".join(parts) + \
        "</p></nav>"


def _contact_form(request, action: str, values: dict, errors: dict, hidden=None) -> str:
    books = request.app[API].books
    groups = [("", "None"), *((g, g) for g in books.groups("personal"))]
    if values.get("group", "") not in dict(groups):
        groups.append((values["group"], values["group"]))
    rows = []
    for name, label in FIELDS:
        value = values.get(name, "")
        if name == "group":
            control, help = _select(name, groups, value), "The group the contact is in"
        elif name == "account":
            control = _select(name, [(a, _account(a)) for a in ACCOUNTS], value)
            help = "The SIP account a call to the contact goes out on (Auto: the default)"
        elif name in NUMBERS:
            control = _text(name, value, NUMBER_MAX + 1, tel=True)
            help = f"Up to {NUMBER_MAX} digits: 0-9 * # (spaces and dashes are left out)"
        else:
            control, help = _text(name, value, NAME_MAX), f"Up to {NAME_MAX} characters"
        rows.append(_field(name, label, control, error=errors.get(name, ""), help=help))
    return _form(action, request, "".join(rows), "Submit", hidden)


def typed_contact(form):
    """The Contact a posted form asks for; numbers without their layout (spaces, dashes,
    brackets), a bad one left as typed for Books to refuse with its reason."""
    from provisioning.phonebook import Contact
    values = {name: str(form.get(name, "")).strip() for name, _ in FIELDS}
    for name in NUMBERS:
        values[name] = forms.phone_number(values[name])
    return Contact(**{**values, "account": forms.account(values["account"])})


def _values(contact) -> dict:
    return {**{name: getattr(contact, name) for name, _ in FIELDS},
            "account": "" if contact.account is None else str(contact.account)}


def _typed(form) -> dict:
    return {name: str(form.get(name, "")) for name, _ in FIELDS}


@routes.get(CONTACTS + "/new")
@common.for_user
async def contact_new(request):
    return _respond(request, "Add Contact", _contact_form(request, f"{CONTACTS}/new", {}, {}))


@routes.post(CONTACTS + "/new")
@common.for_user
async def contact_add(request):
    form = await request.post()
    return _save(request, "Add Contact", CONTACTS, "added",
                 lambda errors: _contact_form(request, f"{CONTACTS}/new", _typed(form), errors),
                 "add", typed_contact(form))


def _own_at(request):
    """The user's contact at /phonebook/contacts/<n>: (n, Contact); 404 when none."""
    n = whole_number(request.match_info["n"])
    own = request.app[API].books.book("own").contacts
    if n is None or n >= len(own):
        raise not_found(request, "Edit Contact", f"No contact {request.match_info['n'][:20]} "
                        "of yours: it was deleted, or the book changed.", CONTACTS,
                        "The contacts")
    return n, own[n]


def _place(request) -> int:
    """The place /phonebook/contacts/<n> names, -1 for none (a number too long to be one):
    Books then finds the contact the form's `was` names, or refuses."""
    n = whole_number(request.match_info["n"])
    return -1 if n is None else n


GONE = object()            # `was` of a contact no longer there: Books finds none, refuses


def _was(request, form):
    """The contact the page showed (its mark came back as `was`), wherever it is now;
    GONE when it is not there any more (changed or deleted meanwhile)."""
    wanted = str(form.get("was", ""))
    return next((c for c in request.app[API].books.book("own").contacts
                 if mark(c) == wanted), GONE)


@routes.get(CONTACTS + r"/{n:\d+}")
@common.for_user
async def contact_edit_page(request):
    n, contact = _own_at(request)
    return _respond(request, "Edit Contact", _contact_form(
        request, f"{CONTACTS}/{n}", _values(contact), {}, {"was": mark(contact)}))


@routes.post(CONTACTS + r"/{n:\d+}")
@common.for_user
async def contact_edit(request):
    form = await request.post()
    n = _place(request)
    return _save(request, "Edit Contact", CONTACTS, "saved",
                 lambda errors: _contact_form(request, f"{CONTACTS}/{n}", _typed(form), errors,
                                              {"was": str(form.get("was", ""))}),
                 "edit", n, typed_contact(form), was=_was(request, form))


@routes.post(CONTACTS + r"/{n:\d+}/delete")
@common.for_user
async def contact_delete(request):
    form = await request.post()
    return _delete(request, CONTACTS, "delete", _place(request),
                   was=_was(request, form))


@routes.post(CONTACTS + "/dismiss")
@common.for_user
async def contacts_dismiss(request):
    """The notice of a damaged own.json put away (Books.dismiss)."""
    await request.post()
    request.app[API].books.dismiss()
    raise web.HTTPSeeOther(CONTACTS)


@routes.post(CONTACTS + "/delete-all")
@common.for_user
async def contacts_delete_all(request):
    def question() -> str:
        books = request.app[API].books
        own = len(books.book("own").contacts)
        others = books.count("personal") - own
        return plural(own, "Delete your 1 contact?", "Delete all {n} of your contacts?") + (
            " " + plural(others, "The provisioned contact stays (it comes from auto "
                         "provisioning).", "The {n} provisioned contacts stay (they come "
                         "from auto provisioning).") if others else "")
    return await _delete_all(request, CONTACTS, "Delete All Contact", "delete_all",
                             question)
