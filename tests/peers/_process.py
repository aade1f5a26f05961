"""Process plumbing shared by the peer helpers.

Each peer runs in its own session (process group) so teardown can kill it and every child it
forked (Kamailio forks workers) by PID/PGID, never by name.  All waits are bounded and poll
at ~20-50 ms; errors carry the tail of the peer's log because that is where the reason is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

POLL_S = 0.03


class PeerError(RuntimeError):
    """A test peer failed to start, answer or finish in time; the message has its log tail."""


def log_tail(path: Path, lines: int = 40) -> str:
    """Last `lines` lines of a log file (or a note that it is missing), for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    tail = text.splitlines()[-lines:]
    return f"--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail)


def wait_for(predicate: Callable[[], T | None], *, timeout: float, what: str,
             log: Path | None = None, proc: "PeerProcess | None" = None) -> T:
    """Poll `predicate` until it returns a truthy value; raise PeerError after `timeout` s.

    If `proc` dies meanwhile, fail at once instead of waiting out the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise PeerError(f"{what}: {proc.name} exited with code {proc.returncode} "
                            f"while waiting\n{log_tail(log) if log else ''}")
        if time.monotonic() >= deadline:
            raise PeerError(f"{what}: timed out after {timeout:.1f} s\n"
                            f"{log_tail(log) if log else ''}")
        time.sleep(POLL_S)


class PeerProcess:
    """One child process in its own session, stdout+stderr appended to `log`."""

    def __init__(self, argv: Sequence[str], *, log: Path, cwd: Path, name: str,
                 env: dict[str, str] | None = None):
        self.argv = [str(a) for a in argv]
        self.log = Path(log)
        self.cwd = Path(cwd)
        self.name = name
        self.env = env
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"=== {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, env=self.env)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` s for exit; return the code, or None if still running."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, *, timeout: float = 3.0, sig: int = signal.SIGTERM,
             repeat_after: float | None = None) -> int | None:
        """Signal the process group, wait, then SIGKILL the group; safe to call twice.

        repeat_after: send `sig` once more after that many seconds (baresip exits at once
        on a second SIGTERM, after trying a graceful un-REGISTER/BYE on the first).
        """
        if self.popen is None:
            return None
        pgid = self.popen.pid  # start_new_session: the child leads its own group
        if self.popen.poll() is None:
            _killpg(pgid, sig)
            if repeat_after is not None and self.wait(repeat_after) is None:
                _killpg(pgid, sig)
            if self.wait(timeout) is None:
                _killpg(pgid, signal.SIGKILL)
                self.wait(timeout)
        # Workers that outlive their parent (should not happen) go too.
        _killpg(pgid, signal.SIGKILL)
        return self.popen.returncode


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
