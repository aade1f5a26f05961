"""The phone book's web and storage side under load and bad input (issue 14's review): an
upload parsed off the loop while the phone goes on answering, changes that name an entry
the list no longer has there, form values that are digits only to str.isdigit ("²"), a
hand-written banlist.json, and the numbers a contact and a ban entry take alike.

In-process: the real web application (guard, sessions, CSRF) over the rig of tests/fakes
(tests/test_web_phonebook.py `serve`) or over a real BanList (tests/test_banlist.py `page`).
"""
from __future__ import annotations

import asyncio
import json
import threading
from urllib.parse import urlencode

import pytest
from aiohttp import FormData, web_request

from firmware.banlist import CAPACITY, Ban, BanList
from firmware.directory import formats
from tests.test_banlist import page, two_entries_shown  # noqa: F401  (page: a fixture)
from tests.test_phonebook_files import escene_with
from tests.test_web_bookfiles import FIRMWARE, rig  # noqa: F401  (rig: a fixture)
from tests.test_web_maintenance import form as keys_form
from tests.test_web_maintenance import phone, with_  # noqa: F401  (phone: a fixture)
from tests.test_web_pages import Form, field_div, get, post
from tests.test_web_phonebook import serve

BANLIST = "/phonebook/banlist"

pytestmark = pytest.mark.timeout(60)


def test_an_upload_being_parsed_leaves_the_loop_answering(rig, monkeypatch):  # noqa: F811
    """The parse is held in the test (a threading.Event) until a GET has been answered: on
    the loop (before the fix) the GET could only come after the import, never during it."""
    parsing, release = threading.Event(), threading.Event()
    real = formats.read

    def held(data, *, name):
        parsing.set()
        release.wait(timeout=5)              # bounded: on the loop this is the freeze
        return real(data, name=name)
    monkeypatch.setattr(formats, "read", held)

    async def t(client):
        forms = Form(await get(client, FIRMWARE)).forms
        action = next(a for a in forms if a.startswith("/maintenance/phonebook?csrf="))
        body = FormData()
        body.add_field("book", "enterprise")
        body.add_field("page", "firmware")
        body.add_field("phonebook", escene_with(800), filename="big.xml",
                       content_type="text/xml")
        upload = asyncio.ensure_future(client.post(action, data=body, headers=client.headers))
        assert await asyncio.to_thread(parsing.wait, 10), "the upload never reached the parse"
        r = await asyncio.wait_for(client.get("/api/phonebook"), 10)
        assert r.status == 200
        assert not upload.done(), "the GET was answered only after the import: the loop froze"
        assert len((await r.json())["enterprise"]) == 0         # the import is not in yet
        release.set()
        r = await asyncio.wait_for(upload, 10)
        assert r.status == 200, await r.text()
        assert "800 contacts" in await r.text()
        rig.settle()
        assert rig.features.get("phonebooks").count("enterprise") == 800
    serve(rig, t)


# --- a change names the entry the list has once the form is read ---------------------------

async def slow_post(client, path: str, fields: dict, meanwhile) -> object:
    """Post `fields` as an API client does (the CSRF token in its header: the guard reads
    no body), its body in two halves: `meanwhile()` runs once the handler is reading the
    form (request.post called), before the second half is sent."""
    reading = asyncio.Event()
    real = web_request.BaseRequest.post

    async def post(self):
        reading.set()
        return await real(self)
    body = urlencode(fields).encode()

    async def halves():
        yield body[:5]
        await asyncio.wait_for(reading.wait(), 10)
        meanwhile()
        yield body[5:]
    web_request.BaseRequest.post = post
    try:
        return await client.post(path, data=halves(), allow_redirects=False, headers={
            **client.headers, "X-CSRF-Token": client.csrf,
            "Content-Type": "application/x-www-form-urlencoded"})
    finally:
        web_request.BaseRequest.post = real


def test_an_entry_deleted_while_the_form_is_read_is_not_taken_for_the_next(page):  # noqa: F811
    async def t(client, api):
        forms = await two_entries_shown(client, api)         # 1: 1002, 2: 1003
        r = await slow_post(client, BANLIST + "/1/delete", dict(forms[BANLIST + "/1/delete"]),
                            lambda: api.banlist.delete(0))      # the LCD deletes 1002
        text = await r.text()
        assert r.status == 409, text
        assert api.banlist.entries == (Ban(mobile="1003"),)     # not deleted in its place
        assert "<h1>BanList</h1>" in text and 'class="notice error"' in text   # the frame
        assert "changed since the page was shown" in text
    page(t)


def test_an_entry_edited_while_the_form_is_read_is_not_taken_for_the_next(page):  # noqa: F811
    async def t(client, api):
        await two_entries_shown(client, api)
        form = dict(Form(await get(client, BANLIST + "/1")).forms[BANLIST + "/1"])
        form.update(description="was 1002")
        r = await slow_post(client, BANLIST + "/1", form, lambda: api.banlist.delete(0))
        assert r.status == 409
        assert api.banlist.entries == (Ban(mobile="1003"),)     # 1003 not renamed
    page(t)


# --- "²" is a digit to str.isdigit, not to int() -------------------------------------------

def test_a_superscript_digit_is_refused_with_why_not_a_500(page):  # noqa: F811
    async def t(client, api):
        form = dict(Form(await get(client, BANLIST + "/new")).forms[BANLIST + "/new"])
        form.update(mobile="1002", account="²")
        r = await post(client, BANLIST + "/new", form)
        text = await r.text()
        assert r.status == 400, text
        assert "Account: 1-3, or Auto" in field_div(text, "account")
        assert api.banlist.entries == ()
    page(t)


def test_a_superscript_digit_on_the_contact_pages_is_refused_or_ignored(rig):  # noqa: F811
    async def t(client):
        r = await client.get("/phonebook/contacts?page=²")
        assert r.status == 200, await r.text()
        action = "/phonebook/contacts/new"
        form = dict(Form(await get(client, action)).forms[action])
        form.update(first_name="Ann", office="2001", account="²")
        r = await post(client, action, form)
        text = await r.text()
        assert r.status == 400, text
        assert "Line: 1-3, or Auto" in field_div(text, "account")
        assert rig.features.get("phonebooks").book("own").contacts == []
    serve(rig, t)


# --- a hand-written banlist.json -----------------------------------------------------------

def hand_written(data_dir, entries: list) -> None:
    (data_dir / "phonebook").mkdir(parents=True, exist_ok=True)
    (data_dir / "phonebook" / "banlist.json").write_text(json.dumps({"entries": entries}))


def test_entries_the_checks_refuse_are_kept_aside_and_the_page_shows_the_rest(
        page, tmp_path, caplog):  # noqa: F811
    written = [{"description": "no number", "first_name": "Nobody"},
               {"mobile": "12ab"}, {"mobile": "1002", "first_name": "Tele"}]
    hand_written(tmp_path, written)

    async def t(client, api):
        assert api.banlist.entries == (Ban(first_name="Tele", mobile="1002"),)
        text = await get(client, BANLIST)                     # IndexError before: a 500
        assert "<td>Tele</td>" in text and "Nobody" not in text
    page(t)
    bad = tmp_path / "phonebook" / "banlist.json.bad"
    assert json.loads(bad.read_text())["entries"] == written             # nothing lost
    assert "entry 1: A ban entry needs a number" in caplog.text
    assert "entry 2: Mobile number: 1-19 digits" in caplog.text
    assert "kept as banlist.json.bad" in caplog.text
    assert BanList(tmp_path).entries == (Ban(first_name="Tele", mobile="1002"),)   # rewritten


def test_a_list_longer_than_the_capacity_is_cut_and_says_so(tmp_path, caplog):
    hand_written(tmp_path, [{"mobile": str(1000 + i)} for i in range(CAPACITY + 5)])
    bans = BanList(tmp_path)
    assert len(bans.entries) == CAPACITY and bans.entries[-1].mobile == str(1000 + CAPACITY - 1)
    assert f"{CAPACITY + 5} entries: the ban list holds {CAPACITY}" in caplog.text
    assert len(json.loads((tmp_path / "phonebook" / "banlist.json.bad").read_text())[
        "entries"]) == CAPACITY + 5


# --- a number with its layout: a contact and a ban entry alike -----------------------------

def test_a_ban_number_with_dashes_is_taken_as_a_contacts_is(page):  # noqa: F811
    async def t(client, api):
        form = dict(Form(await get(client, BANLIST + "/new")).forms[BANLIST + "/new"])
        form.update(mobile="030-123", office="(030) 55 66")
        r = await post(client, BANLIST + "/new", form)
        assert r.status == 303, await r.text()
        assert api.banlist.entries == (Ban(mobile="030123", office="0305566"),)
    page(t)


def test_a_contact_number_with_dashes_is_taken_too(rig):  # noqa: F811
    async def t(client):
        action = "/phonebook/contacts/new"
        form = dict(Form(await get(client, action)).forms[action])
        form.update(first_name="Ann", mobile="030-123")
        r = await post(client, action, form)
        assert r.status == 303, await r.text()
        assert rig.features.get("phonebooks").book("own").contacts[0].mobile == "030123"
    serve(rig, t)


def test_a_superscript_digit_as_a_keys_account_is_refused_not_a_500(phone):  # noqa: F811
    """The same mistake on Programmable Keys (ui/web/keyspage.py), found beside these."""
    async def t(client, api):
        fields = with_(await keys_form(client, "/keys"), p2__type="speed_dial",
                       p2__account="²", p2__number="1002")
        r = await post(client, "/keys", fields)
        assert r.status == 400, await r.text()
        assert api.key_layout()["memory"] == []
    phone(t)
