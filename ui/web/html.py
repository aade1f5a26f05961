"""The HTML of the web management pages (ui/web/pages.py): one document frame and one
widget per kind of setting. Plain HTML forms that work without JavaScript; every text is
escaped here, so a value typed by anyone (a label, a server) is only ever text on a page.
No template engine: the pages are a frame, a list and a form."""
from __future__ import annotations

from html import escape
from typing import Iterable

from firmware import menus
from firmware.settings import FIELDS


def esc(value) -> str:
    return escape(str(value), quote=True)


def document(title: str, body: str, *, nav: str, csrf: str, script: str = "",
             admin: bool = True) -> str:
    """A whole page: the header (front panel, maintenance, log out), the page list, `body`;
    `script`: a small script of ui/static that helps (never one a form needs). The desk
    user's header has no Maintenance link: /manage answers them 403."""
    js = f'<script src="/static/{esc(script)}" defer></script>' if script else ""
    manage = ' <a href="/manage">Maintenance</a>' if admin else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deskphone — {esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/pages.css">
<link rel="icon" href="data:,">{js}</head>
<body class="web-pages">
<header class="top"><a class="brand" href="/settings">deskphone</a>
<nav class="tools"><a href="/">Front panel</a>{manage}
<form method="post" action="/logout">{csrf_field(csrf)}<button type="submit" class="link">Log out</button></form></nav>
</header>
<div class="frame">
<nav class="pages" aria-label="Web settings">{nav}</nav>
<main>
<h1>{esc(title)}</h1>
{body}
</main>
</div>
</body></html>
"""


def csrf_field(token: str) -> str:
    """The session's CSRF token in a form (README "Security"); none for HTTP Basic."""
    return f'<input type="hidden" name="csrf" value="{esc(token)}">' if token else ""


def nav_list(items: Iterable[tuple[str, str, bool]]) -> str:
    """The page list: (label, url or "" for a group heading, whether it is this page)."""
    out = ["<ul>"]
    for label, url, here in items:
        if not url:
            out.append(f'<li class="group">{esc(label)}</li>')
        elif here:
            out.append(f'<li><a href="{esc(url)}" aria-current="page">{esc(label)}</a></li>')
        else:
            out.append(f'<li><a href="{esc(url)}">{esc(label)}</a></li>')
    out.append("</ul>")
    return "".join(out)


def notice(text: str, kind: str = "ok") -> str:
    role = "alert" if kind == "error" else "status"
    return f'<p class="notice {kind}" role="{role}">{esc(text)}</p>'


def restart_form(keys: list[str], csrf: str) -> str:
    """Settings saved that act only after a restart (the phone's pending list), and the
    button that does it (POST /api/restart)."""
    names = ", ".join(keys)
    return (f'<form method="post" action="/api/restart" class="notice restart" '
            f'role="status"><p>Saved; needs a restart to take effect: {esc(names)}.</p>'
            f'{csrf_field(csrf)}<button type="submit">Restart now</button></form>')


def _field_id(key: str) -> str:
    return "f-" + key.replace(".", "-")


def widget(key: str, kind: str, value, *, typed: bool = False) -> str:
    """The input for one setting. `value` is what the API shows (secrets masked); `typed`:
    it is what the person typed (a refused form shown again) rather than the saved value."""
    f = FIELDS[key]
    m = f.metadata
    fid = _field_id(key)
    common = f'id="{fid}" name="{esc(key)}" aria-describedby="{fid}-help {fid}-err"'
    if kind == "bool":
        checked = " checked" if value is True or value == "on" else ""
        return f'<input type="checkbox" {common}{checked}>'
    if kind == "choice":
        options = list(menus.choices(key))
        current = str(value)
        if current not in map(str, options):
            options.append(value)          # a value from the file outside the list
        opts = "".join(
            f'<option value="{esc(c)}"{" selected" if str(c) == current else ""}>'
            f'{esc(menus.shown(key, c))}</option>' for c in options)
        return f'<select {common}>{opts}</select>'
    if kind == "rules":                     # the Dial Plan table (it uses esc from here)
        from ui.web import dialtable
        rows = value if typed else dialtable.saved_rows(value)
        return dialtable.table(rows, f"{fid}-help {fid}-err")
    if kind == "list":
        text = value if typed else "\n".join(value or ())
        return f'<textarea {common} rows="4">{esc(text)}</textarea>'
    if kind == "secret":
        hint = "unchanged (one is set)" if value and not typed else "none set"
        clear = (f'<label class="inline"><input type="checkbox" name="{esc(key)}:clear"> '
                 f'remove it</label>' if value and not typed else "")
        return (f'<input type="password" {common} value="" autocomplete="new-password" '
                f'placeholder="{esc(hint)}">{clear}')
    if kind == "number":
        bounds = "".join(f' {a}="{m[a]}"' for a in ("min", "max") if m[a] is not None)
        return f'<input type="number" inputmode="numeric" {common}{bounds} value="{esc(value)}">'
    return (f'<input type="text" {common} value="{esc(value)}" maxlength="{m["max_len"]}" '
            'autocapitalize="off" autocorrect="off" spellcheck="false">')


def field_row(label: str, key: str, kind: str, value, *, error: str = "",
              typed: bool = False) -> str:
    """One field: its label, the input, the help line (with the restart notice) and, when
    the schema refused what was typed, its reason beside it."""
    fid = _field_id(key)
    restart = FIELDS[key].metadata["restart"]
    badge = '<span class="badge">needs a restart</span>' if restart else ""
    err = (f'<p class="error" id="{fid}-err" role="alert">{esc(error)}</p>' if error
           else f'<span id="{fid}-err" hidden></span>')
    cls = "field invalid" if error else "field"
    return (f'<div class="{cls}" data-key="{esc(key)}"><label for="{fid}">{esc(label)}</label>'
            f'<div class="input">{widget(key, kind, value, typed=typed)}{badge}{err}'
            f'<p class="help" id="{fid}-help">{esc(menus.help_text(key))}</p></div></div>')


def locked_row(label: str, value, why: str) -> str:
    """A setting the signed-in role may see but not change: its value, greyed, and why; no
    name, so it is never sent (the save ignores it for this role too)."""
    shown = "\n".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return _greyed(label, "" if shown is None else shown, label, why)


def later_row(label: str, why: str) -> str:
    """A field of the manual this phone does not act on yet: greyed, with why; it has no
    name, so it is never sent."""
    return _greyed(label, "", f"{label}: not available", why)


def _greyed(label: str, value, aria: str, why: str) -> str:
    return (f'<div class="field later"><label>{esc(label)}</label><div class="input">'
            f'<input type="text" disabled value="{esc(value)}" aria-label="{esc(aria)}">'
            f'<p class="help">{esc(why)}</p></div></div>')
