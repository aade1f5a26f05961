"""The LCD's faces in the frame's language: SMALL, BIG, CONDENSED and `fold` as ui/lcd.py
uses them, drawn in English with the 5x7 faces of ui/font.py, or in a language whose
catalog (firmware/locale/<code>.po) names a font, with that bitmap font for its script.

`render` (ui/lcd.py) draws a frame inside ``speaking(lang)``; for that frame `fold` first
translates (firmware/i18n.py `tr`) and then keeps what the faces can draw, and the three
faces are mixed faces: ASCII from the 5x7 table (digits keep one width, English words look
as in English), every other character from the script's font, on one baseline. Outside
``speaking`` (and for English) the faces are ui/font.py's own: English frames are the same
bytes as before.

In any language, a name in another script (a contact 张三 on an English LCD) is drawn with
the CJK faces as a fallback: `fold` notes a character the Latin faces lack and the CJK font
has, and `render` draws that frame again with the mixed faces (and their taller rows). The
CJK font is opened the first time such a character is met, so an English phone's start-up
does not pay for it; a character no face has (an emoji) is still "?".

CJK: xfonts-wqy's WenQuanYi bitmap strikes, 12 px for body text and soft keys, 16 px for
the big face (the Makefile installs the package). A strike opens with ImageFont.truetype at
exactly its pixel size; its glyphs are 2-level whatever the mode (fontmode "1" all the
same). A character the font lacks is drawn as "?" like in English, never a blank or a
crash. Without the font file the frame is drawn in English, and the log says why once.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from firmware import i18n
from firmware.i18n import Verbatim
from ui import font as en
from ui.font import ELLIPSIS, Font

log = logging.getLogger("deskphone.lcd")

FONT_DIRS = (Path("/usr/share/fonts/X11/misc"),)
# catalog header "X-LCD-Font" -> (file, pixel size) of the body and of the big face
FONTS = {"wqy": (("wenquanyi_9pt.pcf", 12), ("wenquanyi_12pt.pcf", 16))}
FALLBACK = "wqy"        # the faces for a character the Latin ones lack, in any language


class MixedFont(Font):
    """A face of ui/font.py's shape (width, fit, tail, mask, height, cell, scale) that
    draws ASCII with `latin` and the rest with a bitmap `wide` font.

    ``cell`` is the row's height; `latin` sits `latin_y` px down so both share a baseline,
    `wide`'s line box is moved up `wide_y` px (the WenQuanYi strikes leave blank rows on
    top)."""

    def __init__(self, latin: Font, wide: ImageFont.FreeTypeFont, *, cell: int,
                 height: int, latin_y: int, wide_y: int) -> None:
        super().__init__(scale=latin.scale, condensed=latin.condensed)
        self.latin, self.wide = latin, wide
        self.cell, self.height = cell, height
        self.latin_y, self.wide_y = latin_y, wide_y
        self.width = functools.lru_cache(maxsize=2048)(self._width)
        self.has = functools.lru_cache(maxsize=4096)(self._has)

    def _has(self, ch: str) -> bool:
        return any(bytes(self.wide.getmask(ch)))

    def fold(self, text: str) -> str:
        """What this face draws of a (translated) text: ASCII, the ellipsis, the script's
        characters the font has; the rest as in English (accents dropped, else "?")."""
        if text.isascii() and text.isprintable():
            return text
        out = []
        for ch in text:
            if ch == ELLIPSIS or " " <= ch <= "~" or (ord(ch) > 127 and ch.isprintable()
                                                     and self.has(ch)):
                out.append(ch)
            elif ch in "\t\n\r":
                out.append(" ")
            else:
                base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                               if not unicodedata.combining(c))
                out.append(base if base and all(" " <= c <= "~" for c in base) else "?")
        return "".join(out)

    def _runs(self, text: str) -> list[tuple[bool, str]]:
        """(wide?, run) pieces of `text`."""
        runs: list[tuple[bool, str]] = []
        for ch in text:
            wide = not (ch == ELLIPSIS or " " <= ch <= "~")
            if runs and runs[-1][0] == wide:
                runs[-1] = (wide, runs[-1][1] + ch)
            else:
                runs.append((wide, ch))
        return runs

    def _run_width(self, wide: bool, run: str) -> int:
        return int(self.wide.getlength(run)) if wide else self.latin.width(run)

    def _width(self, text: str) -> int:
        runs = self._runs(text)
        gaps = sum(1 for a, b in zip(runs, runs[1:]) if not a[0] and b[0])
        return sum(self._run_width(*r) for r in runs) + gaps * self.scale

    def _mask(self, text: str) -> Image.Image:
        img = Image.new("1", (max(self.width(text), 1), self.cell), 0)
        x = 0
        for wide, run in self._runs(text):
            w = self._run_width(wide, run)
            if wide:
                piece = Image.new("1", (w, self.cell + self.wide_y + 4), 0)
                draw = ImageDraw.Draw(piece)
                draw.fontmode = "1"
                draw.text((0, 0), run, font=self.wide, fill=1)
                img.paste(piece.crop((0, self.wide_y, w, self.wide_y + self.cell)), (x, 0))
                x += w
            else:
                img.paste(self.latin.mask(run), (x, self.latin_y))
                x += w + self.scale       # a column between Latin and what follows
        return img


class _Face:
    """SMALL, BIG or CONDENSED as the frame being drawn has it (see `speaking`)."""

    def __init__(self, which: int) -> None:
        self._which = which

    def font(self) -> Font:
        faces = _FACES.get()
        return faces[self._which] if faces else _ENGLISH[self._which]

    def __getattr__(self, name: str):         # height, cell, scale, mask
        return getattr(self.font(), name)

    # a text measured or cut is the text drawn: translated first, the piece not again
    def width(self, text: str) -> int:
        return self.font().width(fold(text))

    def fit(self, text: str, px: int) -> str:
        return Verbatim(self.font().fit(fold(text), px))

    def tail(self, text: str, px: int) -> str:
        return Verbatim(self.font().tail(fold(text), px))


_ENGLISH = (en.SMALL, en.BIG, en.CONDENSED)
_FACES: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("lcd_faces",
                                                                      default=None)
_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("lcd_lang", default="en")
_SEEN: contextvars.ContextVar["Seen | None"] = contextvars.ContextVar("lcd_seen", default=None)


class Seen:
    """What `fold` met while a frame was drawn (`speaking` yields it): `wide`, a character
    the frame's Latin faces draw as "?" and the fallback CJK font has."""

    wide = False

SMALL, BIG, CONDENSED = _Face(0), _Face(1), _Face(2)


def fold(text: str) -> str:
    """The text as the frame shows it: translated into the frame's language (unless it is
    a Verbatim: data, or drawn once already), then what its faces can draw. A Verbatim,
    so what is made of it (a row cut to fit, a wrapped line) is not translated again."""
    lang = _LANG.get()
    if lang != i18n.SOURCE:
        text = i18n.tr(text, lang)
    faces = _FACES.get()
    if faces:
        return Verbatim(faces[0].fold(text))
    seen = _SEEN.get()
    if seen is not None and not seen.wide and not text.isascii():
        seen.wide = any(_wide_only(ch) for ch in text)
    return Verbatim(en.fold(text))


def _wide_only(ch: str) -> bool:
    """A character the Latin faces cannot draw (not even without its accent) and the
    fallback CJK font has."""
    if ord(ch) < 128 or ch == ELLIPSIS or en.fold(ch) != "?" or not ch.isprintable():
        return False
    faces = _mixed(FALLBACK)
    return faces is not None and faces[0].has(ch)


@functools.lru_cache(maxsize=None)
def faces_for(lang: str) -> tuple | None:
    """(SMALL, BIG, CONDENSED) for `lang`; None: English's (English, or a language whose
    font file is missing: logged once)."""
    cat = i18n.catalog(lang)
    if cat is None:
        return None
    if not cat.font:
        return _ENGLISH
    faces = _mixed(cat.font)
    if faces is None:
        log.error("LCD: no font for language %r; showing English", lang)
    return faces


@functools.lru_cache(maxsize=None)
def _mixed(font: str) -> tuple | None:
    """(SMALL, BIG, CONDENSED) mixing the Latin faces with the bitmap font `font` (a key
    of FONTS), opened at the first call; None when its files are missing (logged once)."""
    try:
        (body, body_px), (big, big_px) = FONTS[font]
        small = ImageFont.truetype(str(_find(body)), body_px)
        large = ImageFont.truetype(str(_find(big)), big_px)
    except (KeyError, OSError) as e:
        log.error("LCD: no font %r (%s): its script shows as '?'. "
                  "Install xfonts-wqy (make run does).", font, e)
        return None
    return (MixedFont(en.SMALL, small, cell=12, height=11, latin_y=4, wide_y=2),
            MixedFont(en.BIG, large, cell=16, height=14, latin_y=0, wide_y=0),
            MixedFont(en.CONDENSED, small, cell=12, height=11, latin_y=4, wide_y=2))


def _find(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"{name} not in {', '.join(map(str, FONT_DIRS))}")


@contextlib.contextmanager
def speaking(lang: str, wide: bool = False):
    """Draw what is inside in `lang`: the faces and `fold` of this thread follow it.
    Yields a `Seen`; wide=True draws a Latin-script frame with the fallback CJK faces
    (ui/lcd.py `render`, when the frame's Seen says it met such a character)."""
    faces = faces_for(lang or i18n.SOURCE)
    if faces is None:
        lang = i18n.SOURCE                    # English, or the script's font is missing
    elif faces is _ENGLISH:
        faces = None                          # a catalog in the Latin script
    if faces is None and wide:
        faces = _mixed(FALLBACK)
    seen = Seen()
    t1, t2, t3 = _FACES.set(faces), _LANG.set(lang), _SEEN.set(seen)
    try:
        yield seen
    finally:
        _FACES.reset(t1)
        _LANG.reset(t2)
        _SEEN.reset(t3)
