"""What the browser tests share: Debian's chromium (a missing one fails, never skips) and
the first sign-in of a phone fresh from the factory (root / root, then the forced change
of the password, then the config guide skipped)."""
from __future__ import annotations

from base64 import b64encode
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def launch(playwright):
    """Headless Debian chromium; an AssertionError saying how to install it when missing."""
    assert Path(CHROMIUM).exists(), (f"this test needs Debian's chromium at {CHROMIUM}: "
                                     "sudo apt-get install chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


@pytest.fixture
def browser():
    """One headless chromium for a test (import it into the test module); closed after."""
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


def first_sign_in(page, phone, new_password: str) -> None:
    """The factory login, then a password of our own before anything else; the phone's
    API (phone.request) signs in with it from then on."""
    page.goto(phone.base + "/")
    expect(page).to_have_url(phone.base + "/login")
    page.fill("input[name=user]", "root")
    page.fill("input[name=password]", "root")
    page.click("button[type=submit]")
    expect(page).to_have_url(phone.base + "/password")
    page.fill("input[name=old]", "root")
    page.fill("input[name=new]", new_password)
    page.fill("input[name=again]", new_password)
    page.click("button[type=submit]")
    expect(page).to_have_url(phone.base + "/guide")     # the config guide (ui/web/guide.py)
    page.click("button[name=skip]")
    expect(page).to_have_url(phone.base + "/")
    phone.auth = "Basic " + b64encode(f"root:{new_password}".encode()).decode()
