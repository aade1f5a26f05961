"""Saving settings off the event loop (issue #13: key -> frame unchanged while a browser
saves): SettingsService.update checks and applies a change at once and one writer thread
(firmware/settings/writer.py) writes settings.toml. In-process: a real store in a temp
dir, a real event loop and bus, the service as the App wires it.
"""
from __future__ import annotations

import asyncio
import threading
import tomllib
from types import SimpleNamespace

import pytest

from firmware.bus import Bus
from firmware.errors import SettingsInvalid
from firmware.settings import SettingsStore, hash_password
from firmware.settings_service import SettingsService

SIZE = "phone.call_log_size"


def service(tmp_path, loop) -> SettingsService:
    store = SettingsStore(tmp_path)
    (tmp_path / "settings.toml").write_text("# the administrator's note\n[phone]\n"
                                            "call_log_size = 100   # kept\n")
    store.load()
    svc = SettingsService(store=store, state=SimpleNamespace(errors=[], notice=""),
                          bus=Bus(loop), data_dir=tmp_path, console_log=False,
                          sip_error=lambda: "")
    svc.show_problems()
    return svc


def on_disk(tmp_path) -> dict:
    return tomllib.loads((tmp_path / "settings.toml").read_text())


def run(tmp_path, body):
    """body(svc) as a coroutine on a fresh loop (the phone's loop in miniature)."""
    async def main():
        return await body(service(tmp_path, asyncio.get_running_loop()))
    return asyncio.run(main())


def test_many_saves_end_with_the_last_on_disk_never_an_older_one_after(tmp_path):
    written = []

    async def body(svc):
        write = svc.store.write_current

        def recording():
            with svc.store.lock:
                written.append(svc.settings.phone.call_log_size)
            write()
        svc.store.write_current = recording
        for n in range(101, 161):
            changed, _ = svc.update({SIZE: n})
            assert changed == [SIZE] and svc.settings.phone.call_log_size == n   # at once
        assert await svc.flushed() is None
    run(tmp_path, body)
    assert on_disk(tmp_path)["phone"]["call_log_size"] == 160
    assert "# the administrator's note" in (tmp_path / "settings.toml").read_text()
    assert written == sorted(written) and written[-1] == 160 and len(written) <= 60
    good = tomllib.loads((tmp_path / ".settings.good.toml").read_text())
    assert good["phone"]["call_log_size"] == 160


def test_a_refused_change_is_refused_at_once_and_nothing_is_written(tmp_path):
    async def body(svc):
        before = (tmp_path / "settings.toml").read_bytes()
        with pytest.raises(SettingsInvalid):
            svc.update({SIZE: "lots"})
        assert not svc.writer.pending
        assert await svc.flushed() is None
        assert (tmp_path / "settings.toml").read_bytes() == before
    run(tmp_path, body)


def test_a_failed_write_shows_on_the_idle_screen_and_the_next_save_writes(tmp_path):
    """Something in the way of settings.toml (the phone runs as root on the board, so a
    read-only dir would not stop it): the change is in use, the idle screen says it is not
    saved, and once the way is clear the next save writes the newest state."""
    async def body(svc):
        path = tmp_path / "settings.toml"
        path.unlink()
        path.mkdir()
        (path / "in-the-way").write_text("x")
        svc.update({SIZE: 120})
        why = await svc.flushed()
        assert why and svc.settings.phone.call_log_size == 120
        await asyncio.sleep(0)                      # the writer's note reaches the loop
        assert any("cannot save" in e for e in svc.state.errors), svc.state.errors
        (path / "in-the-way").unlink()
        path.rmdir()
        svc.update({SIZE: 130})
        assert await svc.flushed() is None
        await asyncio.sleep(0)
        assert not any("cannot save" in e for e in svc.state.errors), svc.state.errors
    run(tmp_path, body)
    assert on_disk(tmp_path)["phone"]["call_log_size"] == 130


def test_passwd_writing_the_file_is_noticed_the_phones_own_writes_are_not(tmp_path):
    async def body(svc):
        assert svc.credentials_from_disk() == []
        svc.update({"web.password_hash": hash_password("Our-own-1234")})    # the web's own
        for n in range(101, 121):
            svc.update({SIZE: n})
            assert svc.credentials_from_disk() == []     # pending or written: ours
        await svc.flushed()
        assert svc.credentials_from_disk() == []
        other = SettingsStore(tmp_path)                   # python -m firmware passwd
        other.load()
        outside = hash_password("From-passwd-99")
        other.update({"web.password_hash": outside})
        assert svc.credentials_from_disk() == ["web.password_hash"]
        assert svc.settings.web.password_hash == outside
        svc.update({SIZE: 140})                           # written with passwd's hash
        await svc.flushed()
        assert svc.credentials_from_disk() == []
        return outside
    outside = run(tmp_path, body)
    assert on_disk(tmp_path)["web"]["password_hash"] == outside


def test_passwd_while_a_write_waits_is_kept(tmp_path):
    """The writer looks at the file just before it writes: a password passwd saved while
    our write waited its turn is adopted, not written over with the one in memory."""
    async def body(svc):
        gate = threading.Event()
        write = svc.writer._write
        svc.writer._write = lambda: (gate.wait(10), write())
        svc.update({SIZE: 150})
        other = SettingsStore(tmp_path)                   # python -m firmware passwd
        other.load()
        outside = hash_password("From-passwd-99")
        other.update({"web.password_hash": outside})
        assert svc.credentials_from_disk() == []          # our write pending: not yet
        gate.set()
        assert await svc.flushed() is None
        assert svc.credentials_from_disk() == ["web.password_hash"]
        assert svc.settings.web.password_hash == outside
        return outside
    outside = run(tmp_path, body)
    assert on_disk(tmp_path)["web"]["password_hash"] == outside
    assert on_disk(tmp_path)["phone"]["call_log_size"] == 150


def test_sighup_reload_waits_for_the_pending_write(tmp_path):
    async def body(svc):
        gate = threading.Event()
        write = svc.writer._write
        svc.writer._write = lambda: (gate.wait(10), write())
        svc.update({SIZE: 170})
        assert svc.writer.pending
        threading.Timer(0.2, gate.set).start()        # the SD card's slow fsync, ending
        svc.reload()                                  # SIGHUP: waits, then reads
        assert not svc.writer.pending
        assert svc.settings.phone.call_log_size == 170
        assert on_disk(tmp_path)["phone"]["call_log_size"] == 170
    run(tmp_path, body)


def test_a_refused_change_from_the_keys_logs_its_keys_not_its_values(tmp_path, caplog):
    """A password typed on the LCD with a value the schema refuses: the idle screen says
    why, phone.log names the setting, never what was typed."""
    store = SettingsStore(tmp_path)
    store.load()
    state = SimpleNamespace(errors=[], notice="")
    service = SettingsService(store=store, state=state, bus=SimpleNamespace(post=lambda e: 0),
                              data_dir=tmp_path, console_log=False, sip_error=lambda: "")
    secret = "hunter2-secret-77"
    with caplog.at_level("WARNING"):
        service.save_from_phone({"account.1.password": secret, "account.1.expires": -5})
    assert state.notice.startswith("Cannot save")
    assert "account.1.password" in caplog.text and secret not in caplog.text
