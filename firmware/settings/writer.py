"""One thread that writes settings.toml for the running phone, so a save never holds the
event loop while tomlkit edits the file and the SD card fsyncs it (10-100 ms on a Pi's card;
issue #13: key -> frame must not change while a browser saves settings).

The loop validates and applies a change in memory at once (firmware/settings_service.py)
and calls request(); the thread then writes the settings *as they are when it gets to
them*: saves that pile up while one is written become one write of the newest state, and
no older state is ever written after a newer one (a single thread, taking its snapshot
under the store's lock). flush() waits (any thread but the loop's, or the loop when it
must: SIGHUP, shutdown); flushed() is the same for a coroutine, without blocking the loop.
"""
from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:          # start-up imports no asyncio before the first REGISTER
    import asyncio

log = logging.getLogger("firmware.settings")
WRITING_SWITCH = 0.0005    # seconds: the GIL's switch interval while a write runs (_attempt)


class SettingsWriter:
    """write() does the file work (in the thread); done(error) is called on the loop after
    each write with None or the OSError's text, so the idle screen can show or clear it."""

    def __init__(self, write: Callable[[], None], *, loop: asyncio.AbstractEventLoop | None,
                 done: Callable[[str | None], None]):
        """loop None (a service on a bare bus, in-process tests): request() writes at once,
        in the caller's thread, as saves were before the writer."""
        self._write, self._loop, self._done = write, loop, done
        self._cond = threading.Condition()
        self._asked = 0          # saves requested
        self._written = 0        # saves whose state is on disk, or whose write failed
        self._error: str | None = None     # the last write's failure, None when it worked
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> bool:
        """A write asked for and not finished: settings.toml is about to change."""
        with self._cond:
            return self._written < self._asked

    def request(self) -> None:
        """The settings in memory changed: write them (soon, in the thread)."""
        if self._loop is None:
            self._asked += 1
            self._written, self._error = self._asked, self._attempt()
            self._done(self._error)
            return
        with self._cond:
            self._asked += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="settings-writer",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = 30.0) -> str | None:
        """Wait until every save asked for so far is on disk (or failed): None, or why the
        last write failed."""
        with self._cond:
            target = self._asked
            self._cond.wait_for(lambda: self._written >= target, timeout)
            return self._error

    async def flushed(self) -> str | None:
        """flush() for a coroutine (PATCH /api/settings answers once the change is on
        disk): the loop goes on drawing keys meanwhile."""
        with self._cond:
            if self._written >= self._asked:
                return self._error
            fut = self._loop.create_future()
            self._waiters.append((self._asked, fut))
        return await fut

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: self._written < self._asked, 60.0):
                    self._thread = None     # idle a minute: a new save starts another
                    return
                target = self._asked        # every save asked so far: this write covers them
            error = self._attempt()
            with self._cond:
                self._written, self._error = target, error
                ready = [f for n, f in self._waiters if n <= target]
                self._waiters = [(n, f) for n, f in self._waiters if n > target]
                self._cond.notify_all()
            try:
                self._loop.call_soon_threadsafe(self._finished, error, ready)
            except RuntimeError:
                pass                        # the loop is closed: the phone is stopping

    def _attempt(self) -> str | None:
        """One write: None, or why it failed (logged). tomlkit's edit is pure Python (~2 ms
        for a short file, ~30 ms for a commented 9 KB one here): under the GIL's default 5 ms
        switch interval the loop waits up to 5 ms each time it wants to run, so while a
        write runs the interval is 0.5 ms (loop lag p99 while saving every 50 ms a 9 KB
        file: ~40 ms -> ~4-15 ms on this 2-core machine)."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, WRITING_SWITCH))
        try:
            self._write()
        except OSError as e:
            log.error("settings: cannot write settings.toml (%s); the change is in use "
                      "and is saved again at the next save", e)
            return e.strerror or str(e)
        except Exception as e:  # noqa: BLE001 - the thread must go on serving saves
            log.exception("settings: writing settings.toml failed")
            return str(e)
        finally:
            sys.setswitchinterval(interval)
        return None

    def _finished(self, error: str | None, ready: list[asyncio.Future]) -> None:
        self._done(error)
        for f in ready:
            if not f.done():
                f.set_result(error)
