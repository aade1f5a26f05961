"""The web management pages (manual §7, ui/web/pages.py) without a browser: the real web
application (guard, sessions, CSRF) over the real settings store and service in a temp
dir; only the running phone behind the Api is left out. Every page is fetched, its form
is sent back as a browser would send it (read from the page's own HTML), and what reached
settings.toml is read back.

The same pages in Debian's chromium: tests/test_web_pages_browser.py.
"""
from __future__ import annotations

import asyncio
import re
import tomllib
from html import escape
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from firmware import roles
from firmware.menus import WEB, web_pages
from firmware.settings import FIELDS, SettingsStore, public
from firmware.settings_service import SettingsService
from ui.web import build, pages
from ui.web.auth import SESSION
from ui.web.common import AUTH

pytestmark = pytest.mark.timeout(60)


class Api:
    """What the pages ask of firmware.api.Api, over a real store and SettingsService."""
    simulated = False
    console_log = False

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.store = SettingsStore(data_dir)
        self.store.load()
        self.events = []
        self.config = SettingsService(
            store=self.store, state=SimpleNamespace(errors=[], notice=""),
            bus=SimpleNamespace(post=self.events.append), data_dir=data_dir,
            console_log=False, sip_error=lambda: "")
        self.web = SimpleNamespace(user="root", password_hash="not the factory's",
                                   user_must_change=False)

    def credentials_from_disk(self):
        return []

    async def settings_flushed(self):
        return await self.config.flushed()

    def settings_json(self):
        return {"settings": public(self.store.settings), "errors": [
            {"key": p.key, "reason": p.reason} for p in self.store.problems]}

    def update_settings(self, values):
        return self.config.update(values)

    def pending_restart(self):
        return self.config.pending_restart()

    def provision_status(self):          # the Auto Provision page's panel
        return {"running": False, "last": None, "next_text": "at 02:00", "mac": "",
                "log": []}

    def status_lines(self, page):
        return {"status.lines": ["L1 1001 registered", "  127.0.0.1:5060"],
                "status.network": ["lo 127.0.0.1"],
                "status.software": ["deskphone 0.0", "Up 0d 0h 1m"]}[page]

    def file(self) -> dict:
        path = self.data_dir / "settings.toml"
        return tomllib.loads(path.read_text()) if path.exists() else {}


class Form(HTMLParser):
    """The fields a browser sends for each form of a page (name -> value), as it would:
    a checkbox only when checked, a select's selected option, a textarea's text; disabled
    fields never. Also each form's action and the text of every error beside a field."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self._action = self._select = self._textarea = None
        self._first = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._action = a.get("action")
            self.forms.setdefault(self._action, [])
            return
        fields = self.forms.get(self._action)
        if fields is None or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    fields.append((a["name"], a.get("value", "on")))
            else:
                fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._first = a["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value")
            if "selected" in a:
                fields.append((self._select, a.get("value")))
                self._select = None
        elif tag == "textarea":
            self._textarea = a["name"]
            fields.append((a["name"], ""))

    def handle_endtag(self, tag):
        if tag == "select" and self._select:       # nothing selected: the first option
            self.forms[self._action].append((self._select, self._first))
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            fields = self.forms[self._action]
            name, text = fields[-1]
            fields[-1] = (name, text + data)


def run(test, role: str = "admin"):
    """Run `test(client, api)` against the pages of a fresh phone's settings, signed in
    as `role`."""
    async def go(tmp):
        api = Api(tmp)
        async with TestClient(TestServer(build(api))) as client:
            auth = client.server.app[AUTH]
            token, sess = auth.new_session(role)
            client.session.cookie_jar.update_cookies({SESSION: token})
            client.csrf = sess.csrf
            client.headers = {"Origin": str(client.make_url("")).rstrip("/")}
            await test(client, api)
    return go


@pytest.fixture
def phone(tmp_path):
    def runner(test):
        asyncio.run(run(test)(tmp_path))
    return runner


async def get(client, path: str) -> str:
    r = await client.get(path)
    assert r.status == 200, (path, r.status, await r.text())
    return await r.text()


async def post(client, path: str, fields, *, follow: bool = False):
    return await client.post(path, data=fields, headers=client.headers,
                             allow_redirects=follow)


async def form_of(client, name: str) -> dict:
    """The form of /settings/<name> as the browser would send it (name -> value)."""
    path = f"/settings/{name}"
    return dict(Form(await get(client, path)).forms[path])


def field_div(text: str, key: str) -> str:
    m = re.search(rf'<div class="field[^"]*" data-key="{re.escape(key)}">.*?</div></div>',
                  text, re.S)
    assert m, f"no field {key} on the page"
    return m.group(0)


# --- every page -------------------------------------------------------------------------------

def test_the_page_list_names_every_page_of_the_model_in_the_manuals_order(phone):
    async def t(client, api):
        text = await get(client, "/settings")
        names = re.findall(r'<a href="/settings/([\w.]+)"', text)
        assert names == web_pages()
        for group in ("SIP Account", "Advance", "Phone Maintenance"):
            assert f'<li class="group">{group}</li>' in text
        assert 'href="/password"' in text and 'href="/maintenance/firmware"' in text
        # under "SIP Account" come the accounts and nothing else before the next heading
        accounts = text.split('<li class="group">SIP Account</li>', 1)[1].split(
            '<li class="group">', 1)[0]
        assert re.findall(r'href="/settings/([\w.]+)"', accounts) == [
            f"account.{n}" for n in range(1, 4)]
    phone(t)


@pytest.mark.parametrize("name", web_pages())
def test_each_page_shows_every_field_with_its_label_help_and_value(phone, name):
    async def t(client, api):
        text = await get(client, f"/settings/{name}")
        page = WEB[name]
        assert f"<h1>{page.title}</h1>" in text
        # forms work without JavaScript; only the status reads itself again (status.js)
        assert ("<script" in text) == page.text
        for e in page.entries:
            if e.setting:
                div = field_div(text, e.setting)
                assert escape(e.label) in div
                assert escape(FIELDS[e.setting].metadata["doc"][:30]) in div
                if FIELDS[e.setting].metadata["restart"]:
                    assert "needs a restart" in div
            elif e.action.startswith("later:"):
                row = re.search(rf'<label>{re.escape(e.label)}</label>.*?</div></div>',
                                text, re.S).group(0)
                assert "disabled" in row and "name=" not in row
        if page.text:
            for e in page.entries:
                assert f"<h2>{e.label}</h2>" in text
            assert "L1 1001 registered" in text
    phone(t)


@pytest.mark.parametrize("name", [n for n in web_pages() if any(
    e.setting for e in WEB[n].entries)])
def test_each_form_sent_back_unchanged_saves_nothing(phone, name):
    async def t(client, api):
        text = await get(client, f"/settings/{name}")
        fields = Form(text).forms[f"/settings/{name}"]
        assert ("csrf", client.csrf) in fields
        r = await post(client, f"/settings/{name}", fields)
        assert r.status == 303, await r.text()
        assert r.headers["Location"] == f"/settings/{name}?saved=0"
        assert api.file() == {}
        assert "Nothing changed." in await get(client, r.headers["Location"])
    phone(t)


def test_every_setting_lives_on_a_page_of_the_lcd_or_the_web():
    """One model for both surfaces: a setting added to the schema gets a page in
    firmware/menus.py (TREE or WEB). Kept elsewhere, and why: the web sign-in on the
    Password page (it changes only with the current password); time.manual_offset is what
    the LCD's Time & date > Manual setting writes from the date typed."""
    from firmware.menus import TREE
    from firmware.settings_service import CREDENTIALS
    elsewhere = {*CREDENTIALS, "time.manual_offset"}
    on_a_page = {e.setting for tree in (TREE, WEB) for p in tree.values()
                 for e in p.entries if e.setting}
    assert [k for k in FIELDS if k not in on_a_page and k not in elsewhere] == []


# --- saving -------------------------------------------------------------------------------------

def test_a_field_saved_on_a_page_reaches_the_settings_file_and_the_api(phone):
    async def t(client, api):
        form = await form_of(client, "account.2")
        form.update({"account.2.display_name": "Front desk", "account.2.user": "1002",
                     "account.2.enable": "on", "account.2.ring_type": "3",
                     "account.2.expires": "600"})
        r = await post(client, "/settings/account.2", form, follow=True)
        text = await r.text()
        assert r.status == 200 and "Saved." in text
        assert api.file()["account"]["2"] == {"display_name": "Front desk", "user": "1002",
                                              "enable": True, "ring_type": 3, "expires": 600}
        assert 'value="Front desk"' in field_div(text, "account.2.display_name")
        assert "account.2.display_name" in api.events[-1].keys    # SettingsChanged
    phone(t)


def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(phone):
    async def t(client, api):
        form = await form_of(client, "account.1")
        form.update({"account.1.display_name": "Reception", "account.1.expires": "5",
                     "account.1.server": "no such host:99999"})
        r = await post(client, "/settings/account.1", form)
        text = await r.text()
        assert r.status == 400 and "Nothing was saved: 2 field(s) refused" in text
        assert "must be at least 20 (got 5)" in field_div(text, "account.1.expires")
        assert 'class="error"' in field_div(text, "account.1.server")
        assert 'class="error"' not in field_div(text, "account.1.display_name")
        # what was typed is kept on the page to be corrected, and none of it saved
        assert 'value="Reception"' in field_div(text, "account.1.display_name")
        assert api.file() == {} and api.events == []
    phone(t)


def test_an_accounts_password_never_reaches_the_browser_and_empty_keeps_it(phone):
    async def t(client, api):
        api.update_settings({"account.1.password": "s3cret-sip"})
        text = await get(client, "/settings/account.1")
        assert "s3cret-sip" not in text
        assert 'placeholder="unchanged (one is set)"' in field_div(text, "account.1.password")
        form = dict(Form(text).forms["/settings/account.1"])
        assert form["account.1.password"] == ""
        await post(client, "/settings/account.1", form)              # empty = unchanged
        assert api.file()["account"]["1"]["password"] == "s3cret-sip"
        # refused with another field: what was typed is not sent back either
        form.update({"account.1.password": "typed-new", "account.1.expires": "1"})
        text = await (await post(client, "/settings/account.1", form)).text()
        assert "typed-new" not in text and "s3cret-sip" not in text
        form.update({"account.1.expires": "3600"})
        await post(client, "/settings/account.1", form)
        assert api.file()["account"]["1"]["password"] == "typed-new"
        form.update({"account.1.password": "", "account.1.password:clear": "on"})
        await post(client, "/settings/account.1", form)
        assert "password" not in api.file().get("account", {}).get("1", {})
    phone(t)


def test_a_bad_value_in_the_file_is_named_beside_its_field(phone):
    async def t(client, api):
        (api.data_dir / "settings.toml").write_text("[forward]\nno_answer_seconds = 0\n")
        api.store.load()
        div = field_div(await get(client, "/settings/forward"), "forward.no_answer_seconds")
        assert "In settings.toml: must be at least 1 (got 0); using 20" in div
        assert 'value="20"' in div                        # the value in use
    phone(t)


def test_lists_are_one_entry_a_line(phone):
    async def t(client, api):
        form = await form_of(client, "phonebook")
        form["phone.blacklist"] = "1900*\r\n\r\n  5551234 \r\n"
        await post(client, "/settings/phonebook", form)
        assert api.file()["phone"]["blacklist"] == ["1900*", "5551234"]
        text = await get(client, "/settings/phonebook")
        assert ">1900*\n5551234</textarea>" in text
    phone(t)


def test_dial_plan_rules_are_a_table_to_add_edit_and_delete(phone):
    async def t(client, api):
        form = await form_of(client, "dialplan")
        assert form["dialplan.rules:rows"] == "2"                  # two empty rows to add
        form.update({"dialplan.rules.0.prefix": "9", "dialplan.rules.0.delete": "1",
                     "dialplan.rules.1.prefix": "8", "dialplan.rules.1.ip": "192.168.1.20"})
        await post(client, "/settings/dialplan", form)
        assert api.file()["dialplan"]["rules"] == ["prefix=9 delete=1@0",
                                                   "prefix=8 ip=192.168.1.20"]
        # shown again as rows; the first edited, the second deleted, a third added
        form = await form_of(client, "dialplan")
        assert (form["dialplan.rules:rows"], form["dialplan.rules.1.ip"]) == ("4", "192.168.1.20")
        form.update({"dialplan.rules.0.insert": "00", "dialplan.rules.1.remove": "on",
                     "dialplan.rules.2.prefix": "0", "dialplan.rules.2.insert": "00"})
        await post(client, "/settings/dialplan", form)
        assert api.file()["dialplan"]["rules"] == ["prefix=9 insert=00@0 delete=1@0",
                                                   "prefix=0 insert=00@0"]
        # a row the dial plan refuses: its reason beside the table, nothing saved
        form = await form_of(client, "dialplan")
        form.update({"dialplan.rules.2.prefix": "7"})
        r = await post(client, "/settings/dialplan", form)
        text = await r.text()
        assert r.status == 400
        assert ("Rule 3: a rule needs Insert, Delete or IP besides Prefix"   # the table's
                in field_div(text, "dialplan.rules"))                          # words
        assert 'value="7"' in field_div(text, "dialplan.rules")     # kept to be corrected
        assert len(api.file()["dialplan"]["rules"]) == 2
    phone(t)


def test_a_setting_that_needs_a_restart_says_so_and_offers_the_restart(phone):
    async def t(client, api):
        form = await form_of(client, "phone")
        form["phone.dtmf_payload"] = "110"
        r = await post(client, "/settings/phone", form, follow=True)
        text = await r.text()
        assert "needs a restart to take effect: phone.dtmf_payload" in text
        restart = Form(text).forms["/api/restart"]
        assert ("csrf", client.csrf) in restart
        # the phone's pending list: every page says so until the restart
        assert "needs a restart to take effect: phone.dtmf_payload" in await get(
            client, "/settings/call")
    phone(t)


def test_a_form_without_the_csrf_token_is_refused(phone):
    async def t(client, api):
        form = await form_of(client, "forward")
        del form["csrf"]
        form["forward.always"] = "1009"
        r = await post(client, "/settings/forward", form)
        assert r.status == 403 and api.file() == {}
    phone(t)


def test_text_typed_on_a_page_is_only_text_on_the_next(phone):
    async def t(client, api):
        api.update_settings({"account.1.label": '<script>alert("x")</script>'})
        text = await get(client, "/settings/account.1")
        assert "<script>" not in text and "&lt;script&gt;" in text
    phone(t)


def test_default_setting_asks_first_then_keeps_the_web_sign_in(phone):
    async def t(client, api):
        api.update_settings({"forward.always": "1009", "account.1.user": "1001"})
        r = await post(client, "/settings/defaults", {"csrf": client.csrf})
        assert r.status == 400 and "tick the box" in await r.text()
        assert api.file()["forward"]["always"] == "1009"
        r = await post(client, "/settings/defaults", {"csrf": client.csrf, "confirm": "yes"})
        text = await r.text()
        assert r.status == 200 and "Factory settings saved (2 changed)" in text
        assert api.file() == {}
        assert 'action="/api/restart"' in text
    phone(t)


def test_the_log_page_links_its_downloads(phone):
    async def t(client, api):
        text = await get(client, "/settings/log")
        assert '<a href="/api/logs/phone.log">Download the phone log</a>' in text
        assert '<a href="/api/logs/sip.log">Download the SIP trace</a>' in text
    phone(t)


def test_reboot_posts_to_the_restart(phone):
    async def t(client, api):
        forms = Form(await get(client, "/settings/reboot")).forms
        assert ("csrf", client.csrf) in forms["/api/restart"]
    phone(t)


# --- roles ------------------------------------------------------------------------------------

def test_a_desk_user_sees_only_the_user_pages():
    user = [n for n in web_pages() if pages.can_see("user", WEB[n])]
    assert user == ["status", "audio", "phonebook", "call", "forward"]
    assert all(pages.can_see("admin", WEB[n]) for n in web_pages())
    nav = pages._nav("user", "call")
    assert "/settings/account.1" not in nav and "/manage" not in nav
    assert 'href="/settings/call" aria-current="page"' in nav and "/password" in nav


def test_on_a_users_page_the_administrators_fields_are_shown_locked_and_never_saved(tmp_path):
    """Audio's codec list and Call's emergency numbers sit on pages the desk user opens
    (volumes, call waiting), but only the administrator changes them (Entry.role)."""
    for key in ("sip.codecs", "phone.emergency", "hardware.flash_hook_ms"):
        assert not roles.may_change("user", key) and roles.may_change("admin", key), key
    assert roles.may_change("user", "volume.ring") and roles.may_change("user",
                                                                       "phone.call_waiting")

    async def t(client, api):
        text = await get(client, "/settings/audio")
        codecs = field_div(text, "sip.codecs") if 'data-key="sip.codecs"' in text else ""
        assert not codecs                            # no form field for it
        assert "Only the administrator changes this." in text
        form = await form_of(client, "audio")
        assert "sip.codecs" not in form and "volume.ring" in form
        form["sip.codecs"] = "PCMU/8000"             # sent anyway: ignored for the user
        form["volume.ring"] = "3"
        r = await post(client, "/settings/audio", form)
        assert r.status == 303, await r.text()
        saved = api.file()
        assert saved["volume"]["ring"] == 3 and "codecs" not in saved.get("sip", {})
    asyncio.run(run(t, role="user")(tmp_path))


def test_a_save_that_cannot_reach_the_disk_says_so_instead_of_saved(phone):
    """"Saved." means on disk (the writer thread's write awaited, as PATCH does): a file
    that cannot be written says the change is in use but not saved."""
    async def t(client, api):
        path = api.data_dir / "settings.toml"
        if path.exists():
            path.unlink()
        path.mkdir()                                 # a directory where the file goes
        form = await form_of(client, "forward")
        form["forward.always"] = "1009"
        r = await post(client, "/settings/forward", form)
        text = await r.text()
        assert r.status == 507, text
        assert "In use but not saved" in text and "Saved." not in text
        path.rmdir()
        form["forward.always"] = "1010"
        r = await post(client, "/settings/forward", form)
        assert r.status == 303                       # the next save writes it
        assert api.file()["forward"]["always"] == "1010"
    phone(t)
