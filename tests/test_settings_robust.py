"""Settings that never stop the phone (issue 10, item 7), on a real phone process.

Whatever is in DIR/settings.toml — nested a thousand deep, bigger than any settings file,
empty, numbers of 5000 digits — the phone starts, runs on its last good settings, says
what is wrong on the status page and in DIR/logs/phone.log, and leaves the file for the
administrator to fix. Values are bounded on every way in, and the files holding the SIP
passwords are the owner's alone.
"""
from __future__ import annotations

import random
import stat
import threading
import tomllib

import pytest
import tomli_w

from tests.phone import PhoneError, PhoneProcess


@pytest.fixture
def phone(tmp_path):
    """A phone that ran once with good settings (so they are its last good ones)."""
    p = PhoneProcess(tmp_path / "a", account={"user": "1001", "label": "Reception"})
    p.start()
    p.stop()
    yield p
    try:
        p.stop()
    finally:
        p.kill()


def restart_with(p: PhoneProcess, data: bytes) -> list[str]:
    """Write settings.toml, start the phone, return its settings problems as shown."""
    (p.data_dir / "settings.toml").write_bytes(data)
    p.start(write=False)
    body = p.request("GET", "/api/settings")
    return [f"{e['key']}: {e['reason']}" for e in body["errors"]]


def running_on_last_good(p: PhoneProcess) -> None:
    s = p.request("GET", "/api/settings")["settings"]
    assert s["account.1.user"] == "1001" and s["account.1.label"] == "Reception"
    assert s["sip.port"] == p.sip_port


def logged(p: PhoneProcess, text: str) -> bool:
    return text in (p.data_dir / "logs" / "phone.log").read_text(errors="replace")


BAD_FILES = {
    "nested arrays": b"[phone]\nblacklist = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "nested tables": b"x = " + b"{y = " * 5000 + b"1" + b"}" * 5000 + b"\n",
    "5000-digit number": b"[phone]\ndial_timeout = " + b"1" * 5000 + b"\n",
    "bigger than 1 MiB": b'[phone]\nhotline = "' + b"1" * (2 << 20) + b'"\n',
    "not TOML": b"[account.1\nuser = 1001\n",
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_file_that_cannot_be_read_is_an_error_and_the_phone_runs_on_the_last_good(
        phone, name):
    data = BAD_FILES[name]
    problems = restart_with(phone, data)
    assert len(problems) == 1 and problems[0].startswith("settings.toml: "), problems
    assert "last good settings" in problems[0] and "fix" in problems[0]
    assert len(problems[0]) < 600                        # a message, not the file again
    running_on_last_good(phone)
    assert any(e.startswith("settings.toml") for e in phone.state()["errors"])   # LCD
    assert logged(phone, "settings: settings.toml: ")
    assert (phone.data_dir / "settings.toml").read_bytes() == data   # left to be fixed


def test_an_empty_file_is_a_warning_and_not_a_reset(phone):
    problems = restart_with(phone, b"")
    assert len(problems) == 1 and "empty" in problems[0], problems
    assert "delete it" in problems[0]                      # how to reset on purpose
    running_on_last_good(phone)
    assert logged(phone, "the file is empty")
    assert (phone.data_dir / "settings.toml").read_bytes() == b""


def test_a_file_of_comments_is_the_factory_settings_on_purpose(phone):
    web = tomli_w.dumps({"web": phone.settings_doc["web"]}).encode()   # to sign in
    assert restart_with(phone, b"# back to the factory settings\n" + web) == []
    assert phone.request("GET", "/api/settings")["settings"]["account.1.user"] == ""


def test_every_start_up_problem_is_in_phone_log(phone):
    text = (phone.data_dir / "settings.toml").read_text()
    restart_with(phone, (text + '\n[lcd]\ncontrast = "bright"\n').encode())
    assert logged(phone, "settings: lcd.contrast: must be a whole number")


def test_saving_over_an_unreadable_file_keeps_it_as_settings_toml_bad(phone):
    data = BAD_FILES["not TOML"]
    restart_with(phone, data)
    phone.settings({"lcd.contrast": 7})
    assert (phone.data_dir / "settings.toml.bad").read_bytes() == data
    assert logged(phone, "settings.toml.bad")
    doc = tomllib.loads((phone.data_dir / "settings.toml").read_text())
    assert doc["lcd"]["contrast"] == 7 and doc["account"]["1"]["user"] == "1001"


@pytest.mark.parametrize("values,words", [
    ({"phone.hotline": "1" * 100_000}, "at most 1024 characters"),
    ({"phone.blacklist": [f"1{i}" for i in range(5000)]}, "at most 100 entries"),
    ({"phone.blacklist": ["1" * 2000]}, "at most 1024 characters"),
    ({"phone.dial_timeout": "1" * 5000}, "must be a whole number"),
])
def test_values_are_bounded(phone, values, words):
    phone.start(write=False)
    code, body = phone.status("PATCH", "/api/settings", values)
    assert code == 400 and words in body["error"], body
    assert len(body["error"]) < 600
    running_on_last_good(phone)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_the_files_with_passwords_are_the_owners_alone(tmp_path):
    p = PhoneProcess(tmp_path / "a", account={"user": "1001", "password": "s3cret"})
    p.write_settings()
    p.data_dir.chmod(0o755)
    (p.data_dir / "settings.toml").chmod(0o644)            # as an older firmware left them
    with p:
        assert mode(p.data_dir) == 0o700
        assert mode(p.data_dir / "settings.toml") == 0o600
        assert mode(p.data_dir / ".settings.good.toml") == 0o600
        p.settings({"account.1.password": "n3w"})
        assert mode(p.data_dir / "settings.toml") == 0o600


def test_a_new_data_dir_is_made_the_owners_alone(tmp_path):
    p = PhoneProcess(tmp_path / "new" / "a", factory=True)
    with p.start(write=False):
        assert mode(p.data_dir) == 0o700


def test_kill_9_during_settings_writes_leaves_old_or_new_and_the_phone_starts(tmp_path):
    """PATCH /api/settings as fast as the phone takes it; kill -9 at a random moment; the
    file parses, and the phone starts again with one of the values it was given."""
    rng = random.Random(10)
    p = PhoneProcess(tmp_path / "a", account={"user": "1001"})
    sent: set[str] = {""}
    try:
        p.start()
        for round_ in range(12):
            stop = threading.Event()
            done = threading.Event()

            def hammer():
                i = 0
                try:
                    while not stop.is_set():
                        i += 1
                        label = f"r{round_} n{i} " + "x" * 900
                        sent.add(label)
                        p.settings({"account.1.label": label,
                                    "account.1.expires": 20 + i % 1000})
                except (PhoneError, OSError):
                    pass                            # the phone was killed under us
                finally:
                    done.set()
            t = threading.Thread(target=hammer, daemon=True)
            t.start()
            # a few writes in, then kill at a random point of one
            p.wait(lambda s: True, 2)
            threading.Event().wait(rng.uniform(0.05, 0.4))
            p.kill()
            stop.set()
            assert done.wait(15)
            doc = tomllib.loads((p.data_dir / "settings.toml").read_text())   # never half
            assert doc["account"]["1"].get("label", "") in sent
            p.start(write=False)
            s = p.request("GET", "/api/settings")
            assert s["errors"] == []
            assert s["settings"]["account.1.label"] == doc["account"]["1"].get("label", "")
            assert s["settings"]["account.1.user"] == "1001"
    finally:
        try:
            p.stop()
        finally:
            p.kill()
