"""The LCD screen: a pure function of a PhoneState snapshot.

``render(state)`` draws the 128x64 1-bit frame the phone shows (manual §3 "Understanding
Phone Screen Features", §4 "Basic Call Handling") and keeps the text it drew, row by row,
so tests, ``/api/screen.txt`` and a person at a terminal read the same screen the LCD
shows. Nothing here reads a clock: the time comes from ``state.now`` / ``state.mono``.

Layout (pixel rows; text rows are 8 px: 7 for capitals, 1 for descenders):
  0-7    status bar: line icons + labels (idle) or the call's line, audio path, clock
  9      rule
  11-18  title row: what is happening, a timer or "1/2" at the right
  20-44  the far end (big font when it fits, number under it) or the digits dialled
  46-53  info row: Mute, other calls, the end reason
  55-63  soft keys: four 32 px cells, labels inverted
Idle: below the rule the big clock and the date, centred in the room the bottom rows
leave; the bottom rows are missed calls / voicemail and a notice (settings errors).

Long texts: a status or error wider than its row is wrapped over the rows it may use, and
what still does not fit is shown in turns (`_turn`): the frame of `step` k shows the k-th
group of its lines, whole words, so the part that says what to do is never cut off.
``Frame.paged`` names the texts shown in turns; firmware/presenter.py steps them with a
timer while there are any (none: no timer). Soft key labels fit their key (`SOFT_LABEL`).

The menu pages (entries and values, text pages, the editor, questions, the call lists) are
drawn by ui/lcd_menu.py on this module's canvas; here: the frame, the canvas, the rows,
the status bar, titles and soft keys, the idle and call screens, diagnose and `render`.

Polarity: mode "1", 1 = paper (pixel off), 0 = ink, so a saved PNG reads like the LCD.
``Frame.device_image()`` gives the opposite polarity luma devices expect.
"""
from __future__ import annotations

import io
import re
import time

from typing import NamedTuple

from PIL import Image, ImageChops

from firmware.i18n import Verbatim
from firmware.present import local_time, softkeys
from firmware.call.state import CALL_SCREEN, Account, Call, CallState, LineStatus, PhoneState
from firmware.sip.text import user_of
from ui import icons
from ui.faces import BIG, CONDENSED, SMALL, fold, speaking
from ui.font import Font

W, H = 128, 64
PAPER, INK = 1, 0

STATUS_Y = 0
RULE_Y = 9
TITLE_Y = 11
PARTY_Y = 20
PARTY_H = 25
INFO_Y = 46
KEYS_Y = 55


class Grid(NamedTuple):
    """Where the rows are: the constants above for the 8 px English faces; a language
    whose faces are taller (CJK: 12 px, ui/faces.py) has fewer, taller rows."""
    rule: int
    title: int
    party: int
    party_h: int
    info: int
    keys: int
    rows: tuple                   # menu entries
    pitch: int                    # from one text row to the next


GRIDS = {8: Grid(RULE_Y, TITLE_Y, PARTY_Y, PARTY_H, INFO_Y, KEYS_Y, (11, 20, 29, 38, 47), 9),
         12: Grid(12, 14, 26, 12, 38, 51, (14, 26, 38), 12)}


class Frame:
    """One LCD frame: ``image`` (mode "1", 128x64), ``lines`` (its text), ``screen``."""

    __slots__ = ("image", "lines", "screen", "paged")

    def __init__(self, image: Image.Image, lines: list[str], screen: str,
                 paged: tuple[tuple[str, int], ...] = ()) -> None:
        self.image = image
        self.lines = lines
        self.screen = screen
        self.paged = paged       # (text, turns) of each text too long for its rows

    @property
    def turns(self) -> int:
        """Steps until every text shown in turns was shown whole (1: nothing moves)."""
        return max((n for _, n in self.paged), default=1)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def png(self, scale: int = 1) -> bytes:
        img = self.image
        if scale != 1:
            img = img.resize((W * scale, H * scale), Image.NEAREST)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return buf.getvalue()

    def device_image(self) -> Image.Image:
        """The frame with 1 = dot on, as luma.lcd / luma.oled devices take it."""
        # ImageChops.invert and point() leave stray 254s in a mode "1" image (Pillow 11-13).
        return ImageChops.logical_xor(self.image, Image.new("1", (W, H), 1))

    def __repr__(self) -> str:
        return f"Frame({self.screen!r}, {self.lines!r})"


class _Canvas:
    """Draws on the frame and remembers what text went where."""

    def __init__(self, step: int = 0) -> None:
        self.image = Image.new("1", (W, H), PAPER)
        self._items: list[tuple[int, int, int, str]] = []   # top, bottom, x, text
        self.step = step                                    # which turn of long texts
        self.paged: list[tuple[str, int]] = []              # texts shown in turns
        self.g = GRIDS[SMALL.cell]                          # rows of the frame's faces

    def text(self, x: int, y: int, text: str, font: Font = SMALL, ink: int = INK,
             says: str | None = None) -> int:
        """Draw folded ``text`` with its left edge at ``x``; return the x after it.
        ``says``: what the text lines read there instead (a drawn cursor, say)."""
        text = fold(text)
        if text:
            mask = font.mask(text)
            self.image.paste(ink, (x, y), mask)
            x_end = x + mask.width
        else:
            x_end = x
        if text or says:
            self._items.append((y, y + font.cell, x, text if says is None else says))
        return x_end

    def text_right(self, right: int, y: int, text: str, font: Font = SMALL) -> int:
        """Draw ``text`` ending at ``right``; return its left edge."""
        x = right - font.width(fold(text))
        self.text(x, y, text, font)
        return x

    def text_center(self, y: int, text: str, font: Font = SMALL) -> None:
        self.text((W - font.width(fold(text))) // 2, y, text, font)

    def icon(self, x: int, y: int, token: str) -> int:
        self.image.paste(INK, (x, y), icons.MASKS[token])
        self._items.append((y, y + icons.SIZE, x, f"[{token}]"))
        return x + icons.SIZE

    def box(self, x0: int, y0: int, x1: int, y1: int, fill: int = INK,
            rounded: bool = False) -> None:
        self.image.paste(fill, (x0, y0, x1 + 1, y1 + 1))
        if rounded:
            for px in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
                self.image.putpixel(px, 1 - fill)

    def tag(self, x: int, y: int, text: str) -> int:
        """Inverted word, e.g. Mute: a box 2 px wider than the text on each side."""
        w = SMALL.width(text)
        self.box(x, y - 1, x + w + 3, y + SMALL.cell - 1, rounded=True)
        self.text(x + 2, y, text, SMALL, ink=PAPER)
        return x + w + 4

    def lines(self) -> list[str]:
        rows: list[list[tuple[int, int, int, str]]] = []
        bottom = -1
        for item in sorted(self._items):
            if rows and item[0] < bottom:
                rows[-1].append(item)
                bottom = max(bottom, item[1])
            else:
                rows.append([item])
                bottom = item[1]
        return [" ".join(t for _, _, _, t in sorted(r, key=lambda i: i[2])) for r in rows]


# --- pieces shared by the screens -----------------------------------------------------------

def _localtime(s: PhoneState) -> time.struct_time | None:
    return local_time(s, s.now)      # the time zone and clock of Time & date


def _clock(s: PhoneState) -> tuple[str, str]:
    """("14:05", "") or ("2:05", "PM"), from the snapshot's wall clock."""
    lt = _localtime(s)
    if lt is None:
        return "--:--", ""
    if s.time_format == 12:
        return f"{lt.tm_hour % 12 or 12}:{lt.tm_min:02d}", ("AM" if lt.tm_hour < 12 else "PM")
    return f"{lt.tm_hour:02d}:{lt.tm_min:02d}", ""


def _duration(seconds: float) -> str:
    t = int(max(0.0, seconds))
    h, m, sec = t // 3600, t // 60 % 60, t % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _account(s: PhoneState, index: int) -> Account | None:
    for a in s.accounts:
        if a.index == index:
            return a
    return None


def _line_status(s: PhoneState, a: Account) -> LineStatus:
    if a.status is LineStatus.REGISTERED and (a.dnd or s.dnd):
        return LineStatus.DND
    return a.status


def _label(a: Account) -> str:
    """A line's name: the label or user set for it (data, never translated), else
    "Line 2"."""
    return Verbatim(a.label or a.user) if a.label or a.user else f"Line {a.index}"


def _who(call: Call) -> tuple[str, str]:
    """(the far end as a person names it, the number under it or ""): data, never
    translated (a caller named "Missed calls" reads so), but "Unknown" is."""
    number = call.number or user_of(call.uri)
    if number.lower().startswith(("sip:", "sips:", "tel:")) or "@" in number:
        user = user_of(number)              # a dialled URI: the user big, the host under
        host = number.split("@", 1)[1].split(";")[0] if "@" in number else ""
        return Verbatim(call.name or user or number), Verbatim(host)
    if call.name and call.name != number:
        return Verbatim(call.name), Verbatim(number)
    return (Verbatim(number or call.name) if number or call.name else "Unknown"), ""


def _others(s: PhoneState, shown: Call | None) -> str:
    calls = sorted((c for c in s.calls if c is not shown and c.state is not CallState.ENDED),
                   key=lambda c: (c.line, c.id))
    return " ".join(f"L{c.line} {CALL_SCREEN[c.state]}" for c in calls)


def _status_bar(c: _Canvas, s: PhoneState, line: int, account: int) -> None:
    """Line icon, "L1 label", audio path icon, small clock."""
    hhmm, ampm = _clock(s)
    right = c.text_right(W, STATUS_Y, f"{hhmm} {ampm}".strip()) - 4
    token = icons.AUDIO_TOKEN.get(s.audio)
    if token:
        right -= icons.SIZE
        c.icon(right, STATUS_Y, token)
        right -= 4
    x = 0
    a = _account(s, account) if account else None
    if a is not None:
        tok = icons.LINE_TOKEN.get(_line_status(s, a))
        if tok:
            x = c.icon(0, STATUS_Y, tok) + 2
    name = _label(a) if a is not None else ("IP call" if account == 0 else "")
    c.text(x, STATUS_Y, SMALL.fit(Verbatim(f"L{line} {fold(name)}".strip()), right - x))
    c.box(0, c.g.rule, W - 1, c.g.rule)


def _turn(c: _Canvas, text: str, width: int, rows: int = 1, font: Font = SMALL) -> list[str]:
    """What of `text` its `rows` rows of `width` px show on this frame: the text when it
    fits, else its wrapped lines, one group of `rows` per step (the frame notes the text
    in `paged`, so the presenter moves it on). Never an empty list."""
    text = fold(text)
    if font.width(text) <= width:
        return [text]
    lines = _wrap(text, width, font)
    groups = [lines[i:i + rows] for i in range(0, len(lines), rows)] or [[""]]
    if len(groups) > 1:
        c.paged.append((text, len(groups)))
    return groups[c.step % len(groups)]


def _title(c: _Canvas, title: str, right: str = "") -> None:
    x = W
    if right:
        x = c.text_right(W, c.g.title, right) - 4
    c.text(0, c.g.title, _turn(c, title, x)[0])


def _party(c: _Canvas, primary: str, secondary: str) -> None:
    """The far end, centred in rows 20-44: in the big face when it fits, the number under."""
    font, gap = (BIG, 4) if BIG.width(fold(primary)) <= W and BIG.cell <= c.g.party_h \
        else (SMALL, 2)
    if secondary and font.height + gap + SMALL.height > c.g.party_h:   # one row for both
        primary, secondary = Verbatim(f"{fold(primary)} {fold(secondary)}"), ""
    h = font.height + (gap + SMALL.height if secondary else 0)
    y = c.g.party + (c.g.party_h - h) // 2
    c.text_center(y, primary if font is BIG else _turn(c, primary, W)[0], font)
    if secondary:
        c.text_center(y + font.height + gap, _turn(c, secondary, W)[0])


def _digits(c: _Canvas, digits: str) -> None:
    """Digits being dialled with a cursor; the tail when they do not fit."""
    digits = fold(digits)
    big = BIG.width(digits) + 2 + BIG.width("0") <= W - 2 and BIG.cell <= c.g.party_h
    font = BIG if big else SMALL
    cursor = font.width("0")
    shown = digits if big else SMALL.tail(digits, W - 2 - cursor - 1)
    y = c.g.party + (c.g.party_h - font.height) // 2
    x = c.text(1, y, shown, font, says=shown + "_") + (font.scale if shown else 0)
    c.box(x, y + font.height - font.scale, x + cursor - 1, y + font.height - 1)


def _info(c: _Canvas, s: PhoneState, text: str, mute: bool = True) -> None:
    """The row above the soft keys; a notice (volume, "All lines busy") takes it a while."""
    text = s.notice or text
    x = 0
    if mute and s.mute:
        x = c.tag(0, c.g.info, "Mute") + 4
    if text:
        c.text(x, c.g.info, _turn(c, text, W - x)[0])


SOFT_BOX = 31                       # a soft key's inverted box: its 32 px cell but a gap
SOFT_LABEL = SOFT_BOX - 2           # the widest label (CONDENSED) with a paper column each side


def _softkeys(c: _Canvas, s: PhoneState) -> None:
    """Four cells of 32 px under the four keys, each label in its own key's box. Labels
    are chosen to fit (tests/test_lcd_longtext.py checks every label the code has); one
    that does not is cut, never drawn over a neighbour."""
    for i, (label, _action) in enumerate(softkeys(s)):
        if not label:
            continue
        text = CONDENSED.fit(label, SOFT_LABEL)
        x = 32 * i
        c.box(x, c.g.keys, x + SOFT_BOX - 1, H - 1, rounded=True)
        c.text(x + (SOFT_BOX - CONDENSED.width(text) + 1) // 2, c.g.keys + 1, text,
               CONDENSED, ink=PAPER)


# --- screens --------------------------------------------------------------------------------

def _idle(c: _Canvas, s: PhoneState) -> None:
    right = W
    if s.auto_answer:
        right = c.text_right(W, STATUS_Y, "AA") - 5
    if s.keylock:                     # the keys are locked (firmware/features/keylock.py)
        right -= icons.SIZE
        c.icon(right, STATUS_Y, "lock")
        right -= 5
    accounts = [a for a in s.accounts if a.enabled]
    if not accounts:
        c.text(0, STATUS_Y, SMALL.fit("No account", right))
    else:
        room = right - 6 * (len(accounts) - 1)
        labels = [fold(_label(a)) for a in accounts]
        if sum(SMALL.width(t) + icons.SIZE + 2 for t in labels) > room:
            # Crowded: the extension says more than a label cut to two letters.
            labels = [fold(a.user) if a.user and len(a.user) < len(t) else t
                      for a, t in zip(accounts, labels)]
        entries = []
        for a, label in zip(accounts, labels):
            tok = icons.LINE_TOKEN.get(_line_status(s, a))
            entries.append((tok, label, (icons.SIZE + 2 if tok else 0) + SMALL.width(label)))
        widths = _share([e[2] for e in entries], room)
        x = 0
        for (tok, label, _need), w in zip(entries, widths):
            end = x + w
            if tok:
                x = c.icon(x, STATUS_Y, tok) + 2
            c.text(x, STATUS_Y, SMALL.fit(label, end - x))
            x = end + 6
    c.box(0, c.g.rule, W - 1, c.g.rule)

    # Bottom rows first (they stack up from the soft keys), then the clock in the rest.
    y = c.g.info
    notice = s.notice or s.provisioning or (s.errors[0] if s.errors else "") or \
        ("" if accounts else ADD_ACCOUNT)
    missed = f"{s.missed} Missed" if s.missed > 0 and s.missed_call_display else ""
    mail = f"{s.voicemail} Voicemail" if s.voicemail > 0 else ""
    if notice:       # two rows, or one under the missed calls row (the clock needs the rest)
        for line in reversed(_turn(c, notice, W, 1 if missed or mail else 2)):
            c.text(0, y, line)
            y -= c.g.pitch
    if missed or mail:
        if missed:
            c.text(0, y, missed)
        if mail:
            c.text_right(W, y, mail)
        y -= c.g.pitch
    lo, hi = c.g.rule + 2, y + c.g.pitch - 1    # a blank row under the rule and above the rows
    gap = 4 if hi - lo >= BIG.height + 4 + SMALL.cell else 3
    dated = hi - lo >= BIG.height + gap + SMALL.cell     # no room under CJK rows: no date
    top = lo + (hi - lo - (BIG.height + (gap + SMALL.cell if dated else 0))) // 2
    hhmm, ampm = _clock(s)
    w = BIG.width(hhmm) + (3 + SMALL.width(ampm) if ampm else 0)
    x = c.text((W - w) // 2, top, hhmm, BIG)
    if ampm:
        c.text(x + 3, top + BIG.height - SMALL.height, ampm)
    lt = _localtime(s)
    try:
        date = _DAY_MONTH.sub(lambda m: fold(m.group(0)),
                              time.strftime(s.date_format, lt)) if lt else ""
    except ValueError:
        date = ""
    if dated:
        c.text_center(top + BIG.height + gap, SMALL.fit(date, W))


# day and month names strftime writes in English (%a %A %b %B): each goes through the
# catalog on its own (fold: "Thu" -> "周四"), the digits and separators stay as formatted
_DAY_MONTH = re.compile(r"\b(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\b|"
                        r"\b(?:January|February|March|April|May|June|July|August|September|"
                        r"October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|"
                        r"Dec)\b")


# the standby screen of a phone with no enabled account: where one is added (in turns)
ADD_ACCOUNT = "Add an account: MENU > System setting > Advanced setting > SIP accounts"


def _share(needs: list[int], room: int) -> list[int]:
    """Split ``room`` px between entries: each gets what it needs up to a fair share,
    what the short ones leave goes to the long ones."""
    out = [0] * len(needs)
    todo = sorted(range(len(needs)), key=lambda i: needs[i])
    while todo:
        fair = room // len(todo)
        i = todo.pop(0)
        out[i] = min(needs[i], fair)
        room -= out[i]
    return out


def _predial(c: _Canvas, s: PhoneState) -> None:
    _status_bar(c, s, s.predial_line, s.predial_line)
    _title(c, "Pre-dial")
    _digits(c, s.predial)
    _info(c, s, _found(s) or "Lift handset to call")


def _dialing(c: _Canvas, s: PhoneState, call: Call) -> None:
    _status_bar(c, s, call.line, call.account)
    if s.transfer is not None:
        _title(c, "Blind transfer to" if s.blind else "Transfer to")
    else:
        _title(c, "Enter number")
    _digits(c, call.number)
    _info(c, s, _found(s) or _others(s, call))


def _found(s: PhoneState) -> str:
    """Fuzzy search (firmware/features/search.py): the hit picked, else the first, and
    how many; the arrows go through them."""
    if not s.search:
        return ""
    at = max(0, s.search_pick)                # "2/5 Kim Lee": a name, never translated
    return Verbatim(f"{'>' if s.search_pick >= 0 else ''}{at + 1}/{len(s.search)} "
                    f"{fold(s.search[at].label)}")


def _calling(c: _Canvas, s: PhoneState, call: Call) -> None:
    _status_bar(c, s, call.line, call.account)
    _title(c, "Ringing" if call.state is CallState.RINGBACK else "Calling")
    _party(c, *_who(call))
    _info(c, s, _others(s, call))


def _ringing(c: _Canvas, s: PhoneState, call: Call) -> None:
    ringing = s.ringing()
    busy = any(o.state in (CallState.CONNECTED, CallState.HELD) for o in s.calls)
    of = f"{ringing.index(call) + 1}/{len(ringing)}" if len(ringing) > 1 else ""
    _status_bar(c, s, call.line, call.account)
    _title(c, "Broadcast" if call.id in s.pages else "Call waiting" if busy
           else "Incoming call", of)
    _party(c, *_who(call))
    _info(c, s, _others(s, call), mute=busy)


def _talking(c: _Canvas, s: PhoneState, call: Call) -> None:
    _status_bar(c, s, call.line, call.account)
    conf = [o for o in s.calls if o.id in s.conference]
    if len(conf) >= 2:                       # 3-way: both far ends, one under the other
        first = min(o.connected_at for o in conf if o.connected_at) if any(
            o.connected_at for o in conf) else 0
        _title(c, "Conference", _duration(s.mono - first) if first else "")
        _party(c, _who(conf[0])[0], _who(conf[1])[0])
        _info(c, s, "")
        return
    title = "Held by far end" if call.remote_hold else (
        "Consult transfer" if s.transfer is not None and call.id != s.transfer else
        "Broadcast" if call.id in s.pages else "Talking")
    _title(c, title, _duration(s.mono - call.connected_at) if call.connected_at else "")
    _party(c, *_who(call))
    page = s.call(s.barge)
    _info(c, s, f"Broadcast: {_who(page)[0]}  C: end" if page is not None
          else _others(s, call))


def _paging(c: _Canvas, s: PhoneState) -> None:
    """A multicast page being heard: its priority and group (firmware/features/multicast.py)."""
    if s.multicast:
        prio, _, group = s.multicast.partition(" ")
        _title(c, "Paging", prio)
    else:
        group = s.multicast_out
        _title(c, "Paging out")
    _party(c, group, "")
    _info(c, s, _others(s, None) or "C: stop", mute=False)


def _held(c: _Canvas, s: PhoneState, call: Call) -> None:
    _status_bar(c, s, call.line, call.account)
    _title(c, "On hold", _duration(s.mono - call.connected_at) if call.connected_at else "")
    _party(c, *_who(call))
    _info(c, s, _others(s, call))


def _ended(c: _Canvas, s: PhoneState, call: Call) -> None:
    took = ""
    if call.connected_at and call.ended_at >= call.connected_at:
        took = _duration(call.ended_at - call.connected_at)
    _status_bar(c, s, call.line, call.account)
    _title(c, "Call ended", took)
    _party(c, *_who(call))
    _info(c, s, call.reason, mute=False)


def _wrap(text: str, width: int, font: Font = SMALL) -> list[str]:
    """Words in lines no wider than `width`; a word wider than a line (an address, a
    URI) is broken over lines, never cut."""
    lines: list[str] = []
    line = ""
    for word in fold(text).split():
        candidate = f"{line} {word}" if line else word
        if font.width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.width(word) > width:
            cut = len(word) - 1
            while cut > 1 and font.width(word[:cut]) > width:
                cut -= 1
            # an address breaks before its ':' (the port), '@', '/', ';' or '.' if one is
            # in the line's second half: "sip.example.com" / ":5060", not "...:50" / "60"
            cut = max([p for p in (word.rfind(ch, cut // 2, cut) for ch in ":@/;.")
                       if p > 0] or [cut])
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return [Verbatim(line) for line in lines]       # drawn from a translated text


def _header(c: _Canvas, title: str, right: str = "") -> None:
    """Menus and tests: the title where the status bar is, and the rule."""
    x = W
    if right:
        x = c.text_right(W, STATUS_Y, right) - 4
    c.text(0, STATUS_Y, _turn(c, title, x)[0])
    c.box(0, c.g.rule, W - 1, c.g.rule)


def _lcd_pattern(img: Image.Image, n: int) -> None:
    """Diagnose, LCD: full-screen test patterns (every dot on, off, alternating...)."""
    px = img.load()
    for y in range(H):
        for x in range(W):
            on = (True, False, (x + y) % 2 == 0, x % 2 == 0, y % 2 == 0,
                  x in (0, W - 1) or y in (0, H - 1) or x == y * 2 or x == W - 1 - y * 2)[n]
            px[x, y] = INK if on else PAPER


def _diag(c: _Canvas, s: PhoneState) -> None:
    if s.diag == "lcd" and s.diag_running:
        _lcd_pattern(c.image, s.diag_step)
        c._items.append((0, H, 0, f"LCD test: {s.diag_text}"))
        return
    _header(c, {"keys": "Keys test", "lcd": "LCD test", "lights": "Lights test",
                "sound": "Sound test"}[s.diag])
    _party(c, s.diag_text, "")
    if s.diag == "keys":
        _info(c, s, "C twice: exit", mute=False)


def _shown_call(s: PhoneState, screen: str) -> Call | None:
    f = s.focused
    if screen == "ringing" and (f is None or f.state is not CallState.RINGING):
        return s.ringing()[0]
    if screen == "held" and f is None:
        return next(c for c in s.calls if c.state is CallState.HELD)
    return f


_SCREENS = {
    "dialing": _dialing,
    "calling": _calling,
    "ringing": _ringing,
    "talking": _talking,
    "held": _held,
    "ended": _ended,
}


def render(state: PhoneState, step: int = 0) -> Frame:
    """The frame the LCD shows for ``state``. Same state, same bytes. ``step``: which turn
    of the texts too long for their rows (``Frame.paged``) to show."""
    with speaking(state.language) as seen:  # phone.language: faces and words
        c, screen = _draw(state, step)
    if seen.wide:        # a name in another script (张三): again, with the CJK faces too
        with speaking(state.language, wide=True):
            c, screen = _draw(state, step)
    return Frame(c.image, c.lines(), screen, tuple(c.paged))


def _draw(state: PhoneState, step: int) -> tuple[_Canvas, str]:
    """The frame on a canvas, in the faces and words `speaking` set."""
    c = _Canvas(step)
    screen = state.screen()
    if screen == "idle":
        _idle(c, state)
    elif screen == "predial":
        _predial(c, state)
    elif screen == "menu":
        lcd_menu.draw(c, state)
    elif screen == "diag":
        _diag(c, state)
    elif screen == "paging":
        _paging(c, state)
    else:
        _SCREENS[screen](c, state, _shown_call(state, screen))
    _softkeys(c, state)
    return c, screen


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import pathlib

    from ui.demo import states

    p = argparse.ArgumentParser(prog="python -m ui.lcd", description=__doc__.split("\n")[0])
    p.add_argument("--demo", metavar="OUTDIR", required=True,
                   help="write one PNG per demo screen into OUTDIR")
    p.add_argument("--scale", type=int, default=1, help="enlarge the PNGs (nearest)")
    args = p.parse_args(argv)
    out = pathlib.Path(args.demo)
    out.mkdir(parents=True, exist_ok=True)
    for name, st in states().items():
        frame = render(st)
        (out / f"{name}.png").write_bytes(frame.png(args.scale))
        print(f"--- {name}.png ({frame.screen})")
        print(frame.text)
    return 0


# the menu pages draw with the canvas and pieces above (a cycle: imported last)
from ui import lcd_menu  # noqa: E402


if __name__ == "__main__":
    raise SystemExit(_main())
