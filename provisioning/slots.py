"""Two firmware slots (A/B): install a verified image into the one not running, switch to
it on trial, and keep what happened for the web page and the API.

    DIR/a/, DIR/b/     firmware trees unpacked from images (DIR = DATA-DIR/slots)
    DIR/current        symlink to a or b; none = the factory tree the phone was installed with
    DIR/state.json     active, previous, trial, last result and history (atomic writes)

The boot supervisor (firmware/boot.py) starts `current`, and during a trial it rolls back by
itself; the file layout and the state rules live there (it must not depend on this module).
The provisioning engine calls `apply_upgrade()` and then exits with RESTART_EXIT when the
phone is idle; the running firmware calls `report_healthy()` once it is fully up.
"""
from __future__ import annotations

import errno
import fcntl
import importlib.metadata
import json
import logging
import os
import platform
import re
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable

from firmware import boot
from firmware.boot import FACTORY, SLOTS, locked, read_state, write_state
from provisioning.errors import ImageError

log = logging.getLogger("deskphone.upgrade")

Progress = Callable[[str, int, int], None]     # (stage, done, total)


class Slots:
    def __init__(self, root: Path):
        self.root = Path(root).absolute()

    @classmethod
    def from_env(cls) -> Slots | None:
        """The slots the supervisor started us from ($DESKPHONE_SLOTS), None if it did not."""
        root = os.environ.get(boot.ENV_SLOTS)
        return cls(Path(root)) if root else None

    # -- reading -------------------------------------------------------------------------------

    def _factory(self, st: dict | None = None) -> Path:
        st = read_state(self.root) if st is None else st
        path = (st.get("factory") or {}).get("path")
        return Path(path) if path else boot.FACTORY_ROOT

    def active(self) -> str:
        return boot.current_slot(self.root)

    def version(self, slot: str, st: dict | None = None) -> str:
        st = read_state(self.root) if st is None else st
        if slot == FACTORY and (st.get("factory") or {}).get("version"):
            return st["factory"]["version"]
        return boot.version_of(self.root, slot, self._factory(st))

    def status(self) -> dict:
        """For the web page and the API: what runs, what else is installed, the trial, and
        how the last upgrade ended (with its reason)."""
        st = read_state(self.root)
        active = self.active()
        other = "b" if active == "a" else "a"
        running = os.environ.get(boot.ENV_SLOT) if os.environ.get(boot.ENV_SLOTS) else None
        return {
            "active": {"slot": active, "version": self.version(active, st)},
            # the slot the next install overwrites, if it holds a firmware
            "other": ({"slot": other, "version": self.version(other, st)}
                      if boot.slot_ok(self.root, other) else None),
            "slots": {s: self.version(s, st) if boot.slot_ok(self.root, s) else None
                      for s in SLOTS},
            "factory": {"version": self.version(FACTORY, st)},
            "trial": st.get("trial"),
            "last": st.get("last"),
            "history": list(st.get("history") or [])[-5:],
            "supervised": running is not None,
            "restart_needed": running is not None and running != active,
        }

    # -- changing ------------------------------------------------------------------------------

    def install(self, image_path: Path, manifest, *, progress: Progress | None = None) -> str:
        """Unpack a verified image into the slot that is not active; returns that slot.
        The active slot and `current` are never touched; on any error nothing is switched
        and the half-unpacked tree is removed."""
        from provisioning.image import extract_payload
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".install.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ImageError("another firmware install is running; try again when it "
                                 "has finished") from None
            return self._install(image_path, manifest, progress, extract_payload)
        finally:
            os.close(fd)

    def _install(self, image_path, manifest, progress, extract_payload) -> str:
        with locked(self.root):
            st = read_state(self.root)
            active = self.active()
            trial = st.get("trial")
        running_v = self.version(active, st)
        if trial and trial.get("slot") == active:
            raise ImageError(f"{trial.get('version')} is still on trial; wait until it reports "
                             f"healthy (or is rolled back) before installing another firmware")
        target = "b" if active == "a" else "a"
        dest = self.root / target
        if os.environ.get(boot.ENV_SLOTS) and os.environ.get(boot.ENV_SLOT) == target:
            raise ImageError(f"this firmware runs from slot {target}, which is no longer the "
                             f"active one; restart the phone before installing another")
        self._clean_leftovers()
        need = manifest.unpacked_size + (1 << 20)
        free = shutil.disk_usage(self.root).free + _tree_size(dest)
        if free < need:
            raise ImageError(f"not enough space for {manifest.version} in {self.root}: it needs "
                             f"{need >> 20} MiB, {free >> 20} MiB are free; nothing was "
                             f"changed, the phone stays on {running_v}")
        log.info("installing %s into slot %s (running %s)", manifest.version, target, running_v)
        with locked(self.root):
            st = read_state(self.root)
            st.setdefault("slots", {})[target] = None
            if st.get("previous") == target:
                st["previous"] = FACTORY
            write_state(self.root, st)
        if dest.exists() or dest.is_symlink():
            old = self.root / f".old-{target}-{secrets.token_hex(4)}"
            os.rename(dest, old)
            boot.fsync_dir(self.root)
            shutil.rmtree(old, ignore_errors=True)
        tmp = self.root / f".new-{target}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir(mode=0o755)
            extract_payload(image_path, manifest, tmp, progress=progress)
            _build_native(tmp)
            if (tmp / "firmware" / "VERSION").read_text().strip() != manifest.version:
                raise ImageError(f"the unpacked firmware/VERSION is not {manifest.version}")
            os.rename(tmp, dest)
            boot.fsync_dir(self.root)
        except ImageError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ImageError(f"{e}; nothing was switched, the phone stays on {running_v}") \
                from None
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            raise ImageError(f"cannot unpack {manifest.version} into {dest}: "
                             f"{'the disk is full' if full else e.strerror or e}; nothing was "
                             f"switched, the phone stays on {running_v}"
                             f"{'; free some space and try again' if full else ''}") from None
        with locked(self.root):
            st = read_state(self.root)
            st.setdefault("slots", {})[target] = {
                "version": manifest.version, "installed": boot.now_iso(),
                "payload_sha256": manifest.payload_sha256, "key_id": manifest.key_id}
            write_state(self.root, st)
        return target

    def _clean_leftovers(self) -> None:
        """Trees a killed install left behind."""
        for p in self.root.glob(".new-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".old-*"):
            shutil.rmtree(p, ignore_errors=True)

    def switch_to(self, slot: str, trial_seconds: float) -> None:
        """Make `slot` current, on trial: the supervisor starts it at the next restart and
        rolls back unless it reports healthy within trial_seconds."""
        with locked(self.root):
            st = read_state(self.root)
            active = self.active()
            if slot not in SLOTS or not boot.slot_ok(self.root, slot):
                raise ImageError(f"slot {slot!r} holds no firmware; install an image first")
            if slot == active:
                raise ImageError(f"slot {slot} is already the active one")
            version, from_v = self.version(slot, st), self.version(active, st)
            started = boot.now_iso()
            st["trial"] = {"slot": slot, "version": version, "from": active,
                           "from_version": from_v, "seconds": float(trial_seconds),
                           "started": started, "boots": 0}
            boot.record(st, "on trial", version, f"switched from {from_v}; {version} must "
                        f"report healthy within {float(trial_seconds):g} s",
                        from_version=from_v, slot=slot)
            write_state(self.root, st)             # first the trial, then the link
            boot.point_current(self.root, slot)
        log.info("switched to %s (slot %s) on a %g s trial; was %s", version, slot,
                 trial_seconds, from_v)

    def mark_healthy(self, slot: str | None = None) -> bool:
        """The firmware in `slot` (default: the active one) is up; ends its trial well."""
        slot = slot or self.active()
        return boot.mark_healthy(self.root, slot, factory=self._factory())

    def rollback(self, reason: str) -> str:
        """Go back to the previous firmware (the trial's origin, else the previous slot, else
        the factory tree); returns the version now active. Takes effect at the next restart."""
        with locked(self.root):
            st = read_state(self.root)
            active = self.active()
            if active == FACTORY:
                raise ImageError("the phone runs its factory firmware; there is nothing to go "
                                 "back to")
            target = boot.go_back(self.root, st, active, reason, factory=self._factory(st))
            write_state(self.root, st)
            return self.version(target, st)


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


# --- health ---------------------------------------------------------------------------------

def report_healthy(where: Path | str | None = None) -> bool:
    """Called by the firmware once it is fully up (web listening, SIP stack up, the first
    REGISTER answered when an account is enabled). Ends a trial in success and tells the
    supervisor. Cheap, never raises, and does nothing when the phone runs without slots.
    where: the data dir or the slots dir, used only when the supervisor's environment is
    missing. True if a trial ended now."""
    root_env = os.environ.get(boot.ENV_SLOTS)
    root = Path(root_env) if root_env else _root_near(where)
    slot = os.environ.get(boot.ENV_SLOT) or (_slot_of_this_code(root) if root else None)
    ended = False
    if root and slot in SLOTS and (root / boot.STATE).exists():
        try:
            ended = Slots(root).mark_healthy(slot)
        except OSError as e:
            log.warning("cannot record that this firmware is healthy in %s: %s", root, e)
    fd = os.environ.pop(boot.ENV_HEALTH_FD, None)
    if fd:
        try:
            os.write(int(fd), b"healthy\n")
            os.close(int(fd))
        except (OSError, ValueError):
            pass
    if ended:
        log.info("this firmware is healthy: the upgrade is done")
    return ended


def _root_near(where) -> Path | None:
    if where is None:
        return None
    p = Path(where)
    for cand in (p, p / "slots"):
        if (cand / boot.STATE).exists():
            return cand
    return None


def _slot_of_this_code(root: Path) -> str | None:
    here = Path(__file__).resolve()
    for s in SLOTS:
        if (root / s).resolve() in here.parents:
            return s
    return None


# --- Python packages ------------------------------------------------------------------------

_MARKER_VARS = {
    "platform_machine": platform.machine(), "sys_platform": sys.platform,
    "platform_system": platform.system(), "os_name": os.name,
    "implementation_name": sys.implementation.name,
    "python_version": ".".join(map(str, sys.version_info[:2])),
    "python_full_version": platform.python_version(),
}
_ATOM = re.compile(r"\s*(\w+)\s*(==|!=|<=|>=|<|>)\s*['\"]([^'\"]*)['\"]\s*")


def _marker_applies(marker: str) -> bool:
    """Environment markers of requirements.txt (the simple `var op "value"` forms joined by
    and/or); anything else is taken to apply, so the package is checked."""
    def atom(text: str) -> bool:
        m = _ATOM.fullmatch(text)
        if not m or m[1] not in _MARKER_VARS:
            return True
        have, op, want = _MARKER_VARS[m[1]], m[2], m[3]
        if m[1].startswith("python"):
            have, want = (tuple(int(x) for x in re.findall(r"\d+", v)) for v in (have, want))
        return {"==": have == want, "!=": have != want, "<": have < want,
                "<=": have <= want, ">": have > want, ">=": have >= want}[op]
    return any(all(atom(a) for a in part.split(" and ")) for part in marker.split(" or "))


def check_requirements(text: str) -> list[str]:
    """Requirements of an image's requirements.txt this interpreter does not meet, as
    'name==wanted (installed: x)'. The venv is not part of an image (docs/upgrade.md)."""
    missing = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req, _, marker = line.partition(";")
        if marker.strip() and not _marker_applies(marker.strip()):
            continue
        name, eq, wanted = (s.strip() for s in req.partition("=="))
        name = re.split(r"[<>=!~\[\s]", name, 1)[0]
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{req.strip()} (not installed)")
            continue
        if eq and have != wanted:
            missing.append(f"{name}=={wanted} (installed: {have})")
    return missing


# --- the whole upgrade ----------------------------------------------------------------------

def apply_upgrade(image_path: Path, *, slots: Slots | None = None, trusted_keys=None,
                  md5: str | None = None, sha256: str | None = None,
                  health_seconds: float = 120, progress: Callable[[str], None] | None = None,
                  allow_downgrade: bool = False, require_supervisor: bool = True):
    """Verify, install into the inactive slot, switch to it on trial; returns the Manifest.
    Does not restart: the caller exits with firmware.boot.RESTART_EXIT when the phone is
    idle. Raises ImageError (nothing switched) when anything is wrong.

    slots: default Slots.from_env(). progress(text): short lines for the LCD ("Installing
    40%"). require_supervisor=False only for tools and tests that restart the phone
    themselves."""
    from firmware.system.identity import VERSION
    from provisioning.image import compare_versions, verify_image
    if require_supervisor and not os.environ.get(boot.ENV_SLOTS):
        raise ImageError("the phone was not started by the boot supervisor (python -m "
                         "firmware.boot), so a new firmware could not be tried and rolled "
                         "back safely; start it that way (docs/upgrade.md)")
    slots = slots or Slots.from_env()
    if slots is None:
        raise ImageError("no firmware slots given ($DESKPHONE_SLOTS is not set)")
    show = progress or (lambda text: None)
    shown = [""]

    def unpacking(stage: str, done: int, total: int) -> None:
        text = f"Installing {100 * done // max(total, 1)}%"
        if text != shown[0]:
            shown[0] = text
            show(text)
    show("Checking firmware")
    m = verify_image(Path(image_path), trusted_keys=trusted_keys, md5=md5, sha256=sha256)
    if not allow_downgrade and compare_versions(m.version, VERSION) <= 0:
        raise ImageError(f"{m.version} is not newer than the running {VERSION}; nothing to "
                         f"install (only a newer version is installed)")
    boot_v = int(os.environ.get(boot.ENV_BOOT) or boot.BOOT_VERSION)
    if m.min_boot > boot_v:
        raise ImageError(f"{m.version} needs boot supervisor version {m.min_boot}, this phone "
                         f"has {boot_v}: reinstall the phone's base system first")
    problems = check_requirements(m.requirements)
    if problems:
        raise ImageError(f"{m.version} needs Python packages this phone does not have: "
                         f"{', '.join(problems)}; install them into the phone's venv first "
                         f"(pip install -r requirements.txt of {m.version})")
    slot = slots.install(Path(image_path), m, progress=unpacking)
    slots.switch_to(slot, health_seconds)
    show(f"Installed {m.version}")
    return m


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m provisioning.slots",
                                description="show the firmware slots")
    p.add_argument("command", choices=("status",))
    p.add_argument("--slots", type=Path, default=Path("var/slots"),
                   help="slots directory (default: var/slots)")
    a = p.parse_args(argv)
    print(json.dumps(Slots(a.slots).status(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _build_native(tree: Path) -> None:
    """Images carry no binaries: build the new tree's SIP gate library here, with this
    phone's compiler (firmware/sip/fastgate.py). Without one the new firmware runs the
    Python gate alone, as the log says; the install goes on."""
    if not (tree / "firmware/sip/fastgate.c").is_file():
        return
    from firmware.sip import fastgate
    why = fastgate.build(tree / "firmware/sip")
    if why:
        log.warning("the new firmware's SIP gate library was not built (%s): it will let "
                    "INVITEs in through Python alone, slower", why)
