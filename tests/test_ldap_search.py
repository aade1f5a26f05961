"""LDAP search from the LCD and the web (manual §5 "LDAP": DIR > LDAP > Search name / Search
number; the LDAP appendix's Search Delay; issue 14 item 5) against a real slapd
(tests/peers/slapd.py). The LCD is the in-process rig (tests/fakes): keys as a person
presses them, the LCD's text, the fake clock for the search delay. The LDAP feature's
worker job is taken by the test and run when the test says (as tests/test_ldap.py does),
so what the LCD shows while a search waits for its server is seen and its answer comes
back as the worker's event would; the web pages are served in-process (aiohttp's test
client) and one walk goes through chromium."""
from __future__ import annotations

import asyncio
import re
import socket

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.sync_api import expect, sync_playwright    # missing: fail, never skip

from firmware.directory import ldap
from firmware.errors import SettingError
from firmware.settings import Settings, check
from tests import test_web_pages
from tests.browser import launch
from tests.fakes import build
from tests.peers.slapd import BASE, SilentServer, Slapd
from tests.phone import TEST_PASSWORD, PhoneProcess
from ui.web import build as build_web
from ui.web.auth import SESSION
from ui.web.common import AUTH

PEOPLE_BASE = f"ou=people,{BASE}"


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    with Slapd(tmp_path_factory.mktemp("slapd")) as s:
        yield s


def _rig(port: int, data_dir=None, **extra):
    """A phone with the LDAP server set; the worker's jobs wait in `rig.jobs` until run."""
    rig = build({"ldap.server": "127.0.0.1", "ldap.port": port, "ldap.base": PEOPLE_BASE,
                 **extra}, data_dir)
    rig.jobs = []
    rig.features.get("ldap")._submit = lambda fn, *args: rig.jobs.append((fn, args))
    rig.bus.post_threadsafe = rig.bus.post
    return rig


def _run_jobs(rig, order=None) -> None:
    """The worker runs the searches asked for (in `order`: their places; the others stay
    in rig.jobs), answers posted."""
    jobs = rig.jobs
    order = [i % len(jobs) for i in (order if order is not None else range(len(jobs)))]
    rig.jobs = [job for i, job in enumerate(jobs) if i not in order]
    for i in order:
        fn, args = jobs[i]
        fn(*args)
    rig.settle()


def _type(rig, *taps: str) -> None:
    """Multi-tap: each string is one letter's presses ("7777" = s); the next letter's key
    settles it (the same key again: after the editor's 1 s, as a person waits)."""
    for n, presses in enumerate(taps):
        if n and presses[0] == taps[n - 1][0]:
            rig.advance(1.0)
        rig.press(*presses)


def _search_name(rig):
    return rig.walk("Phone book", "LDAP", "Search name")


# --- the LCD --------------------------------------------------------------------------------

def test_without_a_server_the_ldap_page_says_where_to_set_one():
    rig = build()
    rig.walk("Phone book", "LDAP")
    assert rig.lcd.splitlines()[1:4] == ["No LDAP server:", "set one on the web's",
                                         "Phone Book > LDAP page"]
    rig.press("cancel")
    assert rig.state.menu[-1].title == "Phone book"


def test_search_delay_is_the_manuals_0_to_2000_ms():
    assert Settings().ldap.search_delay == 0                # the manual's default
    assert check("ldap.search_delay", 2000) == 2000
    for bad in (-1, 2001):
        with pytest.raises(SettingError):
            check("ldap.search_delay", bad)


def test_typing_smi_finds_smith_with_his_number(slapd):
    rig = _rig(slapd.port, **{"ldap.search_delay": 500})
    rig.press("directory")                       # DIRECTORY opens the phone book
    rig.walk("LDAP")
    assert rig.state.menu[-1].items == ["Search name", "Search number"]   # the manual's
    rig.walk("Search name")
    assert "Type a name" in rig.seen
    _type(rig, "7777", "6", "444")               # s m i
    assert "[smi]" in rig.lcd and not rig.jobs   # the delay has not passed
    rig.advance(0.5)
    assert len(rig.jobs) == 1 and "Searching" in rig.lcd
    _run_jobs(rig)
    assert "> John Smith" in rig.lcd and "1001" in rig.lcd
    assert rig.softkeys == ["abc", "Dial", "<-", "Back"]


def test_a_key_within_the_search_delay_starts_the_wait_again(slapd):
    rig = _rig(slapd.port, **{"ldap.search_delay": 500})
    _search_name(rig)
    rig.press("5")                               # j
    rig.advance(0.4)
    rig.press("6", "6", "6")                     # o, 0.4 s later: the wait starts again
    rig.advance(0.4)
    assert rig.jobs == []
    rig.advance(0.1)
    assert len(rig.jobs) == 1
    _run_jobs(rig)
    shown = rig.state.menu[-1].items
    assert sorted(shown) == ["Jo Adams", "Johanna Berg", "John Smith", "Mary Jones"]


def test_an_answer_for_older_text_is_dropped(slapd):
    rig = _rig(slapd.port)                       # search delay 0 (the manual's): each key
    _search_name(rig)
    _type(rig, "5", "666")                       # j, then m n o: "jm" "jn" "jo"
    rig.advance(1.0)
    _type(rig, "44")                             # "joh"
    assert len(rig.jobs) == 6 and rig.state.menu[-1].data[0].text == "joh"
    _run_jobs(rig, order=list(reversed(range(len(rig.jobs)))))   # the newest answers first
    assert sorted(rig.state.menu[-1].items) == ["Johanna Berg", "John Smith"]


@pytest.mark.parametrize("taps, found", [
    (("7777", "8", "2", "777", "*"), "Star*Man"),         # s t a r *
    (("22", "2", "222", "55", "sym", "88"), "Back\\Slash"),  # b a c k, Sym 8 8: a backslash
])
def test_star_and_backslash_typed_are_searched_as_characters(slapd, taps, found):
    rig = _rig(slapd.port)
    _search_name(rig)
    for presses in taps:
        if presses == "sym":                     # the mode soft key: ABC, 123, Sym
            rig.press("soft1", "soft1", "soft1")
        else:
            _type(rig, presses)
            rig.advance(1.0)
    assert rig.state.menu[-1].data[0].text == found[:5].lower()
    _run_jobs(rig)
    assert rig.state.menu[-1].items == [found], rig.seen


def test_a_server_that_is_down_is_said_and_the_lcd_goes_on_answering_keys():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))               # bound, not listening: connection refused
        port = s.getsockname()[1]
        rig = _rig(port)
        _search_name(rig)
        rig.press("5")
        assert "Searching" in rig.lcd and len(rig.jobs) == 1
        rig.press("6", "6", "6")                 # the search waits: keys still answered
        assert "[jo]" in rig.lcd
        _run_jobs(rig)
    assert "cannot connect" in rig.seen and f"127.0.0.1:{port}" in rig.seen
    rig.press("cancel", "cancel", "cancel")      # erase, then back to Search name
    assert rig.state.menu[-1].items == ["Search name", "Search number"]


def test_searches_typed_past_are_not_made_while_a_silent_server_holds_the_worker():
    """Typed faster than a silent server answers: when a worker takes a search whose text
    has changed since, it drops it without connecting (each would wait out the timeout)."""
    silent = SilentServer()
    try:
        rig = _rig(silent.port, **{"ldap.timeout": 1})
        _search_name(rig)
        _type(rig, "5", "666")                   # j, jm, jn, jo: four searches asked
        assert len(rig.jobs) == 4
        _run_jobs(rig, order=[0, 1, 2])          # the three typed past: dropped unasked
        assert not silent.accepted.is_set() and "Searching" in rig.lcd
        _run_jobs(rig)                           # the one for "jo" waits out its second
        assert silent.accepted.is_set()
        assert f"LDAP 127.0.0.1:{silent.port}: no answer within 1 s" in " ".join(rig.lcd.split())
    finally:
        silent.close()


def test_dial_from_a_hit_places_the_call(slapd):
    rig = _rig(slapd.port)
    _search_name(rig)
    _type(rig, "6", "2", "777")                  # "mar": Mary Jones, one number
    _run_jobs(rig)
    assert "> Mary Jones" in rig.lcd
    rig.soft("Dial")
    assert rig.sip.invited("1002") is not None and not rig.state.menu


def test_a_hit_with_several_numbers_shows_them_and_one_is_called(slapd):
    rig = _rig(slapd.port)
    _search_name(rig)
    _type(rig, "7777", "6", "444")               # smi
    _run_jobs(rig)
    rig.press("ok")                              # John Smith's numbers
    assert rig.state.menu[-1].items == ["1001", "0170 555 1001", "Add to phone book"]
    rig.press("down", "ok")
    assert rig.sip.invited("01705551001") is not None


def test_dial_pressed_twice_on_a_hit_with_several_numbers_calls_the_first(slapd):
    """Dial is the same soft key on the hits and on a hit's numbers (as in the phone book)."""
    rig = _rig(slapd.port)
    _search_name(rig)
    _type(rig, "7777", "6", "444")               # smi: John Smith, two numbers
    _run_jobs(rig)
    rig.press("soft2")
    assert rig.state.menu[-1].items[0] == "1001" and rig.softkeys[1] == "Dial"
    rig.press("soft2")
    assert rig.sip.invited("1001") is not None and not rig.state.menu


def test_lifting_the_handset_on_a_hit_calls_it_and_c_held_clears_the_field(slapd):
    rig = _rig(slapd.port)
    _search_name(rig)
    _type(rig, "6", "2", "777")                  # mar
    _run_jobs(rig)
    rig.hold_key("cancel")
    assert "[]" in rig.lcd and "Type a name" in rig.seen and "Mary" not in rig.seen
    _type(rig, "6", "2", "777")
    _run_jobs(rig)
    rig.hook(True)                               # the handset, on Mary Jones
    assert rig.sip.invited("1002") is not None and not rig.state.menu


def test_a_hit_is_added_to_the_personal_phone_book(slapd):
    rig = _rig(slapd.port)
    _search_name(rig)
    _type(rig, "7777", "6", "444")
    _run_jobs(rig)
    rig.press("ok")
    rig.walk("Add to phone book")
    assert "Saved: John Smith" in rig.seen
    (listed,) = rig.features.get("phonebooks").listed("personal")
    c = listed.contact
    assert (c.first_name, c.last_name, c.office, c.mobile) == ("John", "Smith", "1001",
                                                              "01705551001")


def test_a_number_search_and_both_servers_server_one_first(slapd):
    rig = _rig(slapd.port, **{"ldap2.server": "127.0.0.1", "ldap2.port": slapd.port,
                              "ldap2.base": PEOPLE_BASE, "ldap2.name_attributes": ["sn"]})
    rig.walk("Phone book", "LDAP", "Search number")
    assert rig.softkeys[0] == "123"
    rig.press("1", "0", "0", "2")
    _run_jobs(rig, order=[-1])                   # the search for all four digits
    assert rig.state.menu[-1].items == ["Mary Jones", "Jones"]


def test_max_hits_are_respected_and_sorted(slapd):
    rig = _rig(slapd.port, **{"ldap.max_hits": 2, "ldap.sort": True})
    _search_name(rig)
    rig.press("5")                               # j: four entries start with it
    _run_jobs(rig)
    items = rig.state.menu[-1].items
    assert len(items) == 2 and items == sorted(items)


# --- the web: /phonebook/ldap and GET /api/ldap (in-process) ---------------------------------

class LdapApi(test_web_pages.Api):
    """The pages' Api over a real settings store, with the search the real Api makes."""

    async def ldap_search(self, typed, kind="name"):
        return await ldap.search_off_loop(self.store.settings, typed, kind)

    def dial(self, number, line=0):
        self.dialled.append((number, line))


def _web(tmp_path, test, settings: dict | None = None, role: str = "admin"):
    async def go():
        api = LdapApi(tmp_path)
        api.dialled = []
        if settings:
            api.update_settings(settings)
        async with TestClient(TestServer(build_web(api))) as client:
            token, sess = client.server.app[AUTH].new_session(role)
            client.session.cookie_jar.update_cookies({SESSION: token})
            client.api, client.csrf = api, sess.csrf     # a form's POST sends both back
            client.origin = {"Origin": str(client.make_url("")).rstrip("/")}
            await test(client)
    asyncio.run(go())


def _server(port: int) -> dict:
    return {"ldap.server": "127.0.0.1", "ldap.port": port, "ldap.base": PEOPLE_BASE}


def test_the_web_page_searches_by_name_and_by_number(slapd, tmp_path):
    async def test(client):
        text = await (await client.get("/settings/phonebook")).text()
        assert '<a href="/phonebook/ldap">LDAP Search</a>' in text    # the user's way there
        r = await client.get("/phonebook/ldap")
        text = await r.text()
        assert r.status == 200 and 'name="q"' in text and "<table" not in text
        text = await (await client.get("/phonebook/ldap", params={"q": "smi"})).text()
        assert "<td>John Smith</td><td>1001 <form" in text and "<br>0170 555 1001 <form" in text
        text = await (await client.get("/phonebook/ldap",
                                       params={"q": "1002", "kind": "number"})).text()
        assert "<td>Mary Jones</td>" in text and "John Smith" not in text
        text = await (await client.get("/phonebook/ldap", params={"q": "<b>x"})).text()
        assert "No match for “&lt;b&gt;x”" in text
        r = await client.get("/api/ldap", params={"q": "Star*"})
        assert await r.json() == {"hits": [{"name": "Star*Man", "numbers": ["1003"]}],
                                  "reason": "", "more": False}
        r = await client.get("/api/ldap", params={"q": "jo", "kind": "mail"})
        assert r.status == 400 and "kind" in (await r.json())["error"]
        r = await client.get("/api/ldap")
        assert r.status == 400
    _web(tmp_path, test, _server(slapd.port), role="user")     # the desk user searches too


def _dial_forms(text: str) -> list[dict]:
    """The fields of each Dial button's form, as the browser sends them."""
    forms = re.findall(r'<form method="post" action="/phonebook/ldap/dial"[^>]*>(.*?)</form>',
                       text, re.S)
    return [dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', f))
            for f in forms]


def test_a_number_found_on_the_web_is_dialled_by_its_button(slapd, tmp_path):
    async def test(client):
        text = await (await client.get("/phonebook/ldap", params={"q": "smi"})).text()
        forms = _dial_forms(text)
        assert [f["number"] for f in forms] == ["1001", "0170 555 1001"]
        assert all(f["csrf"] == client.csrf and f["q"] == "smi" for f in forms)
        assert 'aria-label="Dial 0170 555 1001 (John Smith)">Dial</button>' in text
        r = await client.post("/phonebook/ldap/dial", data=forms[1], headers=client.origin,
                              allow_redirects=False)
        assert r.status == 303 and client.api.dialled == [("01705551001", 2)]
        text = await (await client.get(r.headers["Location"])).text()
        assert "Dialling 01705551001 on line 2." in text and "<td>John Smith</td>" in text
        # without the session's CSRF field: refused, nothing dialled
        r = await client.post("/phonebook/ldap/dial", headers=client.origin,
                              data={k: v for k, v in forms[0].items() if k != "csrf"})
        assert r.status == 403 and len(client.api.dialled) == 1
        # no number (a hand-made form): said, the search kept, nothing dialled
        r = await client.post("/phonebook/ldap/dial", headers=client.origin,
                              data={**forms[0], "number": " "})
        text = await r.text()
        assert r.status == 400 and "Not dialled: give a number" in text
        assert 'value="smi"' in text and len(client.api.dialled) == 1
    # the desk user dials too, on the line phone.default_account names
    _web(tmp_path, test, {**_server(slapd.port), "phone.default_account": 2}, role="user")


def test_the_web_says_a_server_is_down_and_the_server_keeps_answering(tmp_path):
    """A server that takes the connection and never answers: the page waits out the
    timeout in a thread while the web server answers other requests."""
    silent = SilentServer()
    try:
        async def test(client):
            search = asyncio.ensure_future(client.get("/phonebook/ldap", params={"q": "jo"}))
            assert await asyncio.to_thread(silent.accepted.wait, 5), "never connected"
            assert not search.done()
            other = await client.get("/api/ldap", params={"q": "jo", "kind": "mail"})
            assert other.status == 400 and not search.done()   # answered meanwhile
            text = await (await search).text()
            assert f"LDAP 127.0.0.1:{silent.port}: no answer within 1 s" in text
        _web(tmp_path, test, {**_server(silent.port), "ldap.timeout": 1})
    finally:
        silent.close()

    async def none_set(client):
        text = await (await client.get("/phonebook/ldap", params={"q": "jo"})).text()
        assert "no server is set (Phone Book &gt; LDAP)" in text
    (tmp_path / "none").mkdir()
    _web(tmp_path / "none", none_set)


def test_the_web_search_in_chromium(slapd, tmp_path):
    with PhoneProcess(tmp_path / "phone", settings=_server(slapd.port)) as phone, \
            sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
            page.goto(phone.base + "/login")
            page.fill("input[name=user]", "root")
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(phone.base + "/")
            page.goto(phone.base + "/settings")
            page.click('nav.pages a[href="/phonebook/ldap"]')
            expect(page.locator("h1")).to_have_text("LDAP Search")
            page.get_by_label("Name or number").fill("jo")
            page.click("button:text('Search')")
            hits = page.locator("table.ldap-hits tbody tr td:first-child")
            expect(hits).to_have_text(["John Smith", "Mary Jones", "Johanna Berg", "Jo Adams"])
            page.get_by_label("Name or number").fill("1009")
            page.get_by_label("Search by").select_option("number")
            page.click("button:text('Search')")
            expect(hits).to_have_text(["Jo Adams"])
            page.get_by_role("button", name="Dial 1009 (Jo Adams)").click()
            expect(page.locator("p.notice[role=status]")).to_have_text(
                "Dialling 1009 on line 1.")
            expect(hits).to_have_text(["Jo Adams"])             # the search stays
            phone.wait(lambda s: any(c["number"] == "1009" for c in s["calls"]),
                       what="the phone dialling 1009")
        finally:
            browser.close()


# --- an LDAP key, and the menu's minute without a key ----------------------------------------

def _ldap_key(rig, key: str = "directory"):
    """The key layout gives the fixed key `key` the function "ldap" (Escene's ProgramKey
    Type 5), saved as PUT /api/keys/layout saves it."""
    rig.features.setup(("memkeys",))          # not in the rig by default (the SIP thread)
    count, problems = rig.features.get("memkeys").replace_layout(
        {"memory": [], "program": [{"key": key, "function": "ldap", "label": "LDAP"}]})
    assert problems == []
    return rig


def test_an_ldap_key_opens_search_name_on_the_standby_screen(slapd, tmp_path):
    rig = _ldap_key(_rig(slapd.port, data_dir=tmp_path), "soft2")
    rig.press("soft2")
    assert rig.state.menu[-1].title == "LDAP name" and "Type a name" in rig.seen
    _type(rig, "7777", "6", "444")               # smi
    _run_jobs(rig)
    assert "> John Smith" in rig.lcd
    rig.press("cancel", "cancel", "cancel", "cancel")  # erase smi, then back: the standby
    assert not rig.state.menu and rig.screen == "idle"


def test_elsewhere_a_key_given_ldap_keeps_its_own_function(slapd, tmp_path):
    rig = _ldap_key(_rig(slapd.port, data_dir=tmp_path))   # DIRECTORY is the LDAP key
    rig.press("menu")
    rig.press("directory")                       # on a menu page: DIRECTORY closes it
    assert not rig.state.menu
    rig.press("1", "directory")                  # a number typed: its own, the phone book
    assert rig.state.menu[-1].title == "Phone book" and rig.state.predial == "1"
    rig.press("menu", "cancel", "directory")     # the standby screen again: LDAP
    assert rig.state.menu[-1].title == "LDAP name"
    (tmp_path / "locked").mkdir()
    locked = _ldap_key(_rig(slapd.port, data_dir=tmp_path / "locked",
                            **{"phone.keylock": "function keys"}))
    locked.press("directory")                    # keys locked: the lock has the key
    assert not locked.state.menu and locked.state.notice.startswith("Keys locked")


def test_an_ldap_key_without_a_server_says_so(tmp_path):
    rig = _ldap_key(build(data_dir=tmp_path))
    rig.press("directory")
    assert rig.lcd.splitlines()[1:4] == ["No LDAP server:", "set one on the web's",
                                         "Phone Book > LDAP page"]
    rig.press("cancel")
    assert not rig.state.menu
    from firmware.features.menu import IDLE_S
    rig.advance(IDLE_S + 1)                      # the minute C started has run out
    rig.press("directory")                       # no menu below it: a minute still closes it
    rig.advance(IDLE_S + 1)
    assert not rig.state.menu and rig.screen == "idle"


def test_a_minute_without_a_key_closes_the_search_page_only_with_nothing_typed(slapd):
    from firmware.features.menu import IDLE_S
    rig = _rig(slapd.port)
    _search_name(rig)
    rig.advance(IDLE_S + 1)                      # nothing typed: back to the standby screen
    assert not rig.state.menu and rig.screen == "idle"
    _search_name(rig)
    _type(rig, "6", "2", "777")                  # mar: Mary Jones on the screen
    _run_jobs(rig)
    rig.advance(3 * IDLE_S)
    assert "> Mary Jones" in rig.lcd and "[mar]" in rig.lcd
    rig.press("ok")                              # her numbers, over the search with text
    rig.advance(2 * IDLE_S)
    assert rig.state.menu[-1].items == ["1002", "Add to phone book"]
    rig.press("cancel")
    rig.hold_key("cancel")                       # the field cleared: nothing typed any more
    rig.advance(IDLE_S + 1)
    assert not rig.state.menu


def test_typed_text_whose_search_waits_keeps_the_page_open(slapd):
    from firmware.features.menu import IDLE_S
    rig = _rig(slapd.port)
    _search_name(rig)
    rig.press("5")                               # j: its search not answered yet
    rig.advance(2 * IDLE_S)
    assert "[j]" in rig.lcd and "Searching" in rig.lcd


def test_in_chinese_the_search_and_a_servers_trouble_read_in_chinese(slapd):
    """The pages' words, and why a server gave nothing (firmware/directory/ldap.py's
    reasons, through zh.po's format messages): only names, numbers, addresses and LDAP
    stay as they are."""
    rig = _rig(slapd.port, **{"phone.language": "zh"})
    _search_name(rig)
    assert rig.state.menu[-1].title == "LDAP name" and "输入姓名" in rig.seen
    _type(rig, "7777", "6", "444")               # smi
    assert "正在搜索…" in rig.lcd
    _run_jobs(rig)
    rig.press("ok")                              # John Smith's numbers
    assert "添加到电话簿" in rig.lcd and "Add" not in rig.lcd
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))                 # bound, not listening: refused
        down = _rig(s.getsockname()[1], **{"phone.language": "zh"})
        _search_name(down)
        down.press("5")
        _run_jobs(down)
    assert "无法连接 (连接被拒绝)" in down.lcd and "cannot" not in down.seen


def test_memory_module_and_line_keys_set_to_ldap_open_search_name(slapd, tmp_path):
    """A memory key's mode "ldap" (Yealink's DSS key LDAP; the Escene file has no Type for
    it): P1-P12, an expansion module's key, a line key not used as a line."""
    rig = _rig(slapd.port, data_dir=tmp_path)
    rig.features.setup(("memkeys",))
    keys = rig.features.get("memkeys")
    count, problems = keys.replace_layout({"memory": [
        {"key": "p3", "type": "ldap", "label": "LDAP"}, {"key": "e1.5", "type": "ldap"},
        {"key": "line3", "type": "ldap"}]})
    assert (count, problems) == (3, [])
    for key in ("p3", "e1.5", "line3"):
        rig.press(key)
        assert rig.state.menu[-1].title == "LDAP name", key
        rig.press("cancel")                      # C on the empty field: the standby screen
        assert not rig.state.menu
    rig.incoming("1004")
    rig.press("p3")                              # over a ringing call: nothing opens
    assert not rig.state.menu and rig.screen == "ringing"
    rig.press("cancel")                          # C rejects it
    rig.press("menu", "p3")                      # on a menu page: the search instead
    assert [p.title for p in rig.state.menu] == ["LDAP name"]
    _type(rig, "6", "2", "777")                  # mar
    _run_jobs(rig)
    rig.soft("Dial")
    assert rig.sip.invited("1002") is not None


def test_an_ldap_key_is_set_on_the_lcd(slapd, tmp_path):
    """Function setting > Expansion > Memory keys > P1: Mode LDAP, no number needed."""
    from tests.test_expansion_lcd import set_key
    rig = _rig(slapd.port, data_dir=tmp_path)
    rig.features.setup(("memkeys",))
    set_key(rig, "Memory keys", "P1", "LDAP")
    rig.walk("Submit changes")
    assert "> 1 P1 LDAP" in rig.lcd
    rig.press("menu", "p1")
    assert rig.state.menu[-1].title == "LDAP name"


# --- LDAP lookup for predial (the appendix's "LDAP Lookup for PreDial/Dial") ----------------

def test_digits_typed_at_idle_find_ldap_numbers_once_typing_pauses(slapd):
    """ldap.dial on: "100" typed at idle asks the servers for numbers starting with it once
    the person pauses; the hits join the search row; an arrow picks one, OK dials it. The
    digits typed still dial at once (nothing waits for the server), and an answer for
    digits typed past is dropped."""
    rig = _rig(slapd.port, **{"ldap.dial": True})
    rig.dial("10")
    rig.advance(1)
    assert not rig.jobs                                   # two digits: not asked
    rig.dial("0")
    assert rig.state.predial == "100" and not rig.jobs    # typing: not yet
    rig.advance(0.5)
    assert len(rig.jobs) == 1
    _run_jobs(rig)
    hits = [(h.name, h.number, h.source) for h in rig.state.search]
    assert ("John Smith", "1001", "ldap") in hits and ("Jo Adams", "1009", "ldap") in hits
    assert re.search(r"1/\d+ ", rig.lcd)
    rig.dial("7")                                         # 1007: the row starts over
    assert rig.state.search == []
    rig.advance(0.5)
    _run_jobs(rig)
    assert [(h.name, h.number) for h in rig.state.search] == [("Johanna Berg", "1007")]
    rig.press("down")
    rig.press("ok")
    assert rig.sip.invited("1007")


def test_predial_lookup_never_holds_the_digits_and_drops_a_late_answer(slapd):
    rig = _rig(slapd.port, **{"ldap.dial": True})
    rig.dial("100")
    rig.advance(0.5)
    assert len(rig.jobs) == 1
    rig.dial("2")                                         # typed past before the answer
    _run_jobs(rig)                                        # the answer for "100" comes late
    assert rig.state.search == []
    rig.press("ok")                                       # the digits, at once
    assert rig.sip.invited("1002")


def test_predial_lookup_is_off_without_ldap_dial(slapd):
    rig = _rig(slapd.port)
    rig.dial("1001")
    rig.advance(2)
    assert not rig.jobs and rig.state.search == []


def test_a_predial_lookup_the_server_refuses_is_logged_with_why(caplog):
    """The row shows only the books' hits then; the log says why there are no LDAP names
    (an administrator has nowhere else to find out)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                          # closed again: refused
    rig = _rig(port, **{"ldap.dial": True})
    rig.dial("555")
    rig.advance(0.5)
    with caplog.at_level("WARNING", logger="deskphone.search"):
        _run_jobs(rig)
    assert rig.state.search == []
    assert any("LDAP lookup for predial of 555" in r.getMessage()
               and "cannot connect" in r.getMessage() for r in caplog.records)
