"""Every exception the firmware raises on purpose, in one place.

Messages are read by people (log, LCD, API): they say what is wrong and what to do.
"""
from __future__ import annotations


class DeskphoneError(Exception):
    """Base of our own errors."""


class SettingError(DeskphoneError):
    """One setting has a bad value. `key` is the dotted name, e.g. account.1.expires."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class SettingsInvalid(DeskphoneError):
    """A change was refused because some values are bad; nothing was written."""

    def __init__(self, problems: list[SettingError]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class BoardError(DeskphoneError):
    """A board definition cannot be used (unknown board, missing part, ...)."""


class SipError(DeskphoneError):
    """The SIP stack refused a command (bad URI, no transport, ...)."""


class AuthError(DeskphoneError):
    """Wrong user name or password."""
