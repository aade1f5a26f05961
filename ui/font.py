"""Crisp 1-bit bitmap fonts for the 128x64 LCD.

Built from luma.core's 5x7 LCD font (column bytes, bit 0 = top row) so that every
frame is the same bytes on every machine: no TrueType rasteriser, no antialiasing.

Text is proportional (a narrow ``i`` does not waste a column) but digits keep one
width, so a running call timer does not jitter. Strings are folded to what the
glyph table can draw before measuring: the text a test reads from a frame is the
text that was drawn.
"""
from __future__ import annotations

import functools
import unicodedata

from luma.core.legacy.font import LCD_FONT
from PIL import Image

ELLIPSIS = "\u2026"

ROWS = 8            # glyph cell height: 7 rows of capitals + 1 row of descender

# Glyphs the luma table lacks, and lower case with real descenders (the table squeezes
# g, j, p, q, y into 7 rows, where ``g`` reads as ``9``). Row 0 is the top.
_ART = {
    ELLIPSIS: ["     ", "     ", "     ", "     ", "     ", "     ", "# # #", "     "],
    "g": ["     ", "     ", " ####", "#   #", "#   #", " ####", "    #", " ### "],
    "j": ["   #", "    ", "  ##", "   #", "   #", "   #", "#  #", " ## "],
    "p": ["     ", "     ", "#### ", "#   #", "#   #", "#### ", "#    ", "#    "],
    "q": ["     ", "     ", " ####", "#   #", "#   #", " ####", "    #", "    #"],
    "y": ["     ", "     ", "#   #", "#   #", "#   #", " ####", "    #", " ### "],
}


def _columns_of(art: list[str]) -> list[int]:
    return [sum(1 << r for r, row in enumerate(art) if row[x] == "#")
            for x in range(len(art[0]))]


_EXTRA = {ch: _columns_of(art) for ch, art in _ART.items()}

# Narrow forms of the wide letters for the condensed soft key face; the others are
# narrowed by dropping one of two equal inner columns (``e`` 5 -> 4).
_NARROW = {
    "f": [0x08, 0x7E, 0x09, 0x02],
    "s": [0x48, 0x54, 0x24],     # "Answer", "Resume": six letters in a soft key
    "t": [0x04, 0x3F, 0x44, 0x20],
    "v": [0x1C, 0x60, 0x1C],
    "x": [0x6C, 0x10, 0x6C],
    "z": [0x64, 0x54, 0x4C],
    "K": [0x7F, 0x08, 0x36, 0x41],
    "N": [0x7F, 0x0E, 0x38, 0x7F],
    "R": [0x7F, 0x19, 0x29, 0x46],
    "T": [0x01, 0x7F, 0x01],
    "Y": [0x03, 0x7C, 0x03],
    "X": [0x63, 0x1C, 0x63],
    "V": [0x1F, 0x60, 0x1F],
    "Z": [0x71, 0x49, 0x47],
    "J": [0x20, 0x40, 0x3F],
    "Q": [0x3E, 0x41, 0x21, 0x5E],
}

_SPACE = 3          # columns of a space (before tracking)
_TRACKING = 1       # blank columns after each glyph


def _trim(cols: list[int]) -> list[int]:
    nz = [i for i, v in enumerate(cols) if v]
    return cols[nz[0]:nz[-1] + 1] if nz else []


def _condense(cols: list[int]) -> list[int]:
    if len(cols) >= 5:
        for i in range(1, len(cols) - 2):
            if cols[i] == cols[i + 1]:
                return cols[:i] + cols[i + 1:]
    return cols


def fold(text: str) -> str:
    """The text as the glyph table can draw it: accents dropped, unknowns as '?'."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch == ELLIPSIS or (" " <= ch <= "~"):
            out.append(ch)
            continue
        if ch in "\t\n\r":
            out.append(" ")
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                       if not unicodedata.combining(c))
        out.append(base if base and all(" " <= c <= "~" for c in base) else "?")
    return "".join(out)


class Font:
    """A bitmap face: ``width(text)``, ``fit(text, px)``, ``mask(text)``.

    ``height`` is the capital height in pixels (7 x scale), ``cell`` the glyph box with
    the descender row (8 x scale); ``mask`` returns a mode "1" image ``cell`` tall, 1
    where there is ink, ready for ``Image.paste(colour, box, mask)``. The condensed face
    keeps the table's 7-row lower case so it fits a soft key bar.
    """

    fold = staticmethod(fold)     # what the face draws of a text (ui/faces.py: other scripts)

    def __init__(self, *, scale: int = 1, condensed: bool = False) -> None:
        self.scale = scale
        self.condensed = condensed
        self.height = 7 * scale
        self.cell = ROWS * scale
        self._cols: dict[str, list[int]] = {}
        self.mask = functools.lru_cache(maxsize=1024)(self._mask)

    def _columns(self, ch: str) -> list[int]:
        cols = self._cols.get(ch)
        if cols is not None:
            return cols
        if ch == " ":
            cols = [0] * _SPACE
        elif ch in _EXTRA and not (self.condensed and ch.isalpha()):
            cols = list(_EXTRA[ch])
        else:
            raw = [b & 0x7F for b in LCD_FONT[ord(ch)][:5]] if ord(ch) < 128 else []
            if ch.isdigit():
                cols = raw                       # tabular figures
            elif self.condensed and ch in _NARROW:
                cols = list(_NARROW[ch])
            else:
                cols = _trim(raw)
                if self.condensed:
                    cols = _condense(cols)
            if not cols:
                cols = _trim([b & 0x7F for b in LCD_FONT[ord("?")][:5]])
        self._cols[ch] = cols
        return cols

    def width(self, text: str) -> int:
        if not text:
            return 0
        n = sum(len(self._columns(ch)) + _TRACKING for ch in text) - _TRACKING
        return n * self.scale

    def fit(self, text: str, px: int) -> str:
        """The longest head of ``text`` that fits ``px``, with an ellipsis if cut."""
        text = self.fold(text)
        if self.width(text) <= px:
            return text
        while text and self.width(text.rstrip() + ELLIPSIS) > px:
            text = text[:-1]
        return text.rstrip() + ELLIPSIS if text else ""

    def tail(self, text: str, px: int) -> str:
        """The longest tail of ``text`` that fits ``px``, led by an ellipsis if cut."""
        text = self.fold(text)
        if self.width(text) <= px:
            return text
        while text and self.width(ELLIPSIS + text) > px:
            text = text[1:]
        return ELLIPSIS + text if text else ""

    def _mask(self, text: str) -> Image.Image:
        w = self.width(text) // self.scale
        data = bytearray(w * ROWS)
        x = 0
        for ch in text:
            for col in self._columns(ch):
                for row in range(ROWS):
                    if col >> row & 1:
                        data[row * w + x] = 255
                x += 1
            x += _TRACKING
        img = Image.frombytes("L", (max(w, 1), ROWS), bytes(data) or bytes(ROWS)).convert("1")
        if self.scale != 1:
            img = img.resize((img.width * self.scale, self.cell), Image.NEAREST)
        return img


SMALL = Font()                       # body text: ~21 characters a row
CONDENSED = Font(condensed=True)     # soft key labels: 6-7 letters in a 32 px cell
BIG = Font(scale=2)                  # idle clock, dialled digits, the far end's name
