"""A newcomer with only the front panel (issue 12, "Done when"): a phone fresh from the
factory with no account, Debian's chromium on its front panel, a Kamailio and a second
phone registered there. Signed in with root / root and a new password, everything else is
clicks on the panel's keys: MENU > System setting > Advanced setting > SIP accounts >
Account 1, the fields typed multi-tap (ui/textentry.py), Submit changes, the line
registers, then the number is dialled on the pad and the other phone rings and answers.

Entries are found by reading the LCD (the row under the cursor), never by position, so
an entry added above (the Phone book at the top of the main menu) does not break the walk.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

# Kamailio with users 1001..1004, passwords secret1001..
from tests.peers.fixtures import kamailio, peers  # noqa: F401  (pytest finds them)
from tests.browser import first_sign_in
from tests.phone import PhoneProcess

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
NEW_PASSWORD = "Newcomer-2026"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def browser():
    assert Path(CHROMIUM).exists(), f"this test needs Debian's chromium at {CHROMIUM}"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def fresh(tmp_path):
    """The newcomer's phone: factory web password, no account, nothing set."""
    with PhoneProcess(tmp_path / "fresh", factory=True) as p:
        yield p


@pytest.fixture
def bob(tmp_path, kamailio):  # noqa: F811
    """Someone to call: a phone already registered as 1002."""
    with PhoneProcess(tmp_path / "bob", account={"user": "1002", "password": "secret1002",
                                                 "server": kamailio.addr}) as p:
        p.wait_registered()
        yield p


# --- what a person does on the panel ----------------------------------------------------

def lcd(page):
    return page.locator("#lcd-text")


def text(page) -> str:
    return page.text_content("#lcd-text")


def click(page, *keys: str) -> None:
    for key in keys:
        page.click(f'[data-key="{key}"]')


def tap(page, key: str, times: int) -> None:
    """One key tapped quickly `times` times: multi-tap picks the letter (7 x4 = s)."""
    page.click(f'[data-key="{key}"]', click_count=times)


def cursor_row(shown: str) -> str:
    rows = [r for r in shown.splitlines() if r.startswith("> ")]
    return rows[0] if rows else ""


def find(page, label: str) -> None:
    """Down until the cursor is on the row that says `label`: the way a person finds an
    entry by reading the screen, whatever its number."""
    expect(lcd(page)).to_contain_text(re.compile(r"^.* \d+/\d+\n"))    # a menu page
    rows = int(re.match(r".* \d+/(\d+)\n", text(page)).group(1))
    for _ in range(rows):                      # Down wraps round: each row once
        # a row too long for the LCD shows in turns; its first names the entry
        expect(lcd(page)).to_contain_text(re.compile(r"^> \d+ ", re.M))
        shown = text(page)
        if label in cursor_row(shown):
            return
        click(page, "down")
        expect(lcd(page)).not_to_have_text(shown)
    raise AssertionError(f"no row {label!r} under the cursor; the LCD shows:\n{text(page)}")


def choose(page, label: str) -> None:
    """The row that says `label`, then OK: the next page or editor opens."""
    find(page, label)
    shown = text(page)
    click(page, "ok")
    expect(lcd(page)).not_to_have_text(shown)


def mode(page, want: str) -> None:
    """The editor's input mode soft key (abc, ABC, 123, Sym) pressed until it says `want`;
    the mode is also shown at the right of the editor's title row."""
    for _ in range(4):
        if text(page).splitlines()[0].endswith(want):
            return
        shown = text(page)
        click(page, "soft1")
        expect(lcd(page)).not_to_have_text(shown)
    raise AssertionError(f"the editor never came to {want}:\n{text(page)}")


def editor(page, title: str) -> None:
    expect(lcd(page)).to_contain_text(re.compile(rf"^{re.escape(title)} (abc|ABC|123|Sym)\n"))


def save(page, row: str) -> None:
    """Save (soft key 2): back on the page, the row shows the new value."""
    click(page, "soft2")
    expect(lcd(page)).to_contain_text(re.compile(rf"^> \d+ {row}$", re.M))


# --- the walk ---------------------------------------------------------------------------

def test_a_newcomer_adds_an_account_and_calls_through_it_with_clicks_only(
        browser, fresh, bob, kamailio):  # noqa: F811
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()

    # signing in: the factory login, then a password of our own before anything else
    first_sign_in(page, fresh, NEW_PASSWORD)

    # the standby screen says there is no account and where one is added; the panel too
    expect(lcd(page)).to_contain_text("No account")
    expect(lcd(page)).to_contain_text("Add an account: MENU >")
    expect(page.locator("#setup-hint")).to_be_visible()
    expect(page.locator("#setup-hint")).to_contain_text(
        "MENU > System setting > Advanced setting > SIP accounts")

    # MENU > System setting > Advanced setting (its password: empty from the factory)
    click(page, "menu")
    expect(lcd(page)).to_contain_text(re.compile(r"^Menu \d+/\d+", re.M))
    choose(page, "System setting")
    choose(page, "Advanced setting")
    editor(page, "Advanced password")
    expect(lcd(page)).to_contain_text("press Save")
    click(page, "soft2")
    expect(lcd(page)).to_contain_text(re.compile(r"^Advanced setting \d+/\d+", re.M))
    choose(page, "SIP accounts")
    choose(page, "Account 1")
    expect(lcd(page)).to_contain_text(re.compile(r"^Account 1 \d+/\d+", re.M))
    # a new line is off: the row, too long for the LCD, shows its value in turns
    expect(lcd(page)).to_contain_text(re.compile(r"^> Disable$", re.M))

    # Enable: a list to pick from
    choose(page, "Enable")
    expect(lcd(page)).to_contain_text(re.compile(r"^Enable account", re.M))
    choose(page, "Enable")
    # the row is too long for the LCD: label and value in turns ("1 Enable account", "Enable")
    expect(lcd(page)).to_contain_text(re.compile(r"^> Enable$", re.M))

    # User name: an extension number, so the editor starts in 123
    choose(page, "User name")
    editor(page, "User name")
    shown = text(page)
    page.keyboard.press("s")      # a letter on the PC's keyboard: not S = speaker here
    expect(page.locator("#notice")).to_contain_text("Letters are typed on the dial pad")
    assert text(page) == shown and fresh.state()["audio"] == "none"
    mode(page, "123")
    click(page, *"1001")
    expect(lcd(page)).to_contain_text("[1001]")
    save(page, "User name 1001")

    # User password, multi-tap: s = 7 x4, e = 3 x2, c = 2 x3, r = 7 x3, e, t = 8; then 1001
    choose(page, "User password")
    editor(page, "User password")
    mode(page, "abc")
    for key, times, letter in (("7", 4, "s"), ("3", 2, "e"), ("2", 3, "c"), ("7", 3, "r"),
                               ("3", 2, "e"), ("8", 1, "t")):
        typed = len(re.search(r"\[([^\]]*)\]", text(page)).group(1))
        tap(page, key, times)
        # masked, but the letter being chosen shows until the next key
        expect(lcd(page)).to_contain_text("[" + "*" * typed + letter + "]")
    mode(page, "123")
    click(page, *"1001")
    expect(lcd(page)).to_contain_text("[" + "*" * 10 + "]")
    save(page, r"User password \*+")

    # SIP1, the server: 127.0.0.1 in 123 (* is the dot), the colon * x3 (. * :), the port
    host, port = kamailio.addr.split(":")
    choose(page, "SIP1")
    editor(page, "SIP1")
    expect(lcd(page)).to_contain_text("registrar host[:port]")
    mode(page, "123")
    click(page, *host.replace(".", "*"))
    expect(lcd(page)).to_contain_text(f"[{host}]")
    tap(page, "*", 3)
    expect(lcd(page)).to_contain_text(f"[{host}:]")
    click(page, *port)
    expect(lcd(page)).to_contain_text(f"[{host}:{port}]")
    save(page, r"SIP1 \S+")          # cut to fit: the selected row shows it in turns

    # Submit changes: saved at once, and the line registers with Kamailio
    find(page, "Submit changes")
    click(page, "ok")             # the LCD says so in its title row, the panel too
    # "Account 1 saved; Line 1: registering...", then how it went (often at once)
    expect(page.locator("#notice")).to_contain_text(
        re.compile(r"Account 1 saved|Line 1: registered"))
    kamailio.wait_register("1001", 200, timeout=10)
    expect(lcd(page)).to_contain_text("Line 1: registered")
    line1 = page.locator('#accounts li[data-account="1"]')
    expect(line1).to_have_attribute("data-status", "registered", timeout=10_000)
    expect(line1).to_contain_text(f"1001@{kamailio.addr}")

    # MENU closes the menu: the standby screen names the registered line
    click(page, "menu")
    expect(lcd(page)).to_contain_text("[reg] 1001")
    assert "No account" not in text(page)
    expect(page.locator("#setup-hint")).to_be_hidden()

    # dialling 1002 on the pad, # sends it: Bob's phone rings, from 1001
    click(page, *"1002")
    expect(lcd(page)).to_contain_text("1002_")
    click(page, "#")
    expect(lcd(page)).to_contain_text("Ringing")
    s = bob.wait(lambda s: s["screen"] == "ringing", what="Bob's phone ringing")
    assert s["calls"][0]["number"] == "1001"
    bob.key("soft1")                                          # Bob answers
    bob.wait(lambda s: bob.call_state(s) == "connected", what="Bob connected")
    expect(lcd(page)).to_contain_text("Talking")
    assert fresh.call_state() == "connected"

    # End (soft key 4): both phones back to standby
    click(page, "soft4")
    bob.wait(lambda s: not s["calls"], what="Bob's call ended")
    expect(lcd(page)).to_contain_text("[reg] 1001", timeout=10_000)  # after "Call ended"
