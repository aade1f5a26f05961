"""Phone book update from and backup to a server on the web (the manual's FTP/TFTP Upgrade
"Phone Book: update/backup": the "From or to a server" form of the Phone Book section on
Firmware Upgrade and Enterprise Phonebook, POST /api/phonebook/remote; ui/web/bookremote.py)
without a browser: the real web application (guard, sessions, CSRF) and the real Api over
the in-process phone of tests/fakes, against real tftpd-hpa and vsftpd on 127.0.0.1. The
form is sent as a browser sends it, with the button pressed; the page, the phone's books
and LCD, and the file on the server are read back.

The backend alone: tests/test_phonebook_remote.py.
"""
from __future__ import annotations

import asyncio
import json
import socket

import pytest

from tests.peers.fixtures import tftpd  # noqa: F401  (fixture)
from tests.peers.ports import HOST
from tests.peers.servers import Tftpd, Vsftpd
from tests.test_phonebook_files import DIRECTORY, ESCENE
from tests.test_web_bookfiles import rig  # noqa: F401  (fixture: the phone, 1 provisioned)
from tests.test_web_pages import Form, get, post
from tests.test_web_phonebook import serve

pytestmark = pytest.mark.timeout(90)

FIRMWARE, ENTERPRISE = "/maintenance/firmware", "/phonebook/enterprise"
SERVER = "/maintenance/phonebook/server"


@pytest.fixture
def ftp(tmp_path):
    with Vsftpd(tmp_path / "vsftpd", writable=True) as server:
        server.writable_dir("books")
        yield server


async def press(client, rig, page: str, button: str, **typed):
    """The page's server form as a browser sends it: its fields with what was typed, and
    the button pressed (its name and value)."""
    fields = dict(Form(await get(client, page)).forms[SERVER])
    assert {"csrf", "url", "book", "format", "page"} <= fields.keys()
    r = await post(client, SERVER, {**fields, **typed, "action": button})
    rig.settle()
    return r, await r.text()


def own(rig) -> list[str]:
    path = rig.data_dir / "phonebook" / "own.json"
    return [c["first_name"] for c in json.loads(path.read_text())["contacts"]] \
        if path.exists() else []


def test_update_from_tftp_on_firmware_upgrade(rig, tftpd):  # noqa: F811
    tftpd.put("books/directory.xml", DIRECTORY)

    async def t(client):
        text = await get(client, FIRMWARE)
        assert "<h3>From or to a server</h3>" in text
        assert 'value="update">Update from server</button>' in text
        assert 'value="backup">Back up to server</button>' in text
        r, text = await press(client, rig, FIRMWARE, "update", book="personal",
                              url=tftpd.url("books/directory.xml"))
        assert r.status == 200, text
        assert (f"Personal phone book: 2 contacts and 0 groups from tftp://{HOST}:"
                f"{tftpd.port}/books/directory.xml (Yealink XML) replace your own "
                f"contacts.") in text
        assert "3 of 300 contacts (2 your own)" in text
    serve(rig, t)
    assert own(rig) == ["Erika", "Reception"]
    rig.walk("Phone book", "Personal phone book", "View all")
    assert "Erika Mustermann" in rig.lcd


def test_backup_to_ftp_is_the_download_and_the_page_hides_the_password(rig, ftp):
    async def t(client):
        r, text = await press(client, rig, FIRMWARE, "backup", book="personal",
                              format="yealink", url=ftp.url("books", user=True) + "/")
        assert r.status == 200, text
        assert "Personal phone book (1 contact, Yealink XML, " in text
        assert f"sent to ftp://{ftp.user}@{HOST}:{ftp.port}/books/Personal_Phonebook_" \
               f"yealink.xml." in text
        assert ftp.password not in text
        download = await client.get("/api/phonebook/export?book=personal&format=yealink")
        sent = ftp.root / "books" / "Personal_Phonebook_yealink.xml"
        assert sent.read_bytes() == await download.read()
    serve(rig, t)


def test_a_refused_backup_says_what_the_server_answered(rig, ftp):
    async def t(client):
        r, text = await press(client, rig, FIRMWARE, "backup", book="personal",
                              format="escene", url=ftp.url("Personal.xml", user=True))
        assert r.status == 400
        assert "Phone book not sent:" in text
        assert "the FTP server refused to store it (553 Could not create file.)" in text
    serve(rig, t)


def test_a_bad_file_on_the_server_shows_its_line_and_changes_nothing(rig, tftpd):  # noqa: F811,E501
    tftpd.put("bad.xml", ESCENE.replace('MobileNum="0912345678"', 'MobileNum="abc"').encode())

    async def t(client):
        r, text = await press(client, rig, FIRMWARE, "update", book="personal",
                              url=tftpd.url("bad.xml"))
        assert r.status == 400
        assert "Phone book not imported; nothing changed:" in text
        assert "<li>line 8: &lt;book&gt; Mobile: 1-19 digits (0-9 * #, a leading +) — &#x27;abc&#x27;" \
               "</li>" in text
    serve(rig, t)
    assert own(rig) == []


def test_a_url_with_another_scheme_is_refused_on_the_page(rig):
    async def t(client):
        r, text = await press(client, rig, FIRMWARE, "update", book="personal",
                              url="file:///etc/passwd")
        assert r.status == 400
        assert "&#x27;file://&#x27;: the URL starts with tftp://, ftp://, http:// or " \
               "https://" in text
    serve(rig, t)
    assert own(rig) == []


def test_a_dead_server_leaves_the_web_answering_and_says_so(rig):
    """The update waits for a server that never answers; meanwhile the same web server
    (it shares the phone's loop) answers another request; then the page says why."""
    rig.update({"provisioning.timeout": 1})        # Auto Provision's: 1 s of silence
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((HOST, 0))
        silent.setblocking(False)
        url = f"tftp://{HOST}:{silent.getsockname()[1]}/Personal_Phonebook.xml"

        async def t(client):
            pressed = asyncio.create_task(press(client, rig, FIRMWARE, "update",
                                                book="personal", url=url))
            request, _ = await asyncio.get_running_loop().sock_recvfrom(silent, 1024)
            assert b"Personal_Phonebook.xml" in request          # it is waiting now
            r = await client.get("/api/phonebook")
            assert r.status == 200 and not pressed.done()
            r, text = await pressed
            assert r.status == 400
            assert f"<li>{url}: no answer in 1 s — is the TFTP server running and " \
                   f"reachable?</li>" in text
        serve(rig, t)
    assert own(rig) == []


def test_the_enterprise_page_updates_the_enterprise_book(rig, tftpd):  # noqa: F811
    tftpd.put("Enterprise_Phonebook.xml", ESCENE.encode())

    async def t(client):
        fields = dict(Form(await get(client, ENTERPRISE)).forms[SERVER])
        assert fields["book"] == "enterprise" and fields["page"] == "enterprise"
        r, text = await press(client, rig, ENTERPRISE, "update",
                              url=tftpd.url("Enterprise_Phonebook.xml"))
        assert r.status == 200 and "<h1>Enterprise Phonebook</h1>" in text
        assert "Enterprise phone book: 3 contacts and 2 groups from tftp://" in text
        assert "<td>Иван Петров</td>" in text
    serve(rig, t)


def test_the_api_updates_backs_up_and_refuses(rig, tmp_path):
    with Tftpd(tmp_path / "tftpd-w", writable=True) as server:
        server.put("in.xml", ESCENE.encode())

        async def t(client):
            headers = {**client.headers, "X-CSRF-Token": client.csrf}
            r = await client.post("/api/phonebook/remote", headers=headers, json={
                "action": "update", "book": "enterprise", "url": server.url("in.xml")})
            assert r.status == 200, await r.text()
            assert (await r.json())["contacts"] == 3
            r = await client.post("/api/phonebook/remote", headers=headers, json={
                "action": "backup", "book": "enterprise", "format": "escene",
                "url": server.url("") + "/"})
            body = await r.json()
            assert r.status == 200 and body["bytes"] > 0 and body["contacts"] == 3
            download = await client.get("/api/phonebook/export?book=enterprise")
            assert (server.root / "Enterprise_Phonebook.xml").read_bytes() == \
                await download.read()
            r = await client.post("/api/phonebook/remote", headers=headers, json={
                "action": "update", "book": "personal", "url": "ldap://x/y.xml"})
            body = await r.json()
            assert r.status == 400 and body["problems"][0].startswith("'ldap://': the URL")
            r = await client.post("/api/phonebook/remote", headers=headers, json={
                "action": "erase", "url": server.url("in.xml")})
            assert r.status == 400 and (await r.json())["error"] == \
                "action: one of update, backup"
        serve(rig, t)


def test_the_desk_user_has_no_server_form_and_may_not_post_it(rig, tftpd):  # noqa: F811
    tftpd.put("b.xml", ESCENE.encode())

    async def t(client):
        text = await get(client, ENTERPRISE)
        assert SERVER not in text
        r = await post(client, SERVER, {"csrf": client.csrf, "action": "update",
                                        "book": "personal", "url": tftpd.url("b.xml")})
        assert r.status == 403
        r = await client.post("/api/phonebook/remote", json={
            "action": "update", "book": "personal", "url": tftpd.url("b.xml")},
            headers={**client.headers, "X-CSRF-Token": client.csrf})
        assert r.status == 403
    serve(rig, t, role="user")
    assert own(rig) == []
