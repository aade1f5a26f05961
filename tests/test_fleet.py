"""The fleet tool: a spreadsheet of phones becomes the files a provisioning server serves,
and they read back to the right settings; a bad cell writes nothing."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from firmware.settings import Settings, apply, hash_password
from provisioning import crypto, fleet
from provisioning.errors import BadFile
from provisioning.escene import parse_config, parse_extern
from provisioning.keys import MemoryKey, ProgramKey
from tests.test_crypto import cli

DATA = Path(__file__).parent / "data" / "provisioning"
CSV = DATA / "phones.csv"
GLOBAL = DATA / "global.toml"


def read(path: Path, key: str = ""):
    data = crypto.open_file(path.read_bytes(), key, name=path.name, required=bool(key))
    return parse_config(data, name=path.name)


@pytest.fixture
def out(tmp_path) -> Path:
    fleet.run(CSV, tmp_path / "tftp", global_path=GLOBAL)
    return tmp_path / "tftp"


def test_one_file_per_phone_one_keys_file_per_first_account_one_sys_file(out):
    assert sorted(p.name for p in out.iterdir()) == [
        "00268b1a2b3c.xml", "00268b1a2b3d.xml", "00268b1a2b3e.xml", "2101_Extern.xml",
        "2102_Extern.xml", "sys_DP330.xml"]


def test_a_phone_file_reads_back_to_its_row(out):
    r = read(out / "00268b1a2b3c.xml")
    assert r.problems == [] and r.ignored == []
    assert r.values == {
        "account.1.enable": True, "account.1.user": "2101", "account.1.password": "line1-pw",
        "account.1.server": "pbx.example.net:5080", "account.1.outbound_proxy": "",
        "account.1.display_name": "Front Desk",
        "account.2.enable": True, "account.2.user": "2199", "account.2.password": "line2-pw",
        "account.2.server": "pbx.example.net:5080", "account.2.outbound_proxy": "",
        "account.2.display_name": "Sales queue",
        "provisioning.url": "https://pbx.example.net/prov", "provisioning.filename_case": "lower",
        "phone.dial_timeout": 4}
    assert b"<!-- Front desk -->" in (out / "00268b1a2b3c.xml").read_bytes()
    assert read(out / "00268b1a2b3e.xml").values["account.1.server"] == "pbx.example.net"


def test_the_server_is_written_the_way_pbx_generators_write_it(out):
    text = (out / "00268b1a2b3c.xml").read_text()
    assert 'DomainName="pbx.example.net" ProxyServerAddress="pbx.example.net:5080"' in text


def test_the_keys_file_is_named_after_the_first_account(out):
    layout = parse_extern((out / "2101_Extern.xml").read_bytes(), name="2101_Extern.xml")
    assert layout.memory == [MemoryKey(0, "blf", "2102", "Bob"),
                             MemoryKey(1, "blf", "2103", "Carol"),
                             MemoryKey(2, "speed_dial", "004930555123", "Head office", 2)]
    assert layout.program == [ProgramKey("soft4", "dnd")]
    assert parse_extern((out / "2102_Extern.xml").read_bytes(), name="x").key("p1").type == \
        "paging"


def test_the_sys_file_holds_the_global_settings(out):
    r = read(out / "sys_DP330.xml")
    assert r.problems == []
    settings, problems = apply(Settings(), r.values)
    assert problems == []
    assert settings.provisioning.periodic is True
    assert settings.provisioning.time == "03:30"
    assert settings.phone.date_format == "%d.%m.%Y"
    assert settings.phone.emergency == ("112", "110")
    assert settings.lcd.backlight_timeout == 120


def test_files_and_directory_are_readable_by_the_server(out):
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_upper_case_names(tmp_path):
    fleet.run(CSV, tmp_path / "o", upper=True, global_path=GLOBAL)
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert "00268B1A2B3C.xml" in names and "00268b1a2b3c.xml" not in names
    assert read(tmp_path / "o" / "00268B1A2B3C.xml").values[
        "provisioning.filename_case"] == "upper"
    assert read(tmp_path / "o" / "sys_DP330.xml").values[
        "provisioning.filename_case"] == "upper"


def test_every_file_encrypted(tmp_path):
    fleet.run(CSV, tmp_path / "o", aes_key="fleet key", global_path=GLOBAL)
    files = list((tmp_path / "o").iterdir())
    assert len(files) == 6
    assert all(crypto.is_encrypted(p.read_bytes()) for p in files)
    assert read(tmp_path / "o" / "00268b1a2b3d.xml", "fleet key").values[
        "account.1.user"] == "2102"
    keys = crypto.open_file((tmp_path / "o" / "2101_Extern.xml").read_bytes(), "fleet key",
                            name="2101_Extern.xml", required=True)
    assert parse_extern(keys, name="2101_Extern.xml").key("p1").label == "Bob"


def test_an_existing_directory_keeps_its_other_files(tmp_path):
    d = tmp_path / "tftp"
    d.mkdir()
    (d / "F0DP330.cfg").write_text("S2_DP330_version1.0.0\n")
    (d / "00268b1a2b3c.xml").write_text("<all/>")          # regenerated
    fleet.run(CSV, d)
    assert (d / "F0DP330.cfg").read_text() == "S2_DP330_version1.0.0\n"
    assert read(d / "00268b1a2b3c.xml").values["account.1.user"] == "2101"
    assert not any(p.name.startswith(".") for p in d.iterdir())    # no staging left


# --- bad input writes nothing ------------------------------------------------------------

HEADER = "mac,line1_user,line1_server,keys,phone.dial_timeout\n"


def failing(tmp_path, text: str) -> str:
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(BadFile) as e:
        fleet.run(tmp_path / "p.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]
    return str(e.value)


def test_bad_cells_name_row_and_column_and_nothing_is_written(tmp_path):
    msg = failing(tmp_path, HEADER +
                  "00:26:8b:00:00:01,2001,pbx,1:blf:2002:A,4\n"
                  "00:26:8b:00:00:02,20 02,pbx:99999,,x\n"
                  "nonsense,2003,pbx,,\n"
                  "00:26:8b:00:00:01,2004,pbx,,\n")
    lines = msg.splitlines()
    assert "p.csv row 3 (00:26:8b:00:00:02), column line1_user: must not contain spaces" in \
        lines[0]
    assert "row 3 (00:26:8b:00:00:02), column line1_server: port in 'pbx:99999'" in lines[1]
    assert "row 3 (00:26:8b:00:00:02), column phone.dial_timeout: must be a whole number" in \
        lines[2]
    assert "p.csv row 4, column mac: 'nonsense' is not a MAC address" in lines[3]
    assert "row 5 (00:26:8b:00:00:01), column mac: the same phone as row 2" in lines[4]


def test_an_unknown_column_is_an_error_not_a_silent_loss(tmp_path):
    msg = failing(tmp_path, "mac,line1_usr\n00:26:8b:00:00:01,2001\n")
    assert "column 'line1_usr': unknown column" in msg
    msg = failing(tmp_path, "mac,line1_user,line1_user\n00:26:8b:00:00:01,2001,2002\n")
    assert "column 'line1_user': appears twice" in msg


@pytest.mark.parametrize("spec,expected", [
    ("1:bfl:2002", "unknown type 'bfl'"),
    ("13:blf:2002", "no such key"),
    ("e7.1:blf:2002", "no such key"),
    ("1:blf:2002:A:4", "line must be 1-3"),
    ("1:blf:2002;1:blf:2003", "given twice"),
    ("hold:teleport", "hold can do"),
    ("blf", "POSITION:TYPE"),
])
def test_bad_keys_are_explained(tmp_path, spec, expected):
    msg = failing(tmp_path, f'{HEADER}00:26:8b:00:00:01,2001,pbx,"{spec}",\n')
    assert "row 2 (00:26:8b:00:00:01), column keys:" in msg and expected in msg


def test_keys_need_a_first_account(tmp_path):
    msg = failing(tmp_path, f"{HEADER}00:26:8b:00:00:01,,pbx,1:blf:2002,\n")
    assert "needs line1_user" in msg


def test_two_phones_on_one_account_with_different_keys_conflict(tmp_path):
    msg = failing(tmp_path, HEADER + "00:26:8b:00:00:01,2001,pbx,1:blf:2002,\n"
                                     "00:26:8b:00:00:02,2001,pbx,1:blf:2003,\n")
    assert "row 3 (00:26:8b:00:00:02), column keys: row 2 has the same line1_user 2001" in msg


def test_no_header_or_no_rows(tmp_path):
    assert "must name the columns" in failing(tmp_path, "00:26:8b:00:00:01,2001\n")
    assert "no phones" in failing(tmp_path, HEADER)


def test_a_bad_global_file_writes_nothing(tmp_path):
    (tmp_path / "g.toml").write_text("[phone]\ndial_timeout = 99\n")
    with pytest.raises(BadFile, match="g.toml: phone.dial_timeout: must be at most 30"):
        fleet.run(CSV, tmp_path / "out", global_path=tmp_path / "g.toml")
    assert not (tmp_path / "out").exists()


def test_a_spreadsheet_saved_with_semicolons_and_a_bom(tmp_path):
    (tmp_path / "p.csv").write_bytes(
        "\ufeffmac;line1_user;keys\n00:26:8b:00:00:01;2001;\"1:blf:2002;2:blf:2003\"\n"
        .encode())
    fleet.run(tmp_path / "p.csv", tmp_path / "out")
    assert read(tmp_path / "out" / "00268b000001.xml").values["account.1.user"] == "2001"
    assert len(parse_extern((tmp_path / "out" / "2001_Extern.xml").read_bytes(),
                            name="x").memory) == 2


# --- the command line --------------------------------------------------------------------

def test_fleet_command(tmp_path):
    r = cli("fleet", str(CSV), str(tmp_path / "o"), "--aes-key", "k", "--global", str(GLOBAL))
    assert r.returncode == 0, r.stderr
    assert b"6 files in" in r.stderr and b"AES-encrypted" in r.stderr
    assert len(r.stdout.splitlines()) == 6
    (tmp_path / "bad.csv").write_text("mac\nxx\n")
    r = cli("fleet", str(tmp_path / "bad.csv"), str(tmp_path / "o2"))
    assert r.returncode == 1 and b"nothing written" in r.stderr and b"row 2" in r.stderr
    assert not (tmp_path / "o2").exists()


def test_export_command(tmp_path):
    (tmp_path / "settings.toml").write_text(
        f'[phone]\ndial_timeout = 9\n[account.1]\nuser = "2101"\npassword = "pw"\n'
        f'[web]\npassword_hash = "{hash_password("x")}"\n')
    r = cli("export", "--data-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    values = parse_config(r.stdout, name="export.xml").values
    assert values["phone.dial_timeout"] == 9 and values["account.1.user"] == "2101"
    assert "account.1.password" not in values and b"pbkdf2" not in r.stdout
    r = cli("export", "--data-dir", str(tmp_path), "--secrets", "--aes-key", "k", "-o",
            str(tmp_path / "backup.xml"))
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / "backup.xml", "k").values["account.1.password"] == "pw"
    r = cli("export", "--data-dir", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and b"not a data directory" in r.stderr
