"""The reference Pi desk phone (board/pi-desk.toml), whole, on mock pins: keys pressed on
the matrix, the handset lifted on the hook switch, and what the LCD, the LED chain and the
audio routes do. The phone runs in this process (tests/inproc.py) with its real drivers;
only the pins and the display bus are mocks."""
from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

import board
from tests.inproc import InProcessPhone
from tests.mockmatrix import MockMatrix, MockSwitchPin

SPEC, PATH = board.read("pi-desk")


@pytest.fixture
def rig(tmp_path):
    factory = MockFactory()
    kp = SPEC["keypad"]
    matrix = MockMatrix(factory, rows=kp["rows"], cols=kp["cols"], keys=kp["keys"])
    hook = factory.pin(SPEC["hook"]["pin"], pin_class=MockSwitchPin)
    phone = InProcessPhone(PATH, factory, tmp_path / "phone",
                           settings="[hardware]\nflash_hook_ms = 300\n")
    with phone as app:
        yield app, phone, matrix, hook, factory


def press(matrix, key, keypad=None):
    """Press and let go, as a finger does: down long enough to count (2 ms and more)."""
    matrix.press(key)
    matrix.wait_scans(2)
    matrix.wait_scans(2)
    matrix.release(key)
    matrix.wait_idle()


def lit(app) -> dict:
    """LEDs on, but the LCD backlight (wired to the chain on this board)."""
    return {k: v for k, v in app.board.leds.patterns.items()
            if v[1] != "off" and k != "backlight"}


def chain_bits(app) -> int:
    return app.board.leds.mask & ~(1 << SPEC["leds"]["map"]["backlight"])


def test_keys_on_the_matrix_reach_the_lcd(rig):
    app, phone, matrix, hook, factory = rig
    before = app.board.display.bytes_sent
    for key in "123":
        press(matrix, key)
    phone.wait(lambda: any("123" in line for line in app.presenter.frame.lines), what="123 on the LCD")
    assert app.state.predial == "123"
    assert app.board.display.bytes_sent > before          # the frames went to the bus
    assert app.board.display.image.tobytes() == app.presenter.frame.image.tobytes()
    press(matrix, "menu")
    phone.wait(lambda: app.state.menu, what="the menu")
    press(matrix, "cancel")
    phone.wait(lambda: not app.state.menu, what="the menu closed")


def test_lifting_the_handset_gives_dial_tone_red_line1_and_the_handset_route(rig):
    app, phone, matrix, hook, factory = rig
    enable = SPEC["audio"]["enable"]
    hook.set(True)                                        # NO contact: closes when lifted
    phone.wait(lambda: app.state.screen() == "dialing", what="the dial screen")
    # the presenter applies a state after the batch that made it, on the loop's thread:
    # what the board shows is waited for, not read the instant the state changed
    phone.wait(lambda: app.presenter.tone == "dial", what="dial tone")
    phone.wait(lambda: lit(app).get("line1") == ("red", "on"), what="line1 red")
    bits = app.board.leds.mask
    line1 = SPEC["leds"]["map"]["line1"]
    assert bits >> line1["red"] & 1 and not bits >> line1["green"] & 1
    phone.wait(lambda: factory.pin(enable["handset"]).state == 1, what="the handset route")
    assert factory.pin(enable["speaker"]).state == 0
    hook.set(False)
    phone.wait(lambda: app.state.screen() == "idle", what="idle again")
    phone.wait(lambda: factory.pin(enable["handset"]).state == 0, what="the handset off")
    phone.wait(lambda: chain_bits(app) >> line1["red"] & 1 == 0, what="line1 dark")


def test_a_hook_flash_is_not_a_hang_up(rig):
    app, phone, matrix, hook, factory = rig
    hook.set(True)
    phone.wait(lambda: app.state.screen() == "dialing")
    press(matrix, "4")
    hook.set(False)
    hook.set(True)                                        # back within flash_hook_ms
    phone.wait(lambda: app.state.offhook and app.state.screen() == "dialing")
    assert app.state.focused.number == "4"                # the same call, not a new one


def test_diagnose_lights_cycles_the_led_chain(rig):
    app, phone, matrix, hook, factory = rig
    app.api.run_diagnose("lights")
    phone.wait(lambda: app.state.diag == "lights")
    press(matrix, "ok")
    phone.wait(lambda: lit(app) == {"line1": ("red", "on")}, what="line1 red")
    phone.wait(lambda: lit(app) == {"line1": ("green", "on")}, what="line1 green")
    assert chain_bits(app) in (1 << SPEC["leds"]["map"]["line1"]["green"],
                               1 << SPEC["leds"]["map"]["line1"]["red"] |
                               1 << SPEC["leds"]["map"]["line1"]["green"])   # amber next
    press(matrix, "cancel")
    phone.wait(lambda: app.state.diag == "" and chain_bits(app) == 0,
               what=f"all LEDs off (lit: {lit(app)}, bits {chain_bits(app):b})")
