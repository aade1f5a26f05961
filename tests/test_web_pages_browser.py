"""The web management pages (manual §7) in Debian's chromium, as an administrator uses
them: a phone fresh from the factory, signed in with root / root, the forced password
change, then every page of the list opened by its link; an account's fields typed and
saved reach settings.toml and GET /api/settings; a bad value is shown beside its field and
changes nothing; the account's password never comes back to the browser.

The pages' forms field by field, without a browser: tests/test_web_pages.py.
"""
from __future__ import annotations

import tomllib

import pytest
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

from firmware.menus import WEB, web_pages
from tests.browser import first_sign_in, launch
from tests.phone import PhoneProcess

NEW_PASSWORD = "Web-pages-2026"

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    with PhoneProcess(tmp_path_factory.mktemp("webpages"), factory=True) as p:
        yield p


@pytest.fixture(scope="module")
def page(phone):
    """A phone's browser signed in as the administrator, the factory password changed."""
    with sync_playwright() as p:
        browser = launch(p)
        try:
            pg = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
            first_sign_in(pg, phone, NEW_PASSWORD)
            yield pg
        finally:
            browser.close()


def saved(phone) -> dict:
    return tomllib.loads((phone.data_dir / "settings.toml").read_text())


def field(page, key: str):
    return page.locator(f'.field[data-key="{key}"]')


def test_every_page_opens_from_the_page_list(phone, page):
    page.goto(phone.base + "/settings")
    expect(page.locator("h1")).to_have_text("Web Settings")
    for name in web_pages():
        link = page.locator(f'nav.pages a[href="/settings/{name}"]')
        link.click()
        expect(page).to_have_url(phone.base + f"/settings/{name}")
        expect(page.locator("h1")).to_have_text(WEB[name].title)
        expect(page.locator(f'nav.pages a[href="/settings/{name}"]')).to_have_attribute(
            "aria-current", "page")
    page.goto(phone.base + "/settings/status")
    expect(page.locator("section.status h2")).to_have_text(["Lines", "Network", "Software"])
    expect(page.locator("section.status pre").nth(2)).to_contain_text("Up ")


def test_the_status_page_follows_the_lines_without_a_reload(phone, page):
    page.goto(phone.base + "/settings/status")
    lines = page.locator("section.status pre").first
    expect(lines).to_contain_text("L3 off")
    phone.settings({"account.3.enable": True, "account.3.user": "1003"})
    expect(lines).to_contain_text("L3 1003", timeout=10_000)     # status.js: every 3 s


def test_an_account_typed_in_the_browser_reaches_the_file_and_the_api(phone, page):
    page.goto(phone.base + "/settings/account.2")
    page.check("#f-account-2-enable")
    page.fill("#f-account-2-display_name", "Front desk")
    page.fill("#f-account-2-user", "1002")
    page.fill("#f-account-2-password", "Pa55-sip")
    page.select_option("#f-account-2-ring_type", "3")
    page.click("button:text('Save')")
    expect(page.locator(".notice.ok")).to_have_text("Saved.")
    acc = saved(phone)["account"]["2"]
    assert (acc["enable"], acc["display_name"], acc["user"], acc["password"],
            acc["ring_type"]) == (True, "Front desk", "1002", "Pa55-sip", 3)
    api = phone.request("GET", "/api/settings")["settings"]
    assert api["account.2.display_name"] == "Front desk" and api["account.2.ring_type"] == 3
    expect(page.locator("#f-account-2-display_name")).to_have_value("Front desk")


def test_the_accounts_password_never_comes_back_to_the_browser(phone, page):
    phone.settings({"account.1.password": "Never-shown-7"})
    page.goto(phone.base + "/settings/account.1")
    pw = page.locator("#f-account-1-password")
    expect(pw).to_have_attribute("type", "password")
    expect(pw).to_have_value("")
    expect(pw).to_have_attribute("placeholder", "unchanged (one is set)")
    assert "Never-shown-7" not in page.content()
    page.fill("#f-account-1-label", "Sales")          # saving the page keeps the password
    page.click("button:text('Save')")
    expect(page.locator(".notice.ok")).to_have_text("Saved.")
    assert saved(phone)["account"]["1"]["password"] == "Never-shown-7"


def test_a_bad_value_shows_its_error_beside_the_field_and_changes_nothing(phone, page):
    before = (phone.data_dir / "settings.toml").read_text()
    page.goto(phone.base + "/settings/account.3")
    page.fill("#f-account-3-display_name", "Not saved")
    page.fill("#f-account-3-server", "sip.example.com:99999")
    page.click("button:text('Save')")
    expect(page.locator(".notice.error")).to_contain_text("Nothing was saved")
    expect(field(page, "account.3.server").locator(".error")).to_have_text(
        "port in 'sip.example.com:99999' must be 1-65535")
    expect(field(page, "account.3.display_name").locator(".error")).to_have_count(0)
    expect(page.locator("#f-account-3-display_name")).to_have_value("Not saved")
    assert (phone.data_dir / "settings.toml").read_text() == before
    assert phone.request("GET", "/api/settings")["settings"]["account.3.display_name"] == ""
    # a number out of its range is stopped by the browser itself (min/max from the schema)
    page.fill("#f-account-3-expires", "5")
    page.click("button:text('Save')")
    assert page.locator("#f-account-3-expires").evaluate("e => e.validity.rangeUnderflow")
    assert (phone.data_dir / "settings.toml").read_text() == before


def test_a_field_that_needs_a_restart_says_so_after_saving(phone, page):
    page.goto(phone.base + "/settings/phone")
    expect(field(page, "phone.dtmf_payload").locator(".badge")).to_have_text(
        "needs a restart")
    page.fill("#f-phone-dtmf_payload", "110")
    page.click("button:text('Save')")
    expect(page.locator(".notice.restart")).to_contain_text("phone.dtmf_payload")
    expect(page.locator(".notice.restart button")).to_have_text("Restart now")
    assert saved(phone)["phone"]["dtmf_payload"] == 110


def test_fields_of_a_later_issue_are_greyed_and_say_why(phone, page):
    page.goto(phone.base + "/settings/account.1")
    box = page.get_by_role("textbox", name="SIP Transport: not available")
    expect(box).to_be_disabled()
    expect(box.locator("xpath=..")).to_contain_text("TCP and TLS come with")


def test_a_dial_plan_rule_is_added_in_the_table(phone, page):
    page.goto(phone.base + "/settings/dialplan")
    page.get_by_label("Rule 1 Prefix").fill("9")
    page.get_by_label("Rule 1 Delete Length").fill("1")
    page.click("button:text('Save')")
    expect(page.locator(".notice.ok")).to_have_text("Saved.")
    assert saved(phone)["dialplan"]["rules"] == ["prefix=9 delete=1@0"]
    expect(page.get_by_label("Rule 1 Prefix")).to_have_value("9")
    page.get_by_label("Delete rule 1").check()
    page.click("button:text('Save')")
    expect(page.locator(".notice.ok")).to_have_text("Saved.")
    assert phone.request("GET", "/api/settings")["settings"]["dialplan.rules"] == []
