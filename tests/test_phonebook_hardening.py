"""The phone book's web and storage side under load and bad input (issue 14's review): an
upload parsed off the loop while the phone goes on answering, changes that name an entry
the list no longer has there, form values that are digits only to str.isdigit ("²"), a
hand-written banlist.json, and the numbers a contact and a ban entry take alike.

In-process: the real web application (guard, sessions, CSRF) over the rig of tests/fakes
(tests/test_web_phonebook.py `serve`) or over a real BanList (tests/test_banlist.py `page`).
"""
from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import FormData

from firmware.directory import formats
from tests.test_phonebook_files import escene_with
from tests.test_web_bookfiles import FIRMWARE, rig  # noqa: F401  (rig: a fixture)
from tests.test_web_pages import Form, get
from tests.test_web_phonebook import serve

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
