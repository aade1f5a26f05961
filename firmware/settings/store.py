"""DIR/settings.toml on disk: loading it (a bad value keeps its last good one, an unreadable
file leaves the phone on the last good settings), saving a change atomically with the
administrator's comments and layout kept (firmware/settings/layout.py), keeping the last
good copy, and the modes of the data dir and the files holding passwords."""
from __future__ import annotations

import logging
import os
import threading
import tomllib
from pathlib import Path
from typing import Any

from firmware.errors import SettingError, SettingsInvalid
from firmware.files import atomic_write
from firmware.settings.schema import DIR_MODE, FIELDS, FILE_MODE, MAX_FILE, Settings
from firmware.settings.values import (_short, apply, assign, factory_values, flatten,
                                      settings_file, to_document)

log = logging.getLogger("firmware.settings")


class SettingsStore:
    """Owns DIR/settings.toml and the last good copy beside it.

    `settings` is one object for the life of the process: loads and saves update it
    in place, so modules may keep a reference to it. The store never writes over a
    settings.toml it could not read without keeping it as settings.toml.bad first.
    """

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir)
        self.path = self.dir / "settings.toml"
        self.good_path = self.dir / ".settings.good.toml"
        self.bad_path = self.dir / "settings.toml.bad"
        self.settings = Settings()
        self.problems: list[SettingError] = []
        self.unreadable = False       # settings.toml on disk is not what the phone runs
        self._good = b""              # what .settings.good.toml holds, as last read or written
        self._good_pending = False    # load(keep_good_later=True) left keep_good() to do
        # held while `settings` changes on the loop and while the writer thread copies it
        # (firmware/settings/writer.py), never during file work
        self.lock = threading.RLock()

    def load(self, *, keep_good_later: bool = False) -> Settings:
        """Read the file; never raises for bad content (see module doc). keep_good_later:
        the last good copy is written by keep_good(), not now (start-up: a first start
        would write it, two fsyncs, before the first REGISTER)."""
        self._good_pending = False
        secure(self.dir, (self.path, self.good_path, self.bad_path))
        last_good = self._read_good()
        self.problems = []
        self.unreadable = False
        for name in (self.path.name, self.good_path.name, self.bad_path.name):
            for stale in self.dir.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)   # left by a write that was killed
        try:
            raw = _read_bounded(self.path)
        except FileNotFoundError:
            assign(self.settings, Settings())
            return self.settings
        except OSError as e:
            return self._run_on_last_good(last_good, f"cannot read it ({e.strerror or e})")
        except _TooBig as e:
            return self._run_on_last_good(last_good, str(e))
        if not raw.strip():
            return self._run_on_last_good(
                last_good, "the file is empty (a write cut short, or emptied by mistake); "
                "to go back to the factory settings on purpose, delete it or leave a "
                "comment line in it")
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except RecursionError:
            return self._run_on_last_good(last_good, "tables or lists nested too deeply "
                                                     "to read; fix the file")
        except (ValueError, UnicodeDecodeError, MemoryError) as e:
            # TOMLDecodeError is a ValueError; so is a 5000-digit number
            why = str(e) if len(str(e)) <= 200 else str(e)[:200] + "..."
            return self._run_on_last_good(last_good, f"{why}; fix the file")
        values = flatten(doc)
        # a bad key keeps its last good value; a missing key is the factory default
        settings, problems = apply(Settings(), values)
        for i, p in enumerate(problems):
            if p.key in FIELDS:
                sec, _, name = p.key.rpartition(".")
                setattr(settings.section(sec), name, last_good.get(p.key))
                problems[i] = SettingError(p.key, p.reason + (
                    f"; using {_short(last_good.get(p.key))}" if not FIELDS[p.key].metadata[
                        "secret"] else "; using the last good value"))
        self.problems = _few(problems)
        assign(self.settings, settings)
        if self.problems:
            self._log_problems()
        elif keep_good_later:
            self._good_pending = True
        else:
            self._write_good(settings)
        return self.settings

    def keep_good(self) -> None:
        """Write the last good copy a load(keep_good_later=True) left to do, if any."""
        if self._good_pending and not self.problems and not self.unreadable:
            self._write_good(self.settings)
        self._good_pending = False

    def update(self, values: dict[str, Any]) -> list[str]:
        """Validate and save a change; all or nothing (a write that fails raises and
        changes nothing). Returns the keys that changed. `python -m firmware passwd` and
        the tests; the running phone uses change() and write_current() instead."""
        new, changed = self._checked(values)
        if changed:
            self.save(new)
        return changed

    def change(self, values: dict[str, Any]) -> list[str]:
        """Validate a change and apply it in memory only (all or nothing; raises
        SettingsInvalid): the running phone's save, whose file work write_current() does
        in firmware/settings/writer.py's thread, off the event loop."""
        new, changed = self._checked(values)
        if changed:
            with self.lock:
                assign(self.settings, new)
        return changed

    def _checked(self, values: dict[str, Any]) -> tuple[Settings, list[str]]:
        new, problems = apply(self.settings, values)
        if problems:
            raise SettingsInvalid(problems)
        return new, [k for k in FIELDS if new.get(k) != self.settings.get(k)]

    def save(self, settings: Settings) -> None:
        self._write_file(settings)
        assign(self.settings, settings)

    def write_current(self) -> None:
        """Write the settings in memory as they are now (a snapshot taken under the lock,
        so never half of a change); raises OSError. The writer thread's one job."""
        with self.lock:
            snapshot = self.settings.copy()
        self._write_file(snapshot)

    def _write_file(self, settings: Settings) -> None:
        data = self._edited(settings)
        if self.unreadable:
            self._keep_bad()
        atomic_write(self.path, data)
        self.problems = []
        self.unreadable = False
        self._good_pending = False
        self._write_good(settings)

    def _edited(self, settings: Settings) -> bytes:
        """settings.toml holding `settings`: the file on disk with only the changed keys
        edited (its comments and layout kept: firmware/settings/layout.py), or a fresh
        one when there is none. A file that no longer reads as TOML (edited by hand since
        it was loaded) counts as unreadable: save keeps it as settings.toml.bad first."""
        from firmware.settings.layout import keep_layout    # tomlkit: only when saving
        if not self.unreadable:
            try:
                text = _read_bounded(self.path).decode("utf-8")
                tomllib.loads(text)
            except FileNotFoundError:
                return settings_file(settings)
            except (OSError, _TooBig, ValueError, RecursionError, MemoryError):
                self.unreadable = True
            else:
                if text.strip():
                    edited = keep_layout(text, {k: settings.get(k) for k in FIELDS},
                                         factory_values())
                    if edited is not None:
                        return edited
        return settings_file(settings)

    def _run_on_last_good(self, last_good: Settings, why: str) -> Settings:
        self.unreadable = True
        self.problems = [SettingError("settings.toml", f"{why} — the phone runs on the last "
                                      f"good settings ({self.good_path.name}) until it is "
                                      "fixed (then restart, or send SIGHUP)")]
        assign(self.settings, last_good)
        self._log_problems()
        return self.settings

    def _keep_bad(self) -> None:
        """A save replaces a file we could not read: keep it for whoever wants to fix it."""
        try:
            atomic_write(self.bad_path, _read_bounded(self.path, MAX_FILE * 16))
            log.warning("settings: the settings.toml the phone could not read is kept as %s",
                        self.bad_path)
        except (OSError, _TooBig) as e:
            log.warning("settings: cannot keep the unreadable settings.toml as %s (%s); it "
                        "is replaced", self.bad_path, e)

    def _read_good(self) -> Settings:
        self._good = b""
        try:
            raw = _read_bounded(self.good_path)
            doc = tomllib.loads(raw.decode("utf-8"))
        except (OSError, ValueError, RecursionError, MemoryError, _TooBig):
            return Settings()
        self._good = raw
        s, _ = apply(Settings(), flatten(doc))
        return s

    def _write_good(self, settings: Settings) -> None:
        """Keep `settings` as the last good copy; unchanged, it is not written again (every
        start would otherwise cost two fsyncs, and flash wear, before the first REGISTER)."""
        import tomli_w      # writing: never on the way to the first REGISTER
        data = tomli_w.dumps(to_document(settings)).encode()
        if data == self._good:
            return
        try:
            atomic_write(self.good_path, data)
            self._good = data
        except OSError as e:
            log.warning("cannot keep a copy of the good settings: %s", e)

    def _log_problems(self) -> None:
        for p in self.problems:
            log.warning("settings: %s", p)


class _TooBig(Exception):
    pass


def _read_bounded(path: Path, most: int = MAX_FILE) -> bytes:
    """The file's bytes; _TooBig (never a 1 GB read) when it is larger than `most`."""
    with open(path, "rb") as f:
        data = f.read(most + 1)
    if len(data) > most:
        raise _TooBig(f"{path.name} is larger than {most >> 10} KiB (a settings file holds "
                      f"a few KiB); it is not read")
    return data


def _few(problems: list[SettingError], most: int = 20) -> list[SettingError]:
    """A file of 10000 bad keys is one screen of problems, not 10000 log lines."""
    if len(problems) <= most:
        return problems
    return problems[:most] + [SettingError("settings.toml", f"{len(problems) - most} more "
                                           "problems like these")]


def secure(data_dir: Path, secret_files=()) -> None:
    """The data dir 0700 and the files holding passwords 0600, made so if they are not
    (created by hand, by an older firmware or under a loose umask). Never raises: a
    phone that cannot fix a mode still starts, and says so."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for path, mode in ((data_dir, DIR_MODE), *((Path(f), FILE_MODE) for f in secret_files)):
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_mode & 0o777 & ~mode and not os.path.islink(path):
                os.chmod(path, mode)
                log.warning("%s was readable by others (mode %o); made it %o", path,
                            st.st_mode & 0o777, mode)
    except OSError as e:
        log.warning("cannot restrict the modes in %s (%s); other users of this machine may "
                    "read the SIP passwords", data_dir, e)
