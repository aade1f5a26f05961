"""Typing a value on the 12-key pad: the one editor every page that asks for text uses.

Multi-tap, as desk phones do it: a key pressed again within MULTITAP_S seconds changes the
letter just typed (2: a b c 2, 7: p q r s 7, ...); another key, a pause, or an arrow makes
it stay. The input mode is switched with a soft key, in the order of MODES: lower case,
upper case, digits and symbols. Left/right move the cursor, C erases the character
before it, C held clears everything. A secret (a password) shows as '*' but for the
letter being chosen.

What may be typed follows the field (`kind`): "text" (anything), "number" (digits only),
"ip" (digits and dots: * types a dot, as the manual's phones do), "dial" (0-9 * #).
In a text field's 123 mode * is the dot first, * again the star, a third time the colon
(a host, an address, "host:port"); Sym's 1 is . : @ / too;
`max_len` bounds it. The editor is pure: the caller passes the time (monotonic seconds)
and asks `due()` when to come back to let a pending letter stay.
"""
from __future__ import annotations

MULTITAP_S = 1.0

MODES = ("abc", "ABC", "123", "sym")
LABELS = {"abc": "abc", "ABC": "ABC", "123": "123", "sym": "Sym"}

LETTERS = {"1": ".,?!1", "2": "abc2", "3": "def3", "4": "ghi4", "5": "jkl5", "6": "mno6",
           "7": "pqrs7", "8": "tuv8", "9": "wxyz9", "0": " 0", "*": "*.:@/", "#": "#"}
SYMBOLS = {"1": ".:@/", "2": "-_+=", "3": "()[]", "4": "<>{}", "5": "!?;,", "6": "'\"`~",
           "7": "$%&^", "8": "|\\", "9": "§°", "0": " ", "*": "*", "#": "#"}
KINDS = ("text", "number", "ip", "dial")


class TextEntry:
    """A value being typed: `text`, the `cursor` position in it, the input `mode`."""

    def __init__(self, text: str = "", *, kind: str = "text", secret: bool = False,
                 max_len: int = 128, mode: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind, self.secret, self.max_len = kind, secret, max_len
        self.text = text[:max_len]
        self.cursor = len(self.text)
        self.mode = mode or ("abc" if kind == "text" else "123")
        self._pending: tuple[str, int, float] | None = None   # (key, tap, when)

    # -- what the person does ----------------------------------------------------------

    def press(self, key: str, now: float) -> bool:
        """A key; True when the editor took it."""
        if key in ("left", "right"):
            self.settle()
            step = -1 if key == "left" else 1
            self.cursor = max(0, min(len(self.text), self.cursor + step))
            return True
        if key == "cancel":
            self.settle()
            if self.cursor:
                self.text = self.text[:self.cursor - 1] + self.text[self.cursor:]
                self.cursor -= 1
            return True
        if key not in LETTERS:
            return False
        chars = self._choices(key)
        if not chars:
            return True                   # a key this field does not take: nothing typed
        pending = self._pending
        if pending is not None and pending[0] == key and now - pending[2] < MULTITAP_S \
                and len(chars) > 1:
            tap = (pending[1] + 1) % len(chars)
            self.text = self.text[:self.cursor - 1] + chars[tap] + self.text[self.cursor:]
            self._pending = (key, tap, now)
            return True
        self.settle()
        if len(self.text) >= self.max_len:
            return True                   # full: the field says how long it may be
        self.text = self.text[:self.cursor] + chars[0] + self.text[self.cursor:]
        self.cursor += 1
        self._pending = (key, 0, now) if len(chars) > 1 else None
        return True

    def hold(self, key: str) -> bool:
        """A key held down: C clears everything."""
        if key != "cancel":
            return False
        self._pending = None
        self.text, self.cursor = "", 0
        return True

    def next_mode(self) -> str:
        """The mode soft key: the next input mode this field allows."""
        self.settle()
        allowed = self.modes()
        self.mode = allowed[(allowed.index(self.mode) + 1) % len(allowed)] \
            if self.mode in allowed else allowed[0]
        return self.mode

    # -- time ----------------------------------------------------------------------------

    def due(self) -> float | None:
        """When (monotonic) the letter being chosen stays by itself, if one is."""
        return self._pending[2] + MULTITAP_S if self._pending is not None else None

    def tick(self, now: float) -> bool:
        """Let a pending letter stay once its time is up; True when something changed."""
        due = self.due()
        if due is not None and now >= due:
            self._pending = None
            return True
        return False

    def settle(self) -> None:
        self._pending = None

    # -- what the LCD shows ----------------------------------------------------------------

    def modes(self) -> tuple[str, ...]:
        return MODES if self.kind == "text" else ("123",)

    @property
    def label(self) -> str:
        """The mode soft key's label."""
        return LABELS[self.mode]

    @property
    def choosing(self) -> bool:
        """Is the character before the cursor still being chosen (multi-tap)?"""
        return self._pending is not None

    def shown(self) -> str:
        """The text as the LCD shows it: a secret masked but for the letter being chosen."""
        if not self.secret:
            return self.text
        masked = "*" * len(self.text)
        if self._pending is not None and self.cursor:
            i = self.cursor - 1
            masked = masked[:i] + self.text[i] + masked[i + 1:]
        return masked

    def _choices(self, key: str) -> str:
        if self.kind == "number":
            return key if key.isdigit() else ""
        if self.kind == "dial":
            return key
        if self.kind == "ip":
            return key if key.isdigit() else ("." if key == "*" else "")
        if self.mode == "123":
            return ".*:" if key == "*" else key    # an address: dot, star, colon (host:port)
        if self.mode == "sym":
            return SYMBOLS[key]
        chars = LETTERS[key]
        return chars.upper() if self.mode == "ABC" else chars
