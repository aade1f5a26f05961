"""The LCD's menu pages (manual §6 "Use phone keypad to setting"), drawn on ui/lcd.py's
canvas when the screen is "menu" (`draw`): the list of a page's entries with their values
on the right, a text page (View status, the phone book's notes) scrolled by `page_rows`,
the text editor (ui/textentry.py) with its field and help, a question (OK = yes), and the
call lists (who and when, `_when` in the phone's zone).

ui/lcd.py keeps the frame: the canvas, the rows (GRIDS), the status bar and title
(`_header` too: diagnose uses it), soft keys, the idle and call screens and `render`,
which calls `draw` here. Same rules as there: a pure function of the snapshot, long
texts in turns (`_turn`), every entry in sight.
"""
from __future__ import annotations

import time

from firmware.call.state import PhoneState
from firmware.i18n import Verbatim
from firmware.present import local_time
from ui.faces import SMALL, fold, speaking
from ui.lcd import GRIDS, INK, PAPER, W, _Canvas, _header, _turn


MENU_ROWS = GRIDS[8].rows    # five entries between the rule and the soft keys


def page_rows(language: str) -> int:
    """Rows a menu page shows at once in `language` (five in English, three in CJK's taller
    faces): what a text page scrolls by (firmware/features/menu.py), so its last line can
    be reached and is drawn whatever the language."""
    with speaking(language):
        return len(GRIDS[SMALL.cell].rows)


def _when(s: PhoneState, start: float) -> str:
    """A call's time in a call list: "14:05" today, "Mon 09:12" in the last week, else
    "03 Jun" (the snapshot's clock, never the system's)."""
    lt, today = local_time(s, start), local_time(s, s.now)
    if lt is None or today is None:
        return ""
    if s.time_format == 12:
        hhmm = f"{lt.tm_hour % 12 or 12}:{lt.tm_min:02d}{'am' if lt.tm_hour < 12 else 'pm'}"
    else:
        hhmm = f"{lt.tm_hour:02d}:{lt.tm_min:02d}"
    if (lt.tm_year, lt.tm_yday) == (today.tm_year, today.tm_yday):
        return hhmm
    if 0 <= s.now - start < 6 * 86400:
        return f"{time.strftime('%a', lt)} {hhmm}"
    return time.strftime("%d %b", lt)


def _call_list(c: _Canvas, s: PhoneState) -> None:
    """Missed / received / dialled calls: who (name or number) and when, one per row."""
    page = s.menu[-1]
    n = len(page.items)
    # a notice (Add on an anonymous entry: "No number") takes the title row a while
    _header(c, s.notice or page.title, f"{page.index + 1}/{n}" if n and not s.notice else "")
    if not n:
        c.text(2, c.g.rows[0], f"No {page.title.lower()}")
        return
    first = min(max(0, page.index - len(c.g.rows) + 1), max(0, n - len(c.g.rows)))
    for y, i in zip(c.g.rows, range(first, n)):
        when = fold(_when(s, page.data[i]) if i < len(page.data) else "")
        x_when = W - 2 - SMALL.width(when)
        room = x_when - 4 - 2
        item = Verbatim(page.items[i])          # a name or a number: never translated
        who = _turn(c, item, room)[0] if i == page.index else SMALL.fit(item, room)
        ink = INK
        if i == page.index:
            c.box(0, y - 1, W - 1, y + SMALL.cell - 1)
            ink = PAPER
        c.text(2, y, who, SMALL, ink=ink, says=f"> {who}" if i == page.index else None)
        c.text(x_when, y, when, SMALL, ink=ink)


def _editor(c: _Canvas, s: PhoneState) -> None:
    """The text editor (ui/textentry.py): the value with its cursor, the field's help or
    why the value was refused, wrapped."""
    page = s.menu[-1]
    editor = page.data[0]
    _header(c, page.title, editor.label)
    _field(c, editor)
    # why the value was refused (items[1]) in place of the field's help (items[0])
    lines = _turn(c, page.items[-1] if page.items else "", W, len(c.g.rows) - 2)
    for y, line in zip(c.g.rows[2:], lines):
        c.text(0, y, line)


def _field(c: _Canvas, editor) -> None:
    """The editor's value on the first row, framed, with its cursor."""
    text, cursor = Verbatim(editor.shown()), editor.cursor     # typed: never translated
    room = W - 6
    start = 0
    while SMALL.width(Verbatim(text[start:cursor])) > room:   # keep the cursor in sight
        start += 1
    shown = SMALL.fit(Verbatim(text[start:]), room)
    top, bottom = c.g.rows[0] - 2, c.g.rows[0] + SMALL.cell
    for x0, y0, x1, y1 in ((0, top, W - 1, top), (0, bottom, W - 1, bottom),
                           (0, top, 0, bottom), (W - 1, top, W - 1, bottom)):
        c.box(x0, y0, x1, y1)                             # the field's frame
    c.text(2, c.g.rows[0], shown, says=f"[{text}]")
    x = 2 + SMALL.width(Verbatim(text[start:cursor]))
    if editor.choosing and cursor > start:  # the letter being chosen: inverted, so it
        x0 = 2 + SMALL.width(Verbatim(text[start:cursor - 1]))     # reads as not typed yet
        y = c.g.rows[0]
        c.box(x0 - 1, y - 1, max(x0, x), y + SMALL.cell - 1)
        c.image.paste(PAPER, (x0, y), SMALL.mask(fold(Verbatim(text[cursor - 1]))))
    else:
        c.box(x, c.g.rows[0] - 1, x, c.g.rows[0] + SMALL.cell - 2)


def _ldap_search(c: _Canvas, s: PhoneState) -> None:
    """Phone book > LDAP > Search (firmware/features/ldapsearch.py): the field, then the
    hits (name, first number on the right; the chosen one inverted) or what the search
    says ("Searching…", "No match", a server's trouble) - below the hits when some came."""
    page = s.menu[-1]
    editor, status, hits, _ = page.data
    _header(c, page.title, editor.label)
    _field(c, editor)
    rows = c.g.rows[1:]
    if status and hits:
        rows, last = rows[:-1], rows[-1]
        c.text(0, last, _turn(c, status, W)[0])
    elif status:
        for y, line in zip(rows, _turn(c, status, W, len(rows))):
            c.text(0, y, line)
    n = len(hits)
    first = min(max(0, page.index - len(rows) + 1), max(0, n - len(rows)))
    for y, i in zip(rows, range(first, n)):
        hit = hits[i]
        number = SMALL.fit(hit.numbers[0], W // 2) if hit.numbers and hit.name else ""
        x_number = W - 2 - SMALL.width(number)
        room = (x_number - 4 if number else W - 2) - 2
        name = Verbatim(hit.name or (hit.numbers[0] if hit.numbers else ""))   # data
        ink = INK
        if i == page.index:
            c.box(0, y - 1, W - 1, y + SMALL.cell - 1)
            ink = PAPER
        shown = _turn(c, name, room)[0] if i == page.index else SMALL.fit(name, room)
        c.text(2, y, shown, SMALL, ink=ink, says=f"> {shown}" if i == page.index else None)
        if number:
            c.text(x_number, y, number, SMALL, ink=ink)


def draw(c: _Canvas, s: PhoneState) -> None:
    """A page of the menu (ui/lcd.py render's "menu" screen): a call list, the editor,
    a question, a text page, or a list of entries with their values."""
    page = s.menu[-1]
    n = len(page.items)
    if page.kind == "calllog":
        _call_list(c, s)
        return
    if page.kind == "edit":
        _editor(c, s)
        return
    if page.kind == "ldap" and page.key == "ldap.search":
        _ldap_search(c, s)
        return
    if page.kind == "confirm":                 # Load default settings, Reboot: OK = yes
        _header(c, page.title)                 # the question in turns if the rows are few
        for y, line in zip(c.g.rows, _turn(c, " ".join(page.items), W, len(c.g.rows))):
            c.text(0, y, line)
        return
    if page.text:
        first = page.index
        shown = page.items[first:first + len(c.g.rows)]
        _header(c, page.title, f"{first + 1}-{first + len(shown)}/{n}" if n > len(c.g.rows)
                else "")
        for y, line in zip(c.g.rows, shown):
            c.text(0, y, _turn(c, line, W)[0])
        return
    # a notice ("Account 1 saved", "Line 1: registered") takes the title row a while
    # (firmware/presenter.py clears it), in turns when long; every entry stays in sight
    _header(c, s.notice or page.title, "" if s.notice else f"{page.index + 1}/{n}")
    first = min(max(0, page.index - len(c.g.rows) + 1), max(0, n - len(c.g.rows)))
    for y, i in zip(c.g.rows, range(first, n)):
        value = page.data[i] if not page.kind and i < len(page.data) else ""
        value = fold(value if isinstance(value, str) else str(value))   # a Verbatim stays
        # "3 Call history": the entry translated on its own, a Verbatim one (a contact, a
        # group) not at all, the row never looked up again
        label = Verbatim(f"{i + 1} {fold(page.items[i])}")
        ink = INK
        if i == page.index:
            c.box(0, y - 1, W - 1, y + SMALL.cell - 1)
            ink = PAPER
            if SMALL.width(label) + (6 + SMALL.width(value) if value else 0) > W - 4:
                # too long for the row: label and value as one text in turns, so a label
                # is never cut to a word beside its value, nor a value's end (a port) hidden
                shown = _turn(c, f"{label} {value}" if value else label, W - 4)[0]
                c.text(2, y, shown, SMALL, ink=ink, says=f"> {shown}")
                continue
            c.text(2, y, label, SMALL, ink=ink, says=f"> {label}")
            if value:
                c.text(W - 2 - SMALL.width(value), y, value, SMALL, ink=ink)
            continue
        value = SMALL.fit(value, W // 2) if value else ""
        x_value = W - 2 - SMALL.width(value)
        c.text(2, y, SMALL.fit(label, (x_value - 4 if value else W) - 4), SMALL, ink=ink)
        if value:
            c.text(x_value, y, value, SMALL, ink=ink)
