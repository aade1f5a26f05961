"""Board files, as a maker meets them: the shipped ones load, and a broken one is refused
with a message that says which file, which line and what is wrong.

The broken files are board/pi-desk.toml with one line changed, written to tmp_path and read
with board.read(path), the way `python -m firmware --board path/to/file.toml` reads them.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import board
from firmware.errors import BoardError
from firmware.keys import KEYS
from tests.inproc import CountingSerial

ROOT = Path(__file__).resolve().parent.parent
PI_DESK = ROOT / "board" / "pi-desk.toml"


def broken(tmp_path: Path, old: str, new: str, name: str = "my-phone.toml") -> tuple[Path, int]:
    """pi-desk.toml with `old` (found once, comments included) replaced by `new`; returns
    the file and the line number where `new` starts."""
    text = PI_DESK.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in pi-desk.toml"
    lead = len(old) - len(old.lstrip("\n"))           # `old` may start with a newline
    line = text[:text.index(old) + lead].count("\n") + 1
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path, line


def refused(path: Path) -> str:
    with pytest.raises(BoardError) as e:
        board.read(str(path))
    return str(e.value)


def pins_of(spec: dict) -> dict[int, str]:
    """Every GPIO a board file gives a job (the display bus pins included)."""
    used: dict[int, str] = {}
    kp = spec["keypad"]
    if kp["driver"] == "matrix":
        used.update({p: "keypad" for p in kp["rows"] + kp["cols"]})
    used.update({p: f"key {k}" for k, p in spec.get("keys", {}).items()})
    if spec["hook"]["driver"] == "gpio":
        used[spec["hook"]["pin"]] = "hook"
    ld = spec["leds"]
    if ld["driver"] == "hc595":
        used.update({ld[k]: "leds" for k in ("data", "clock", "latch")})
    elif ld["driver"] == "gpio":
        for o in ld["map"].values():
            used.update({p: "leds" for p in (o.values() if isinstance(o, dict) else [o])})
    dp = spec["display"]
    if dp["driver"] != "dummy":
        if dp.get("interface", "i2c") == "i2c":
            used.update({2: "display", 3: "display"})
        else:
            cs = 7 if dp.get("device", 0) == 1 else 8       # CE1 or CE0
            used.update({10: "display", 11: "display", cs: "display"})
            used.update({dp[k]: "display" for k in ("dc", "rst", "backlight") if k in dp})
    if spec["audio"]["driver"] == "gpio":
        used.update({p: "audio" for p in spec["audio"]["enable"].values()})
    return used


# --- the board files in board/ ---------------------------------------------------------------

@pytest.mark.parametrize("name", board.available())
def test_every_board_file_in_board_passes_the_checks(name):
    spec, path = board.read(name)
    assert path == ROOT / "board" / f"{name}.toml"
    assert spec["board"]["name"]


def test_the_reference_board_has_every_key_and_every_led_of_the_manual():
    spec, _ = board.read("pi-desk")
    kp = spec["keypad"]
    on_matrix = [k for row in kp["keys"] for k in row if k]
    assert sorted(on_matrix) == sorted(KEYS)          # every key of §3, each once
    leds = spec["leds"]["map"]
    assert set(leds) == set(board.LED_OUTPUTS)
    for name in ["line1", "line2", "line3"] + [f"p{i}" for i in range(1, 13)]:
        assert set(leds[name]) == {"red", "green"}, name     # dual colour
    for name in ("headset", "mute", "message", "speaker", "strip", "backlight"):
        assert isinstance(leds[name], int), name
    assert spec["leds"]["driver"] == "hc595"
    assert set(spec["audio"]["enable"]) == {"handset", "headset", "speaker"}


def test_the_reference_board_keeps_off_the_id_eeprom_and_the_serial_console():
    spec, _ = board.read("pi-desk")
    used = pins_of(spec)
    assert not used.keys() & {0, 1}, "GPIO 0/1 belong to the HAT ID EEPROM"
    assert not used.keys() & {14, 15}, "GPIO 14/15 are the serial console"
    assert used[2] == used[3] == "display"                 # I2C1 carries the display only
    assert len(used) == 24                                # every other pin, each once


def test_the_minimal_board_is_a_4x4_keypad_that_can_dial():
    spec, _ = board.read("minimal")
    kp = spec["keypad"]
    assert (len(kp["rows"]), len(kp["cols"])) == (4, 4)
    keys = {k for row in kp["keys"] for k in row}
    assert set("0123456789*#") <= keys and {"ok", "cancel"} <= keys
    assert spec["hook"]["driver"] == "gpio"
    assert spec["audio"]["driver"] == "gpio"            # a real sound card, not silence


# --- what a mistake looks like -------------------------------------------------------------

def test_a_pin_used_twice_names_the_file_the_line_and_both_uses(tmp_path):
    path, line = broken(tmp_path, "speaker = 21", "speaker = 7")
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: ")
    assert "GPIO 7 is used twice" in msg
    assert "audio.enable.speaker" in msg and "hook.pin" in msg


def test_an_unknown_driver_is_refused_with_the_drivers_there_are(tmp_path):
    path, line = broken(tmp_path, 'driver = "hc595"', 'driver = "max7219"')
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: leds.driver: ")
    assert "'max7219'" in msg and "hc595" in msg and "mcp23017" in msg


def test_an_unknown_key_name_is_refused_naming_the_line_of_its_row(tmp_path):
    path, line = broken(tmp_path, '"conference", ""', '"conf", ""')
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: keypad.keys: ")
    assert "unknown key name 'conf'" in msg


def test_a_key_on_the_matrix_twice_is_refused(tmp_path):
    path, _ = broken(tmp_path, '"redial"]', '"menu"]')
    assert "key 'menu' appears twice" in refused(path)


def test_an_unknown_led_name_is_refused_with_the_names_there_are(tmp_path):
    path, line = broken(tmp_path, "strip = 34", "stripe = 34")
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: leds.map.stripe: ")
    assert "unknown LED 'stripe'" in msg and "strip" in msg and "backlight" in msg


def test_a_matrix_row_with_too_few_keys_is_refused(tmp_path):
    # row 7 loses its last "" and has 6 names for 7 column pins
    path, row_line = broken(tmp_path, '"p6",      ""', '"p6"')
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {row_line}: keypad.keys: "), msg
    assert "row 7 has 6 keys for 7 column pins" in msg
    assert 'use "" for no key' in msg


def test_a_board_without_a_hook_section_is_refused(tmp_path):
    path, _ = broken(tmp_path, '[hook]\ndriver = "gpio"\npin = 7\ncontact = "NO"\n', "")
    msg = refused(path)
    assert msg.startswith("my-phone.toml: ")
    assert "no [hook] section" in msg


@pytest.mark.parametrize("value, shown", [("40", "40"), ("-1", "-1"), ('"GPIO7"', "'GPIO7'"),
                                          ("true", "True")])
def test_a_pin_that_is_not_a_gpio_number_is_refused(tmp_path, value, shown):
    # 40 is a header pin number, not a GPIO: the classic mistake
    path, line = broken(tmp_path, "\npin = 7\n", f"\npin = {value}\n")
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: hook.pin: ")
    assert f"{shown} is not a GPIO number (BCM 0-27, not the header pin)" in msg


def test_an_hc595_output_beyond_the_chain_is_refused(tmp_path):
    path, line = broken(tmp_path, "strip = 34", "strip = 40")      # 5 chips: outputs 0-39
    msg = refused(path)
    assert msg == f"my-phone.toml line {line}: leds.map.strip: output 40 is not 0-39"


def test_a_chain_too_short_for_its_leds_is_refused_at_the_first_led_beyond_it(tmp_path):
    path, _ = broken(tmp_path, "chain = 5", "chain = 4")
    message_line = PI_DESK.read_text().splitlines().index("message = 32") + 1
    assert refused(path) == (f"my-phone.toml line {message_line}: leds.map.message: "
                             f"output 32 is not 0-31")


def test_a_bad_hook_contact_is_refused(tmp_path):
    path, line = broken(tmp_path, '\ncontact = "NO"', '\ncontact = "open"')
    assert refused(path).startswith(f"my-phone.toml line {line}: hook.contact: must be")


def test_a_board_file_that_is_not_toml_names_the_file(tmp_path):
    path, _ = broken(tmp_path, "chain = 5", "chain = five")
    assert refused(path).startswith("my-phone.toml: ")


def test_a_board_file_that_does_not_exist_is_named(tmp_path):
    msg = refused(tmp_path / "nope.toml")
    assert "nope.toml does not exist" in msg


def test_a_dual_colour_led_beyond_the_chain_names_its_own_line(tmp_path):
    path, line = broken(tmp_path, "p12 = { red = 30, green = 31 }",
                        "p12 = { red = 30, green = 41 }")
    assert refused(path).startswith(f"my-phone.toml line {line}: leds.map.p12.green: ")


def test_a_keypad_pin_on_the_displays_i2c_bus_is_refused(tmp_path):
    path, _ = broken(tmp_path, "rows = [     5,", "rows = [     2,")
    assert "GPIO 2 is used twice: here and in the I2C bus (SDA)" in refused(path)


def test_a_misspelt_setting_is_refused(tmp_path):
    path, line = broken(tmp_path, '\ncontact = "NO"', '\ncontakt = "NC"')
    msg = refused(path)
    assert msg.startswith(f"my-phone.toml line {line}: hook.contakt: unknown setting")
    assert "contact" in msg


def test_an_unknown_section_is_refused(tmp_path):
    path, _ = broken(tmp_path, "[hook]\n", "[hok]\n")
    assert "[hok]" in refused(path) or "no [hook] section" in refused(path)


# --- building the drivers on mock pins ---------------------------------------------------

@pytest.mark.parametrize("name", board.available())
def test_every_board_builds_on_mock_pins(name, monkeypatch):
    spec, _ = board.read(name)
    from gpiozero.pins.mock import MockFactory
    from luma.core.interface import serial as luma_serial
    monkeypatch.setattr(luma_serial, "i2c", CountingSerial)       # no /dev/i2c-1 here
    b = board.load(name, pin_factory=MockFactory())
    try:
        assert len(b.parts()) >= 5
        assert b.simulated == (name == "sim")
        assert not b.hook.is_offhook            # the handset rests: the pull-up reads high
    finally:
        b.close()


# --- the command line ----------------------------------------------------------------------

def run_firmware(data_dir, board_name: str, *, http: str = "") -> subprocess.CompletedProcess:
    """`python -m firmware` run to its end (these exit at once), its output kept."""
    return subprocess.run([sys.executable, "-m", "firmware", "--board", board_name,
                           "--data-dir", str(data_dir), "--http", http],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_an_unknown_board_on_the_command_line_exits_2_and_lists_the_boards(tmp_path):
    r = run_firmware(tmp_path, "nosuchboard")
    assert r.returncode == 2, r.stderr
    assert "unknown board 'nosuchboard'" in r.stderr
    for name in board.available():
        assert name in r.stderr
    assert "Traceback" not in r.stderr


def test_a_web_address_browsers_refuse_exits_2_saying_why(tmp_path):
    r = run_firmware(tmp_path, "sim", http="127.0.0.1:6667")
    assert r.returncode == 2, r.stderr
    assert "--http: browsers refuse to open port 6667" in r.stderr and "8080" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "settings.toml").exists()


# --- the hardware guide stays true to the board file ---------------------------------------

def test_the_pin_tables_in_the_hardware_guide_are_the_board_files():
    tables = subprocess.run([sys.executable, "docs/wiring.py", "--table"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert tables.strip() in (ROOT / "docs" / "hardware.md").read_text(), \
        "docs/hardware.md pin tables are stale: paste `python docs/wiring.py --table`"


@pytest.mark.parametrize("name", board.available())
def test_the_wiring_diagram_draws_every_board(name, tmp_path):
    out = tmp_path / f"{name}.png"
    subprocess.run([sys.executable, "docs/wiring.py", name, "-o", str(out)], cwd=ROOT,
                   capture_output=True, text=True, check=True)
    from PIL import Image
    with Image.open(out) as im:
        assert im.width >= 1600 and im.height >= 900


def test_a_display_that_does_not_answer_stops_the_board_with_what_to_check():
    from gpiozero.pins.mock import MockFactory
    with pytest.raises(BoardError) as e:
        board.load("minimal", pin_factory=MockFactory())      # no /dev/i2c-1 here
    msg = str(e.value)
    assert msg.startswith("minimal.toml: [display] did not start: ")
    assert "I2C" in msg and "docs/hardware.md" in msg


def test_a_board_that_cannot_start_exits_2_with_the_reason_not_a_traceback(tmp_path):
    r = run_firmware(tmp_path, "minimal")
    assert r.returncode == 2, r.stderr
    assert "minimal.toml: [" in r.stderr and "did not start" in r.stderr
    assert "Traceback" not in r.stderr
