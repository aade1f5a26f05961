"""The ban list as contacts (issue 14 item 6; manual §7 Phone Book > BanList), in-process:
its store (DATA/phonebook/banlist.json: checks, capacity, a damaged file kept aside, a
kill -9 while writing), what the SIP thread's policy refuses (phone.blacklist plus the
entries' numbers; an entry's Account narrows it to that line), the LCD's Ban and Add soft
keys on a ringing call (tests/fakes rig: keys pressed as a person does), and the web's
BanList page (the real web application, guard and CSRF, over a real BanList).

The same ban over real SIP (Kamailio, two phone processes): tests/test_banlist_sip.py.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware import files
from firmware.banlist import CAPACITY, Ban, BanList
from firmware.phonebooks import BookError
from firmware.sip.policy import Bans, IncomingPolicy
from tests import test_web_pages as web
from tests.fakes import build

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(60)


def stored(data_dir) -> dict:
    return json.loads((data_dir / "phonebook" / "banlist.json").read_text())


# --- the store ----------------------------------------------------------------------------------

def test_entries_are_kept_with_the_manuals_fields_and_read_back(tmp_path):
    bans = BanList(tmp_path)
    bans.add(Ban("Sales calls", "Tele", "Marketer", mobile="5551234", home="5559999",
                 office="+4930123", account=2))
    bans.add(Ban(mobile="1900"))
    again = BanList(tmp_path)
    assert again.entries == bans.entries
    assert again.entries[0].description == "Sales calls"
    assert stored(tmp_path)["entries"][1] == {
        "description": "", "first_name": "", "last_name": "", "mobile": "1900", "home": "",
        "office": "", "account": None}
    bans.edit(1, Ban(first_name="Spam", office="1901"))
    bans.delete(0)
    assert [b.numbers for b in BanList(tmp_path).entries] == [("1901",)]
    bans.clear()
    assert BanList(tmp_path).entries == ()


@pytest.mark.parametrize("ban, why", [
    (Ban(first_name="Nobody"), "A ban entry needs a number"),
    (Ban(mobile="12ab"), "Mobile number: 1-19 digits"),
    (Ban(office="1" * 20), "Office number: 1-19 digits"),
    (Ban("x" * 33, mobile="1"), "Description: at most 32"),
    (Ban(first_name="a\nb", mobile="1"), "First name: a single line"),
    (Ban(mobile="1", account=4), "Account: 1-3, or Auto"),
])
def test_a_wrong_entry_is_refused_with_why_and_nothing_is_written(tmp_path, ban, why):
    with pytest.raises(BookError, match=why):
        BanList(tmp_path).add(ban)
    assert not (tmp_path / "phonebook" / "banlist.json").exists()


def test_the_capacity_is_a_hundred_entries(tmp_path):
    bans = BanList(tmp_path)
    for i in range(CAPACITY):
        bans.add(Ban(mobile=str(1000 + i)))
    with pytest.raises(BookError, match=f"^Ban list full: {CAPACITY} entries$"):
        bans.add(Ban(mobile="1"))
    assert len(BanList(tmp_path).entries) == CAPACITY == 100


def test_a_damaged_file_is_kept_aside_and_the_list_starts_empty(tmp_path, caplog):
    (tmp_path / "phonebook").mkdir()
    (tmp_path / "phonebook" / "banlist.json").write_text('{"entries": [{"mobile": 5}]')
    bans = BanList(tmp_path)
    assert bans.entries == ()
    assert (tmp_path / "phonebook" / "banlist.json.bad").exists()
    assert "damaged" in caplog.text
    bans.add(Ban(mobile="1002"))                           # and it works on
    assert len(BanList(tmp_path).entries) == 1


def test_a_write_that_fails_half_way_changes_nothing(tmp_path, monkeypatch):
    bans = BanList(tmp_path)
    bans.add(Ban(mobile="1002"))
    before = (tmp_path / "phonebook" / "banlist.json").read_bytes()

    def cut(*a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", cut)
    with pytest.raises(OSError):
        bans.add(Ban(mobile="1003"))
    monkeypatch.undo()
    assert (tmp_path / "phonebook" / "banlist.json").read_bytes() == before
    assert bans.bans == Bans(frozenset({"1002"}))          # memory as the disk


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from firmware.banlist import Ban, BanList
    bans = BanList(Path(sys.argv[1]))
    n = len(bans.entries)
    while True:
        if n >= 90:
            bans.clear()
        bans.add(Ban(mobile=str(1000 + n)))
        n = len(bans.entries)
        print(n, flush=True)
""")


def test_a_kill_9_while_writing_leaves_the_old_or_the_new_list(tmp_path):
    """A writer adding entries one by one is killed with SIGKILL at 5 moments; each time
    the file reads whole, and a new BanList sweeps the temp file a kill left."""
    for round_ in range(5):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        try:
            for _ in range(3 + 5 * round_):                # bounded: lines it printed
                assert child.stdout.readline(), "the writer died"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            child.stdout.close()
        entries = stored(tmp_path)["entries"]             # whole JSON: old or new
        assert len(BanList(tmp_path).entries) == len(entries)
        assert not list((tmp_path / "phonebook").glob(".banlist.json.*.tmp"))
        assert not (tmp_path / "phonebook" / "banlist.json.bad").exists()


# --- what the SIP thread refuses ---------------------------------------------------------------

def decide(policy: IncomingPolicy, caller: str, account: int = 1) -> int:
    return policy.decide(account=account, calls=0, caller=caller, anonymous=False,
                         source_ip="192.0.2.10")[0]


def test_the_setting_and_the_entries_are_refused_an_accounts_entry_on_its_line_only(tmp_path):
    bans = BanList(tmp_path)
    bans.add(Ban(mobile="5551234"))                        # Auto: every line
    bans.add(Ban(office="1003", home="1004", account=2))   # only calls to account 2
    policy = IncomingPolicy(blacklist=("1900*",), bans=bans.bans, reject_code=603)
    assert policy.reads_invite
    assert decide(policy, "19001234") == 603               # phone.blacklist's prefix
    assert decide(policy, "5551234", 1) == decide(policy, "5551234", 3) == 603
    assert decide(policy, "1003", 2) == decide(policy, "1004", 2) == 603
    assert decide(policy, "1003", 1) == decide(policy, "1004", 3) == 180
    assert decide(policy, "1002") == 180
    assert not IncomingPolicy().reads_invite               # no list: the INVITE is not read


# --- the LCD: a ringing caller banned or added ----------------------------------------------------

@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


def test_ban_on_a_ringing_call_asks_once_then_refuses_it_and_the_next_ones(rig):
    rig.incoming("1002", name="Bob")
    assert rig.screen == "ringing"
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    rig.soft("Ban")
    assert rig.softkeys == ["Answer", "Reject", "Yes", "No"]
    assert "Ban 1002?" in rig.lcd
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()   # nothing yet
    rig.soft("Yes")
    assert rig.screen == "idle"                            # refused as a banned caller is
    assert rig.sip.wire[-1] == f"{rig.settings.phone.reject_code} 1"
    assert rig.calllog.lists["missed"] == []               # refused by us: not missed
    assert stored(rig.data_dir)["entries"] == [{
        "description": "", "first_name": "Bob", "last_name": "", "mobile": "1002",
        "home": "", "office": "", "account": None}]
    assert rig.incoming("1002") is None                    # the SIP thread refuses it now
    assert rig.sip.wire[-1] == f"{rig.settings.phone.reject_code} INVITE from 1002"
    rig.incoming("1003")
    assert rig.screen == "ringing"                         # anyone else rings


def test_no_keeps_the_call_ringing_and_bans_nobody(rig):
    rig.incoming("1002")
    rig.soft("Ban").soft("No")
    assert rig.screen == "ringing"
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()
    rig.soft("Answer")
    assert rig.screen == "talking"


def test_the_question_unanswered_goes_with_its_notice(rig):
    rig.incoming("1002")
    rig.soft("Ban")
    rig.advance(4.5)                                       # a notice's 4 s
    assert "Ban 1002?" not in rig.lcd
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    assert rig.screen == "ringing"


def test_a_full_ban_list_says_so_and_the_call_rings_on(rig):
    bans = rig.features.get("banlist")
    for i in range(CAPACITY):
        bans.add(Ban(mobile=str(3000 + i)))
    rig.incoming("1002")
    rig.soft("Ban").soft("Yes")
    assert rig.screen == "ringing"
    assert "Ban list full" in rig.lcd


def test_a_change_on_the_web_reaches_the_sip_thread_at_once_and_survives_settings(rig):
    bans = rig.features.get("banlist")
    bans.add(Ban(mobile="1002", account=1))
    assert rig.incoming("1002") is None
    rig.set({"phone.dnd_code": 480})                       # the policy is made again
    assert rig.sip.policy.bans == bans.bans                # the entries carried over
    assert rig.incoming("1002") is None
    assert rig.incoming("1002", account=2) is not None     # its account only
    bans.delete(0)
    rig.press("soft2")                                     # Reject the call on line 2
    assert rig.incoming("1002") is not None


def test_add_opens_the_contact_editor_with_the_caller_over_the_ringing_call(rig):
    rig.incoming("1003", name="Carol")
    rig.soft("Add")
    assert rig.screen == "menu"
    page = rig.state.menu[-1]
    assert page.title == "Add contact"
    assert page.data[:4] == ["Carol", "(none)", "(none)", "1003"]   # first name, office
    assert rig.state.ringing()                             # it rings on beneath
    assert rig.leds["line1"] == ("red", "fast")
    rig.walk("Save")
    assert rig.screen == "ringing"                         # the call has the screen again
    own = json.loads((rig.data_dir / "phonebook" / "own.json").read_text())
    assert [(c["first_name"], c["office"]) for c in own["contacts"]] == [("Carol", "1003")]
    rig.soft("Answer")
    assert rig.screen == "talking"


def test_add_with_a_full_phone_book_says_so_over_the_ring_and_c_gives_it_back(rig):
    from provisioning.phonebook import Contact
    books = rig.features.get("phonebooks")
    for i in range(300):
        books.add(Contact(f"C{i}", office=str(4000 + i)))
    rig.incoming("1003")
    rig.soft("Add")
    assert rig.screen == "menu"
    assert "Phone book full: 300" in rig.seen
    rig.press("cancel")
    assert rig.screen == "ringing"


def test_lifting_the_handset_in_the_editor_answers_and_saves_nothing(rig):
    rig.incoming("1003", name="Carol")
    rig.soft("Add")
    rig.hook(True)
    assert rig.screen == "talking"
    assert rig.state.menu == []
    assert not (rig.data_dir / "phonebook" / "own.json").exists()


def test_a_caller_without_a_number_cannot_be_banned_or_added(rig):
    rig.incoming("")
    rig.soft("Ban")
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    rig.soft("Add")
    assert rig.screen == "ringing"
    assert "No number" in rig.lcd


# --- the web's BanList page -----------------------------------------------------------------------

class Api(web.Api):
    """The web pages' Api (tests/test_web_pages.py) with the phone's ban list."""

    def __init__(self, data_dir):
        super().__init__(data_dir)
        self.banlist = BanList(data_dir)


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "Api", Api)

    def runner(test, role: str = "admin"):
        asyncio.run(web.run(test, role)(tmp_path))
    return runner


URL = "/phonebook/banlist"


def test_the_phone_book_page_links_the_banlist_and_keeps_the_prefix_setting(page):
    async def t(client, api):
        text = await web.get(client, "/settings/phonebook")
        assert f'href="{URL}"' in text
        assert 'name="phone.blacklist"' in text
    page(t)


def test_add_edit_delete_an_entry_on_the_web(page):
    async def t(client, api):
        text = await web.get(client, URL)
        assert "No entries" in text and f'href="{URL}/new"' in text
        form = dict(web.Form(await web.get(client, URL + "/new")).forms[URL + "/new"])
        assert set(form) == {"csrf", "description", "first_name", "last_name", "mobile",
                             "home", "office", "account"}
        form.update(description="Robocalls", first_name="Tele", mobile="5551234",
                    account="2")
        r = await web.post(client, URL + "/new", form)
        assert r.status == 303 and r.headers["Location"] == f"{URL}?done=added"
        assert api.banlist.entries == (Ban("Robocalls", "Tele", mobile="5551234",
                                           account=2),)
        text = await web.get(client, URL)
        for cell in ("<td>1</td>", "<td>Robocalls</td>", "<td>5551234</td>",
                     "<td>Account 2</td>"):
            assert cell in text
        form = dict(web.Form(await web.get(client, URL + "/1")).forms[URL + "/1"])
        assert form["mobile"] == "5551234" and form["account"] == "2"
        form.update(account="", home="5559999")
        r = await web.post(client, URL + "/1", form)
        assert r.status == 303
        assert api.banlist.entries[0].numbers == ("5551234", "5559999")
        assert api.banlist.entries[0].account is None
        forms = web.Form(await web.get(client, URL)).forms
        r = await web.post(client, URL + "/1/delete", dict(forms[URL + "/1/delete"]))
        assert r.status == 303 and api.banlist.entries == ()
    page(t)


def test_a_wrong_entry_comes_back_as_typed_with_why_beside_the_field(page):
    async def t(client, api):
        form = dict(web.Form(await web.get(client, URL + "/new")).forms[URL + "/new"])
        form.update(first_name="<b>Bob</b>", mobile="12ab")
        r = await web.post(client, URL + "/new", form)
        text = await r.text()
        assert r.status == 400
        assert "Mobile number: 1-19 digits" in web.field_div(text, "mobile")
        assert "&lt;b&gt;Bob&lt;/b&gt;" in text and "<b>Bob" not in text
        assert api.banlist.entries == ()
        form.update(mobile="")
        r = await web.post(client, URL + "/new", form)
        assert "A ban entry needs a number" in web.field_div(await r.text(), "mobile")
    page(t)


async def two_entries_shown(client, api) -> dict:
    """Two entries, and the forms of the list page as the browser holds them."""
    api.banlist.add(Ban(mobile="1002"))
    api.banlist.add(Ban(mobile="1003"))
    return web.Form(await web.get(client, URL)).forms


def test_delete_all_asks_first_then_deletes_every_entry(page):
    async def t(client, api):
        forms = await two_entries_shown(client, api)
        r = await web.post(client, URL + "/delete-all", dict(forms[URL + "/delete-all"]))
        text = await r.text()
        assert r.status == 200 and "Delete all 2 entries" in text
        assert len(api.banlist.entries) == 2                # asked, nothing deleted yet
        r = await web.post(client, URL + "/delete-all",
                           dict(web.Form(text).forms[URL + "/delete-all"]))
        assert r.status == 303 and api.banlist.entries == ()
    page(t)


def test_a_change_to_an_entry_that_moved_meanwhile_changes_nothing(page):
    async def t(client, api):
        forms = await two_entries_shown(client, api)
        api.banlist.delete(0)                              # the LCD, meanwhile
        r = await web.post(client, URL + "/1/delete", dict(forms[URL + "/1/delete"]))
        assert r.status == 409
        assert api.banlist.entries == (Ban(mobile="1003"),)
    page(t)


def test_a_form_without_the_csrf_token_is_refused(page):
    async def t(client, api):
        r = await web.post(client, URL + "/new", {"mobile": "1002"})
        assert r.status == 403 and api.banlist.entries == ()
    page(t)


def test_the_desk_user_manages_the_ban_list_too(page):
    async def t(client, api):
        form = dict(web.Form(await web.get(client, URL + "/new")).forms[URL + "/new"])
        form.update(mobile="1002")
        r = await web.post(client, URL + "/new", form)
        assert r.status == 303 and len(api.banlist.entries) == 1
    page(t, "user")


# --- the LCD: a call log entry added ---------------------------------------------------------------

def missed_call(rig, number: str, name: str = "") -> None:
    """A call that rang and was given up by the caller: the first row of Missed calls,
    opened from the standby screen (down)."""
    cid = rig.incoming(number, name=name)
    rig.far(rig.sip.hangs_up, cid)
    rig.press("down")
    assert rig.state.menu[-1].title == "Missed calls"
    assert rig.softkeys == ["Dial", "Delete", "Add", "Back"]


def test_a_missed_call_added_to_the_ban_list_asks_first(rig):
    missed_call(rig, "1002", "Bob")
    rig.soft("Add")
    assert rig.state.menu[-1].items == ["Add to phone book", "Add to ban list"]
    rig.walk("Add to ban list")
    assert "Ban 1002?" in rig.lcd and rig.softkeys[0] == "OK"
    rig.press("cancel")                                    # C keeps it
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()
    rig.walk("Add to ban list")
    rig.soft("OK")
    assert "Banned: 1002" in rig.lcd
    rig.press("cancel")
    assert rig.state.menu[-1].title == "Missed calls"      # back to the list
    assert [e["mobile"] for e in stored(rig.data_dir)["entries"]] == ["1002"]
    assert rig.incoming("1002") is None


def test_a_missed_call_added_to_the_phone_book_opens_the_editor_filled_in(rig):
    missed_call(rig, "1003", "Carol")
    rig.soft("Add")
    rig.walk("Add to phone book")
    assert rig.state.menu[-1].title == "Add contact"
    assert rig.state.menu[-1].data[:4] == ["Carol", "(none)", "(none)", "1003"]
    rig.walk("Save")
    own = json.loads((rig.data_dir / "phonebook" / "own.json").read_text())
    assert [(c["first_name"], c["office"]) for c in own["contacts"]] == [("Carol", "1003")]
    rig.press("cancel")
    assert rig.state.menu[-1].title == "Missed calls"
