"""Phone book update from and backup to a TFTP server in Debian's chromium, as an
administrator uses the Firmware Upgrade page's Phone Book "From or to a server" form (the
manual's TFTPUpgrade "Phone Book: update/backup") on a real phone process and a real
tftpd-hpa taking writes: the PBX's Yealink book fetched into the personal book is on the
LCD (DIRECTORY > Personal phone book > View all); the backup on the server is the
download.

The same form without a browser, with the refusals: tests/test_web_bookremote.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect                     # missing: fail, never skip

from tests.browser import browser  # noqa: F401  (the fixture: Debian chromium, closed after)
from tests.peers.servers import Tftpd
from tests.test_phonebook_files import DIRECTORY
from tests.test_web_maintenance_browser import sign_in

pytestmark = pytest.mark.timeout(180)


def test_a_book_updated_from_tftp_is_on_the_lcd_and_backs_up_as_the_download(browser,
                                                                            p2p_phones,
                                                                            tmp_path):
    a = p2p_phones.start("1001")
    with Tftpd(tmp_path / "tftpd", writable=True) as tftp:
        tftp.put("pbx/directory.xml", DIRECTORY)
        page = browser.new_page()
        sign_in(page, a)
        page.goto(a.base + "/maintenance/firmware")
        form = page.locator("section.phonebook-files form:has(#f-book_url)")
        form.locator("#f-book_url").fill(tftp.url("pbx/directory.xml"))
        form.locator("select[name=book]").select_option("personal")
        form.get_by_role("button", name="Update from server").click()
        expect(page.locator(".notice.ok").first).to_contain_text(
            f"Personal phone book: 2 contacts and 0 groups from {tftp.url('pbx/directory.xml')}"
            f" (Yealink XML)")

        a.key("directory")                  # the LCD: Phone book > Personal > View all
        a.wait_screen("Personal phone book")
        a.key("ok")
        a.wait_screen("View all")
        a.key("ok")
        assert "Reception" in a.wait_screen("Erika Mustermann")

        form = page.locator("section.phonebook-files form:has(#f-book_url)")
        form.locator("#f-book_url").fill(tftp.url("") + "/")
        form.locator("select[name=book]").select_option("personal")
        form.locator("select[name=format]").select_option("escene")
        form.get_by_role("button", name="Back up to server").click()
        expect(page.locator(".notice.ok").first).to_contain_text(
            f"sent to {tftp.url('Personal_Phonebook.xml')}.")
        download = a.request("GET", "/api/phonebook/export?book=personal&format=escene",
                             raw=True)
        assert (tftp.root / "Personal_Phonebook.xml").read_bytes() == download
