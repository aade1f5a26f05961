"""Phone Book upload and download in Debian's chromium, as an administrator uses them on
the Firmware Upgrade page (the manual's HTTPUpgrade "Phone Book: upload/download"): a
Yealink remote phone book, as a PBX serves it, uploaded into the personal book of a real
phone process; its contacts are on the LCD (DIRECTORY > Personal phone book > View all)
and in GET /api/phonebook; the book downloaded as Escene XML holds them.

The same forms without a browser: tests/test_web_bookfiles.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect                     # missing: fail, never skip

from firmware.directory.formats import read
from tests.browser import browser  # noqa: F401  (the fixture: Debian chromium, closed after)
from tests.test_phonebook_files import DIRECTORY
from tests.test_web_maintenance_browser import sign_in

pytestmark = pytest.mark.timeout(180)


def test_a_yealink_book_uploaded_in_the_browser_is_on_the_lcd_and_downloads(browser,
                                                                          p2p_phones,
                                                                          tmp_path):
    a = p2p_phones.start("1001")
    upload = tmp_path / "directory.xml"
    upload.write_bytes(DIRECTORY)
    page = browser.new_context(accept_downloads=True).new_page()
    sign_in(page, a)
    page.goto(a.base + "/maintenance/firmware")
    section = page.locator("section.phonebook-files")
    section.locator("form[enctype] select[name=book]").select_option("personal")
    section.locator("#f-phonebook").set_input_files(str(upload))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".notice.ok").first).to_contain_text(
        "Personal phone book: 2 contacts and 0 groups from directory.xml (Yealink XML)")
    listed = a.request("GET", "/api/phonebook")["personal"]
    assert [c["first_name"] for c in listed] == ["Erika", "Reception"]

    a.key("directory")                      # the LCD: Phone book > Personal > View all
    a.wait_screen("Personal phone book")
    a.key("ok")
    a.wait_screen("View all")
    a.key("ok")
    shown = a.wait_screen("Erika Mustermann")
    assert "Reception" in shown

    section = page.locator("section.phonebook-files")
    section.locator("form[method=get] select[name=format]").select_option("escene")
    with page.expect_download() as got:
        page.get_by_role("button", name="Download").click()
    assert got.value.suggested_filename == "Personal_Phonebook.xml"
    saved = tmp_path / "export.xml"
    got.value.save_as(saved)
    book = read(saved.read_bytes(), name="export.xml").book
    assert [(c.name, c.office, c.mobile) for c in book.contacts] == [
        ("Erika Mustermann", "+498311234567", "+491755867488"), ("Reception", "100", "")]
