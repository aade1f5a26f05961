"""The maintenance page (/manage) in Debian's chromium: what an administrator does there —
see the auto provision status, run it now, change its settings, back up and restore."""
from __future__ import annotations

import pytest
from playwright import sync_api     # missing: fail, never skip (issue 13: make test)

from tests.peers.fixtures import tftpd  # noqa: F401  (fixture)
from tests.phone import PhoneProcess
from tests.browser import launch
from tests.test_front_panel import login

expect = sync_api.expect

pytestmark = [pytest.mark.timeout(120)]

MAC = "00:26:8b:1a:2b:3c"


def _xml(display: str) -> bytes:
    return f'<all><sipUsers><sipUser id="0" UserName="{display}"/></sipUsers></all>'.encode()


@pytest.fixture
def page(tmp_path, tftpd):
    settings = {"hardware.mac": MAC, "provisioning.on_boot": False,
                "provisioning.url": tftpd.url("p")}
    with PhoneProcess(tmp_path / "p", settings=settings) as phone, \
            sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            pg = browser.new_context(accept_downloads=True).new_page()
            login(pg, phone)
            expect(pg).to_have_url(phone.base + "/")
            pg.goto(phone.base + "/manage")
            yield pg, phone
        finally:
            browser.close()


def test_provision_now_from_the_page_shows_each_file_and_applies_it(page, tftpd):
    pg, phone = page
    expect(pg.locator("#prov-last")).to_have_text("never")
    expect(pg.locator("#ident")).to_contain_text("DP330")
    tftpd.put("p/00268b1a2b3c.xml", _xml("From the page"))
    pg.click("#prov-now")
    expect(pg.locator("#prov-result")).to_have_attribute("data-result", "ok", timeout=20000)
    row = pg.locator("#prov-files tbody tr", has_text="00268b1a2b3c.xml")
    expect(row).to_contain_text("applied")
    expect(pg.locator("#prov-files tbody tr", has_text="F0DP330.cfg")).to_contain_text(
        "not on server")
    # the phone really took it
    assert phone.request("GET", "/api/settings")["settings"]["account.1.display_name"] == \
        "From the page"


def test_settings_form_saves_good_values_and_refuses_bad_ones(page, tftpd):
    pg, phone = page
    pg.fill("input[name='provisioning.time']", "25:00")
    pg.click("#prov-form button[type=submit]")
    expect(pg.locator("#prov-saved")).to_contain_text("Not saved")
    expect(pg.locator("#prov-saved")).to_contain_text("provisioning.time")
    assert phone.request("GET", "/api/settings")["settings"]["provisioning.time"] != "25:00"

    pg.fill("input[name='provisioning.time']", "03:30")
    pg.check("input[name='provisioning.periodic']")
    pg.click("#prov-form button[type=submit]")
    expect(pg.locator("#prov-saved")).to_contain_text("Saved")
    values = phone.request("GET", "/api/settings")["settings"]
    assert values["provisioning.time"] == "03:30" and values["provisioning.periodic"] is True
    # the page shows when the timer will run now
    expect(pg.locator("#prov-next")).to_contain_text("03:30")


def test_backup_downloads_and_a_restore_brings_settings_back(page, tmp_path):
    pg, phone = page
    with pg.expect_download() as dl:
        pg.click("#bk-toml")
    saved = tmp_path / "backup.toml"
    dl.value.save_as(saved)
    assert "[provisioning]" in saved.read_text()
    phone.settings({"account.1.display_name": "Changed later"})
    pg.set_input_files("#bk-restore input[type=file]", str(saved))
    pg.click("#bk-restore button[type=submit]")
    expect(pg.locator("#bk-result")).to_contain_text("Restored")
    assert phone.request("GET", "/api/settings")["settings"]["account.1.display_name"] != \
        "Changed later"

    # a broken file is refused with the reason, nothing changes
    bad = tmp_path / "bad.toml"
    bad.write_text("[account.1\nuser = ")
    phone.settings({"account.1.display_name": "Kept"})
    pg.set_input_files("#bk-restore input[type=file]", str(bad))
    pg.click("#bk-restore button[type=submit]")
    expect(pg.locator("#bk-result")).to_contain_text("Not restored")
    assert phone.request("GET", "/api/settings")["settings"]["account.1.display_name"] == "Kept"


def test_programmable_keys_are_set_on_the_page_and_a_bad_one_is_named(page):
    pg, phone = page
    pg.click("#keys-add")
    row = pg.locator("#keys-table tbody tr").last
    row.locator("[data-f=key]").fill("p3")
    row.locator("[data-f=type]").select_option("speed_dial")
    row.locator("[data-f=number]").fill("1002")
    row.locator("[data-f=label]").fill("Bob")
    pg.click("#keys-form button[type=submit]")
    expect(pg.locator("#keys-result")).to_have_text("Saved: 1 keys")
    assert phone.request("GET", "/api/keys/layout")["memory"][0]["label"] == "Bob"
    pg.click("#keys-add")
    row = pg.locator("#keys-table tbody tr").last
    row.locator("[data-f=key]").fill("p13")
    row.locator("[data-f=number]").fill("1003")
    pg.click("#keys-form button[type=submit]")
    expect(pg.locator("#keys-result")).to_contain_text("Not saved")
    expect(pg.locator("#keys-result")).to_contain_text("p13")
    assert len(phone.request("GET", "/api/keys/layout")["memory"]) == 1   # the old keys stay
