"""Auto provisioning (manual appendix "Auto Provision"): where, what, when, and applying it.

One run: find the server (provisioning.url, else DHCP option 66), fetch the Escene file set
(the version file F0DP330.cfg and the image it names, sys_DP330.xml, <MAC>.xml,
<account>_Extern.xml, Enterprise_Phonebook.xml, <account>_Phonebook.xml), decrypt, parse and
check ALL of it, then wait until the phone is idle (never in a call) and apply it at once:
settings in one atomic save, key layout and phone books by atomic renames, a newer firmware
into the other slot and a restart. Any bad file, wrong key, refused login or vanished server
fails the run before anything is written: the phone goes on exactly as it was, and the
status (API, web page, LCD) and the log say which file and why.

Triggers: at start (on_boot), on a timer (provisioning/schedule.py), now (web button, API,
LCD menu), and NOTIFY Event: check-sync from the PBX (firmware/sip/taps.py takes it off the wire).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from firmware.system import identity
from firmware.boot import RESTART_EXIT as RESTART_CODE  # noqa: F401  (the app exits with it)
from firmware.bus import Bus, Timers
from firmware.events import (CheckSyncReceived, KeyPressed, PageRequested,
                             ProvisioningChanged, ProvisionRequested, SettingsChanged,
                             TimerFired)
from firmware.files import fsync_dir, json_bytes
from firmware.settings import Settings, atomic_write
from firmware.call.state import AudioDevice, MenuPage, PhoneState
from provisioning import schedule
from provisioning.errors import (BadFile, BadServer, ImageError, NoServer, NotFound,
                                 ProvisionError)

log = logging.getLogger("deskphone.provisioning")

# Largest file of each kind we accept; bigger ones are refused before they are read.
# (Images: provisioning.image.MAX_IMAGE; that module and its cryptography load only when
# an image is on its way, which keeps them out of the phone's start-up.)
LIMITS = {"version": 4096, "config": 1 << 20, "extern": 1 << 20, "phonebook": 8 << 20,
          "md5": 4096}
ENCRYPTED_KINDS = ("config", "extern", "phonebook")
# Settings a server never sets: they describe this unit's own wiring.
LOCAL_ONLY = ("hardware.",)
CHECK_EVERY = 3600.0      # re-read the clock at least hourly while waiting for a timed run
PAGE_KEYS = {"up", "down", "left", "right", "ok", "cancel", "menu", "soft1", "soft2",
             "soft3", "soft4", *"0123456789*#"}


@dataclass
class FileResult:
    name: str
    kind: str
    status: str = "pending"    # applied | unchanged | not on server | failed | skipped | ...
    detail: str = ""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class RunRecord:
    trigger: str
    started: str
    finished: str = ""
    result: str = "running"    # ok | failed | nothing | running
    summary: str = ""
    server: str = ""
    files: list[FileResult] = field(default_factory=list)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["files"] = [f.to_json() for f in self.files]
        return d

    @classmethod
    def from_json(cls, d: dict) -> RunRecord:
        files = [FileResult(**f) for f in d.get("files", []) if isinstance(f, dict)]
        keep = {k: str(d.get(k, "")) for k in ("trigger", "started", "finished", "result",
                                                 "summary", "server")}
        return cls(**keep, files=files)


class RunFailed(ProvisionError):
    """The run stops here; nothing has been applied."""


@dataclass
class _Fetched:
    """What one run found, checked and ready to apply."""
    values: dict[str, Any] = field(default_factory=dict)        # settings from the XML
    writes: list[tuple[Path, bytes, FileResult]] = field(default_factory=list)
    image: Path | None = None
    image_version: str = ""
    image_md5: str | None = None
    image_result: FileResult | None = None


class Provisioner:
    """Feature module: owns DATA/provisioning/ (state.json, downloads) and the run."""

    def __init__(self, *, bus: Bus, timers: Timers, state: PhoneState, settings: Settings,
                 data_dir: Path, mac: str,
                 update_settings: Callable[[dict[str, Any]], Any],
                 restart: Callable[[], None],
                 clock: Callable[[], dt.datetime] = dt.datetime.now,
                 slots_root: Path | None = None):
        self.bus, self.timers, self.state, self.settings = bus, timers, state, settings
        self.data_dir = Path(data_dir)
        self.dir = self.data_dir / "provisioning"
        self.mac = mac
        self.update_settings = update_settings
        self.restart = restart
        self.clock = clock
        self.slots_root = slots_root or Path(os.environ.get("DESKPHONE_SLOTS", "")
                                             or self.data_dir / "slots")
        self.last: RunRecord | None = None
        self.current: RunRecord | None = None
        self.progress = ""
        self.server_from = ""
        self.next_run: dt.datetime | None = None
        self.anchor: dt.datetime | None = None
        self._timing: list = []
        self.log_lines: deque[str] = deque(maxlen=200)
        self._task: asyncio.Task | None = None
        self._again: ProvisionRequested | None = None
        self._idle = asyncio.Event()
        self._pending_restart = ""
        bus.on(ProvisionRequested, self._requested)
        bus.on(CheckSyncReceived, self._check_sync)
        bus.on(SettingsChanged, self._settings_changed)
        bus.on(TimerFired, self._timer)
        bus.on(PageRequested, self._open_page)
        bus.on(KeyPressed, self._page_key)
        bus.after.append(self._after)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """After SIP is up: the boot check and the timer."""
        self._load_state()
        p = self.settings.provisioning
        self._reschedule(reset=self._timing != self._timing_now())
        if p.enable and p.on_boot:
            self.bus.post(ProvisionRequested("boot"))
        elif self.next_run is not None and self.next_run <= self.clock():
            self.bus.post(ProvisionRequested("timer"))    # missed while switched off

    def close(self) -> None:
        self.timers.cancel("provision")
        if self._task is not None:
            self._task.cancel()

    # -- triggers ----------------------------------------------------------------------------

    def _requested(self, ev: ProvisionRequested) -> None:
        if not self.settings.provisioning.enable and ev.trigger in ("boot", "timer",
                                                                     "notify"):
            self._note(f"{ev.trigger}: auto provisioning is off (provisioning.enable)")
            return
        if self._task is not None and not self._task.done():
            self._again = ev          # one more run when this one ends
            self._note(f"{ev.trigger}: a run is going on; another follows it")
            return
        self._task = asyncio.get_running_loop().create_task(self._run(ev),
                                                            name=f"provision-{ev.trigger}")

    def _check_sync(self, ev: CheckSyncReceived) -> None:
        self.bus.post(ProvisionRequested("notify", reboot=ev.reboot))

    def _timer(self, ev: TimerFired) -> None:
        if ev.name != "provision":
            return
        if self.next_run is not None and self.clock() >= self.next_run - dt.timedelta(
                seconds=0.5):
            self.anchor = self.next_run
            self.next_run = None
            self.bus.post(ProvisionRequested("timer"))
            self._reschedule()
        else:
            self._arm()

    def _settings_changed(self, ev: SettingsChanged) -> None:
        if any(k in ev.keys for k in ("provisioning.periodic", "provisioning.frequency_hours",
                                      "provisioning.time", "provisioning.enable",
                                      "provisioning.random_delay")):
            self._reschedule(reset=True)     # the manual's "Reset Timing"

    # -- the schedule --------------------------------------------------------------------------

    def _timing_now(self) -> list:
        p = self.settings.provisioning
        return [p.enable and p.periodic, p.frequency_hours, p.time, p.random_delay]

    def _reschedule(self, reset: bool = False) -> None:
        p = self.settings.provisioning
        now = self.clock()
        if reset or self.anchor is None:
            self.anchor = now
        self._timing = self._timing_now()
        if not (p.enable and p.periodic):
            self.next_run = None
        elif self.next_run is None or reset:
            when = schedule.next_run(self.anchor, p.frequency_hours, p.time)
            if when is not None and p.random_delay:
                when += dt.timedelta(seconds=random.uniform(0, p.random_delay))
            self.next_run = when
        self._arm()
        self._save_state()

    def _arm(self) -> None:
        if self.next_run is None:
            self.timers.cancel("provision")
            return
        wait = (self.next_run - self.clock()).total_seconds()
        self.timers.start("provision", max(0.0, min(wait, CHECK_EVERY)))

    # -- one run -------------------------------------------------------------------------------

    async def _run(self, ev: ProvisionRequested) -> None:
        rec = RunRecord(trigger=ev.trigger, started=self._stamp())
        self.current = rec
        self._note(f"started ({ev.trigger})")
        try:
            if ev.trigger == "notify" and self.settings.provisioning.random_delay:
                delay = random.uniform(0, self.settings.provisioning.random_delay)
                self._show(f"Provisioning in {delay:.0f} s")
                await asyncio.sleep(delay)
            await self._fetch_and_apply(rec)
        except NoServer as e:
            # a phone nobody set up for provisioning: at boot and on the timer that is no
            # failure (asked for now, it is: the person wants to know why nothing happened)
            asked = ev.trigger in ("now", "notify")
            rec.result, rec.summary = ("failed" if asked else "skipped"), str(e)
            self._note(f"{rec.result}: {e}", logging.WARNING if asked else logging.INFO)
        except ProvisionError as e:
            rec.result, rec.summary = "failed", str(e)
            self._note(f"failed: {e}", logging.WARNING)
        except asyncio.CancelledError:
            rec.result, rec.summary = "failed", "stopped (the phone is shutting down)"
            raise
        except Exception as e:  # noqa: BLE001 - a bug must not stop the phone
            log.exception("provisioning")
            rec.result, rec.summary = "failed", f"internal error: {e!r}; see DIR/logs"
        finally:
            rec.finished = self._stamp()
            self.current, self.last = None, rec
            self._show("")
            self._save_state()
            self._refresh_page()
            self.bus.post(ProvisioningChanged(rec.result))
        if ev.reboot and rec.result != "failed":
            self._pending_restart = "the PBX asked for a reboot (check-sync;reboot=true)"
        if self._pending_restart:
            await self._restart_when_idle()
            return
        again, self._again = self._again, None
        if again is not None:
            self.bus.post(again)

    async def _fetch_and_apply(self, rec: RunRecord) -> None:
        from provisioning import fetch
        p = self.settings.provisioning
        self._show("Provisioning")
        source, where = await asyncio.to_thread(self._server)
        rec.server = f"{_display(source)} ({where})"
        self.server_from = where
        self._note(f"server {rec.server}")
        fetcher = fetch.Fetcher(source, user_agent=identity.user_agent(self.mac),
                                timeout=p.timeout, ca_file=p.ca_file)
        got = _Fetched()
        if p.firmware:
            await self._firmware(fetcher, rec, got)
        if p.config:
            for name in (f"sys_{identity.MODEL}.xml", self._mac_file()):
                await self._config(fetcher, rec, got, name)
        account = str(got.values.get("account.1.user", self.settings.get("account.1.user")))
        if p.expansion:
            await self._extern(fetcher, rec, got, account)
        if p.enterprise_phonebook:
            await self._phonebook(fetcher, rec, got, "Enterprise_Phonebook.xml",
                                  "enterprise")
        if p.personal_phonebook:
            await self._phonebook(fetcher, rec, got, f"{account}_Phonebook.xml"
                                  if account else "", "personal")
        found = [f for f in rec.files if f.status not in ("not on server", "skipped")]
        if not found:
            rec.result = "nothing"
            rec.summary = (f"no provisioning files at {_display(source)} — check "
                           f"provisioning.url (the phone asks for {self._mac_file()})")
            self._note(rec.summary, logging.WARNING)
            return
        await self._until_idle("apply")
        self._apply(rec, got)
        if got.image is not None:
            await self._install(rec, got)
        rec.result = "ok"
        changed = [f for f in rec.files if f.status in ("applied", "installed")]
        rec.summary = ("applied " + ", ".join(f.name for f in changed)) if changed else \
            "nothing new"
        self._note(rec.summary)

    # -- where from ----------------------------------------------------------------------------

    def _server(self):
        from provisioning import fetch
        p = self.settings.provisioning
        if p.url:
            return fetch.parse_server(p.url, p.protocol, p.username, p.password), "setting"
        if p.dhcp_option66:
            from provisioning import dhcp
            found = dhcp.option66()
            if found is not None:
                # a bare address is a TFTP server (manual 3.1)
                on = f" on {found.interface}" if found.interface else ""
                return (fetch.parse_server(found.server, "tftp", p.username, p.password),
                        f"DHCP {found.field}{on}, {found.source}")
            raise NoServer("no provisioning server: provisioning.url is empty and no DHCP "
                           "lease has option 66 — set provisioning.url")
        raise NoServer("no provisioning server: set provisioning.url (or turn on "
                       "provisioning.dhcp_option66)")

    def _mac_file(self) -> str:
        raw = self.mac.replace(":", "")
        return (raw.upper() if self.settings.provisioning.filename_case == "upper"
                else raw.lower()) + ".xml"

    # -- fetching each kind --------------------------------------------------------------------

    async def _get(self, fetcher, rec: RunRecord, name: str, kind: str) -> bytes | None:
        """The file, decrypted; None when the server does not have it."""
        from provisioning import crypto
        res = FileResult(name, kind)
        rec.files.append(res)
        self._show(f"Fetching {name}")
        try:
            data = await asyncio.to_thread(fetcher.get, name, max_bytes=LIMITS[kind])
        except NotFound:
            res.status = "not on server"
            self._note(f"{name}: not on the server")
            return None
        except ProvisionError as e:
            res.status, res.detail = "failed", str(e)
            raise RunFailed(f"{name}: {e}") from None
        key = self.settings.provisioning.aes_key
        try:
            # with a key set, settings files must be encrypted (a planted plain file is
            # refused); the version file and .md5 may stay plain: the image is signed
            plain = crypto.open_file(data, key, name=name,
                                     required=bool(key) and kind in ENCRYPTED_KINDS)
        except ProvisionError as e:
            res.status, res.detail = "failed", str(e)
            raise RunFailed(f"{name}: {e}") from None
        res.status, res.detail = "fetched", f"{len(data)} bytes"
        self._note(f"{name}: fetched, {len(data)} bytes")
        return plain

    async def _parsed(self, fetcher, rec: RunRecord, name: str, kind: str, parse):
        """(parsed file, its FileResult), or (None, None) when the server lacks it. A file
        that does not parse fails the run."""
        data = await self._get(fetcher, rec, name, kind)
        if data is None:
            return None, None
        res = rec.files[-1]
        try:
            return await asyncio.to_thread(parse, data, name=name), res
        except BadFile as e:
            res.status, res.detail = "failed", str(e)
            raise RunFailed(f"{name}: {e}") from None

    async def _config(self, fetcher, rec: RunRecord, got: _Fetched, name: str) -> None:
        from provisioning import escene
        parsed, res = await self._parsed(fetcher, rec, name, "config", escene.parse_config)
        if parsed is None:
            return
        for key in [k for k in parsed.values if k.startswith(LOCAL_ONLY)]:
            del parsed.values[key]
            parsed.ignored.append(f"{key}: set on the phone itself, not by a server")
        for line in parsed.ignored:
            if line not in parsed.skipped:
                log.info("%s: ignored %s", name, line)
        for line in parsed.skipped:     # set by the file, not applied; the rest is (escene.py)
            self._note(f"{name}: {line}", logging.WARNING)
        if parsed.problems:
            res.status = "failed"
            res.detail = "; ".join(parsed.problems[:5])
            raise RunFailed(f"{name}: {res.detail}")
        got.values.update(parsed.values)        # <MAC>.xml comes last and wins
        changed = [k for k, v in parsed.values.items() if self.settings.get(k) != v]
        res.status = "ready" if changed else "unchanged"
        res.detail = f"{len(parsed.values)} settings, {len(changed)} different" + (
            f", {len(parsed.ignored)} entries ignored" if parsed.ignored else "")

    async def _extern(self, fetcher, rec: RunRecord, got: _Fetched, account: str) -> None:
        from provisioning import escene
        if not account:
            rec.files.append(FileResult("<account>_Extern.xml", "extern", "skipped",
                                        "account 1 has no user"))
            return
        layout, res = await self._parsed(fetcher, rec, f"{account}_Extern.xml", "extern",
                                         escene.parse_extern)
        if layout is not None:
            self._stage(got, self.data_dir / "keys.json", layout.to_json(), res,
                        f"{len(layout.keys)} keys")

    async def _phonebook(self, fetcher, rec: RunRecord, got: _Fetched, name: str,
                         which: str) -> None:
        from provisioning import phonebook
        if not name:
            rec.files.append(FileResult("<account>_Phonebook.xml", "phonebook", "skipped",
                                        "account 1 has no user"))
            return
        book, res = await self._parsed(fetcher, rec, name, "phonebook",
                                       phonebook.parse_phonebook)
        if book is not None:
            self._stage(got, self.data_dir / "phonebook" / f"{which}.json", book.to_json(),
                        res, f"{len(book.entries)} entries")

    def _stage(self, got: _Fetched, path: Path, doc: Any, res: FileResult, what: str) -> None:
        data = json_bytes(doc)
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        res.detail = what
        if same:
            res.status = "unchanged"
        else:
            res.status = "ready"
            got.writes.append((path, data, res))

    async def _firmware(self, fetcher, rec: RunRecord, got: _Fetched) -> None:
        from provisioning import image
        vname = identity.version_file_name()
        data = await self._get(fetcher, rec, vname, "version")
        if data is None:
            return
        res = rec.files[-1]
        try:
            info = image.parse_version_file(data)
        except ImageError as e:
            res.status, res.detail = "failed", str(e)
            raise RunFailed(f"{vname}: {e}") from None
        if info.model != identity.MODEL:
            res.status = "skipped"
            res.detail = f"names an image for {info.model}, this phone is {identity.MODEL}"
            self._note(f"{vname}: {res.detail}", logging.WARNING)
            return
        if image.compare_versions(info.version, identity.VERSION) <= 0:
            res.status = "unchanged"
            res.detail = f"{info.version} is not newer than {identity.VERSION}"
            self._note(f"{vname}: {res.detail}")
            return
        res.status, res.detail = "newer", f"{info.image} ({identity.VERSION} -> {info.version})"
        md5 = info.md5
        if md5 is None and self.settings.provisioning.check_md5:
            text = await self._get(fetcher, rec, info.image + ".md5", "md5")
            if text is None:
                rec.files[-1].status = "failed"
                raise RunFailed(f"{info.image}: no MD5 to check it against: put "
                                f"{info.image}.md5 beside it (or md5= in {vname}), or turn "
                                f"off provisioning.check_md5")
            md5 = text.decode("ascii", "replace").split()[0] if text.split() else ""
        img = FileResult(info.image, "image")
        rec.files.append(img)
        dest = self.dir / "download" / info.image
        dest.parent.mkdir(parents=True, exist_ok=True)

        self._show(f"Fetching {info.image}")
        try:
            size = await asyncio.to_thread(fetcher.get_file, info.image, dest,
                                           max_bytes=image.MAX_IMAGE,
                                           progress=self._download_progress)
            self._show("Checking firmware")
            manifest = await asyncio.to_thread(
                image.verify_image, dest, md5=md5 if self.settings.provisioning.check_md5
                else None, trusted_keys=image.trusted_keys())
        except ProvisionError as e:
            img.status, img.detail = "failed", str(e)
            dest.unlink(missing_ok=True)
            raise RunFailed(f"{info.image}: {e}") from None
        img.status, img.detail = "ready", f"{size} bytes, version {manifest.version}, signed"
        got.image, got.image_version, got.image_md5, got.image_result = \
            dest, manifest.version, md5, img

    # -- applying ------------------------------------------------------------------------------

    async def _until_idle(self, what: str) -> None:
        if not self._is_idle():
            self._show("Waiting: call" if what == "apply" else "Restart after call")
            self._note(f"waiting for the phone to be idle before the {what}")
            self._idle.clear()
            await self._idle.wait()

    def _is_idle(self) -> bool:
        s = self.state
        return not s.calls and s.audio is AudioDevice.NONE and not s.offhook \
            and not s.predial

    def _after(self) -> None:
        if self._is_idle():
            self._idle.set()
        else:
            self._idle.clear()

    def _apply(self, rec: RunRecord, got: _Fetched) -> None:
        """All checked: write it. Files go to temp names first; settings are saved (one
        atomic write); then the renames, which do not fail on a sane file system."""
        staged: list[tuple[Path, Path, FileResult]] = []
        try:
            for path, data, res in got.writes:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.new")
                atomic_write(tmp, data)
                staged.append((tmp, path, res))
        except OSError as e:
            for tmp, _, _ in staged:
                tmp.unlink(missing_ok=True)
            raise RunFailed(f"cannot write {e.filename}: {e.strerror}; nothing applied") \
                from None
        if got.values:
            try:
                changed, _ = self.update_settings(got.values)
            except (OSError, ProvisionError, ValueError) as e:
                for tmp, _, _ in staged:
                    tmp.unlink(missing_ok=True)
                raise RunFailed(f"settings not saved: {e}; nothing applied") from None
            for res in rec.files:
                if res.kind == "config" and res.status == "ready":
                    res.status = "applied"
            if changed:
                self._note(f"settings changed: {', '.join(changed)}")
        for tmp, path, res in staged:
            os.replace(tmp, path)
            res.status = "applied"
            self._note(f"{res.name}: applied ({res.detail})")
        for folder in {path.parent for _, path, _ in staged}:
            fsync_dir(folder)                # the renames survive a power cut

    async def _install(self, rec: RunRecord, got: _Fetched) -> None:
        from provisioning import image, slots
        res = got.image_result
        self._show("Installing firmware")
        self._note(f"installing {got.image_version} into the other slot")
        try:
            await asyncio.to_thread(
                slots.apply_upgrade, got.image, slots=slots.Slots(self.slots_root),
                trusted_keys=image.trusted_keys(),
                md5=got.image_md5 if self.settings.provisioning.check_md5 else None,
                health_seconds=self.settings.provisioning.health_seconds,
                progress=lambda text: self._show_threadsafe(text))
        except (ProvisionError, OSError) as e:
            res.status, res.detail = "failed", str(e)
            raise RunFailed(f"firmware {got.image_version} not installed: {e}") from None
        finally:
            got.image.unlink(missing_ok=True)
        res.status = "installed"
        self._pending_restart = f"firmware {got.image_version} installed"

    # -- firmware from the web page (upload, or a server URL) ----------------------------------

    async def upgrade(self, *, path: Path | None = None, url: str = "",
                      md5: str | None = None) -> str:
        """Check and install a firmware image, then restart when idle (manual: FTP/TFTP/HTTP
        upgrade pages). Returns what happened for people; raises ProvisionError."""
        if self._task is not None and not self._task.done():
            raise RunFailed("auto provisioning is running; try again when it has finished")
        rec = RunRecord(trigger="upload" if path else "url", started=self._stamp())
        self.current = rec
        try:
            if url:
                path = await self._fetch_image(rec, url)
            res = FileResult(path.name, "image")
            rec.files.append(res)
            got = _Fetched(image=path, image_md5=md5, image_result=res)
            from provisioning import image
            got.image_version = (await asyncio.to_thread(image.read_manifest, path)).version
            await self._install(rec, got)
            rec.result = "ok"
            rec.summary = f"firmware {got.image_version} installed"
        except ProvisionError as e:
            rec.result, rec.summary = "failed", str(e)
            self._note(f"upgrade failed: {e}", logging.WARNING)
            raise
        finally:
            rec.finished = self._stamp()
            self.current, self.last = None, rec
            self._show("")
            self._save_state()
            self.bus.post(ProvisioningChanged(rec.result))
        self._task = asyncio.get_running_loop().create_task(self._restart_when_idle(),
                                                            name="restart-after-upgrade")
        return f"{rec.summary}; the phone restarts " + (
            "now" if self._is_idle() else "when the call ends")

    async def _fetch_image(self, rec: RunRecord, url: str) -> Path:
        from provisioning import fetch
        base, _, name = url.rstrip("/").rpartition("/")
        if not name or "://" not in base + "/":
            raise BadServer(f"'{url}' is not the URL of an image file, e.g. "
                            f"tftp://10.0.0.5/fw/S2_{identity.MODEL}_version1.2.0")
        p = self.settings.provisioning
        source = fetch.parse_server(base, p.protocol, p.username, p.password)
        rec.server = _display(source)
        fetcher = fetch.Fetcher(source, user_agent=identity.user_agent(self.mac),
                                timeout=p.timeout, ca_file=p.ca_file)
        dest = self.dir / "download" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._show(f"Fetching {name}")
        from provisioning.image import MAX_IMAGE
        await asyncio.to_thread(fetcher.get_file, name, dest, max_bytes=MAX_IMAGE,
                                progress=self._download_progress)
        return dest

    def _download_progress(self, done: int, total: int | None) -> None:
        pct = f"{100 * done // total}%" if total else f"{done >> 10} KiB"
        self._show_threadsafe(f"Firmware {pct}")

    async def _restart_when_idle(self) -> None:
        await self._until_idle("restart")
        self._note(f"restarting: {self._pending_restart}")
        self._save_state()
        self.restart()

    # -- status --------------------------------------------------------------------------------

    def status(self) -> dict:
        p = self.settings.provisioning
        now = self.clock()
        out = {
            "enabled": p.enable, "running": self.current is not None,
            "progress": self.progress,
            "current": self.current.to_json() if self.current else None,
            "last": self.last.to_json() if self.last else None,
            "next": self.next_run.isoformat(timespec="seconds") if self.next_run else None,
            "next_text": schedule.describe(self.next_run, now),
            "mac": self.mac, "model": identity.MODEL, "version": identity.VERSION,
            "user_agent": identity.user_agent(self.mac),
            "log": list(self.log_lines),
        }
        try:
            from provisioning import slots
            out["firmware"] = slots.Slots(self.slots_root).status()
        except Exception as e:  # noqa: BLE001 - status must always answer
            out["firmware"] = {"error": str(e)}
        return out

    def status_lines(self) -> list[str]:
        """The LCD page: the same facts as the web page, in short lines."""
        p = self.settings.provisioning
        lines = ["Auto provision " + ("on" if p.enable else "off")]
        if self.current is not None:
            lines.append(self.progress or "Running")
        if self.last is not None:
            lines.append(f"Last {self.last.started[5:16].replace('T', ' ')}")
            lines.append({"ok": "OK", "nothing": "No files", "failed": "Failed",
                          "skipped": "Skipped"}.get(
                self.last.result, self.last.result) + ": " + self.last.summary)
        else:
            lines.append("Last: never")
        lines.append("Next " + schedule.describe(self.next_run, self.clock()))
        url = p.url or ("DHCP option 66" if p.dhcp_option66 else "no server")
        lines.append(url)
        lines.append(f"MAC {self.mac}")
        return lines

    def _note(self, text: str, level: int = logging.INFO) -> None:
        log.log(level, "provisioning: %s", text)
        self.log_lines.append(f"{self._stamp()} {text}")

    def _show(self, text: str) -> None:
        self.progress = text
        self.state.provisioning = text
        self._refresh_page()

    def _show_threadsafe(self, text: str) -> None:
        self.bus.loop.call_soon_threadsafe(self._show_and_draw, text)

    def _show_and_draw(self, text: str) -> None:
        if self.current is not None:
            self._show(text)
            self.bus.post(ProvisioningChanged(text))

    def _stamp(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    # -- the LCD page: MENU > Auto provision --------------------------------------------------

    def _open_page(self, ev: PageRequested) -> None:
        if ev.page == "provision:status":
            self.state.menu.append(MenuPage("provision", "Auto provision",
                                            self.status_lines(), text=True, kind="provision"))

    def _refresh_page(self) -> None:
        for page in self.state.menu:
            if page.kind == "provision":
                page.items = self.status_lines()
                page.index = min(page.index, max(0, len(page.items) - 5))

    def _page_key(self, ev: KeyPressed) -> None:
        s = self.state
        if ev.consumed or not s.menu or s.menu[-1].kind != "provision" or s.diag:
            return
        if ev.key not in PAGE_KEYS or s.screen() == "ringing":
            return
        ev.consumed = True
        page = s.menu[-1]
        if ev.key in ("ok", "soft1"):
            self.bus.post(ProvisionRequested("now"))
            self._show("Starting")
        elif ev.key in ("up", "down"):
            step = -1 if ev.key == "up" else 1
            page.index = max(0, min(max(0, len(page.items) - 5), page.index + step))
        elif ev.key in ("cancel", "soft4", "left"):
            s.menu.pop()
        elif ev.key == "menu":
            s.menu.clear()

    # -- kept across restarts: DATA/provisioning/state.json ----------------------------------

    def _load_state(self) -> None:
        try:
            doc = json.loads((self.dir / "state.json").read_text("utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("provisioning state unreadable (%s): starting afresh", e)
            return
        try:
            self._timing = list(doc.get("timing", []))
            self.anchor = _when(doc.get("anchor"))
            self.next_run = _when(doc.get("next"))
            if isinstance(doc.get("last"), dict):
                self.last = RunRecord.from_json(doc["last"])
            self.log_lines.extend(str(x) for x in doc.get("log", [])[-200:])
        except (TypeError, ValueError) as e:
            log.warning("provisioning state partly unreadable (%s)", e)

    def _save_state(self) -> None:
        doc = {"timing": self._timing,
               "anchor": self.anchor.isoformat() if self.anchor else None,
               "next": self.next_run.isoformat() if self.next_run else None,
               "last": self.last.to_json() if self.last else None,
               "log": list(self.log_lines)[-100:], "saved": time.time()}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.dir / "state.json", json.dumps(doc, indent=1).encode())
        except OSError as e:
            log.warning("cannot save the provisioning state: %s", e)


def _when(value) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _display(source) -> str:
    return source.url()
