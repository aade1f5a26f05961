"""What can go wrong while provisioning, each with a message an administrator can act on.

Every error names the file (or server) and says what to do. The engine records them per file
in the provisioning status and log; none of them ever changes a setting.
"""
from __future__ import annotations

from firmware.errors import DeskphoneError


class ProvisionError(DeskphoneError):
    """Base: the run (or one file of it) failed; `str(e)` is the reason for people."""


class BadServer(ProvisionError):
    """The server setting cannot be used (bad URL, unknown protocol, nothing configured)."""


class NoServer(BadServer):
    """No server configured and none from DHCP: a phone not set up for provisioning."""


class FetchError(ProvisionError):
    """A transfer failed: connection refused, reset, protocol error."""


class NotFound(FetchError):
    """The server has no such file (HTTP 404, TFTP error 1, FTP 550). Optional files may be
    missing; the engine decides whether that matters."""


class AuthFailed(FetchError):
    """The server refused our credentials (HTTP 401/403, FTP 530, TFTP access violation)."""


class FetchTimeout(FetchError):
    """The server stopped answering."""


class TooLarge(FetchError):
    """The file is larger than the limit for its kind; the transfer was stopped."""


class BadFile(ProvisionError):
    """A file arrived but cannot be used: malformed XML, entities, wrong format."""


class DecryptError(BadFile):
    """An encrypted file could not be decrypted: no key, wrong key, or damaged."""


class ImageError(ProvisionError):
    """A firmware image failed a check (truncated, checksum, signature, wrong model)."""
