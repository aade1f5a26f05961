"""Settings: one schema, bad input never stops the phone, writes are atomic."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import tomllib

import pytest

from firmware.errors import SettingsInvalid
from firmware.settings import (FIELDS, Settings, SettingsStore, hash_password, public,
                               verify_password)
from tests.peers._process import spawn

ISSUE_EXAMPLE = """
[sip]
port = 5062
[account.1]
enable = true
display_name = "Alice"
user = "1001"
auth_user = "1001"
password = "secret"
server = "127.0.0.1:5060"
secondary_server = ""
expires = 3600
"""


def store_with(tmp_path, text: str | None) -> SettingsStore:
    if text is not None:
        (tmp_path / "settings.toml").write_text(text)
    store = SettingsStore(tmp_path)
    store.load()
    return store


def test_missing_file_means_factory_defaults(tmp_path):
    store = store_with(tmp_path, None)
    assert store.problems == []
    assert store.settings.sip.port == 5060
    assert store.settings.account[1].enable is False
    assert store.settings.web.user == "root"


def test_the_documented_names_work(tmp_path):
    s = store_with(tmp_path, ISSUE_EXAMPLE).settings
    a = s.account[1]
    assert (s.sip.port, a.enable, a.display_name, a.user, a.auth_user, a.password, a.server,
            a.secondary_server, a.expires) == (5062, True, "Alice", "1001", "1001", "secret",
                                               "127.0.0.1:5060", "", 3600)


def test_three_accounts_like_the_es330(tmp_path):
    s = store_with(tmp_path, '[account.3]\nenable = true\nuser = "1003"\n').settings
    assert s.account[3].user == "1003"
    store = store_with(tmp_path, '[account.4]\nuser = "1004"\n')
    assert [p.key for p in store.problems] == ["account.4.user"]


def test_a_bad_value_keeps_the_last_good_one_and_names_key_and_reason(tmp_path):
    store = store_with(tmp_path, ISSUE_EXAMPLE.replace("expires = 3600", "expires = 600"))
    assert store.problems == []
    (tmp_path / "settings.toml").write_text(
        ISSUE_EXAMPLE.replace("expires = 3600", 'expires = "soon"').replace("port = 5062",
                                                                            "port = 99999"))
    store.load()
    keys = {p.key: p.reason for p in store.problems}
    assert set(keys) == {"account.1.expires", "sip.port"}
    assert "whole number" in keys["account.1.expires"] and "'soon'" in keys["account.1.expires"]
    assert "at most 65535" in keys["sip.port"]
    assert store.settings.account[1].expires == 600      # last good value, not the default
    assert store.settings.sip.port == 5062
    assert store.settings.account[1].user == "1001"      # the good keys still apply


def test_a_file_that_does_not_parse_runs_on_the_last_good_settings(tmp_path):
    store = store_with(tmp_path, ISSUE_EXAMPLE)
    (tmp_path / "settings.toml").write_text("[account.1\nuser = 1001")
    store.load()
    assert len(store.problems) == 1 and store.problems[0].key == "settings.toml"
    assert "line" in store.problems[0].reason
    assert store.settings.account[1].user == "1001" and store.settings.sip.port == 5062


def test_at_start_up_the_last_good_copy_is_kept_after_the_first_register(tmp_path):
    """startup.begin loads with keep_good_later (no fsyncs before the first REGISTER); the
    App keeps the copy afterwards, and a bad file later still falls back to it."""
    (tmp_path / "settings.toml").write_text(ISSUE_EXAMPLE)
    store = SettingsStore(tmp_path)
    store.load(keep_good_later=True)
    assert not (tmp_path / ".settings.good.toml").exists()
    store.keep_good()
    assert "5062" in (tmp_path / ".settings.good.toml").read_text()
    (tmp_path / "settings.toml").write_text("[sip\nport = 1")
    again = SettingsStore(tmp_path)
    again.load(keep_good_later=True)
    again.keep_good()                       # a file with problems is never kept as good
    assert again.settings.sip.port == 5062 and again.unreadable
    assert "5062" in (tmp_path / ".settings.good.toml").read_text()


def test_unknown_keys_are_reported_not_fatal(tmp_path):
    store = store_with(tmp_path, "[sip]\nprot = 5062\nport = 5070\n")
    assert [p.key for p in store.problems] == ["sip.prot"]
    assert "unknown setting" in store.problems[0].reason
    assert store.settings.sip.port == 5070


@pytest.mark.parametrize("key,value,words", [
    ("account.1.server", "not a host!", "not a host"),
    ("account.1.user", "al ice", "spaces"),
    ("account.1.expires", 5, "at least 20"),
    ("phone.send_key", "x", "one of"),
    ("sip.bind", "localhost", "not an IP"),
    ("web.listen", "8080", "address:port"),
    ("web.listen", "127.0.0.1:10080", "browsers refuse to open port 10080"),
    ("web.port", 6000, "browsers refuse to open port 6000"),
    ("web.port", "5060", "net::ERR_UNSAFE_PORT"),
    ("phone.dnd", "yes", "true or false"),
])
def test_each_way_in_checks_values(tmp_path, key, value, words):
    store = store_with(tmp_path, None)
    with pytest.raises(SettingsInvalid) as e:
        store.update({key: value})
    assert e.value.problems[0].key == key and words in e.value.problems[0].reason
    assert not (tmp_path / "settings.toml").exists()


def test_a_change_is_all_or_nothing(tmp_path):
    store = store_with(tmp_path, ISSUE_EXAMPLE)
    before = (tmp_path / "settings.toml").read_bytes()
    with pytest.raises(SettingsInvalid):
        store.update({"account.1.user": "1009", "account.1.expires": -1})
    assert (tmp_path / "settings.toml").read_bytes() == before
    assert store.settings.account[1].user == "1001"
    changed = store.update({"account.1.user": "1009", "account.1.expires": 120})
    assert changed == ["account.1.user", "account.1.expires"]
    again = tomllib.loads((tmp_path / "settings.toml").read_text())
    assert again["account"]["1"]["user"] == "1009" and again["sip"]["port"] == 5062


def test_the_store_updates_one_settings_object_in_place(tmp_path):
    store = store_with(tmp_path, ISSUE_EXAMPLE)
    held = store.settings
    store.update({"account.1.label": "Sales"})
    (tmp_path / "settings.toml").write_text(ISSUE_EXAMPLE.replace("5062", "5070"))
    store.load()
    assert held is store.settings and held.account[1].label == "" and held.sip.port == 5070


def test_secrets_are_masked_for_the_api(tmp_path):
    shown = public(store_with(tmp_path, ISSUE_EXAMPLE).settings)
    assert shown["account.1.password"] == "********"
    assert shown["account.2.password"] == ""
    assert set(shown) == set(FIELDS)


def test_a_secret_of_the_wrong_type_is_refused_without_its_value(tmp_path):
    """A SIP password written unquoted (password = 12345678) is refused, and the reason —
    shown in GET /api/settings (the desk user's too), beside the web field, on the LCD and
    in the log — says what is wrong without the password itself."""
    store = store_with(tmp_path, ISSUE_EXAMPLE.replace('password = "secret"',
                                                       "password = 12345678"))
    (problem,) = store.problems
    assert problem.key == "account.1.password" and "string" in problem.reason
    assert "12345678" not in str(problem)
    with pytest.raises(SettingsInvalid) as e:
        store.update({"provisioning.aes_key": 87654321})
    assert "87654321" not in str(e.value) and "string" in str(e.value)


@pytest.mark.parametrize("key", ["web.user", "web.user_name"])
def test_a_web_login_name_is_one_http_basic_can_send(key, tmp_path):
    """HTTP Basic sends "name:password" and splits at the first ':' — a login name that is
    empty or holds a ':' (POST /api/password {"user": ...}, passwd --user) would lock the
    API's clients out, or make the empty name a login."""
    store = store_with(tmp_path, "")
    for bad in ("", "ad:min"):
        with pytest.raises(SettingsInvalid) as e:
            store.update({key: bad})
        assert key in str(e.value) and "':'" in str(e.value)
    assert store.update({key: "admin2"}) == [key]


def test_web_passwords_are_stored_hashed():
    stored = hash_password("s3cret!")
    assert "s3cret" not in stored and stored.startswith("pbkdf2_sha256$")
    assert verify_password("s3cret!", stored) and not verify_password("s3cret", stored)
    assert verify_password("root", "") and not verify_password("admin", "")
    assert hash_password("x") != hash_password("x")          # salted


WRITER = r"""
import sys
from pathlib import Path
from firmware.settings import SettingsStore
store = SettingsStore(Path(sys.argv[1]))
store.load()
i = 0
print("ready", flush=True)
while True:
    i += 1
    store.update({"account.1.label": f"label {i} " + "x" * 1000, "account.1.expires": 20 + i % 1000})
"""


def test_kill_9_in_the_middle_of_a_write_leaves_old_or_new_never_broken(tmp_path):
    """A process rewrites the file as fast as it can; kill -9 lands at random moments."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    store_with(tmp_path, ISSUE_EXAMPLE)
    rng = random.Random(7)
    for _ in range(25):
        p = spawn([sys.executable, "-c", WRITER, str(tmp_path)], cwd=root,
                  stdout=subprocess.PIPE)          # dies with the test run
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.05))
        p.send_signal(signal.SIGKILL)
        p.wait(5)
        doc = tomllib.loads((tmp_path / "settings.toml").read_text())   # never half a file
        store = SettingsStore(tmp_path)
        store.load()
        assert store.problems == []
        assert store.settings.account[1].user == "1001"
        label = doc["account"]["1"].get("label", "")
        assert label == "" or label.endswith("x" * 1000)
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []  # cleaned at load
