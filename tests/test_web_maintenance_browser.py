"""The key tables and Auto Provision in Debian's chromium, as an administrator who never
opens a terminal uses them: two phones on a real Kamailio; on the first one's web pages a
memory key is set in the table and saved, then pressed (POST /api/keys, as the front
panel does) and the second phone rings; a key without its number is refused beside its row;
auto provisioning's server and timer are saved on /settings/provision and Auto Provision
Now shows the run's result on the page.

The same forms without a browser: tests/test_web_maintenance.py.
"""
from __future__ import annotations

import tomllib

import pytest
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

from tests.browser import launch
from tests.phone import TEST_PASSWORD

pytestmark = pytest.mark.timeout(180)


def sign_in(page, phone) -> None:
    page.goto(phone.base + "/login")
    page.fill("input[name=user]", "root")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(phone.base + "/")


def test_keys_set_in_the_table_work_and_provisioning_is_set_from_the_browser(phones):
    a, b = phones.start("1001"), phones.start("1002")
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
            sign_in(page, a)
            page.goto(a.base + "/settings")
            page.click('nav.pages a[href="/settings/keys"]')
            page.click('main a[href="/keys"]')
            expect(page.locator("h1")).to_have_text("Programmable Keys: Memory Keys")

            # a key without its number: refused beside its row, nothing saved
            page.select_option('select[name="p3.type"]', "blf")
            page.click("form.keys button[type=submit]")
            expect(page.locator('tr[data-key="p3"] td.error')).to_contain_text(
                "an Asterisk BLF key needs a number")
            assert not (a.data_dir / "keys.json").exists()

            page.select_option('select[name="p3.type"]', "")
            page.select_option('select[name="p2.type"]', "speed_dial")
            page.select_option('select[name="p2.account"]', "1")
            page.fill('input[name="p2.label"]', "Bob")
            page.fill('input[name="p2.number"]', "1002")
            page.click("form.keys button[type=submit]")
            expect(page).to_have_url(a.base + "/keys?saved=1")
            expect(page.locator(".notice.ok")).to_contain_text("Saved: 1 keys")
            expect(page.locator('input[name="p2.label"]')).to_have_value("Bob")
            assert a.request("GET", "/api/keys/state")["keys"]["p2"]["label"] == "Bob"
            a.key("p2")                                      # the key works: Bob rings
            b.wait(lambda s: s["screen"] == "ringing", what="Bob rings")
            a.hook(True)                  # the handset lifted and put back ends the call
            a.hook(False)                 # (provisioning waits for the phone to be idle)
            a.wait(lambda s: not s["calls"], what="the call ended")

            # an expansion module's page is one link away
            page.click('nav.modules a[href="/keys/module/3"]')
            expect(page.locator("h1")).to_have_text("Expansion Module 3")
            expect(page.locator('select[name="e3.32.type"]')).to_have_count(1)

            # Auto Provision: its fields saved, then Auto Provision Now and its result
            page.click('nav.pages a[href="/settings/provision"]')
            page.fill('[name="provisioning.url"]', "http://127.0.0.1:9/prov")
            page.check('[name="provisioning.periodic"]')
            page.fill('[name="provisioning.frequency_hours"]', "12")
            page.click("form[action='/settings/provision'] button[type=submit]")
            expect(page.locator(".notice.ok").first).to_have_text("Saved.")
            prov = tomllib.loads((a.data_dir / "settings.toml").read_text())["provisioning"]
            assert (prov["url"], prov["periodic"], prov["frequency_hours"]) == (
                "http://127.0.0.1:9/prov", True, 12)
            page.get_by_role("button", name="Auto Provision Now").click()
            expect(page).to_have_url(a.base + "/settings/provision?now=1")
            result = page.locator(".provision-last .result")
            for _ in range(40):                  # no script on the page: Refresh, as a person
                if "Failed" in result.inner_text():
                    break
                page.wait_for_timeout(250)
                page.get_by_role("link", name="Refresh", exact=True).click()
            expect(result).to_contain_text("Failed")
            expect(result).to_contain_text("127.0.0.1:9")
        finally:
            browser.close()


def test_a_backup_downloaded_restores_after_a_reset_to_factory(phones, tmp_path):
    """Phone Maintenance in the browser (issue 13 item 6): a forwarding and a dial plan set,
    the configuration downloaded with its passwords, Default Setting (asked first) takes the
    phone back to the factory, the file uploaded on Configuration Backup brings every value
    back; the web sign-in is never in a backup, so the browser stays signed in throughout."""
    a = phones.start("1001")
    a.settings({"forward.always": "1009", "dialplan.rules": ["prefix=9 delete=1@0"]})
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(viewport={"width": 1000, "height": 900},
                                       accept_downloads=True).new_page()
            sign_in(page, a)
            page.goto(a.base + "/maintenance/backup")
            page.check("#f-secrets")
            with page.expect_download() as got:
                page.get_by_role("button", name="Download").click()
            saved = tmp_path / "backup.xml"
            got.value.save_as(saved)
            assert b"1009" in saved.read_bytes()

            page.goto(a.base + "/settings/defaults")
            reset = page.get_by_role("button", name="Load default settings")
            reset.click()                        # not ticked: the browser does not send it
            assert "1009" in (a.data_dir / "settings.toml").read_text()
            page.check('input[name="confirm"]')
            reset.click()
            expect(page.locator(".notice.ok").first).to_contain_text("Factory settings saved")
            file = (a.data_dir / "settings.toml")
            assert "1009" not in (file.read_text() if file.exists() else "")
            assert a.request("GET", "/api/settings")["settings"]["forward.always"] == ""

            page.goto(a.base + "/maintenance/backup")
            page.set_input_files("#f-backup", str(saved))
            page.get_by_role("button", name="Restore").click()
            expect(page.locator(".notice.ok").first).to_contain_text("Restored from backup.xml")
            settings = a.request("GET", "/api/settings")["settings"]
            assert settings["forward.always"] == "1009"
            assert settings["dialplan.rules"] == ["prefix=9 delete=1@0"]
            page.goto(a.base + "/settings/forward")
            expect(page.locator('[name="forward.always"]')).to_have_value("1009")
        finally:
            browser.close()
