"""Phone Book upload and download on the web (the manual's HTTPUpgrade page, here Firmware
Upgrade; Phone Book > Enterprise Phonebook; ui/web/bookfiles.py) without a browser: the
real web application (guard, sessions, CSRF) and the real firmware.api.Api over the
in-process phone of tests/fakes. Files are posted as a browser posts the page's own form
(multipart, its CSRF token in the action); what reached DATA/phonebook, the LCD and GET
/api/phonebook is read back, and the downloads are read by the same parser.

The same in chromium: tests/test_web_bookfiles_browser.py.
"""
from __future__ import annotations

import json

import pytest
from aiohttp import FormData

from firmware.directory.formats import MAX_BYTES, read
from provisioning.phonebook import Phonebook
from tests.test_directory_lcd import stored
from tests.test_phonebook_files import DIRECTORY, ESCENE, PHONEBOOK, escene_with
from tests.test_web_pages import Form, get
from tests.test_web_phonebook import PROVISIONED, Api, serve
from tests.fakes import build

pytestmark = pytest.mark.timeout(60)

FIRMWARE, ENTERPRISE = "/maintenance/firmware", "/phonebook/enterprise"


@pytest.fixture
def rig(tmp_path, monkeypatch):
    # the Firmware Upgrade page shows the slots auto provisioning reports; the rig has none
    monkeypatch.setattr(Api, "provision_status", lambda self: {"version": "1.0.0",
                                                               "firmware": {}},
                        raising=False)
    stored(tmp_path, "personal", PROVISIONED)
    return build(data_dir=tmp_path)


async def upload(client, rig, page: str, book: str, name: str, data: bytes):
    """The page's Phone Book upload form, sent as a browser sends it."""
    forms = Form(await get(client, page)).forms
    action = next(a for a in forms if a.startswith("/maintenance/phonebook?csrf="))
    fields = dict(forms[action])
    assert fields["book"] in ("personal", "enterprise")
    body = FormData()
    body.add_field("book", book)
    body.add_field("page", fields["page"])
    body.add_field("phonebook", data, filename=name, content_type="text/xml")
    r = await client.post(action, data=body, headers=client.headers)
    rig.settle()
    return r, await r.text()


def own_file(rig) -> dict:
    return json.loads((rig.data_dir / "phonebook" / "own.json").read_text())


def test_a_yealink_file_uploaded_on_firmware_upgrade_is_the_personal_book(rig):
    async def t(client):
        text = await get(client, FIRMWARE)
        assert "<h2>Phone Book</h2>" in text and "Escene XML" in text
        assert "1 of 300 contacts (0 your own)" in text
        r, text = await upload(client, rig, FIRMWARE, "personal", "directory.xml", DIRECTORY)
        assert r.status == 200, text
        assert ("Personal phone book: 2 contacts and 0 groups from directory.xml (Yealink "
                "XML) replace your own contacts.") in text
        assert "3 of 300 contacts (2 your own)" in text
        names = [c["first_name"] for c in own_file(rig)["contacts"]]
        assert names == ["Erika", "Reception"]
        listed = await (await client.get("/api/phonebook")).json()
        assert [(c["first_name"], c["own"]) for c in listed["personal"]] == [
            ("Erika", True), ("Pat", False), ("Reception", True)]
        rig.walk("Phone book", "Personal phone book", "View all")    # the LCD has them
        assert "Erika Mustermann" in rig.lcd and "Reception" in rig.lcd
    serve(rig, t)


def test_downloads_give_each_book_in_each_format(rig):
    async def t(client):
        await upload(client, rig, FIRMWARE, "personal", "y.xml", PHONEBOOK.encode())
        forms = Form(await get(client, FIRMWARE)).forms
        assert dict(forms["/api/phonebook/export"]).keys() == {"book", "format"}
        r = await client.get("/api/phonebook/export?book=personal&format=yealink")
        assert r.status == 200
        assert r.headers["Content-Disposition"] == \
            'attachment; filename="Personal_Phonebook_yealink.xml"'
        book = read(await r.read(), name="download").book
        assert [c.name for c in book.contacts] == ["Pat Provisioned", "Jo Kim", "Zoë van Dijk",
                                                  "Lobby"]
        r = await client.get("/api/phonebook/export?book=enterprise&format=escene")
        assert r.headers["Content-Disposition"] == \
            'attachment; filename="Enterprise_Phonebook.xml"'
        assert read(await r.read(), name="download").book == Phonebook()
        r = await client.get("/api/phonebook/export?book=all&format=csv")
        assert r.status == 400
    serve(rig, t)


def test_a_bad_file_shows_its_line_and_changes_nothing(rig):
    async def t(client):
        await upload(client, rig, FIRMWARE, "personal", "mine.xml", ESCENE.encode())
        before = own_file(rig)
        bad = ESCENE.replace('MobileNum="0912345678"', 'MobileNum="abc"').encode()
        r, text = await upload(client, rig, FIRMWARE, "personal", "bad.xml", bad)
        assert r.status == 400
        assert "Phone book not imported; nothing changed:" in text
        assert "<li>line 8: &lt;book&gt; Mobile: 1-19 digits (0-9 * #, a leading +) — &#x27;abc&#x27;</li>" \
            in text
        r, text = await upload(client, rig, FIRMWARE, "personal", "big.xml", escene_with(350))
        assert r.status == 400
        assert "<li>Phone book full: 300 contacts — the file has 350 and 1 are provisioned" \
            "</li>" in text
        r, text = await upload(client, rig, FIRMWARE, "personal", "empty.xml", b"")
        assert r.status == 400 and "<li>empty.xml is empty</li>" in text
        r, text = await upload(client, rig, FIRMWARE, "personal", "huge.xml",
                               b"<all>" + b" " * MAX_BYTES + b"</all>")
        assert r.status == 400 and "<li>a phone book file is at most 2 MiB</li>" in text
        assert own_file(rig) == before
    serve(rig, t)


def test_the_enterprise_phonebook_page_uploads_and_lists_the_enterprise_book(rig):
    async def t(client):
        text = await get(client, "/settings/phonebook")
        assert f'href="{ENTERPRISE}"' in text
        text = await get(client, ENTERPRISE)
        assert "The enterprise phone book is empty." in text
        assert "Auto provisioning replaces the enterprise book" in text
        r, text = await upload(client, rig, ENTERPRISE, "enterprise", "ent.xml",
                               PHONEBOOK.encode())
        assert r.status == 200 and "<h1>Enterprise Phonebook</h1>" in text
        assert "Enterprise phone book: 3 contacts and 1 group from ent.xml" in text
        assert "<td>Zoë van Dijk</td><td>2002</td><td></td><td>2099</td><td>Sales</td>" in text
        listed = await (await client.get("/api/phonebook?q=jo")).json()
        assert [c["first_name"] for c in listed["enterprise"]] == ["Jo"]
    serve(rig, t)


def test_800_enterprise_contacts_are_listed_50_a_page_with_a_filter(rig):
    """The Contact page's Previous / Next and Filter on the Enterprise Phonebook page: 800
    rows on one page took seconds to draw on a phone's browser."""
    async def t(client):
        client.headers["X-CSRF-Token"] = client.csrf
        r = await client.post("/api/phonebook/import?book=enterprise&name=e.xml",
                              data=escene_with(800), headers=client.headers)
        assert r.status == 200
        text = await get(client, ENTERPRISE)
        assert "800 of 800 contacts." in text and "Page 1 of 16" in text
        assert text.count("<tr><td>") == 50
        assert "<tr><td>1</td><td>C000</td><td>1000</td>" in text
        assert "<td>C050</td>" not in text and 'rel="next"' in text
        text = await get(client, ENTERPRISE + "?page=16")
        assert "<tr><td>800</td><td>C799</td><td>1799</td>" in text
        assert text.count("<tr><td>") == 50 and "Page 16 of 16" in text
        assert 'rel="prev"' in text and 'rel="next"' not in text
        text = await get(client, ENTERPRISE + "?page=99")            # past the end: the last
        assert "Page 16 of 16" in text
        text = await get(client, ENTERPRISE + "?q=1799")             # a number
        assert "; 1 match." in text and "<tr><td>800</td><td>C799</td>" in text
        assert "Page 1 of" not in text and text.count("<tr><td>") == 1
        text = await get(client, ENTERPRISE + "?q=c12")              # a part of a name
        assert "; 10 match." in text                                 # C120..C129
        text = await get(client, ENTERPRISE + "?q=%3Cb%3Enobody")
        assert "No contact matches." in text and "&lt;b&gt;nobody" in text
    serve(rig, t)


def test_the_api_imports_and_refuses_as_the_page_does(rig):
    async def t(client):
        client.headers["X-CSRF-Token"] = client.csrf         # a cookie session's token
        r = await client.post("/api/phonebook/import?book=enterprise&name=e.xml",
                              data=escene_with(800), headers=client.headers)
        assert r.status == 200 and (await r.json())["contacts"] == 800
        r = await client.post("/api/phonebook/import?book=personal", data=b"<all><PhoneBooks>",
                              headers=client.headers)
        body = await r.json()
        assert r.status == 400 and body["error"] == "phone book not imported; nothing changed"
        assert body["problems"][0].startswith("the file is not well-formed XML:")
        assert "line 1" in body["problems"][0]
        assert rig.features.get("directory").books.count("enterprise") == 800
    serve(rig, t)


def test_the_desk_user_reads_and_downloads_and_only_the_administrator_uploads(rig):
    async def t(client):
        text = await get(client, "/settings/phonebook")
        assert f'href="{ENTERPRISE}"' in text
        text = await get(client, ENTERPRISE)
        assert "Download" in text and "The administrator uploads it." in text
        assert "/maintenance/phonebook" not in text
        r = await client.get("/api/phonebook/export?book=personal&format=yealink")
        assert r.status == 200 and b"Pat Provisioned" in await r.read()
        headers = {**client.headers, "X-CSRF-Token": client.csrf}
        r = await client.post("/api/phonebook/import", data=ESCENE.encode(), headers=headers)
        assert r.status == 403
        body = FormData()
        body.add_field("book", "personal")
        body.add_field("phonebook", ESCENE.encode(), filename="x.xml")
        r = await client.post(f"/maintenance/phonebook?csrf={client.csrf}", data=body,
                              headers=client.headers)
        assert r.status == 403
        assert (await client.get(FIRMWARE, allow_redirects=False)).status == 403
        assert not (rig.data_dir / "phonebook" / "own.json").exists()
    serve(rig, t, role="user")
