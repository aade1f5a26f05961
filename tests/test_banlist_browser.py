"""Phone Book > BanList (manual §7; ui/web/banlist.py) in Debian's chromium, against a real
phone process: the administrator signs in, goes from Phone Book to BanList, is told beside
the field why a bad number is refused, adds the entry, edits its account, and deletes all,
asked first; banlist.json follows each step. Every form in detail, without a browser, and
the LCD's paths: tests/test_banlist.py; the refusals over real SIP: tests/test_banlist_sip.py.
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect    # missing: fail, never skip

from tests.browser import browser, first_sign_in  # noqa: F401  (browser: a fixture)
from tests.phone import PhoneProcess

pytestmark = pytest.mark.timeout(180)


def entries(phone) -> list:
    path = phone.data_dir / "phonebook" / "banlist.json"
    return json.loads(path.read_text())["entries"] if path.exists() else []


def test_an_entry_added_edited_and_deleted_on_the_banlist_page(browser, tmp_path):  # noqa: F811
    with PhoneProcess(tmp_path / "phone", factory=True) as phone:
        page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        first_sign_in(page, phone, "Ban-list-2026")
        page.goto(phone.base + "/settings/phonebook")
        page.click("a:text-is('BanList')")
        expect(page.locator("h1")).to_have_text("BanList")
        expect(page.locator("main")).to_contain_text("No entries")
        page.click("text=Add BanList")
        page.fill("#f-description", "Robocalls")
        page.fill("#f-first_name", "Tele")
        page.fill("#f-mobile", "555-12ab")
        page.click("button:text('Add')")
        expect(page.locator('.field[data-key="mobile"] .error')).to_have_text(
            "Mobile number: 1-19 digits (0-9 * #, a leading +)")
        expect(page.locator("#f-description")).to_have_value("Robocalls")   # as typed
        assert entries(phone) == []                                          # nothing saved
        page.fill("#f-mobile", "5551234")
        page.click("button:text('Add')")
        expect(page.locator(".notice.ok")).to_contain_text("Added")
        row = page.locator("table.book tbody tr").first
        expect(row.locator("td").nth(0)).to_have_text("1")                  # Serial Number
        expect(row.locator("td").nth(1)).to_have_text("Robocalls")
        expect(row.locator("td").nth(7)).to_have_text("Auto")
        assert [(e["mobile"], e["account"]) for e in entries(phone)] == [("5551234", None)]

        page.click("a[aria-label='Edit Tele']")
        page.select_option("#f-account", "2")
        page.fill("#f-office", "2009")
        page.click("button:text('Save')")
        expect(page.locator(".notice.ok")).to_have_text("Saved.")
        expect(row.locator("td").nth(7)).to_have_text("Account 2")
        assert [(e["mobile"], e["office"], e["account"]) for e in entries(phone)] == [
            ("5551234", "2009", 2)]

        page.click("button:text('Delete All BanList')")
        expect(page.locator("main p").first).to_contain_text("Delete the 1 entry")
        assert len(entries(phone)) == 1                                      # asked only
        page.click("button:text('Delete All BanList')")
        expect(page.locator(".notice.ok")).to_have_text("Every entry deleted.")
        expect(page.locator("main")).to_contain_text("No entries")
        assert entries(phone) == []
