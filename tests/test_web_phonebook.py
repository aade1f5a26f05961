"""Phone Book > Group and Contact on the web (manual §7; ui/web/phonebook.py) without a
browser: the real web application (guard, sessions, CSRF) and the real firmware.api.Api over
the in-process phone of tests/fakes (its directory feature's Books, its bus, its LCD). Each
form is sent back as a browser sends it (read from the page's own HTML); what reached
DATA/phonebook/own.json, the LCD and GET /api/phonebook is read back. An edit on one side is
seen on the other at once.

The same pages in chromium: tests/test_web_phonebook_browser.py.
"""
from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from firmware import api as firmware_api
from firmware.settings import public
from provisioning.phonebook import Contact, Group, Phonebook
from tests.fakes import build
from tests.test_directory_lcd import stored
from tests.test_web_pages import Form, get, post
from ui.web import build as web_app
from ui.web.auth import SESSION
from ui.web.common import AUTH

pytestmark = pytest.mark.timeout(60)

PROVISIONED = Phonebook(groups=[Group("Team", "from the PBX")],
                        contacts=[Contact("Pat", "Provisioned", office="3001", group="Team")])


class Api(firmware_api.Api):
    """The phone's Api over the rig: its features (the directory's Books), its bus."""
    web = SimpleNamespace(user="root", password_hash="not the factory's", user_name="desk",
                          user_password_hash="set", user_must_change=False)

    def __init__(self, rig):
        super().__init__(SimpleNamespace(
            data_dir=rig.data_dir, features=rig.features, bus=rig.bus, settings=rig.settings,
            board=SimpleNamespace(simulated=False), console_log=False))

    def pending_restart(self):
        return []

    def settings_json(self):                  # the Phone Book settings page
        return {"settings": public(self._app.settings), "errors": []}

    def credentials_from_disk(self):
        return []


@pytest.fixture
def rig(tmp_path):
    stored(tmp_path, "personal", PROVISIONED)
    return build(data_dir=tmp_path)


def serve(rig, test, role: str = "admin", *, signed_in: bool = True):
    """Run `test(client)` against the web pages of the rig's phone, signed in as `role`;
    the phone's bus is settled after each request (as its loop would run it)."""
    async def go():
        async with TestClient(TestServer(web_app(Api(rig)))) as client:
            client.csrf = ""
            if signed_in:
                token, sess = client.server.app[AUTH].new_session(role)
                client.session.cookie_jar.update_cookies({SESSION: token})
                client.csrf = sess.csrf
            client.headers = {"Origin": str(client.make_url("")).rstrip("/")}
            await test(client)
    asyncio.run(go())


def own(rig) -> dict:
    path = rig.data_dir / "phonebook" / "own.json"
    return json.loads(path.read_text()) if path.exists() else {"contacts": [], "groups": []}


async def send(client, rig, path: str, fields, **kw):
    """Post a form and let the phone handle what it posted (PhoneBookChanged)."""
    r = await post(client, path, fields, **kw)
    rig.settle()
    return r


async def form(client, page: str, action: str) -> dict:
    return dict(Form(await get(client, page)).forms[action])


def beside(text: str, name: str) -> str:
    m = re.search(rf'<div class="field invalid" data-key="{name}">.*?</div></div>', text, re.S)
    assert m, f"no error beside {name}"
    return m.group(0)


# --- Group --------------------------------------------------------------------------------------

def test_groups_add_edit_delete_and_provisioned_ones_are_read_only(rig):
    async def t(client):
        text = await get(client, "/phonebook/groups")
        assert re.search(r"<td>1</td><td>Team</td><td>from the PBX</td><td>provisioned</td>"
                         r"<td>provisioned</td>", text)           # no Edit, no Delete
        fields = await form(client, "/phonebook/groups/new", "/phonebook/groups/new")
        fields.update(name="Family", description="at home")
        r = await send(client, rig, "/phonebook/groups/new", fields, follow=True)
        assert r.status == 200 and "Added." in await r.text()
        assert own(rig)["groups"] == [{"name": "Family", "description": "at home", "ring": ""}]
        text = await r.text()
        assert re.search(r"<td>2</td><td>Family</td><td>at home</td><td>yours</td>", text)
        # a contact in it follows the rename
        rig.features.get("directory").books.add(Contact("Ann", office="2001", group="Family"))
        edit = "/phonebook/groups/edit?name=Family"
        assert f'href="{edit}"' in text
        fields = await form(client, edit, "/phonebook/groups/edit")
        assert fields["old"] == "Family" and fields["description"] == "at home"
        fields.update(name="Kin", description="cousins too")
        r = await send(client, rig, "/phonebook/groups/edit", fields)
        assert r.status == 303 and r.headers["Location"] == "/phonebook/groups?done=saved"
        assert own(rig)["groups"][0]["name"] == "Kin"
        assert own(rig)["groups"][0]["description"] == "cousins too"
        assert own(rig)["contacts"][0]["group"] == "Kin"
        # a name taken is refused beside the field, nothing saved
        fields.update(old="Kin", name="Team")
        r = await send(client, rig, "/phonebook/groups/edit", fields)
        text = await r.text()
        assert r.status == 400 and "Group &#x27;Team&#x27; exists already" in beside(text, "name")
        assert own(rig)["groups"][0]["name"] == "Kin"
        # Delete: the contact stays, in no group
        text = await get(client, "/phonebook/groups")
        r = await send(client, rig, "/phonebook/groups/delete",
                       Form(text).forms["/phonebook/groups/delete"])
        assert r.status == 303
        assert own(rig)["groups"] == [] and own(rig)["contacts"][0]["group"] == ""
        # a provisioned group cannot be deleted by a crafted form either
        r = await send(client, rig, "/phonebook/groups/delete",
                       {"csrf": client.csrf, "name": "Team"})
        assert r.status == 400 and "provisioned: read-only" in await r.text()
    serve(rig, t)


def test_delete_all_groups_is_asked_first_and_keeps_provisioned_ones_and_contacts(rig):
    books = rig.features.get("directory").books
    books.add_group("A")
    books.add_group("B")
    books.add(Contact("Ann", office="2001", group="A"))

    async def t(client):
        fields = Form(await get(client, "/phonebook/groups")).forms["/phonebook/groups/delete-all"]
        r = await send(client, rig, "/phonebook/groups/delete-all", fields)
        text = await r.text()
        assert r.status == 200 and len(own(rig)["groups"]) == 2          # asked, not done
        assert "Delete all 2 of your groups? Their contacts stay, in no group. The " \
               "provisioned group stays" in text
        confirm = Form(text).forms["/phonebook/groups/delete-all"]
        assert ("confirm", "yes") in confirm
        r = await send(client, rig, "/phonebook/groups/delete-all", confirm, follow=True)
        assert "Deleted 2 of your own; provisioned ones stay." in await r.text()
        assert own(rig)["groups"] == [] and own(rig)["contacts"][0]["group"] == ""
        assert books.groups("personal") == ["Team"]
    serve(rig, t)


# --- Contact ------------------------------------------------------------------------------------

def test_a_contact_added_edited_and_deleted_on_the_web(rig):
    async def t(client):
        text = await get(client, "/phonebook/contacts")
        assert re.search(r"<td>1</td><td>Pat</td><td>Provisioned</td><td></td><td>3001</td>"
                         r"<td></td><td>Team</td><td>Auto</td><td>provisioned</td>", text)
        fields = await form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        assert fields["group"] == "" and fields["account"] == ""       # None, Auto
        fields.update(first_name="Ann", last_name="Lee", mobile="138 0013-8000",
                      office="2001", group="Team", account="2")
        r = await send(client, rig, "/phonebook/contacts/new", fields, follow=True)
        text = await r.text()
        assert "Added." in text
        assert own(rig)["contacts"] == [{
            "first_name": "Ann", "last_name": "Lee", "mobile": "13800138000",
            "office": "2001", "other": "", "group": "Team", "account": 2, "blf": False}]
        assert re.search(r"<td>1</td><td>Ann</td><td>Lee</td><td>13800138000</td><td>2001"
                         r"</td><td></td><td>Team</td><td>Account 2</td>", text)
        fields = await form(client, "/phonebook/contacts/0", "/phonebook/contacts/0")
        assert fields["first_name"] == "Ann" and fields["account"] == "2" and fields["was"]
        fields.update(other="*99#", account="")
        r = await send(client, rig, "/phonebook/contacts/0", fields)
        assert r.status == 303 and r.headers["Location"] == "/phonebook/contacts?done=saved"
        assert own(rig)["contacts"][0]["other"] == "*99#"
        assert own(rig)["contacts"][0]["account"] is None
        text = await get(client, "/phonebook/contacts")
        r = await send(client, rig, "/phonebook/contacts/0/delete",
                       Form(text).forms["/phonebook/contacts/0/delete"])
        assert r.status == 303 and own(rig)["contacts"] == []
    serve(rig, t)


def test_a_refused_contact_saves_nothing_and_says_why_beside_the_field(rig):
    async def t(client):
        fields = await form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name="Bob", mobile="12ab")
        r = await send(client, rig, "/phonebook/contacts/new", fields)
        text = await r.text()
        assert r.status == 400
        assert "Nothing was saved: Mobile: 1-19 digits (0-9 * #, a leading +)" in text
        assert "Mobile: 1-19 digits (0-9 * #, a leading +)" in beside(text, "mobile")
        assert 'value="Bob"' in text and 'value="12ab"' in text          # kept as typed
        assert own(rig)["contacts"] == []
        fields.update(mobile="", first_name="")
        r = await send(client, rig, "/phonebook/contacts/new", fields)
        assert r.status == 400 and "A contact needs a name or a number" in await r.text()
    serve(rig, t)


def test_a_full_book_says_so_and_delete_all_keeps_the_provisioned(rig):
    books = rig.features.get("directory").books
    for i in range(299):                       # 1 provisioned + 299 own = the manual's 300
        books.add(Contact(f"C{i:03}", office=str(1000 + i)))

    async def t(client):
        fields = await form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name="One more", office="5")
        r = await send(client, rig, "/phonebook/contacts/new", fields)
        assert r.status == 400 and "Phone book full: 300 contacts" in await r.text()
        assert len(own(rig)["contacts"]) == 299
        # 300 contacts: 50 a page, a pager, a filter box
        text = await get(client, "/phonebook/contacts")
        assert "300 of 300 contacts (299 yours)." in text
        assert text.count("<tr>") == 1 + 50 and "Page 1 of 6" in text
        text = await get(client, "/phonebook/contacts?page=6")
        assert "C298" in text and "C000" not in text and 'rel="prev"' in text
        text = await get(client, "/phonebook/contacts?q=c12")
        assert text.count("<tr>") == 1 + 10 and "10 match" in text          # C120-C129
        text = await get(client, "/phonebook/contacts?q=1250")
        assert re.findall(r"<td>(C\d+)</td>", text) == ["C250"]
        # Delete All Contact: asked, then only the user's own
        fields = Form(await get(client, "/phonebook/contacts")).forms[
            "/phonebook/contacts/delete-all"]
        r = await send(client, rig, "/phonebook/contacts/delete-all", fields)
        text = await r.text()
        assert "Delete all 299 of your contacts? The provisioned contact stays" in text
        assert len(own(rig)["contacts"]) == 299
        r = await send(client, rig, "/phonebook/contacts/delete-all",
                       Form(text).forms["/phonebook/contacts/delete-all"], follow=True)
        assert "Deleted 299 of your own; provisioned ones stay." in await r.text()
        assert own(rig)["contacts"] == [] and books.count("personal") == 1
    serve(rig, t)


def test_a_name_is_only_ever_text_on_the_page(rig):
    rig.features.get("directory").books.add(Contact("<script>alert(1)</script>", '"&',
                                                    office="2001"))

    async def t(client):
        text = await get(client, "/phonebook/contacts")
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&quot;&amp;" in text
        fields = await form(client, "/phonebook/contacts/0", "/phonebook/contacts/0")
        assert fields["first_name"] == "<script>alert(1)</script>"   # the value, unharmed
    serve(rig, t)


# --- who may ------------------------------------------------------------------------------------

def test_the_desk_user_manages_the_phone_book(rig):
    async def t(client):
        text = await get(client, "/settings/phonebook")
        assert 'href="/phonebook/groups">Group</a>' in text
        assert 'href="/phonebook/contacts">Contact</a>' in text
        fields = await form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name="Desk", office="2002")
        r = await send(client, rig, "/phonebook/contacts/new", fields)
        assert r.status == 303 and own(rig)["contacts"][0]["first_name"] == "Desk"
        fields = await form(client, "/phonebook/groups/new", "/phonebook/groups/new")
        fields.update(name="Mine")
        assert (await send(client, rig, "/phonebook/groups/new", fields)).status == 303
    serve(rig, t, "user")


def test_unsigned_and_cross_site_requests_change_nothing(rig):
    async def t(client):
        r = await client.get("/phonebook/contacts", allow_redirects=False)
        assert r.status in (302, 303) and r.headers["Location"] == "/login"
        r = await client.post("/phonebook/contacts/new", data={"first_name": "X",
                                                               "office": "1"},
                              allow_redirects=False)
        assert r.status in (302, 303, 401, 403)
        assert own(rig)["contacts"] == []
    serve(rig, t, signed_in=False)

    async def forged(client):                  # signed in, but no CSRF token
        r = await client.post("/phonebook/contacts/new", data={"first_name": "X",
                                                               "office": "1"},
                              headers=client.headers, allow_redirects=False)
        assert r.status == 403 and own(rig)["contacts"] == []
    serve(rig, forged)


# --- the LCD and the web see each other ---------------------------------------------------------

def test_a_web_edit_is_on_the_lcd_and_in_the_search_at_once(rig):
    rig.walk("Phone book", "Personal phone book", "View all")
    assert rig.state.menu[-1].items == ["Pat Provisioned"]

    async def t(client):
        fields = await form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name="Joanna", office="2001")
        await send(client, rig, "/phonebook/contacts/new", fields)
    serve(rig, t)
    # the LCD's lists were drawn afresh: back on the book, which says why
    assert rig.state.menu[-1].title == "Personal phone book"
    assert "Phone book changed" in rig.lcd
    rig.walk("View all")
    assert rig.state.menu[-1].items == ["Joanna", "Pat Provisioned"]
    rig.press("cancel", "cancel", "cancel", "cancel")
    rig.dial("5")                                           # J: the search from idle
    assert [h.name for h in rig.state.search] == ["Joanna"]


def test_an_lcd_edit_is_on_the_web_and_in_the_api_at_once(rig):
    from tests.test_phonebook_edit import add_contact
    rig.walk("Phone book", "Personal phone book")
    add_contact(rig, "Eve", office="3002")

    async def t(client):
        text = await get(client, "/phonebook/contacts")
        assert re.search(r"<td>1</td><td>Eve</td>.*<a href=\"/phonebook/contacts/0\"", text)
        r = await client.get("/api/phonebook", headers=client.headers)
        body = await r.json()
        assert [(c["first_name"], c["own"]) for c in body["personal"]] == [
            ("Eve", True), ("Pat", False)]
        r = await client.get("/api/phonebook?q=ev", headers=client.headers)
        assert [c["first_name"] for c in (await r.json())["personal"]] == ["Eve"]
    serve(rig, t)


def test_a_contact_moved_on_the_lcd_meanwhile_is_found_again_or_refused(rig):
    books = rig.features.get("directory").books
    books.add(Contact("Ann", office="1"))
    books.add(Contact("Bob", office="2"))

    async def t(client):
        bob = await form(client, "/phonebook/contacts/1", "/phonebook/contacts/1")
        ann = await form(client, "/phonebook/contacts/0", "/phonebook/contacts/0")
        books.delete(0)                                     # on the LCD: Ann deleted
        bob.update(office="22")                             # the page still says /1
        r = await send(client, rig, "/phonebook/contacts/1", bob)
        assert r.status == 303
        assert [(c["first_name"], c["office"]) for c in own(rig)["contacts"]] == [
            ("Bob", "22")]
        ann.update(office="11")                             # Ann is gone: refused
        r = await send(client, rig, "/phonebook/contacts/0", ann)
        assert r.status == 400 and "changed or deleted meanwhile" in await r.text()
        assert [c["office"] for c in own(rig)["contacts"]] == ["22"]
    serve(rig, t)


def test_an_lcd_save_after_a_web_delete_changes_the_right_contact(rig):
    from tests.test_phonebook_edit import type_text
    books = rig.features.get("directory").books
    books.add(Contact("Ann", office="1"))
    books.add(Contact("Bob", office="2"))
    rig.walk("Phone book", "Personal phone book", "View all", "Bob", "Edit", "Mobile")
    type_text(rig, "99")
    rig.press("ok")

    async def t(client):                                    # meanwhile Ann deleted on the web
        text = await get(client, "/phonebook/contacts")
        await send(client, rig, "/phonebook/contacts/0/delete",
                   Form(text).forms["/phonebook/contacts/0/delete"])
    serve(rig, t)
    assert rig.state.menu[-1].title == "Edit contact"       # the editor stays
    rig.walk("Save")
    assert [(c["first_name"], c["mobile"]) for c in own(rig)["contacts"]] == [("Bob", "99")]


def test_the_lcd_and_the_web_changing_the_book_at_the_same_moment_lose_nothing(tmp_path):
    """Books' lock: two threads adding at once (the LCD and the web both run on the loop,
    but Books is whole from any thread: asyncio.to_thread callers) each read own.json, add
    one and write it whole; without the lock one's write would drop the other's contact."""
    import threading

    from firmware.phonebooks import Books
    books = Books(tmp_path)
    start = threading.Barrier(2)

    def add(who: str) -> None:
        start.wait(timeout=10)
        for i in range(100):
            books.add(Contact(f"{who}{i}", office=str(i)))
    workers = [threading.Thread(target=add, args=(w,)) for w in ("lcd", "web")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(Books(tmp_path).book("own").contacts) == 200 == books.count("personal")
