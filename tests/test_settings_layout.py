"""Every write keeps the administrator's comments and layout in settings.toml (issue 13,
"Changes take effect as a person expects"): a save through the store (the web, the API,
the LCD, `python -m firmware passwd` all save so) changes the changed lines only."""
from __future__ import annotations

import logging
import tomllib
from types import SimpleNamespace

from firmware.settings import SettingsStore, verify_password
from firmware.settings.layout import keep_layout
from firmware.settings.values import factory_values
from firmware.settings_service import SettingsService
from tests.phone import password_hash

COMMENTED = """\
# Reception phone, set up by Dana (ext. 4410). Ask before changing the accounts!

[sip]
port = 5062          # the PBX expects 5062
retry_interval = 32  # the manual's default, written out on purpose

# --- accounts ------------------------------------------------------------------------
[account.1]
enable = true
display_name = 'Reception'   # single quotes, as typed
user = "1001"
password = "old-secret"      # rotated every quarter
server = "10.0.0.5"

[account.2]
enable = true
user = "1002"
label = "Night"
# label = "Evening"   (what it said last winter)

[phone]
blacklist = [
    "1900",   # premium
    "1901",
]
"""


def store_with(tmp_path, text: str) -> SettingsStore:
    (tmp_path / "settings.toml").write_text(text)
    store = SettingsStore(tmp_path)
    store.load()
    assert store.problems == []
    return store


def on_disk(tmp_path) -> str:
    return (tmp_path / "settings.toml").read_text()


def test_a_changed_value_changes_its_line_only(tmp_path):
    store = store_with(tmp_path, COMMENTED)
    assert store.update({"account.1.password": "new-secret"}) == ["account.1.password"]
    assert on_disk(tmp_path) == COMMENTED.replace('"old-secret"', '"new-secret"')
    store.update({"sip.port": 5070, "account.2.label": "Day"})
    assert on_disk(tmp_path) == COMMENTED.replace('"old-secret"', '"new-secret"').replace(
        "port = 5062 ", "port = 5070 ").replace('label = "Night"', 'label = "Day"')


def test_a_new_key_goes_after_the_last_key_of_its_table_and_a_new_table_at_the_end(tmp_path):
    store = store_with(tmp_path, COMMENTED)
    store.update({"sip.failover_timeout": 9, "log.level": "debug"})
    assert on_disk(tmp_path) == COMMENTED.replace(
        "retry_interval = 32  # the manual's default, written out on purpose\n",
        "retry_interval = 32  # the manual's default, written out on purpose\n"
        "failover_timeout = 9\n") + '\n[log]\nlevel = "debug"\n'
    assert SettingsStore(tmp_path).load().log.level == "debug"


def test_a_key_set_back_to_its_default_goes_and_its_comment_with_it(tmp_path):
    """As the store always did: the file holds what differs from the factory (a default
    the administrator wrote out stays until it is changed: retry_interval above)."""
    store = store_with(tmp_path, COMMENTED)
    store.update({"sip.port": 5060})
    without_port = COMMENTED.replace("port = 5062          # the PBX expects 5062\n", "")
    assert on_disk(tmp_path) == without_port
    store.update({"phone.blacklist": []})       # its table had nothing else: it goes too
    assert on_disk(tmp_path) == without_port[:without_port.index("[phone]")]


def test_a_list_is_rewritten_only_when_it_changed(tmp_path):
    store = store_with(tmp_path, COMMENTED)
    store.update({"phone.blacklist": ["1900", "1901"], "account.2.label": "Day"})
    assert '"1900",   # premium' in on_disk(tmp_path)
    store.update({"phone.blacklist": ["1900", "1901", "1902"]})
    assert tomllib.loads(on_disk(tmp_path))["phone"]["blacklist"] == ["1900", "1901", "1902"]
    assert on_disk(tmp_path).startswith(COMMENTED[:COMMENTED.index("[phone]")].replace(
        '"Night"', '"Day"'))


def test_unknown_keys_and_bad_values_become_what_the_phone_runs(tmp_path):
    """Both were reported when the file was read; a save writes what is in use, as before."""
    text = COMMENTED.replace('user = "1002"\n', 'user = "1002"\nlabl = "typo"\n').replace(
        "retry_interval = 32 ", 'retry_interval = "x"')
    (tmp_path / "settings.toml").write_text(text)
    store = SettingsStore(tmp_path)
    store.load()
    assert {p.key for p in store.problems} == {"account.2.labl", "sip.retry_interval"}
    store.update({"account.1.password": "new-secret"})
    assert on_disk(tmp_path) == COMMENTED.replace('"old-secret"', '"new-secret"').replace(
        "retry_interval = 32  # the manual's default, written out on purpose\n", "")
    assert SettingsStore(tmp_path).load() is not None


def test_dotted_keys_and_inline_tables_are_edited_where_they_are(tmp_path):
    text = ('account.1.user = "1001"  # dotted\naccount.1.enable = true\n\n'
            '[sip]\nport = 5062\nmore = {}\n')
    text = text.replace("more = {}\n", "")
    store = store_with(tmp_path, text)
    store.update({"account.1.user": "1009"})
    assert on_disk(tmp_path) == text.replace('"1001"', '"1009"')
    store = store_with(tmp_path, '# inline\nlog = { level = "debug", keep = 3 }\n')
    store.update({"log.keep": 4})
    assert on_disk(tmp_path) == '# inline\nlog = { level = "debug", keep = 4 }\n'


def test_a_file_without_comments_or_none_at_all_is_written_as_before(tmp_path):
    store = SettingsStore(tmp_path)
    store.load()
    store.update({"sip.port": 5062})
    fresh = on_disk(tmp_path)
    assert fresh.startswith("# deskphone settings") and "port = 5062" in fresh
    store.update({"sip.port": 5064})
    assert on_disk(tmp_path) == fresh.replace("5062", "5064")


def test_a_file_broken_since_it_was_read_is_kept_not_overwritten(tmp_path):
    store = store_with(tmp_path, COMMENTED)
    broken = COMMENTED.replace("[account.2]", "[account.2")       # an editor left it so
    (tmp_path / "settings.toml").write_text(broken)
    store.update({"account.1.label": "Front desk"})
    assert (tmp_path / "settings.toml.bad").read_text() == broken
    assert SettingsStore(tmp_path).load().account[1].label == "Front desk"


def test_a_file_that_did_not_read_at_load_is_kept_as_before(tmp_path):
    broken = COMMENTED.replace("[account.2]", "[account.2")
    (tmp_path / "settings.toml").write_text(broken)
    store = SettingsStore(tmp_path)
    store.load()
    assert store.unreadable
    store.update({"account.1.label": "Front desk"})
    assert (tmp_path / "settings.toml.bad").read_text() == broken
    assert "Front desk" in on_disk(tmp_path)


def test_an_edit_that_would_not_read_back_is_refused_and_the_caller_writes_afresh(caplog):
    """keep_layout never hands back text that does not read as the settings saved: what
    tomlkit cannot take (here: not TOML at all) is None, and the store writes afresh."""
    values = factory_values() | {"sip.port": 5070}
    with caplog.at_level(logging.WARNING):
        assert keep_layout("[sip]\nport = 5062\n[sip.port.x]\ny = 1\n", values,
                           factory_values()) is None
    assert "written afresh" in caplog.text
    assert keep_layout("[sip]\nport = 5062 # c\n", values, factory_values()) == \
        b"[sip]\nport = 5070 # c\n"


def test_a_save_on_the_phone_after_passwd_keeps_the_new_password(tmp_path):
    """`python -m firmware passwd` (another process) saves a password; a setting changed on
    the phone's keys before anyone signs in again must not write the old one back."""
    store = store_with(tmp_path, COMMENTED)
    service = SettingsService(store=store, state=SimpleNamespace(errors=[], notice=""),
                              bus=SimpleNamespace(post=lambda ev: None), data_dir=tmp_path,
                              console_log=False, sip_error=lambda: "")
    passwd = SettingsStore(tmp_path)
    passwd.load()
    passwd.update({"web.password_hash": password_hash("From-the-box-9")})
    service.update({"account.1.label": "Desk"})
    on_disk_now = SettingsStore(tmp_path).load()
    assert verify_password("From-the-box-9", on_disk_now.web.password_hash)
    assert on_disk_now.account[1].label == "Desk"
    # the web still hears of it once: every session signed in with the old one ends
    assert service.credentials_from_disk() == ["web.password_hash"]
    assert service.credentials_from_disk() == []
    # a hand edit and SIGHUP too
    text = on_disk(tmp_path).replace(on_disk_now.web.password_hash, password_hash("By-hand-4410"))
    (tmp_path / "settings.toml").write_text(text)
    service.reload()
    assert service.credentials_from_disk() == ["web.password_hash"]
    assert verify_password("By-hand-4410", store.settings.web.password_hash)


def test_without_tomlkit_a_save_still_works_written_afresh(tmp_path, monkeypatch, caplog):
    """A phone whose venv lacks tomlkit (installed by hand from an older requirements.txt)
    still saves; the log says the comments went."""
    store = store_with(tmp_path, COMMENTED)
    monkeypatch.setitem(__import__("sys").modules, "tomlkit", None)
    with caplog.at_level(logging.WARNING):
        store.update({"account.1.label": "Desk"})
    assert "written afresh" in caplog.text
    assert on_disk(tmp_path).startswith("# deskphone settings")
    assert SettingsStore(tmp_path).load().account[1].label == "Desk"
