"""Process plumbing shared by the peer helpers.

Each peer runs in its own session (process group) so teardown can kill it and every child it
forked (Kamailio forks workers) by PID/PGID, never by name.  All waits are bounded and poll
at ~20-50 ms; errors carry the tail of the peer's log because that is where the reason is.

Every process a test starts dies with the test run, even when pytest itself is killed -9
(a CI timeout): start it with `spawn` (PeerProcess and tests/phone.py do). Two guards:
- the child's parent-death signal (prctl PR_SET_PDEATHSIG = SIGKILL), set between fork and
  exec. Linux sends it when the *thread* that forked the child ends, so it is set only for
  children started from the main thread; a child started from another thread has the
  second guard alone;
- a reaper: one small process per test run, in a session of its own (a kill of pytest's
  process group does not reach it), that holds a pipe from pytest and knows every peer's
  process group. When the pipe closes — pytest exited, however — it SIGKILLs the groups
  still listed: grandchildren too (Kamailio's workers, which outlive a killed main process
  otherwise). Groups leave the list when their leader has been waited for.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from tests.helpers import POLL_S, TimedOut, wait_for as _wait_for

T = TypeVar("T")


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
    """tests.helpers.wait_for for a peer: PeerError with the tail of its log after
    `timeout` s, and at once if `proc` dies meanwhile instead of waiting out the deadline.
    """
    def ready():
        value = predicate()
        if not value and proc is not None and not proc.alive():
            raise PeerError(f"{what}: {proc.name} exited with code {proc.returncode} "
                            f"while waiting\n{log_tail(log) if log else ''}")
        return value

    try:
        return _wait_for(ready, what, timeout, poll=POLL_S)
    except TimedOut:
        raise PeerError(f"{what}: timed out after {timeout:.1f} s\n"
                        f"{log_tail(log) if log else ''}") from None


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl            # looked up here: the child must not load anything

# The reaper: reads "+PGID START" / "-PGID" lines; at end of input kills the groups listed.
# PIDs are reused (pid_max may be 32768): a group is killed only if its leader is the
# process registered (same start time) or is gone — Linux gives no new process a PID that
# is still some group's id, so members of a group whose leader died are that group's.
REAPER = r"""
import os, signal, sys
groups = {}
for line in sys.stdin:
    sign, rest = line[:1], line[1:]
    pgid, _, started = rest.strip().partition(" ")
    if sign == "+":
        groups[int(pgid)] = started
    else:
        groups.pop(int(pgid), None)
for pgid, started in groups.items():
    try:
        now = open(f"/proc/{pgid}/stat").read().rpartition(")")[2].split()[19]
    except OSError:
        now = None
    if now is None or now == started:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
"""


class _Reaper:
    """The per-run reaper process (see the module doc); started with the first peer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _send(self, line: str) -> None:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-c", REAPER], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True, text=True, bufsize=1)
            try:
                self._proc.stdin.write(line + "\n")
                self._proc.stdin.flush()
            except OSError:
                pass          # it died: the parent-death signal still guards the child

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid} {start_time(pgid)}")

    def forget(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


reaper = _Reaper()


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """preexec_fn: SIGKILL when the test run's main thread ends; at once if it has."""
    if threading.current_thread() is not threading.main_thread():
        return None                 # the signal would come when *this* thread ends

    def setup() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return setup


def spawn(argv: Sequence[str], **kw) -> subprocess.Popen:
    """subprocess.Popen in a session of its own that dies with the test run; the caller
    calls `reaped(popen)` once it has waited for it."""
    proc = subprocess.Popen(argv, start_new_session=True,
                            preexec_fn=_die_with_parent(os.getpid()), **kw)
    reaper.watch(proc.pid)
    return proc


def reaped(proc: subprocess.Popen) -> None:
    """`proc` (from spawn) was waited for: its group id may be reused, stop watching it."""
    if proc.returncode is not None:
        reaper.forget(proc.pid)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def process_group(pgid: int) -> list[int]:
    """Every PID of process group `pgid` (a peer and what it forked)."""
    return [int(d) for d in os.listdir("/proc")
            if d.isdigit() and (f := _stat(int(d))) and int(f[2]) == pgid]


def start_time(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot): a PID is the same process while it is."""
    f = _stat(pid)
    return f[19] if f else None


def running(pid: int, started: str) -> bool:
    """`pid` is still the process that started at `started`, and not a zombie."""
    f = _stat(pid)
    return bool(f) and f[0] != "Z" and f[19] == started


def wait_gone(started: dict[int, str], timeout: float) -> dict[int, str]:
    """Wait until none of {pid: start_time} runs; return those still running at timeout."""
    deadline = time.monotonic() + timeout
    left = {pid: t for pid, t in started.items() if running(pid, t)}
    while left and time.monotonic() < deadline:
        time.sleep(POLL_S)
        left = {pid: t for pid, t in left.items() if running(pid, t)}
    return left


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
            self.popen = spawn(
                self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=self.env)

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
        reaped(self.popen)
        return self.popen.returncode


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


PORT_RETRIES = 3        # a port picked free may be taken before the peer binds it


class Peer:
    """What every peer shares (Kamailio, baresip, sipp, the servers): one PeerProcess and
    its log; pid, alive, the log's text and tail; `with` starts and closes it; `launch`
    starts it, waits until it is ready and, when a port it was given was taken meanwhile,
    picks others and tries again. A peer sets `name`, `log_path`, `start_timeout`."""

    name = "peer"
    log_path: Path
    start_timeout: float = 5.0
    _proc: PeerProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def alive(self) -> bool:
        return bool(self._proc and self._proc.alive())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        """The log's length now: what comes after it is new (wait_log's `since`)."""
        return len(self.log_text())

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        if self._proc:
            self._proc.stop(timeout=3.0)

    def close(self) -> None:
        self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def launch(self, argv: Callable[[], Sequence], *, ready: Callable[[], object], what: str,
               cwd: Path, clashed: Callable[[str], bool] = lambda logged: False,
               repick: Callable[[], None] | None = None):
        """Start `argv()` (it writes the config for the ports of now) and wait until
        `ready()`. If that fails and `clashed(what it logged)` says a port was taken,
        `repick()` others and try again, PORT_RETRIES times; else PeerError."""
        for attempt in range(PORT_RETRIES):
            self._proc = PeerProcess(argv(), log=self.log_path, cwd=cwd, name=self.name)
            mark = self.log_size()
            self._proc.start()
            try:
                wait_for(ready, timeout=self.start_timeout, proc=self._proc, what=what,
                         log=self.log_path)
                return self
            except PeerError:
                self._proc.stop()
                if repick is None or attempt + 1 == PORT_RETRIES or \
                        not clashed(self.log_text()[mark:]):
                    raise
                repick()
        raise AssertionError("unreachable")
