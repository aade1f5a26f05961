"""The phone book and ban list as an attacker and a desk user found them (issue 14's review):
a ban entry's prefix (0900*) that rang all the same, the same number banned twice, groups
without end, a damaged own.json emptied without a word (and the second damage overwriting
the first's copy), control characters in names, an Account that is no line saved as Auto,
"Delete all 1 entries", and 404s that were plain text.

In-process: the store and the incoming policy (what the SIP thread asks before the 180),
the LCD over the rig of tests/fakes, and the real web application (guard, sessions, CSRF)
over a real BanList (tests/test_banlist.py `page`) or over the rig's phone
(tests/test_web_phonebook.py `serve`).
"""
from __future__ import annotations

import json

import pytest

from firmware import files
from firmware.banlist import Ban, BanList
from firmware.directory.formats import import_file, write
from firmware.phonebooks import GROUPS_MAX, BookError, Books
from firmware.sip.policy import IncomingPolicy
from provisioning.phonebook import (Contact, Group, Phonebook, export_phonebook,
                                    parse_phonebook)
from tests import test_web_phonebook as wp
from tests.fakes import build
from tests.test_banlist import decide, page, rig  # noqa: F401  (page, rig: fixtures)
from tests.test_directory_lcd import stored
from tests.test_web_pages import Form, field_div, get, post

BANLIST = "/phonebook/banlist"

pytestmark = pytest.mark.timeout(60)


# --- 1. a ban entry's number ending in * is a prefix, as phone.blacklist's is -------------------

def test_an_entry_ending_in_a_star_refuses_every_number_it_starts(tmp_path):
    bans = BanList(tmp_path)
    bans.add(Ban(mobile="0900*"))                          # every line
    bans.add(Ban(office="0180*", home="5550000", account=2))   # line 2 only
    policy = IncomingPolicy(bans=bans.bans, reject_code=603)
    assert policy.reads_invite
    assert decide(policy, "0900123") == decide(policy, "0900", 3) == 603
    assert decide(policy, "0901123") == decide(policy, "123") == 180
    assert decide(policy, "0180555", 2) == decide(policy, "5550000", 2) == 603
    assert decide(policy, "0180555", 1) == decide(policy, "5550000", 3) == 180
    # exact numbers stay set lookups; only the prefixes are scanned
    assert bans.bans.prefixes == ((None, "0900"), (2, "0180"))
    assert bans.bans.everywhere == frozenset() and bans.bans.lines == {(2, "5550000")}


def test_a_star_alone_would_refuse_everyone_and_is_refused(tmp_path):
    with pytest.raises(BookError, match=r"Mobile number: a prefix needs digits before the \*"):
        BanList(tmp_path).add(Ban(mobile="*"))
    BanList(tmp_path).add(Ban(mobile="*99"))               # a star inside is a number's


def test_a_number_banned_already_is_refused_with_why(tmp_path):
    bans = BanList(tmp_path)
    bans.add(Ban(mobile="6666"))
    with pytest.raises(BookError, match="^6666 is banned already$"):
        bans.add(Ban(first_name="again", mobile="6666"))
    with pytest.raises(BookError, match="^6666 is banned already on every line$"):
        bans.add(Ban(office="6666", account=2))
    with pytest.raises(BookError, match="^7777 is in this entry twice$"):
        bans.add(Ban(mobile="7777", home="7777"))
    bans.add(Ban(mobile="7777", account=1))
    bans.add(Ban(mobile="7777", account=2))                # another line: its own entry
    bans.edit(0, Ban(first_name="renamed", mobile="6666"))  # an entry keeps its own number
    with pytest.raises(BookError, match="^7777 is banned already$"):
        bans.edit(2, Ban(mobile="7777", account=1))
    assert [b.numbers for b in BanList(tmp_path).entries] == [("6666",), ("7777",), ("7777",)]


def test_the_web_takes_a_prefix_and_says_beside_the_field_when_it_is_banned_already(page):  # noqa: F811
    async def t(client, api):
        text = await get(client, BANLIST + "/new")
        assert "0900* bans 0900123" in field_div(text, "mobile")       # the help says so
        form = dict(Form(text).forms[BANLIST + "/new"])
        form.update(mobile="0900*")
        r = await post(client, BANLIST + "/new", form)
        assert r.status == 303, await r.text()
        assert IncomingPolicy(bans=api.banlist.bans).bans.refuses("0900123", 1)
        r = await post(client, BANLIST + "/new", form)
        text = await r.text()
        assert r.status == 400
        assert "0900* is banned already" in field_div(text, "mobile")
        assert len(api.banlist.entries) == 1
    page(t)


def test_a_ringing_caller_whose_number_ends_in_a_star_is_not_made_a_prefix(rig):  # noqa: F811
    rig.incoming("12*", name="Sneaky")
    rig.soft("Ban").soft("Yes")
    assert rig.screen == "ringing"                         # not refused: nothing banned
    assert "12* ends in *" in rig.lcd
    assert rig.features.get("banlist").entries == ()
    assert rig.settings.phone.blacklist == ()


# --- 2. groups have a capacity: Yealink's local directory's 48 ---------------------------------

@pytest.fixture
def phone(tmp_path):
    """The rig's phone with a provisioned personal book (one group, Team), for the web."""
    stored(tmp_path, "personal", wp.PROVISIONED)
    return build(data_dir=tmp_path)


def test_the_48th_group_is_the_last_on_the_web_too(phone):
    books = phone.features.get("phonebooks")
    for i in range(GROUPS_MAX - 2):                        # + the provisioned Team
        books.add_group(f"G{i:02}")
    books.add_group("Last")
    with pytest.raises(BookError, match=f"^Groups full: {GROUPS_MAX} groups$"):
        books.add_group("One more")

    async def t(client):
        fields = await wp.form(client, "/phonebook/groups/new", "/phonebook/groups/new")
        fields.update(name="Spam 2001")
        r = await wp.send(client, phone, "/phonebook/groups/new", fields)
        text = await r.text()
        assert r.status == 400
        assert "Groups full: 48 groups" in wp.beside(text, "name")
        assert len(wp.own(phone)["groups"]) == GROUPS_MAX - 1
        text = await get(client, "/phonebook/contacts/new")
        assert text.count("<option") == 1 + GROUPS_MAX + 4      # None, the groups; accounts
    wp.serve(phone, t)


def test_add_group_on_the_lcd_at_48_says_groups_full(tmp_path):
    rig = build(data_dir=tmp_path)
    books = rig.features.get("phonebooks")
    for i in range(GROUPS_MAX):
        books.add_group(f"G{i:02}")
    rig.walk("Phone book", "Personal phone book", "Add group")
    rig.press("2", "ok")                                   # "a", then OK saves
    assert "Groups full: 48 groups" in rig.lcd
    assert len(books.own_groups()) == GROUPS_MAX


def many_groups(n: int) -> Phonebook:
    return Phonebook(groups=[Group(f"G{i:02}") for i in range(n)],
                     contacts=[Contact(f"C{i:02}", office=str(1000 + i), group=f"G{i:02}")
                               for i in range(n)])


def test_a_provisioned_file_with_more_groups_loads_the_first_48_and_says_so(caplog):
    book = parse_phonebook(export_phonebook(many_groups(60)), name="Enterprise_Phonebook.xml")
    assert [g.name for g in book.groups] == [f"G{i:02}" for i in range(GROUPS_MAX)]
    assert len(book.contacts) == 60                        # every contact stays
    assert book.contacts[47].group == "G47" and book.contacts[48].group == ""
    assert "Groups full: 48 groups; 12 more left out" in caplog.text


@pytest.mark.parametrize("fmt", ["yealink", "escene"])
def test_an_upload_with_more_groups_than_fit_is_refused_and_changes_nothing(tmp_path, fmt):
    """Either format: an Escene file's groups used to be cut to 48 as it was read (as a
    provisioned file's are), so the upload went in without the 49th group."""
    books = Books(tmp_path)
    data = write(many_groups(60), fmt, title="PBX")
    with pytest.raises(BookError, match="^Groups full: 48 groups — the file has 60$"):
        import_file(books, "personal", data, name="pbx.xml")
    with pytest.raises(BookError, match="^Groups full: 48 groups — the file has 60$"):
        import_file(books, "enterprise", data, name="pbx.xml")
    assert books.count("personal") == books.count("enterprise") == 0
    assert import_file(books, "personal", write(many_groups(48), "yealink", title="PBX"),
                       name="pbx.xml")["groups"] == 48


# --- 4. what a person types on the web -----------------------------------------------------------

CONTROLS = ["a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\u2028b", "RTL\u202etxt.exe", "a\u2066b"]


@pytest.mark.parametrize("name", CONTROLS)
def test_control_characters_in_a_name_are_refused_beside_the_field(phone, name):
    async def t(client):
        fields = await wp.form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name=name, office="2001")
        r = await wp.send(client, phone, "/phonebook/contacts/new", fields)
        text = await r.text()
        assert r.status == 400, text
        assert "First name: no control characters" in wp.beside(text, "first_name")
        fields.update(first_name="Ann", last_name=name)
        r = await wp.send(client, phone, "/phonebook/contacts/new", fields)
        assert "Last name: no control characters" in wp.beside(await r.text(), "last_name")
        fields = await wp.form(client, "/phonebook/groups/new", "/phonebook/groups/new")
        fields.update(name=name)
        r = await wp.send(client, phone, "/phonebook/groups/new", fields)
        assert "Group name: no control characters" in wp.beside(await r.text(), "name")
        fields.update(name="Fine", description=name)
        r = await wp.send(client, phone, "/phonebook/groups/new", fields)
        assert "Description: no control characters" in wp.beside(await r.text(),
                                                                 "description")
        assert wp.own(phone) == {"contacts": [], "groups": []}
    wp.serve(phone, t)


def test_a_nul_sent_raw_is_refused_not_cut(phone):
    """The tester's `last_name=a%00b`, as a client sends it (not through a form's dict)."""
    async def t(client):
        fields = dict(await wp.form(client, "/phonebook/contacts/new", "/phonebook/contacts/new"))
        body = "&".join(f"{k}={v}" for k, v in {**fields, "office": "2001"}.items()
                        if k != "last_name") + "&last_name=a%00b"
        r = await client.post("/phonebook/contacts/new", data=body, allow_redirects=False,
                              headers={**client.headers, "Content-Type":
                                       "application/x-www-form-urlencoded"})
        assert r.status == 400, await r.text()
        assert wp.own(phone)["contacts"] == []
    wp.serve(phone, t)


@pytest.mark.parametrize("name", CONTROLS)
def test_control_characters_in_a_ban_entry_are_refused_beside_the_field(page, name):  # noqa: F811
    async def t(client, api):
        form = dict(Form(await get(client, BANLIST + "/new")).forms[BANLIST + "/new"])
        form.update(mobile="1002", description=name, first_name=name)
        r = await post(client, BANLIST + "/new", form)
        text = await r.text()
        assert r.status == 400
        assert "First name: no control characters" in field_div(text, "first_name")
        assert "Description: no control characters" in field_div(text, "description")
        assert api.banlist.entries == ()
    page(t)


def test_an_account_that_is_no_line_is_refused_not_saved_as_auto(phone):
    async def t(client):
        fields = await wp.form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        fields.update(first_name="Ann", office="2001", account="abc")
        r = await wp.send(client, phone, "/phonebook/contacts/new", fields)
        text = await r.text()
        assert r.status == 400, text
        assert "1-3, or Auto" in wp.beside(text, "account")
        assert wp.own(phone)["contacts"] == []
    wp.serve(phone, t)


def test_an_account_that_is_no_line_is_refused_on_the_banlist_too(page):  # noqa: F811
    async def t(client, api):
        form = dict(Form(await get(client, BANLIST + "/new")).forms[BANLIST + "/new"])
        form.update(mobile="1002", account="abc")
        r = await post(client, BANLIST + "/new", form)
        assert r.status == 400
        assert "Account: 1-3, or Auto" in field_div(await r.text(), "account")
        assert api.banlist.entries == ()
    page(t)


def test_delete_all_of_one_says_the_1_entry(page):  # noqa: F811
    async def t(client, api):
        api.banlist.add(Ban(mobile="1002"))
        forms = Form(await get(client, BANLIST)).forms
        r = await post(client, BANLIST + "/delete-all", dict(forms[BANLIST + "/delete-all"]))
        text = await r.text()
        assert "Delete the 1 entry of the ban list? Its caller rings again." in text
        assert "1 entries" not in text
    page(t)


def test_delete_all_of_one_contact_and_one_group_says_so_in_the_singular(phone):
    books = phone.features.get("phonebooks")
    books.add_group("Family")
    books.add(Contact("Ann", office="2001"))

    async def t(client):
        for url, question in (
                ("/phonebook/contacts", "Delete your 1 contact? The provisioned contact "
                                        "stays (it comes from auto provisioning)."),
                ("/phonebook/groups", "Delete your 1 group? Its contacts stay, in no group. "
                                      "The provisioned group stays")):
            fields = Form(await get(client, url)).forms[url + "/delete-all"]
            r = await wp.send(client, phone, url + "/delete-all", fields)
            assert question in await r.text()
    wp.serve(phone, t)


def test_an_entry_that_is_not_there_is_a_404_in_the_frame(page):  # noqa: F811
    async def t(client, api):
        for path in (BANLIST + "/1", BANLIST + "/" + "9" * 5000):
            r = await client.get(path)
            text = await r.text()
            assert r.status == 404, text
            assert r.content_type == "text/html"
            assert "<h1>BanList</h1>" in text and 'class="notice error"' in text
            assert f'href="{BANLIST}"' in text
    page(t)


def test_a_contact_or_group_that_is_not_there_is_a_404_in_the_frame(phone):
    async def t(client):
        for path, title in (("/phonebook/contacts/7", "Edit Contact"),
                            ("/phonebook/contacts/" + "9" * 5000, "Edit Contact"),
                            ("/phonebook/groups/edit?name=Gone", "Edit Group")):
            r = await client.get(path)
            text = await r.text()
            assert r.status == 404, text
            assert f"<h1>{title}</h1>" in text and 'class="notice error"' in text
        fields = await wp.form(client, "/phonebook/contacts/new", "/phonebook/contacts/new")
        r = await wp.send(client, phone, "/phonebook/contacts/" + "9" * 5000, fields)
        assert r.status == 400, await r.text()             # refused, not a 500
    wp.serve(phone, t)


# --- 3. a damaged own.json or banlist.json: copies numbered, and said where a person looks -----

def damage(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"contacts": [{"first_name": 5}')


def test_each_damaged_copy_is_kept_the_last_three(tmp_path, caplog):
    path = tmp_path / "own.json"
    for n in range(5):
        path.write_text(f"damaged {n}")
        assert files.keep_aside(path, "bad") == tmp_path / "own.json.bad"
    assert [p.read_text() for p in files.kept_aside(path)] == [
        "damaged 4", "damaged 3", "damaged 2"]                 # the first two went
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "own.json.bad", "own.json.bad.1", "own.json.bad.2"]


def test_a_second_damage_keeps_the_first_copy_of_own_json(tmp_path):
    path = tmp_path / "phonebook" / "own.json"
    damage(path)
    Books(tmp_path).refresh()
    path.write_text("second damage")
    Books(tmp_path).refresh()
    assert (tmp_path / "phonebook" / "own.json.bad").read_text() == "second damage"
    assert (tmp_path / "phonebook" / "own.json.bad.1").read_text().startswith('{"contacts"')


def title(rig) -> str:
    """The LCD's title row read whole over its turns (a notice too long for one)."""
    from ui import lcd
    snap = rig.state.snapshot()
    return " ".join(lcd.render(snap, step).text.splitlines()[0]
                    for step in range(lcd.render(snap).turns))


def test_a_damaged_own_json_is_said_on_the_lcd_until_a_change(tmp_path):
    damage(tmp_path / "phonebook" / "own.json")
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book")
    assert title(rig) == "Your phone book was damaged: kept as own.json.bad; starting empty"
    again = build(data_dir=tmp_path)                       # a restart: it still says so
    again.walk("Phone book", "Personal phone book")
    assert "damaged" in title(again)
    again.features.get("phonebooks").add(Contact("Ann", office="2001"))
    again = build(data_dir=tmp_path)
    again.walk("Phone book", "Personal phone book")
    assert "damaged" not in again.seen


def test_a_damaged_own_json_is_said_on_the_contact_page_until_dismissed(tmp_path):
    damage(tmp_path / "phonebook" / "own.json")
    rig = build(data_dir=tmp_path)

    async def t(client):
        text = await get(client, "/phonebook/contacts")
        assert "Your phone book was damaged: kept as own.json.bad; starting empty" in text
        forms = Form(text).forms
        r = await wp.send(client, rig, "/phonebook/contacts/dismiss",
                          forms["/phonebook/contacts/dismiss"])
        assert r.status == 303
        assert "damaged" not in await get(client, "/phonebook/contacts")
    wp.serve(rig, t)
    assert "damaged" not in build(data_dir=tmp_path).walk(
        "Phone book", "Personal phone book").seen              # nor after a restart


def test_a_damaged_banlist_json_is_said_on_its_page_until_an_entry_is_added(page, tmp_path):  # noqa: F811
    damage(tmp_path / "phonebook" / "banlist.json")

    async def t(client, api):
        text = await get(client, BANLIST)
        assert "Your ban list was damaged: kept as banlist.json.bad; starting empty" in text
        assert BANLIST + "/dismiss" in Form(text).forms
        api.banlist.add(Ban(mobile="1002"))
        assert "damaged" not in await get(client, BANLIST)
    page(t)


def test_the_banlist_notice_dismissed_stays_away_after_a_restart(page, tmp_path):  # noqa: F811
    damage(tmp_path / "phonebook" / "banlist.json")

    async def t(client, api):
        forms = Form(await get(client, BANLIST)).forms
        r = await post(client, BANLIST + "/dismiss", dict(forms[BANLIST + "/dismiss"]))
        assert r.status == 303
        assert "damaged" not in await get(client, BANLIST)
    page(t)
    assert BanList(tmp_path).trouble == ""


def test_an_own_json_with_thousands_of_groups_goes_on_with_the_first_48(tmp_path, caplog):
    """What the tester's 2001 posts left before there was a limit."""
    book = many_groups(2001)
    book.contacts = book.contacts[:60]                     # G00-G59's, one each
    doc = {"version": 1, **book.to_json()}
    (tmp_path / "phonebook").mkdir()
    (tmp_path / "phonebook" / "own.json").write_text(json.dumps(doc))
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book")
    assert title(rig) == ("Your phone book had 2001 groups: kept as own.json.bad; going on "
                          "with the first 48")
    assert len(rig.state.menu[-1].items) == 1 + GROUPS_MAX + 4    # View all, groups, edits
    books = rig.features.get("phonebooks")
    assert books.count("personal") == 60                   # every contact stays
    assert books.book("own").contacts[48].group == ""      # G48's, in no group
    assert len(json.loads((tmp_path / "phonebook" / "own.json").read_text())["groups"]) == 48
    assert len(json.loads((tmp_path / "phonebook" / "own.json.bad").read_text())["groups"]) \
        == 2001
