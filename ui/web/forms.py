"""The pieces of the Phone Book pages' forms (Group and Contact: ui/web/phonebook.py;
BanList: ui/web/banlist.py), written once: a page in the settings frame (a 404 too), a
labelled field with its reason beside it, a one-button form, the page that asks before a
Delete All (its count in the singular or the plural), the mark of what a page showed
(`was`), and numbers typed in a form. Plain HTML that works
without JavaScript; every text escaped (ui/web/html.py esc).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from aiohttp import web

from ui.web import pages
from ui.web.html import csrf_field, esc, notice


def respond(request, title: str, body: str, status: int = 200) -> web.Response:
    """A page in the settings pages' frame, "Phone Book" marked in the page list."""
    return pages._respond(request, "phonebook", title, body, pages.role_of(request),
                          status=status)


def not_found(request, title: str, why: str, back: str, label: str) -> web.HTTPNotFound:
    """The 404 a handler raises for an entry that is not there (deleted meanwhile, a link
    kept from before): a page in the frame saying so, with the way back to the list."""
    page = respond(request, title, notice(why, "error")
                   + f'<p><a href="{esc(back)}">{esc(label)}</a></p>', status=404)
    return web.HTTPNotFound(text=page.text, content_type="text/html",
                            headers={"Cache-Control": "no-store"})


def plural(n: int, one: str, many: str) -> str:
    """`one` when n is 1, else `many` with {n} filled in: "Delete the 1 entry?" and
    "Delete all 2 entries?", never "Delete all 1 entries"."""
    return one if n == 1 else many.format(n=n)


def mark(entry) -> str:
    """What a page showed of a contact or a ban entry (a dataclass), short: sent back with
    a change as `was`, so the change is refused or finds it again when the list moved."""
    text = json.dumps(dataclasses.asdict(entry), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def whole_number(text: str) -> int | None:
    """A form's or a path's value as a number when it is ASCII digits (str.isdigit says
    yes to "²", which int() refuses) and not absurdly long (int() refuses 4300 digits);
    None otherwise."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def phone_number(text: str) -> str:
    """A phone number as typed, without its layout ("030-123 45" -> "03012345", as
    provisioning reads them: provisioning.phonebook.clean_number), for a contact and a ban
    entry alike; one that is no number stays as typed, for the checks to refuse with why."""
    from provisioning.phonebook import clean_number
    text = text.strip()
    try:
        return clean_number(text) if text else ""
    except ValueError:
        return text


def account(text: str) -> int | None:
    """A form's Account: "" is Auto (None), a number is itself, anything else -1, which the
    checks refuse with their reason ("1-3, or Auto") beside the field."""
    text = text.strip()
    number = whole_number(text)
    return None if not text else -1 if number is None else number


def hidden(values: dict) -> str:
    return "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
                   for k, v in values.items())


def field(name: str, label: str, control: str, *, error: str = "", help: str = "") -> str:
    """One labelled input of a form, its help and, when refused, the reason beside it."""
    fid = f"f-{name}"
    err = (f'<p class="error" id="{fid}-err" role="alert">{esc(error)}</p>' if error else "")
    return (f'<div class="field{" invalid" if error else ""}" data-key="{esc(name)}">'
            f'<label for="{fid}">{esc(label)}</label><div class="input">{control}{err}'
            f'<p class="help">{esc(help)}</p></div></div>')


def button_form(action: str, request, button: str, values: dict | None = None, *,
                danger: bool = False, label: str = "") -> str:
    """A form that is one button (Delete, Delete All) posting `values`."""
    aria = f' aria-label="{esc(label)}"' if label else ""
    red = ' class="danger"' if danger else ""
    return (f'<form method="post" action="{esc(action)}" class="inline">'
            f'{csrf_field(pages._csrf(request))}{hidden(values or {})}<button type="submit"'
            f'{red}{aria}>{esc(button)}</button></form>')


def damage(request, trouble: str, action: str) -> str:
    """The line at the top of a page whose file was found damaged ("Your phone book was
    damaged: kept as own.json.bad; starting empty") and its Dismiss button; "" when none."""
    if not trouble:
        return ""
    return (f'<div class="notice error damaged" role="alert"><p>{esc(trouble)}</p>'
            + button_form(action, request, "Dismiss", label="Dismiss this notice")
            + "</div>")


def confirm(request, action: str, question: str, button: str, back: str) -> str:
    """The page a Delete All asks on first (no script needed): `question`, and a red
    button that posts to `action` again with confirm=yes; Cancel goes `back`."""
    return (f'<form method="post" action="{esc(action)}" class="settings confirm">'
            f'{csrf_field(pages._csrf(request))}{hidden({"confirm": "yes"})}'
            f'<p>{esc(question)}</p><div class="actions"><button type="submit" '
            f'class="danger">{esc(button)}</button> <a href="{esc(back)}">Cancel</a></div>'
            '</form>')
