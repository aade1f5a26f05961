"""The one object the web server (and anything else outside the phone) talks to.

ui/web knows the phone only through `Api`: what it can do (press a key, lift the hook,
dial, page, run a diagnose test, provision, upgrade, change settings and keys, clear the
call log) and what it can read (state, LEDs, the LCD frame, settings, status pages). Each
method is the one place a web request meets the running phone: commands become events on
the bus (thread-safe), queries read the presenter, the settings service or a feature. The
App builds it; nothing here builds or starts parts.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from firmware.events import (DiagnoseRequested, DialRequested, IntercomRequested, KeyPressed,
                             KeyReleased, MulticastPageRequested, PhoneBookChanged,
                             ProvisionRequested)
from firmware.keys import EXPANSION, KEYS
from firmware.settings import FIELDS, factory_values, public, settings_file
from firmware.settings_service import CREDENTIALS
from firmware.system import netinfo
from firmware.system.identity import MODEL, VERSION

DIAGNOSE_TESTS = ("keys", "lcd", "lights", "sound", "")
PHONEBOOK_CHANGES = ("add", "edit", "delete", "delete_all", "add_group", "rename_group",
                     "delete_group", "delete_all_groups")     # what the web may ask of Books
LOGS = ("phone.log", "sip.log")     # DIR/logs: the firmware's log, the SIP trace (log.sip_trace)


class Api:
    def __init__(self, app):
        self._app = app

    # -- who we are ------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._app.data_dir

    @property
    def console_log(self) -> bool:
        return self._app.console_log

    @property
    def web(self):
        """The web.* settings in use (sign-in: user, password hash)."""
        return self._app.settings.web

    @property
    def lcd_locked(self) -> bool:
        """Whether the LCD's Advanced setting asks a password (lcd.advanced_password set):
        the Password page says what an empty one means once the desk user can sign in."""
        return bool(self._app.settings.lcd.advanced_password)

    @property
    def simulated(self) -> bool:
        return self._app.board.simulated

    def _feature(self, name: str):
        """A feature's object, as the App loaded it."""
        return self._app.features.get(name)

    # -- what a person does (any thread) -----------------------------------------------------

    key_names = list(KEYS)

    @staticmethod
    def known_key(key) -> bool:
        return key in KEYS or key in EXPANSION

    def press(self, key: str, action: str = "press", source: str = "api") -> None:
        """A key on the front panel or from a script: down, up, or both (press)."""
        if self._app.board.press(key, action):
            return      # the sim board: its keypad driver reports the key (board.Board.press)
        post = self._app.bus.post_threadsafe
        if action in ("press", "down"):
            post(KeyPressed(key, source))
        if action in ("press", "up"):
            post(KeyReleased(key, source))

    def set_hook(self, offhook: bool) -> bool:
        """Lift or replace the handset of a board whose hook is not a real switch; False
        when it is one (the speaker key goes off-hook remotely instead)."""
        hook = self._app.board.hook
        if getattr(hook, "physical", True):
            return False
        hook.set(offhook)
        return True

    def dial(self, number: str, line: int = 0) -> None:
        self._app.bus.post_threadsafe(DialRequested(number, line))

    def page(self, number: str, paging: bool = False) -> None:
        """An intercom call (answered by itself at the far end)."""
        self._app.bus.post_threadsafe(IntercomRequested(number, 0, paging))

    def page_multicast(self, group: str) -> None:
        """Start or stop a multicast page of the microphone on `group` (address:port).
        Raises ValueError for a group that is not one."""
        FIELDS["paging.multicast"].metadata["check"](group)
        self._app.bus.post_threadsafe(MulticastPageRequested(group))

    def run_diagnose(self, test: str) -> None:
        self._app.bus.post_threadsafe(DiagnoseRequested(test))

    def provision_now(self) -> None:
        self._app.bus.post_threadsafe(ProvisionRequested("now"))

    # -- what is shown ---------------------------------------------------------------------

    def state_json(self) -> dict:
        return self._app.presenter.state_json()

    def leds_json(self) -> dict:
        return self._app.presenter.leds_json()

    def screen_png(self) -> bytes:
        """The LCD as a PNG (empty before the first frame)."""
        frame = self._app.presenter.frame
        return frame.png() if frame else b""

    def screen_lines(self) -> list[str]:
        """The LCD's text, line by line."""
        frame = self._app.presenter.frame
        return frame.lines if frame else []

    def subscribe(self) -> asyncio.Queue:
        return self._app.presenter.subscribe()

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._app.presenter.unsubscribe(q)

    def status_lines(self, page: str) -> list[str]:
        """The text of the View status pages (manual §6 "View status")."""
        app = self._app
        if page == "status.network":
            return self._network_lines()
        if page == "status.lines":
            lines = []
            for a in app.state.accounts:
                if not a.enabled:
                    lines.append(f"L{a.index} off")
                    continue
                lines.append(f"L{a.index} {a.user} {a.status.value.replace('_', ' ')}")
                if a.server:
                    lines.append(f"  {a.server}")
                if a.reason:
                    lines.append(f"  {a.reason}")
            return lines
        up = int(time.monotonic() - app.started_mono)
        return [f"Model {MODEL}", f"deskphone {VERSION}",
                f"pjsua2 {app.sip.pj_version or '?'}", f"Board {app.board.name}",
                f"Kernel {os.uname().release}", f"Upgraded {_upgraded()}",
                f"Up {up // 86400}d {up // 3600 % 24}h {up // 60 % 60}m",
                # where the time shown comes from; an SNTP failure (features/clock.py)
                *([f"Time {app.state.time_status}"] if app.state.time_status else [])]

    def _network_lines(self) -> list[str]:
        """View status > Network: each address with its mask, the gateway and DNS the OS
        uses, how the address came (the sim board uses the PC's), the MAC provisioning
        names its files by, and where SIP and the web listen."""
        app = self._app
        lines = []
        route = netinfo.default_route()
        for name, addr in netinfo.addresses():         # the manual's words: IP, Mask, GW
            mask = netinfo.netmask(name) if name != "lo" else None
            lines += [f"{name} {addr}"] + ([f" Mask {mask}"] if mask else [])
        if not lines:
            lines.append("No network interface")
        if route:
            lines.append(f"GW {route[1]}")
        lines += [f"DNS {d}" for d in netinfo.dns_servers()] or ["DNS none"]
        lines.append("Sim: the PC's network" if app.board.simulated
                     else netinfo.address_source(route[0] if route else ""))
        sip_at = app.sip.local_host or f"off: {app.sip_error}"
        from firmware.system.weblisten import urls      # what a person types
        web_at = " ".join(urls(app.listen()))
        return lines + [f"MAC {app.mac}", f"SIP {sip_at}", f"Web {web_at or 'off'}"]

    # -- settings --------------------------------------------------------------------------

    def settings_json(self) -> dict:
        return {"settings": public(self._app.settings),
                "errors": [{"key": p.key, "reason": p.reason}
                           for p in self._app.store.problems],
                "restart_pending": self.pending_restart()}

    def pending_restart(self) -> list[str]:
        """Saved settings waiting for a restart to apply (schema: restart=True)."""
        return self._app.config.pending_restart()

    def restart(self) -> None:
        """Restart the phone as the LCD's Reboot does: the App stops with RESTART_CODE and
        firmware.boot starts it again (on the event loop's thread)."""
        self._app.request_restart()

    def update_settings(self, values: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(changed, needing a restart); raises SettingsInvalid (nothing changed)."""
        return self._app.config.update(values)

    async def settings_flushed(self) -> str | None:
        """Every settings change so far is on disk: None, or why settings.toml could not be
        written (the change is in use; the next save tries again). The loop runs on."""
        return await self._app.config.flushed()

    def credentials_from_disk(self) -> list[str]:
        return self._app.config.credentials_from_disk()

    def backup(self, fmt: str, *, secrets: bool) -> tuple[bytes, str, str] | None:
        """The settings as a file: (data, file name, content type); None for a format
        other than xml (Escene) or toml."""
        stamp = time.strftime("%Y%m%d")
        if fmt == "xml":
            from provisioning import escene
            return (escene.export_config(self._app.settings, include_secrets=secrets),
                    f"{self._app.mac.replace(':', '')}-{stamp}.xml", "application/xml")
        if fmt == "toml":
            return (settings_file(self._app.settings, include_secrets=secrets),
                    f"settings-{stamp}.toml", "application/toml")
        return None

    def restore(self, values: dict[str, Any], kind: str) -> tuple[list[str], list[str],
                                                                   list[str]]:
        """Apply a backup's values, all or nothing: (changed, needing a restart, credentials
        kept). settings.toml lists only what differs from the factory, so the rest goes
        back to it (secrets a backup leaves out excepted). A backup never changes who may
        sign in: that takes the current password, and a file is no proof of knowing it.
        Raises SettingsInvalid."""
        kept = [k for k in CREDENTIALS if k in values]
        if kind == "toml":
            values = {k: v for k, v in factory_values().items()
                      if not FIELDS[k].metadata["secret"]} | values
        values = {k: v for k, v in values.items() if k not in CREDENTIALS}
        changed, restart = self.update_settings(values)
        return changed, restart, kept

    # -- management --------------------------------------------------------------------------

    def log_files(self, name: str) -> list[Path] | None:
        """The Log page's downloads (manual §7 Maintenance > Log): DIR/logs/NAME's rotated
        files, oldest first, then NAME itself, those that exist; None for a NAME that is not
        one of LOGS (firmware/logs.py writes them)."""
        if name not in LOGS:
            return None
        folder = self.data_dir / "logs"
        rotated = sorted((int(p.name.rpartition(".")[2]), p) for p in folder.glob(name + ".*")
                         if p.name.rpartition(".")[2].isdigit())
        return [p for _, p in reversed(rotated)] + [p for p in (folder / name,) if p.exists()]

    def calllog(self) -> dict:
        return self._feature("calllog").document()

    def clear_calllog(self, which: str | None) -> None:
        """Clear one list (missed, received, dialled) or all; ValueError for another."""
        log = self._feature("calllog")
        if which and which not in log.lists:
            raise ValueError(which)
        log.clear(which or None)
        self._app.presenter.present()

    def provision_status(self) -> dict:
        return self._app.provisioner.status()

    def upload_path(self, name: str) -> Path:
        """Where an uploaded firmware image is kept until it is installed."""
        up = self._app.data_dir / "provisioning" / "upload"
        up.mkdir(parents=True, exist_ok=True)
        return up / name

    async def upgrade(self, **job) -> str:
        """Check and install an image (path= or url=); raises ProvisionError."""
        return await self._app.provisioner.upgrade(**job)

    @property
    def books(self):
        """The phone books the LCD uses (firmware/phonebooks.py Books, provided as
        "phonebooks" by the directory feature): one object, so what the web changes the LCD
        shows at once."""
        return self._feature("phonebooks")

    def change_phonebook(self, change: str, *args, **kw):
        """A change of the personal book from the web: `change` is the Books method (add,
        edit, delete, delete_all, add_group, rename_group, delete_group,
        delete_all_groups); its answer, or BookError (nothing saved). The LCD's phone book
        pages follow (PhoneBookChanged)."""
        if change not in PHONEBOOK_CHANGES:
            raise ValueError(change)
        out = getattr(self.books, change)(*args, **kw)
        self._app.bus.post_threadsafe(PhoneBookChanged())
        return out

    def phonebook(self, q: str = "") -> dict:
        """GET /api/phonebook: each book's contacts by name (`q`: those whose name starts
        with it or whose number holds it); the personal book's own (the user's, "own":
        true) and provisioned ones ("own": false) together."""
        from provisioning.phonebook import Phonebook
        books = self.books
        books.refresh()
        out = {}
        for which in ("enterprise", "personal"):
            listed = books.listed(which)
            if q:
                hits = {id(c) for c in Phonebook(contacts=[x.contact for x in listed]).search(q)}
                listed = [x for x in listed if id(x.contact) in hits]
            out[which] = [{**dataclasses.asdict(x.contact), "own": x.own} for x in listed]
        return out

    async def import_phonebook(self, which: str, data: bytes, name: str) -> dict:
        """A phone book file (Escene or Yealink XML) into the personal book (the user's own
        contacts replaced) or the enterprise book: firmware/directory/formats.py. Read and
        checked in a thread (seconds for 2 MiB on a Pi: the web shares the loop with the
        phone's bus, which must not stop), then written on the loop. What it held;
        FileRefused or BookError (ValueError) with nothing changed."""
        from firmware.directory import formats
        books = self.books
        books.refresh()
        got = await asyncio.to_thread(formats.checked, data, which=which, name=name,
                                      have=formats.provisioned(books, which))
        out = formats.apply(books, got)
        self._app.bus.post_threadsafe(PhoneBookChanged())
        return out

    def export_phonebook(self, which: str, fmt: str) -> tuple[bytes, str]:
        """A book as a file ("escene" or "yealink") and the file's name."""
        from firmware.directory import formats
        return formats.export_file(self.books, which, fmt)

    async def update_phonebook(self, which: str, url: str) -> dict:
        """The manual's FTP/TFTP Upgrade "Phone Book: update": the file at `url` (tftp,
        ftp, http, https: firmware/directory/remote.py), fetched in a worker thread, then
        imported as an upload is; ValueError with nothing changed."""
        from firmware.directory import formats, remote
        if which not in formats.BOOKS:
            raise ValueError(f"book: one of {', '.join(formats.BOOKS)}")
        data, name, where = await asyncio.to_thread(remote.fetch, url,
                                                    settings=self._app.settings,
                                                    user_agent=self._user_agent())
        return {**await self.import_phonebook(which, data, name), "url": where}

    async def backup_phonebook(self, which: str, fmt: str, url: str) -> dict:
        """The manual's "Phone Book: backup": `which` book as a file ("escene" or
        "yealink") sent to `url` (TFTP write, FTP STOR, HTTP PUT) from a worker thread."""
        from firmware.directory import remote
        return await asyncio.to_thread(remote.backup, self.books, which, fmt, url,
                                       settings=self._app.settings,
                                       user_agent=self._user_agent())

    def _user_agent(self) -> str:
        from firmware.system.identity import user_agent
        return user_agent(getattr(self._app, "mac", ""))

    async def ldap_search(self, typed: str, kind: str = "name"):
        """LDAP search (web: /phonebook/ldap, /api/ldap): both servers, in a thread
        (firmware/directory/ldap.py search_off_loop); a firmware.directory.ldap.Answer."""
        from firmware.directory import ldap
        return await ldap.search_off_loop(self._app.settings, typed, kind)

    def key_layout(self) -> dict:
        from provisioning.keys import KeyLayout
        try:
            return KeyLayout.load(self._app.data_dir / "keys.json").to_json()
        except (OSError, ValueError, TypeError):
            return {"memory": [], "program": []}

    def set_key_layout(self, doc) -> tuple[int, list[str]]:
        """Replace the programmable keys, in use at once: (keys, problems); with problems
        nothing changed. Raises OSError when the file cannot be written."""
        count, problems = self._feature("memkeys").replace_layout(doc)
        if not problems:
            self._app.presenter.present()
        return count, problems

    def key_state(self, *, stats: bool = False) -> dict:
        keys = self._feature("memkeys")
        out = {"modules": keys.modules(), "keys": keys.describe()}
        if stats:        # make bench: NOTIFY -> lamp, in the phone
            out["stats"] = {"notifies": keys.blf.notifies,
                            "latency_ms": [round(x * 1000, 3) for x in keys.blf.latencies]}
        return out

    @property
    def banlist(self):
        """The ban list the LCD's Ban soft key uses (firmware/banlist.py BanList, made by
        the banlist feature): a change here is refused by the SIP thread at once."""
        return self._feature("banlist")

    # -- the sim board -----------------------------------------------------------------------

    async def sim_mic(self, tone: int | None) -> None:
        """A steady tone stands in for a voice on the microphone (None: silence)."""
        await asyncio.wrap_future(self._app.sip.sim_mic(tone))

    async def sim_listen(self, seconds: float) -> bytes:
        """A WAV file of what the person hears for `seconds`."""
        import tempfile
        sip = self._app.sip
        with tempfile.TemporaryDirectory() as d:
            path = str(Path(d) / "listen.wav")
            handle = await asyncio.wrap_future(sip.record_start(path))
            await asyncio.sleep(seconds)
            await asyncio.wrap_future(sip.record_stop(handle))
            return wav_sizes(Path(path).read_bytes())


def _upgraded() -> str:
    """When the firmware that runs was installed (View status > Software): the active A/B
    slot's install time; "factory" for the tree the phone was installed with."""
    from provisioning.slots import Slots, read_state
    slots = Slots.from_env()
    if slots is None:
        return "not under firmware.boot"
    try:
        info = (read_state(slots.root).get("slots") or {}).get(slots.active()) or {}
    except (OSError, ValueError):
        return "unknown"
    return str(info.get("installed", "factory"))[:16].replace("T", " ")


def wav_sizes(data: bytes) -> bytes:
    """pjmedia writes the RIFF/data sizes when the writer is destroyed, which may not have
    happened yet: fill them in from the file length (44-byte PCM header)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[36:40] != b"data":
        return data
    n = len(data) - 44
    return (data[:4] + (n + 36).to_bytes(4, "little") + data[8:40] + n.to_bytes(4, "little")
            + data[44:])
