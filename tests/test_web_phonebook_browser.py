"""Phone Book > Group and Contact (manual §7; ui/web/phonebook.py) in Debian's chromium,
against a real phone process: the administrator signs in, adds a group and a contact in
it, is told beside the field why a bad number is refused, edits the contact, sees it on the
phone's LCD (DIRECTORY > Personal phone book > View all) and in GET /api/phonebook, then
deletes all, asked first, and the LCD follows. Every page in detail, without a browser:
tests/test_web_phonebook.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect    # missing: fail, never skip

from tests.browser import browser, first_sign_in  # noqa: F401  (browser: a fixture)
from tests.phone import PhoneProcess

pytestmark = pytest.mark.timeout(180)


def test_a_group_and_a_contact_typed_on_the_web_are_on_the_phone(browser, tmp_path):  # noqa: F811
    with PhoneProcess(tmp_path / "phone", factory=True) as phone:
        page = browser.new_context(viewport={"width": 1000, "height": 900}).new_page()
        first_sign_in(page, phone, "Phone-book-2026")
        page.goto(phone.base + "/settings/phonebook")
        page.click("a:text-is('Group')")
        expect(page.locator("h1")).to_have_text("Phone Book: Group")
        page.click("text=Add Group")
        page.fill("#f-name", "Family")
        page.fill("#f-description", "at home")
        page.click("button:text('Submit')")
        expect(page.locator(".notice.ok")).to_have_text("Added.")
        expect(page.locator("tr[data-group='Family'] td").nth(2)).to_have_text("at home")

        page.click("nav.modules a:text-is('Contact')")
        page.click("text=Add Contact")
        page.fill("#f-first_name", "Ann")
        page.fill("#f-last_name", "Lee")
        page.fill("#f-office", "2001")
        page.fill("#f-mobile", "12ab")
        page.select_option("#f-group", "Family")
        page.click("button:text('Submit')")
        expect(page.locator('.field[data-key="mobile"] .error')).to_have_text(
            "Mobile: 1-19 digits (0-9 * #, a leading +)")
        assert phone.request("GET", "/api/phonebook")["personal"] == []   # nothing saved
        expect(page.locator("#f-first_name")).to_have_value("Ann")        # kept as typed
        page.fill("#f-mobile", "138 0013 8000")
        page.click("button:text('Submit')")
        expect(page.locator(".notice.ok")).to_have_text("Added.")

        page.click("a[aria-label='Edit Ann Lee']")
        page.fill("#f-other", "*99#")
        page.select_option("#f-account", "2")
        page.click("button:text('Submit')")
        expect(page.locator(".notice.ok")).to_have_text("Saved.")
        row = page.locator("table.book tbody tr").first
        expect(row.locator("td")).to_have_text(["1", "Ann", "Lee", "13800138000", "2001",
                                                "*99#", "Family", "Account 2", "Edit Delete"])
        ann = phone.request("GET", "/api/phonebook")["personal"]
        assert [(c["first_name"], c["mobile"], c["group"], c["account"], c["own"])
                for c in ann] == [("Ann", "13800138000", "Family", 2, True)]

        # on the phone: DIRECTORY > Personal phone book > View all
        phone.key("directory")
        phone.wait_screen("Personal phone book")
        phone.key("ok")
        phone.wait_screen("View all")
        phone.key("ok")
        phone.wait_screen("Ann Lee")

        page.click("button:text('Delete All Contact')")
        expect(page.locator("form.confirm p")).to_have_text("Delete your 1 contact?")
        assert len(phone.request("GET", "/api/phonebook")["personal"]) == 1  # asked only
        page.click("form.confirm button:text('Delete All Contact')")
        expect(page.locator(".notice.ok")).to_have_text(
            "Deleted 1 of your own; provisioned ones stay.")
        expect(page.locator("main")).to_contain_text("No contacts yet.")
        phone.wait_screen("Phone book changed")            # the LCD's list drawn afresh
        phone.key("ok")                                    # View all: empty now
        phone.wait_screen("No contacts.")

        page.click("nav.modules a:text-is('Group')")
        page.click("button:text('Delete All Group')")
        page.click("form.confirm button:text('Delete All Group')")
        expect(page.locator("main")).to_contain_text("No groups yet.")
        assert phone.request("GET", "/api/phonebook")["personal"] == []
