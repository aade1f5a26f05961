"""The manual's two web roles and the config guide in Debian's chromium, against real phone
processes (and Kamailio from tests/peers for the guide's account): the user signs in,
changes the password the administrator set, reaches the front panel and the user's
settings, and is refused the administrator's pages; the administrator's first sign-in goes
factory password -> new password -> config guide -> Network -> SIP Account 1 (registers)
-> Finish, and the guide is not shown again. The same without a browser, in detail:
tests/test_web_roles.py.
"""
from __future__ import annotations

import re
from base64 import b64encode

import pytest
from playwright.sync_api import expect    # missing: fail, never skip

# Kamailio with users 1001..1004, passwords secret1001..
from tests.peers.fixtures import kamailio, peers  # noqa: F401  (pytest finds them)
from tests.browser import browser, first_sign_in  # noqa: F401  (browser: a fixture)
from tests.phone import PhoneProcess

pytestmark = pytest.mark.timeout(180)

ADMIN_PW = "Admin-pass-1"


def sign_in(page, phone, user: str, password: str) -> None:
    page.goto(phone.base + "/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def in_page(page, method: str, path: str, body: dict) -> dict:
    """A request from the page's own script, as the panel makes them (CSRF token from its
    cookie): {"status", "body"}."""
    return page.evaluate("""async ([method, path, body]) => {
        const csrf = document.cookie.match(/deskphone_csrf=([^;]*)/)[1];
        const r = await fetch(path, {method, headers: {"Content-Type": "application/json",
                                                       "X-CSRF-Token": csrf},
                                     body: JSON.stringify(body)});
        return {status: r.status, body: await r.json()};
    }""", [method, path, body])


def test_the_user_changes_the_password_the_administrator_set_and_sees_only_the_users_things(
        browser, tmp_path):
    with PhoneProcess(tmp_path / "desk", account={"user": "1001"}, password=ADMIN_PW) as p:
        # the administrator sets the user's password (the user role has none from the factory)
        reply = p.request("POST", "/api/password", {"old": ADMIN_PW, "new": "Temporary-7",
                                                     "role": "user", "user": "desk"})
        assert reply == {"ok": True, "role": "user"}
        page = browser.new_context().new_page()
        sign_in(page, p, "desk", "Temporary-7")
        expect(page).to_have_url(p.base + "/password")       # the user's own first
        expect(page.locator("main")).to_contain_text("administrator set your password")
        page.goto(p.base + "/")
        expect(page).to_have_url(p.base + "/password")       # nothing else until then
        page.fill("input[name=old]", "Temporary-7")
        page.fill("input[name=new]", "Desk-user-22")
        page.fill("input[name=again]", "Desk-user-22")
        page.click("#change button[type=submit]")
        expect(page).to_have_url(p.base + "/")                # the front panel: their phone
        page.wait_for_selector("#lcd[src^='data:image/png;base64,']")
        page.click("button[data-key='7']")
        p.wait(lambda s: s["predial"] == "7", what="the user's key press")
        # the Password page: their own password only
        page.goto(p.base + "/password")
        expect(page.locator("#change h2")).to_have_text("User")
        expect(page.locator("form#user")).to_have_count(0)
        # the administrator's pages: refused, saying why
        for path in ("/manage", "/settings/network", "/guide"):
            answer = page.goto(p.base + path)
            assert answer.status == 403, path
            expect(page.locator("body")).to_contain_text("administrator")
        # the user's settings change; an administrator's setting is refused, nothing saved
        page.goto(p.base + "/password")
        ok = in_page(page, "PATCH", "/api/settings", {"forward.always": "1009"})
        assert ok["status"] == 200, ok
        refused = in_page(page, "PATCH", "/api/settings", {"phone.dnd": True,
                                                           "account.1.server": "evil.test"})
        assert refused["status"] == 403 and refused["body"]["refused"] == ["account.1.server"]
        shown = p.request("GET", "/api/settings")["settings"]      # as the administrator
        assert shown["forward.always"] == "1009"
        assert shown["account.1.server"] == "" and shown["phone.dnd"] is False
        who = page.evaluate("fetch('/api/session').then(r => r.json())")
        assert who == {"user": "desk", "role": "user", "must_change": False}
        # the web pages: the user's listed and saved, the administrator's not listed
        page.goto(p.base + "/settings")
        expect(page.locator('a[href="/settings/forward"]')).to_have_count(1)
        for admin_page in ("network", "account.1", "log", "dialplan"):
            expect(page.locator(f'a[href="/settings/{admin_page}"]')).to_have_count(0)
        page.goto(p.base + "/settings/forward")
        page.fill("input[name='forward.busy']", "1010")
        page.click("form.settings button[type=submit]")
        expect(page).to_have_url(re.compile(r"/settings/forward\?saved=1"))
        assert p.request("GET", "/api/settings")["settings"]["forward.busy"] == "1010"


def test_the_administrators_first_sign_in_goes_through_the_config_guide(
        browser, tmp_path, kamailio):  # noqa: F811
    with PhoneProcess(tmp_path / "new", factory=True) as p:
        page = browser.new_context().new_page()
        sign_in(page, p, "root", "root")
        expect(page).to_have_url(p.base + "/password")
        page.fill("input[name=old]", "root")
        page.fill("input[name=new]", ADMIN_PW)
        page.fill("input[name=again]", ADMIN_PW)
        page.click("#change button[type=submit]")
        p.auth = "Basic " + b64encode(f"root:{ADMIN_PW}".encode()).decode()   # its API
        expect(page).to_have_url(p.base + "/guide")
        expect(page.locator("h1")).to_have_text("Config Guide")
        page.click("text=Next")
        # Network: a bad address is refused beside its field, then DHCP goes on
        expect(page).to_have_url(p.base + "/guide/network")
        page.select_option("select[name='network.mode']", "static")
        page.fill("input[name='network.ip']", "300.1.1.1")
        page.click("button[name=next]")
        expect(page.locator(".field.bad")).to_contain_text("300.1.1.1")
        assert p.request("GET", "/api/settings")["settings"]["network.mode"] == "dhcp"
        page.select_option("select[name='network.mode']", "dhcp")
        page.fill("input[name='network.ip']", "")
        page.click("button[name=next]")
        # SIP Account 1: saved, and the running phone registers with it at once
        expect(page).to_have_url(p.base + "/guide/account")
        page.check("input[name='account.1.enable'][type=checkbox]")
        page.fill("input[name='account.1.display_name']", "Alice")
        page.fill("input[name='account.1.user']", "1001")
        page.fill("input[name='account.1.password']", "secret1001")
        page.fill("input[name='account.1.server']", kamailio.addr)
        page.click("button[name=next]")
        expect(page).to_have_url(p.base + "/guide/finish")
        p.wait_registered(timeout=15)
        page.reload()
        expect(page.locator("main")).to_contain_text(re.compile(r"L1 1001 registered"))
        page.click("button[name=finish]")
        expect(page).to_have_url(p.base + "/")
        # not shown again
        page.context.clear_cookies()
        sign_in(page, p, "root", ADMIN_PW)
        expect(page).to_have_url(p.base + "/")


def test_the_shared_first_sign_in_skips_the_guide(browser, tmp_path):
    with PhoneProcess(tmp_path / "skip", factory=True) as p:
        page = browser.new_context().new_page()
        first_sign_in(page, p, ADMIN_PW)
        page.context.clear_cookies()
        sign_in(page, p, "root", ADMIN_PW)
        expect(page).to_have_url(p.base + "/")                # skipped: not shown again
