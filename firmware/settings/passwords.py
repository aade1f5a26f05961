"""The web password: its hash in web.password_hash (PBKDF2-SHA256), checking a password
against it in bounded time, and what a new password may not be."""
from __future__ import annotations

import logging
import re

log = logging.getLogger("firmware.settings")

_ITER = 200_000
# What a stored hash may ask for: fewer iterations are too cheap to guess against, more
# would make every sign-in a denial of service (a restored hash with 10^9 iterations once
# froze the phone). hash_password always writes _ITER.
ITERATIONS = (100_000, 1_000_000)
FACTORY_PASSWORD = "root"
PASSWORD_MIN, PASSWORD_MAX = 8, 128
_HEX = re.compile(r"[0-9a-f]+")


def _pw_bytes(password: str) -> bytes:
    # surrogatepass: a lone surrogate from JSON ("\ud800") is a wrong password, not a crash
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    import secrets      # as hashlib below: not on the way to the first REGISTER
    salt = salt or secrets.token_bytes(16)
    dk = _pbkdf2("sha256", _pw_bytes(password), salt, _ITER)
    return f"pbkdf2_sha256${_ITER}${salt.hex()}${dk.hex()}"


def parse_password_hash(stored: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, digest) of a stored hash; ValueError saying what is wrong when it
    is not one hash_password could have written within ITERATIONS, so checking a password
    against it is always bounded work."""
    fix = " (set the password with: python -m firmware passwd)"
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != "pbkdf2_sha256":
        raise ValueError("must look like pbkdf2_sha256$ITERATIONS$SALT$DIGEST" + fix)
    _, iters, salt, digest = parts
    lo, hi = ITERATIONS
    if not iters.isdigit() or not lo <= int(iters[:12]) <= hi:
        raise ValueError(f"iterations must be {lo}-{hi} (got {iters[:12]!r})" + fix)
    if not 32 <= len(salt) <= 128 or len(salt) % 2 or not _HEX.fullmatch(salt):
        raise ValueError("the salt must be 16-64 bytes in lower-case hex" + fix)
    if len(digest) != 64 or not _HEX.fullmatch(digest):
        raise ValueError("the digest must be 32 bytes (SHA-256) in lower-case hex" + fix)
    return int(iters), bytes.fromhex(salt), bytes.fromhex(digest)


def verify_password(password: str, stored: str) -> bool:
    """Checks `password` against a stored hash; empty stored = factory password 'root'.
    A stored hash outside the bounds of parse_password_hash matches nothing (and says so
    in the log) instead of costing unbounded time."""
    import hmac         # as hashlib below: not on the way to the first REGISTER
    if not stored:
        return hmac.compare_digest(_pw_bytes(password), FACTORY_PASSWORD.encode())
    try:
        iters, salt, digest = parse_password_hash(stored)
    except ValueError as e:
        log.warning("web.password_hash refused, nobody can sign in with it: %s", e)
        return False
    return hmac.compare_digest(_pbkdf2("sha256", _pw_bytes(password), salt, iters),
                               digest)


def password_problem(new: str, user: str) -> str | None:
    """Why `new` may not be the web password (None: it may), in words for the person."""
    if len(new) < PASSWORD_MIN:
        return f"the new password must have at least {PASSWORD_MIN} characters"
    if len(new) > PASSWORD_MAX:
        return f"the new password may have at most {PASSWORD_MAX} characters"
    if new.lower() in (user.lower(), FACTORY_PASSWORD) or len(set(new)) < 3:
        return ("the new password must not be the user name, the factory password or one "
                "character repeated: choose another")
    if new.lower() in _COMMON:
        return "the new password is one of the most common ones: choose another"
    if any(ch in new for ch in "\r\n\0"):
        return "the new password must be a single line"
    return None


_COMMON = {"password", "12345678", "123456789", "1234567890", "87654321", "11111111",
           "00000000", "qwertyui", "qwerty123", "admin123", "administrator", "rootroot",
           "iloveyou", "passw0rd", "password1", "letmein1", "abcd1234", "changeme"}


def _pbkdf2(*args):
    """hashlib, imported when a password is first hashed or checked (not on the way to the
    first REGISTER: 2 ms)."""
    import hashlib
    return hashlib.pbkdf2_hmac(*args)
