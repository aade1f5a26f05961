"""The boot supervisor: starts the firmware, and takes a new firmware back out if it fails.

    python -m firmware.boot [--slots DIR] [--factory DIR] [--max-backoff S] [--] FIRMWARE-ARGS

FIRMWARE-ARGS are those of `python -m firmware` (e.g. --board sim --data-dir var --http
127.0.0.1:8080); they are passed on untouched. Slots live in DIR (default DATA-DIR/slots).

It is the phone's bootloader: it comes with the installed (factory) tree, is never replaced
by an image, and uses the standard library only (and firmware/files.py, its atomic file
writes, which is too and lives in the same tree), so that no upgrade can break it. It runs
the firmware in `DIR/current` (slot a or b) or, when there is none, the tree it lives in;
restarts it when it exits with RESTART_EXIT (75) or on SIGUSR1; watches a new firmware on
trial and, if it crashes or does not report healthy in time, switches back to the slot it
came from and records why; restarts a crashed firmware with a growing pause, and after
FALLBACK_AFTER crashes in a row without ever coming up it falls back to the previous slot,
then to the factory tree. SIGTERM/SIGINT go to the firmware and it exits with it.

This module also owns the on-disk contract shared with provisioning/slots.py (layout,
state.json, the lock, the `current` link), so the supervisor can act on it alone.
docs/upgrade.md describes it.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from firmware.files import atomic_write, fsync_dir

BOOT_VERSION = 1          # the contract below; an image needing a newer one is refused
RESTART_EXIT = 75         # the firmware exits with this to be started again (EX_TEMPFAIL)
SLOTS = ("a", "b")
FACTORY = "factory"
CURRENT, STATE, LOCK = "current", "state.json", ".lock"
MAX_TRIAL_BOOTS = 3       # a trial that keeps being cut short (power loss) ends too
FALLBACK_AFTER = 5        # crashes in a row without reporting healthy
STABLE_SECONDS = 60       # a firmware that ran this long starts the pause count again
HISTORY = 20

ENV_SLOTS, ENV_SLOT = "DESKPHONE_SLOTS", "DESKPHONE_SLOT"
ENV_HEALTH_FD, ENV_BOOT = "DESKPHONE_HEALTH_FD", "DESKPHONE_BOOT_VERSION"
ENV_SUPERVISOR = "DESKPHONE_SUPERVISOR_PID"   # the firmware exits when this process dies
FACTORY_ROOT = Path(__file__).resolve().parent.parent


def say(msg: str) -> None:
    print(f"deskphone boot: {msg}", file=sys.stderr, flush=True)


# --- the on-disk contract --------------------------------------------------------------------

def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def locked(root: Path):
    """Every change of state.json or `current` happens under this lock (flock: released
    when the holder dies, so a killed process never leaves it taken)."""
    fd = os.open(Path(root) / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_state(root: Path) -> dict:
    try:
        st = json.loads((Path(root) / STATE).read_text())
        if isinstance(st, dict):
            return st
        say(f"{root / STATE} does not hold a JSON object; starting it afresh")
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:
        say(f"{root / STATE} cannot be read ({e}); starting it afresh")
    return {}


def write_state(root: Path, st: dict) -> None:
    st["format"] = 1
    atomic_write(Path(root) / STATE, json.dumps(st, indent=1, sort_keys=True).encode() + b"\n")


def slot_ok(root: Path, slot: str) -> bool:
    d = Path(root) / slot
    return (slot in SLOTS and (d / "firmware" / "__main__.py").is_file()
            and (d / "firmware" / "VERSION").is_file())


def current_slot(root: Path) -> str:
    """The slot `current` points at, or FACTORY when there is none (or it is broken)."""
    try:
        target = os.readlink(Path(root) / CURRENT)
    except OSError:
        return FACTORY
    return target if slot_ok(root, target) else FACTORY


def point_current(root: Path, slot: str) -> None:
    """Flip `current` atomically: a new link renamed over the old one (FACTORY: removed)."""
    root = Path(root)
    link = root / CURRENT
    if slot == FACTORY:
        link.unlink(missing_ok=True)
    else:
        tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(slot, tmp)
        os.replace(tmp, link)
    fsync_dir(root)


def version_of(root: Path, slot: str, factory: Path = FACTORY_ROOT) -> str:
    base = Path(factory) if slot == FACTORY else Path(root) / slot
    try:
        return (base / "firmware" / "VERSION").read_text().strip() or "?"
    except OSError:
        return "?"


def record(st: dict, result: str, version: str, reason: str, **extra) -> dict:
    """The last upgrade outcome, and a short history of them."""
    entry = {"result": result, "version": version, "reason": reason, "at": now_iso(), **extra}
    st["last"] = entry
    st["history"] = (st.get("history") or [])[-(HISTORY - 1):] + [entry]
    return entry


def go_back(root: Path, st: dict, failed: str, reason: str, *,
            factory: Path = FACTORY_ROOT) -> str:
    """Leave slot `failed` for the trial's origin, else `previous`, else the factory tree;
    flips `current`, clears the trial, records why. Call under locked()."""
    trial = st.get("trial") or {}
    target = trial.get("from") or st.get("previous") or FACTORY
    if target == failed or (target != FACTORY and not slot_ok(root, target)):
        target = FACTORY
    old_v, new_v = version_of(root, failed, factory), version_of(root, target, factory)
    point_current(root, target)
    st["trial"] = None
    st["active"] = target
    st["previous"] = None if target == FACTORY else FACTORY
    record(st, "rolled back", old_v, f"{reason}; back on {new_v}", from_version=new_v,
           slot=failed)
    return target


def mark_healthy(root: Path, slot: str, *, factory: Path = FACTORY_ROOT) -> bool:
    """The firmware in `slot` came up healthy: its trial (if any) ends in success.
    True if a trial ended now."""
    root = Path(root)
    with locked(root):
        st = read_state(root)
        trial = st.get("trial")
        if not trial or trial.get("slot") != slot or current_slot(root) != slot:
            return False
        st["trial"] = None
        st["active"], st["previous"] = slot, trial.get("from", FACTORY)
        record(st, "success", trial.get("version", version_of(root, slot, factory)),
               f"{trial.get('version')} came up healthy", from_version=trial.get("from_version"),
               slot=slot)
        write_state(root, st)
        return True


# --- the supervisor ---------------------------------------------------------------------------

def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


class Supervisor:
    def __init__(self, *, root: Path, factory: Path, args: list[str],
                 max_backoff: float = 60.0, stop_timeout: float = 15.0):
        self.root = Path(root).absolute()
        self.factory = Path(factory).absolute()
        self.args = list(args)
        self.max_backoff = max_backoff
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None
        self.stop_signal = 0
        self.restart_requested = False
        self.factory_only = False      # the slots' storage failed us: run the factory tree
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)

    # signals: handlers set flags and forward; every wait below also wakes on them
    def _on_signal(self, signum, frame) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stop_signal = signum
        elif signum == signal.SIGUSR1:
            self.restart_requested = True
            signum = signal.SIGTERM
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(s, self._on_signal)

    # state, guarded: trouble with the slots directory never stops the phone from starting
    def _guarded(self, what: str, fn, default=lambda: None):
        try:
            self.root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)   # the data dir
            self.root.mkdir(mode=0o700, exist_ok=True)
            with locked(self.root):
                return fn()
        except OSError as e:
            say(f"{what}: {e}; going on without it")
            return default()

    def _pick(self) -> tuple[str, dict | None]:
        """Which tree to start, and the trial it is on (if any)."""
        if self.factory_only:
            return FACTORY, None

        def read_only():
            slot, trial = current_slot(self.root), read_state(self.root).get("trial")
            return slot, trial if trial and trial.get("slot") == slot else None

        def pick():
            st = read_state(self.root)
            slot = current_slot(self.root)
            st["factory"] = {"version": version_of(self.root, FACTORY, self.factory),
                             "path": str(self.factory)}
            trial = st.get("trial")
            if trial and trial.get("slot") != slot:
                record(st, "failed", trial.get("version", "?"),
                       f"the switch to {trial.get('version')} was interrupted; still on "
                       f"{version_of(self.root, slot, self.factory)}", slot=trial.get("slot"))
                st["trial"] = trial = None
            elif trial and trial.get("boots", 0) >= MAX_TRIAL_BOOTS:
                slot = go_back(self.root, st, slot, f"{trial.get('version')} did not come up "
                               f"healthy in {MAX_TRIAL_BOOTS} starts", factory=self.factory)
                trial = None
            elif trial:
                trial["boots"] = trial.get("boots", 0) + 1
            st["active"] = slot
            write_state(self.root, st)
            return slot, trial
        return self._guarded("updating the slots' state", pick, default=read_only)

    def _spawn(self, slot: str) -> tuple[subprocess.Popen, int]:
        tree = self.factory if slot == FACTORY else (self.root / slot).resolve()
        keep = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                if p and Path(p).absolute() != self.factory]
        health_r, health_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), *keep]),
                   **{ENV_SLOTS: str(self.root), ENV_SLOT: slot,
                      ENV_BOOT: str(BOOT_VERSION), ENV_HEALTH_FD: str(health_w),
                      ENV_SUPERVISOR: str(os.getpid())})
        say(f"starting {version_of(self.root, slot, self.factory)} from {tree}")
        # -P: the firmware comes from PYTHONPATH (the slot), never from the working directory.
        # Spawned from the main thread: the firmware's parent-death signal (ENV_SUPERVISOR,
        # firmware/__main__.py) fires when the forking thread ends, and this one ends last.
        self.proc = subprocess.Popen([sys.executable, "-P", "-m", "firmware", *self.args],
                                     env=env, pass_fds=(health_w,))
        os.close(health_w)
        return self.proc, health_r

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _watch(self, proc: subprocess.Popen, health_r: int, slot: str,
               trial: dict | None) -> tuple[int, bool, bool]:
        """Block until the child exits (or its trial runs out): (status, healthy, timed out).
        No polling: select() on the child's exit, its health pipe and the signal pipe."""
        if self.stop_signal:               # it came before the child had started
            self._forward(self.stop_signal)
        exit_r, exit_w = os.pipe()

        def reap():              # owns exit_w
            proc.wait()
            try:
                os.write(exit_w, b"x")
            except OSError:
                pass
            os.close(exit_w)
        threading.Thread(target=reap, name="reap", daemon=True).start()
        started = time.monotonic()
        deadline = started + float(trial["seconds"]) if trial else None
        stop_deadline = None
        healthy, timed_out = False, False
        fds = [exit_r, self._wake_r, health_r]
        try:
            while True:
                if self.stop_signal and stop_deadline is None:
                    stop_deadline = time.monotonic() + self.stop_timeout
                waits = [d for d in (None if healthy else deadline, stop_deadline) if d]
                timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
                ready, _, _ = select.select(fds, [], [], timeout)
                if exit_r in ready:
                    return proc.wait(), healthy, timed_out
                if self._wake_r in ready:
                    self._drain_wake()
                if health_r in ready:
                    data = os.read(health_r, 64)
                    if not data:
                        fds.remove(health_r)
                    elif not healthy:
                        healthy = True
                        self._healthy(slot, trial)
                if ready:
                    continue
                now = time.monotonic()
                if stop_deadline and now >= stop_deadline:
                    say(f"the firmware did not stop in {self.stop_timeout:g} s; killing it")
                    proc.kill()
                    stop_deadline = now + 3600
                elif deadline and not healthy and now >= deadline:
                    if not self._trial_open(slot):
                        healthy = True       # reported through state.json only
                        continue
                    timed_out, deadline = True, None
                    say(f"{trial.get('version')} did not report healthy within "
                        f"{float(trial['seconds']):g} s; stopping it")
                    proc.terminate()
                    stop_deadline = now + self.stop_timeout
        finally:
            for fd in (exit_r, health_r):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _healthy(self, slot: str, trial: dict | None) -> None:
        """The firmware said so; its own state write may have failed, so write it too."""
        try:
            mark_healthy(self.root, slot, factory=self.factory)
        except OSError as e:
            say(f"recording that the firmware is healthy: {e}")
        if trial:
            say(f"{trial.get('version')} reported healthy; the upgrade is done")

    def _trial_open(self, slot: str) -> bool:
        def check():
            trial = read_state(self.root).get("trial")
            return bool(trial and trial.get("slot") == slot)
        return self._guarded("reading the trial", check, default=lambda: True)

    def _go_back(self, slot: str, reason: str, *, trial_only: bool) -> bool:
        """Leave `slot` for the one before; False if its trial had ended well meanwhile.
        If the slots' storage fails, run the factory tree until the supervisor restarts."""
        def back():
            st = read_state(self.root)
            trial = st.get("trial")
            if trial_only and not (trial and trial.get("slot") == slot):
                return False
            target = go_back(self.root, st, slot, reason, factory=self.factory)
            write_state(self.root, st)
            say(f"{st['last']['reason']} ({target})")
            return True

        def factory():
            say(f"{reason}; cannot record it, running the factory firmware")
            self.factory_only = True
            return True
        return self._guarded("rolling back", back, default=factory)

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for a signal."""
        end = time.monotonic() + seconds
        while not self.stop_signal and (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self._wake_r], [], [], left)
            if ready:
                self._drain_wake()

    def run(self) -> int:
        self._install_signals()
        crashes = unhealthy = 0
        while True:
            self.restart_requested = False
            slot, trial = self._pick()
            if self.stop_signal:
                return 0
            version = version_of(self.root, slot, self.factory)
            started = time.monotonic()
            proc, health_r = self._spawn(slot)
            rc, healthy, timed_out = self._watch(proc, health_r, slot, trial)
            self.proc = None
            if self.stop_signal:
                say(f"stopped ({describe_exit(rc)})")
                return rc if rc >= 0 else 128 - rc
            if not timed_out and (rc == RESTART_EXIT or self.restart_requested):
                say(f"restarting ({'SIGUSR1' if self.restart_requested else 'status 75'})")
                crashes = 0
                continue
            if trial and not healthy:
                why = (f"{version} did not report healthy within {float(trial['seconds']):g} s"
                       if timed_out else f"{version} {describe_exit(rc)} before reporting "
                                         f"healthy")
                if self._go_back(slot, why, trial_only=True) or timed_out:
                    continue         # (timed out yet healthy meanwhile: start it again)
            if rc == 0:
                say("the firmware exited by itself; stopping")
                return 0
            if rc == 2 and slot == FACTORY:
                say("the firmware refused its arguments or board (status 2); fix them, "
                    "restarting would not help")
                return 2
            if time.monotonic() - started >= STABLE_SECONDS:
                crashes = 0
            crashes += 1
            unhealthy = 0 if healthy else unhealthy + 1
            if unhealthy >= FALLBACK_AFTER and slot != FACTORY:
                self._go_back(slot, f"{version} {describe_exit(rc)} {unhealthy} times in a "
                              f"row without coming up", trial_only=False)
                crashes = unhealthy = 0
                continue
            pause = min(self.max_backoff, 2.0 ** (crashes - 1))
            say(f"{version} {describe_exit(rc)}; starting it again in {pause:g} s")
            self._pause(pause)
            if self.stop_signal:
                return 0


def _data_dir(args: list[str]) -> Path:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-dir", default="var")
    known, _ = p.parse_known_args(args)
    return Path(known.data_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, sep, theirs = (argv[:argv.index("--")], True, argv[argv.index("--") + 1:]) \
        if "--" in argv else (argv, False, [])
    p = argparse.ArgumentParser(prog="python -m firmware.boot", allow_abbrev=False,
                                description="start the deskphone firmware from its current "
                                            "slot, and roll a failed upgrade back")
    p.add_argument("--slots", type=Path, help="slots directory (default: DATA-DIR/slots)")
    p.add_argument("--factory", type=Path, default=FACTORY_ROOT,
                   help="tree run when no slot is current (default: the one this file is in)")
    p.add_argument("--max-backoff", type=float, default=60.0,
                   help="longest pause before starting a crashed firmware again (s)")
    known, rest = p.parse_known_args(ours)
    args = rest + theirs if sep else rest
    if not (known.factory / "firmware" / "__main__.py").is_file():
        p.error(f"--factory {known.factory}: no firmware/__main__.py there")
    root = known.slots or _data_dir(args) / "slots"
    return Supervisor(root=root, factory=known.factory, args=args,
                      max_backoff=known.max_backoff).run()


if __name__ == "__main__":
    sys.exit(main())
