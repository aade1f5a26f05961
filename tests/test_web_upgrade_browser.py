"""Firmware Upgrade (manual §7 Phone Maintenance) from Debian's chromium, without a terminal:
a real image of this tree, signed with the test's trusted key (tests/test_upgrade.py's
`keys` and copy_tree), chosen in the page's file field with its MD5 and uploaded; the page
says it is installed, the phone (started by the boot supervisor) restarts into it, and the
new firmware reports healthy. The page's refusals without a browser:
tests/test_web_maintenance.py.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

from provisioning.image import build_image
from tests.browser import launch
from tests.test_upgrade import (NEXT, SupervisedPhone, copy_tree, keys, last_result,  # noqa: F401
                                md5_of, wait_for)
from tests.test_web_maintenance_browser import sign_in

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def image(tmp_path_factory, keys):       # noqa: F811 - tests/test_upgrade.py's fixture
    """The real firmware of this tree as version NEXT, signed with the trusted test key."""
    d = tmp_path_factory.mktemp("image")
    (d / "out").mkdir()
    return build_image(copy_tree(d / "src"), d / "out", version=NEXT, signing_key=keys["key"])


def test_an_image_uploaded_on_the_firmware_upgrade_page_is_installed_and_runs(
        tmp_path, keys, image):           # noqa: F811
    slots = tmp_path / "slots"
    with SupervisedPhone(tmp_path / "data", slots=slots, trusted=keys["dir"]) as phone, \
            sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            sign_in(page, phone)
            page.goto(phone.base + "/settings")
            page.click('nav.pages a[href="/maintenance/firmware"]')
            expect(page.locator("h1")).to_have_text("Firmware Upgrade")
            upload = page.locator("form:has(input[name=image])")
            upload.locator("input[name=image]").set_input_files(str(image))
            upload.locator("input[name=md5]").fill(md5_of(image))
            upload.locator("button[type=submit]").click()
            expect(page.locator(".notice.ok")).to_contain_text(
                f"Installed: firmware {NEXT} installed", timeout=60_000)
        finally:
            browser.close()
        wait_for(lambda: phone.version() == NEXT, f"the phone running {NEXT}",
                 timeout=60, detail=phone.detail)
        wait_for(lambda: last_result(slots).get("result") == "success", "a healthy report",
                 timeout=60, detail=phone.detail)
        assert phone.stop() == 0
