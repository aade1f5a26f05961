"""The settings in use: changed, applied and announced in one place.

The schema and the file live in firmware.settings (validation, atomic save). This is what
the running phone does with them: every way a setting changes — the web API, a
provisioning run, an LCD menu, SIGHUP, `python -m firmware passwd` — comes here, the
store validates and saves it, the log follows log.*, problems show on the idle screen,
and SettingsChanged tells every part that reads settings.

A change is checked and in use at once (update() returns what changed, or raises why
not); settings.toml is written by one thread (firmware/settings/writer.py), so the event
loop never waits for tomlkit and fsync while keys are drawn. A coroutine that must know
the change is on disk awaits flushed() (PATCH /api/settings does); SIGHUP and stopping
wait for the writer first.
"""
from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any, Callable

from firmware import logs
from firmware.errors import SettingError
from firmware.events import Event, SettingsChanged
from firmware.settings import FIELDS, check, factory_values
from firmware.settings.writer import SettingsWriter

log = logging.getLogger("deskphone")

# who may sign in (both roles, firmware/roles.py): changed only with a password (ui/web/signin.py,
# python -m firmware passwd), never by PATCH /api/settings or a restored backup
CREDENTIALS = ("web.user", "web.password_hash", "web.user_name", "web.user_password_hash",
               "web.user_must_change")
MAX_READ = 1 << 20     # bytes of settings.toml read for the credentials


class SettingsWritten(Event):
    """settings.toml was written, or a write failed: after it the idle screen shows (or no
    longer shows) the failure (the presenter draws after every batch of events)."""


def setup_logs(data_dir: Path, settings, *, console: bool) -> None:
    """DIR/logs as the log.* settings say."""
    lg = settings.log
    logs.setup(data_dir / "logs", level=lg.level, sip_trace=lg.sip_trace, max_kb=lg.max_kb,
               keep=lg.keep, console=console)


class SettingsService:
    def __init__(self, *, store, state, bus, data_dir: Path, console_log: bool,
                 sip_error: Callable[[], str]):
        self.store, self.state, self.bus = store, state, bus
        self.settings = store.settings
        self.data_dir, self.console_log = data_dir, console_log
        self.sip_error = sip_error
        self._seen_file: tuple | None = None    # settings.toml's stat when last read or written
        self._write_error: str | None = None    # why the last write failed; None: it worked
        self.writer = SettingsWriter(self._write, loop=getattr(bus, "loop", None),
                                     done=self._written)
        self._credentials_changed: list[str] = []   # from disk, not yet told to the web
        # what the settings that apply only at start were when the phone started
        self._started_with = {k: self.settings.get(k) for k, f in FIELDS.items()
                              if f.metadata["restart"]}

    def update(self, values: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Validate, apply, and have the writer thread save atomically: (changed keys,
        those needing a restart). Raises SettingsInvalid (nothing changed). The file is
        written soon after; await flushed() to know it is."""
        self._read_credentials()    # a password `passwd` just saved is not written back over
        changed = self.store.change(values)
        if changed:
            self.writer.request()
            self._applied(changed)
        restart = [k for k in changed if FIELDS[k].metadata["restart"]]
        return changed, restart

    async def flushed(self) -> str | None:
        """Every change made so far is on disk: None, or why settings.toml could not be
        written (the change is in use; the next save tries again). The loop runs on."""
        return await self.writer.flushed()

    def flush(self) -> None:
        """Wait, holding the loop, for the writer (SIGHUP, `passwd`'s stat check, stop)."""
        self.writer.flush()

    def _write(self) -> None:
        """The writer thread: adopt what `passwd` wrote since the last look, then write the
        settings in use, and remember the stat of our own file (not an outside change)."""
        self._read_credentials(writer=True)
        self.store.write_current()
        with self.store.lock:
            self._seen_file = _stat(self.store.path) or self._seen_file

    def _written(self, error: str | None) -> None:
        """On the loop after each write: show or clear a failed write on the idle screen."""
        before = list(self.state.errors)
        self._write_error = error
        self.show_problems()          # a good write also clears the file's bad values
        if self.state.errors != before:
            self.bus.post(SettingsWritten())

    def pending_restart(self) -> list[str]:
        """Saved settings that apply only after a restart and differ from the ones the
        phone started with (the web's "needs a restart" notice and Restart button)."""
        return [k for k, v in self._started_with.items() if self.settings.get(k) != v]

    def save_from_phone(self, values: dict[str, Any]) -> None:
        """A change made on the phone's keys: a refusal is a notice on the LCD."""
        try:
            self.update(values)
        except Exception as e:  # noqa: BLE001
            self.state.notice = f"Cannot save: {e}"
            # the keys only: a SIP password typed on the LCD never goes into phone.log
            log.warning("saving %s: %s", ", ".join(values), e)

    def reload(self) -> None:
        """SIGHUP: read settings.toml again (bad values keep their last good value)."""
        self.flush()                # a change still being written is read back, not lost
        before = {k: self.settings.get(k) for k in FIELDS}
        self.store.load()
        changed = [k for k in FIELDS if self.settings.get(k) != before[k]]
        self._credentials_changed += [k for k in changed if k in CREDENTIALS]
        self.show_problems()
        if changed:
            self._applied(changed)

    def _applied(self, changed: list[str]) -> None:
        log.info("settings changed: %s", ", ".join(changed))
        if any(k.startswith("log.") for k in changed):
            setup_logs(self.data_dir, self.settings, console=self.console_log)
        self.show_problems()
        self.bus.post(SettingsChanged(changed))

    def show_problems(self) -> None:
        """Bad values in settings.toml (and a SIP engine that did not start) on the idle
        screen."""
        errors = [str(p) for p in self.store.problems]
        if self._write_error:
            errors.insert(0, f"settings.toml: cannot save ({self._write_error}); the "
                             "change is in use until a restart; the next save tries again")
        if self.sip_error():
            errors.insert(0, f"SIP: {self.sip_error()}")
        self.state.errors = errors

    def credentials_from_disk(self) -> list[str]:
        """`python -m firmware passwd` writes settings.toml while the phone runs: take the
        web credentials from it when the file changed (its stat), before a password is
        checked. Only these keys; the rest waits for a HUP or a restart. Returns the keys
        changed on disk since the last call, by passwd or by a hand edit and SIGHUP (every
        web session signs in again); a change made through the web is not among them (the
        Password page signs out the other sessions itself)."""
        self._read_credentials()
        with self.store.lock:
            changed, self._credentials_changed = self._credentials_changed, []
        return changed

    def _read_credentials(self, *, writer: bool = False) -> None:
        """On the loop, and in the writer thread just before each write (so a `passwd`
        write in between is adopted, not written over). While our own write is pending the
        loop does not look: the file is about to be ours, and the writer looks first."""
        if not writer and self.writer.pending:
            return
        with self.store.lock:
            self._adopt_credentials()

    def _adopt_credentials(self) -> None:
        path = self.store.path
        seen = _stat(path)
        if seen is None or seen == self._seen_file:
            return
        self._seen_file = seen
        size = seen[1]
        try:
            if size > MAX_READ:
                return
            text = path.read_text("utf-8")
            if not text.strip():
                return      # empty: not the factory password (the store warns)
            doc = tomllib.loads(text)
        except (OSError, ValueError, RecursionError):
            return          # the store reports a broken file at its next load
        section = doc.get("web") if isinstance(doc.get("web"), dict) else {}
        w = self.settings.web
        factory = factory_values()
        for key in CREDENTIALS:
            name = key.split(".")[1]
            try:
                value = check(key, section.get(name, factory[key]))
            except SettingError as e:
                log.warning("settings.toml: %s; keeping the one in use", e)
                continue
            if value != getattr(w, name):
                setattr(w, name, value)
                self._credentials_changed.append(key)
                log.info("%s changed in settings.toml: in use from now on; every web "
                         "session signs in again", key)


def _stat(path: Path) -> tuple | None:
    """What tells one settings.toml from the next (atomic_write: a new inode each time)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
