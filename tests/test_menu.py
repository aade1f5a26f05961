"""The LCD menu and the Diagnose tests (manual §6), driven by keys like a person would."""
from __future__ import annotations

import io
import os
import time
import tomllib

import pytest
from PIL import Image

from tests import audio
from tests.phone import PhoneProcess


@pytest.fixture
def phone(tmp_path):
    with PhoneProcess(tmp_path / "a", account={"user": "1001", "label": "Sales"}) as p:
        yield p


def lit(p) -> dict:
    return {k: (v["colour"], v["pattern"]) for k, v in p.leds().items() if v["pattern"] != "off"}


def test_menu_and_ok_open_the_menu_and_c_goes_back(phone):
    phone.key("menu")
    text = phone.wait_screen("Menu")
    assert "> 1 Phone book" in text and "5 View status" in text and "2 Call history" in text
    assert "Enter Back" in text
    phone.key("cancel")
    phone.wait(lambda s: s["screen"] == "idle")
    phone.key("ok")                                        # OK on the standby screen too
    phone.wait(lambda s: s["menu"] == ["Menu"])


def test_view_status_shows_the_lines_and_the_software(phone):
    phone.key("menu")
    phone.key("5")                                          # a digit picks an entry
    phone.wait_screen("View status")
    phone.key("down")
    phone.key("ok")
    text = phone.wait_screen("Lines")
    assert "L1 1001 p2p" in text and "L2 off" in text
    phone.key("cancel")
    phone.key("down")
    phone.key("ok")
    phone.wait_screen("Software")
    text = read_all(phone)
    assert "Model DP330" in text and "deskphone" in text and "pjsua2 2." in text
    assert "Board Simulated" in text and f"Kernel {os.uname().release}" in text
    assert "Upgraded " in text and "Up 0d 0h" in text
    phone.key("cancel")
    phone.key("up")
    phone.key("up")
    phone.key("ok")
    phone.wait_screen("Network")
    text = read_all(phone)                                  # IP, mask, gateway, DNS, MAC
    mac = phone.request("GET", "/api/provision")["mac"]     # the provisioning files' MAC
    assert f"MAC {mac}" in text and f"SIP {phone.addr}" in text and "DNS " in text
    assert "Sim: the PC's network" in text and " Mask " in text


def read_all(phone, pages: int = 4) -> str:
    """A text page read to its end with Down (five rows at a time), as a person reads it."""
    seen = phone.screen()
    for _ in range(pages * 5):
        phone.key("down")
        seen += "\n" + phone.screen()
    return seen


def test_a_call_key_closes_the_menu_and_does_its_job(phone):
    phone.key("menu")
    phone.wait(lambda s: s["screen"] == "menu")
    phone.key("speaker")
    s = phone.wait(lambda s: s["screen"] == "dialing")
    assert s["menu"] == [] and s["audio"] == "speaker"


def test_lifting_the_handset_in_the_menu_gives_dial_tone(phone):
    phone.key("menu")
    phone.wait(lambda s: s["screen"] == "menu")
    phone.hook(True)
    s = phone.wait(lambda s: s["screen"] == "dialing")
    assert s["tone"] == "dial" and s["menu"] == []


def test_a_ringing_call_takes_the_screen_from_the_menu(tmp_path, phone):
    with PhoneProcess(tmp_path / "b", account={"user": "1002"}) as b:
        phone.key("menu")
        phone.key("6")
        phone.wait_screen("Diagnose")
        b.dial(phone.uri("1001"))
        s = phone.wait(lambda s: s["screen"] == "ringing")
        assert s["menu"] == []
        phone.hook(True)
        phone.wait(lambda s: s["calls"] and s["calls"][0]["state"] == "connected")


def test_diagnose_keys_shows_each_key_and_c_twice_exits(phone):
    phone.key("menu")
    phone.key("6")
    phone.key("1")                                         # Diagnose > Keys
    phone.wait_screen("Keys test")
    phone.key("hold")
    assert "HOLD" in phone.wait_screen("(hold)")
    phone.key("7")
    phone.wait_screen("7")
    phone.hook(True)                                       # the hook is tested too
    s = phone.wait(lambda s: s["diag"]["text"] == "Handset lifted")
    assert s["calls"] == [] and s["tone"] is None          # and does not start a call
    phone.key("cancel")
    phone.wait_screen("C  (cancel)")
    phone.key("cancel")
    s = phone.wait(lambda s: s["diag"] is None)
    assert s["menu"] == ["Menu", "Diagnose"]


def test_diagnose_lcd_shows_test_patterns(phone):
    phone.request("POST", "/api/diagnose", {"test": "lcd"})   # from the web page
    phone.wait_screen("LCD test")
    phone.key("ok")
    phone.wait_screen("all dark")
    img = Image.open(io.BytesIO(phone.screen_png())).convert("1")
    assert img.getcolors() == [(128 * 64, 0)]                # every dot on
    phone.key("ok")
    phone.wait_screen("all light")
    img = Image.open(io.BytesIO(phone.screen_png())).convert("1")
    assert img.getcolors() == [(128 * 64, 255)]
    phone.key("ok")
    phone.wait_screen("checkerboard")
    px = Image.open(io.BytesIO(phone.screen_png())).convert("1").load()
    assert px[0, 0] != px[1, 0] and px[0, 0] == px[1, 1]
    phone.key("cancel")
    phone.wait(lambda s: s["diag"] is None and s["screen"] == "idle")


def test_diagnose_lights_cycles_every_led_through_its_colours(phone):
    phone.request("POST", "/api/diagnose", {"test": "lights"})
    phone.key("ok")
    seen = []
    deadline = time.monotonic() + 5
    while len(seen) < 4 and time.monotonic() < deadline:
        now = lit(phone)
        assert len(now) == 1                               # one LED at a time
        if not seen or seen[-1] != now:
            seen.append(now)
        time.sleep(0.05)
    assert seen[:4] == [{"line1": ("red", "on")}, {"line1": ("green", "on")},
                        {"line1": ("amber", "on")}, {"line2": ("red", "on")}]
    phone.key("cancel")
    phone.wait(lambda s: s["diag"] is None)
    assert lit(phone) == {}


def test_diagnose_sound_plays_a_tone_on_each_device_in_turn(phone):
    phone.request("POST", "/api/diagnose", {"test": "sound"})
    phone.key("ok")
    s = phone.wait(lambda s: s["audio"] == "handset")
    assert s["tone"] == "test" and "handset" in phone.screen()
    assert audio.tones(phone.listen(0.8), (1000,)) == {1000}
    phone.wait(lambda s: s["audio"] == "speaker", 5)
    phone.wait(lambda s: s["audio"] == "headset", 5)
    s = phone.wait(lambda s: not s["diag"]["running"], 5)
    assert s["audio"] == "none" and s["tone"] is None and s["calls"] == []
    phone.key("cancel")
    phone.wait(lambda s: s["diag"] is None and s["screen"] == "idle")


def test_a_bad_diagnose_request_says_what_to_send(phone):
    code, body = phone.status("POST", "/api/diagnose", {"test": "smoke"})
    assert code == 400 and "keys, lcd, lights or sound" in body["error"]


def test_the_backlight_dims_after_the_timeout_and_a_key_wakes_it(tmp_path):
    with PhoneProcess(tmp_path / "bl", account={"user": "1001"},
                      settings={"lcd.backlight_timeout": 1, "lcd.backlight": 7}) as p:
        p.key("5")
        assert p.wait(lambda s: s["backlight"] == 7)["backlight"] == 7
        p.key("cancel")
        p.wait(lambda s: s["backlight"] == 1, 5, "the backlight to dim")
        p.key("1")
        p.wait(lambda s: s["backlight"] == 7, 5)


def test_the_ringer_switches_the_speaker_on(tmp_path, phone):
    with PhoneProcess(tmp_path / "b", account={"user": "1002"}) as b:
        assert phone.state()["route"] == "none"
        b.dial(phone.uri("1001"))
        s = phone.wait(lambda s: s["screen"] == "ringing")
        assert s["route"] == "speaker" and s["audio"] == "none"
        phone.hook(True)
        phone.wait(lambda s: s["route"] == "handset")


def test_a_sip_password_typed_on_the_lcd_registers_the_line(phones):
    """§6 "Create an SIP account" on a real phone against Kamailio: the line was set up
    with a wrong password; System setting > Advanced setting > (password: empty) > SIP
    accounts > Account 1 > User password, typed with multi-tap, Submit changes: the
    running account registers with it (and the settings file keeps it)."""
    p = phones.start("1001", account={"password": "wrong"}, wait_registered=False)
    p.wait(lambda s: s["accounts"][0]["status"] not in ("registering", "unregistering"),
           what="the first REGISTER refused")
    assert p.state()["accounts"][0]["status"] != "registered"
    p.key("menu", "4", "2")
    p.wait_screen("Advanced password")
    p.key("ok", "1", "1", "5")                          # SIP accounts > Account 1 > password
    p.wait_screen("User password")
    # "secret" in letters (s e c r e t: no two letters on one key in a row), then 1001
    p.key(*"7777", *"33", *"222", *"777", *"33", "8", "soft1", "soft1", *"1001")
    p.wait_screen("[" + "*" * 10 + "]")                 # masked: "secret1001"
    p.key("ok")
    p.wait_screen("5 User password ****")
    p.key(*["up"] * 5)                                  # round from 5 to 11 Submit changes
    p.wait_screen("> 11 Submit changes")
    p.key("ok")
    p.wait_registered(1, timeout=15)
    # the settings writer puts it in the file a moment after the change is in use
    deadline = time.monotonic() + 5
    while True:
        saved = tomllib.loads((p.data_dir / "settings.toml").read_text())
        if saved["account"]["1"]["password"] == "secret1001" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert saved["account"]["1"]["password"] == "secret1001"
