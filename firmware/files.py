"""Writing a file so that a crash or a power cut at any moment leaves the old file or the new
one, never a mix and never nothing: the one way every part of the phone writes a file
(settings, keys, call log, phone books, provisioning state and downloads, the boot
supervisor's state, firmware images).

A temp file in the same directory, written, flushed and fsynced, given its mode, renamed
over the old name, and the directory fsynced (without that last step the rename itself may
be lost in a power cut on ext4 and the old file comes back).

Standard library only and nothing else of the firmware: the boot supervisor
(firmware/boot.py) uses it too, and no upgrade may break that.
"""
from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

log = logging.getLogger("deskphone.files")


def fsync_dir(path: Path | str) -> None:
    """Make the names in `path` (a rename, a new file) survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path | str, *, mode: int = 0o600,
                tmp: Path | str | None = None) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content into; it replaces `path` when the block
    ends without an exception, else it is removed and `path` stays as it was.

    mode: the new file's permissions (0600: most files hold secrets or private data).
    tmp: a fixed temp name beside `path` (a download others may look for); default a
    unique hidden one, `.NAME.XXXX.tmp`, that a reader can sweep up after a kill."""
    path = Path(path)
    if tmp is None:
        import tempfile          # not on the way to the first REGISTER (3 ms)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    else:
        name = str(tmp)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path | str, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` as the whole new content of `path` (see the module doc)."""
    with atomic_file(path, mode=mode) as f:
        f.write(data)


KEPT_ASIDE = 3               # damaged copies kept of a file: NAME.bad, NAME.bad.1, NAME.bad.2


def kept_aside(path: Path | str) -> list[Path]:
    """The damaged copies of `path` there are, the newest (NAME.bad) first."""
    path = Path(path)
    names = [path.name + ".bad"] + [f"{path.name}.bad.{n}" for n in range(1, KEPT_ASIDE)]
    return [p for p in (path.with_name(n) for n in names) if p.exists()]


def damaged(what: str, kept: str, then: str = "starting empty") -> str:
    """What the phone says of a file it kept aside (the LCD, the web page showing it),
    until the person dismisses it or changes what the file held."""
    return f"Your {what} was damaged: kept as {kept}; {then}"


def keep_aside(path: Path | str, why, *, then: str = "starting empty") -> Path:
    """A damaged file renamed NAME.bad beside it, for a person to look at, never read
    again, with a warning saying what is wrong (`why`) and what the phone does instead
    (`then`); the next write makes a new NAME. The copies kept before move up one
    (NAME.bad -> NAME.bad.1 ...), so a second damage never overwrites the first's copy;
    the oldest beyond KEPT_ASIDE goes (a file damaged at every start would otherwise fill
    the flash). The .bad file's path."""
    path = Path(path)
    bad = path.with_name(path.name + ".bad")
    log.warning("%s is damaged (%s): kept as %s, %s", path, why, bad.name, then)
    try:
        for n in range(KEPT_ASIDE - 1, 0, -1):          # .bad.1 -> .bad.2, .bad -> .bad.1
            older = path.with_name(f"{path.name}.bad.{n - 1}" if n > 1 else bad.name)
            if older.exists():
                os.replace(older, path.with_name(f"{path.name}.bad.{n}"))
        os.replace(path, bad)
    except OSError as e:
        log.warning("cannot rename %s: %s", path, e)
    return bad


def json_bytes(doc) -> bytes:
    """How the phone's JSON files are written (phone books, keys: one-space indent, text
    as it is in UTF-8, a final newline): provisioning tells "unchanged" by comparing these
    bytes, and a phone book uploaded on the web is written the same way."""
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"
