"""The manual's two web roles, the config guide and where the web page listens, without a
browser: the real web application (guard, sessions, CSRF, the password and guide routes)
over the real settings store and service in a temp dir (the running phone behind the Api
left out). The same in Debian's chromium against a real
phone and Kamailio: tests/test_web_roles_browser.py.
"""
from __future__ import annotations

import asyncio
import io
import re
import tomllib
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

import board
from firmware import menus, roles
from firmware.__main__ import main
from firmware.menus import Entry, Page
from firmware.settings import SettingsStore, hash_password, public, verify_password
from firmware.settings_service import SettingsService
from firmware.system import weblisten
from ui.web import build
from ui.web.auth import CSRF_COOKIE, SESSION
from ui.web.common import AUTH

pytestmark = pytest.mark.timeout(60)

ADMIN_PW, USER_PW = "Admin-pass-1", "Desk-user-22"


# --- the role rule (firmware/roles.py) -------------------------------------------------------

def test_the_user_may_change_the_desk_users_settings_and_nothing_else():
    for key in ("forward.always", "forward.busy", "phone.dnd", "account.1.dnd",
                "volume.ring", "volume.handset", "volume.ring_type", "account.2.ring_type",
                "phone.blacklist", "phone.call_waiting", "phone.auto_answer"):
        assert roles.may_change("user", key), key
        assert roles.setting_role(key) == "user"
    for key in ("account.1.server", "account.1.password", "account.1.user", "network.ip",
                "network.mode", "web.listen", "web.port", "web.password_hash",
                "web.user_password_hash", "provisioning.server", "lcd.advanced_password",
                "phone.keylock_password", "log.level", "sip.port", "dialplan.rules"):
        assert not roles.may_change("user", key), key
        assert roles.may_change("admin", key)
    assert roles.refused("user", ["phone.dnd", "network.ip"]) == ["network.ip"]
    assert not roles.may_change("guest", "phone.dnd")          # an unknown role: nothing


def test_the_rule_is_the_menu_models_pages_for_both_surfaces():
    # the LCD: what sits behind the advanced password is the administrator's
    assert roles.can_see("user", menus.TREE["forward"])
    assert not roles.can_see("user", menus.TREE["network"])
    assert not roles.can_see("user", menus.TREE["account.1"])
    assert roles.can_see("admin", menus.TREE["account.1"])
    # the web: by name in the web's tree, or the Page itself
    assert roles.can_see("user", "forward", "web") and roles.can_see("user", menus.WEB["audio"])
    assert not roles.can_see("user", "network", "web")
    assert not roles.can_see("user", menus.WEB["log"])


def test_a_page_below_an_administrators_page_is_the_administrators(monkeypatch):
    tree = {"top": Page("Top", (Entry("Open", page="free"), Entry("Locked", page="locked"))),
            "free": Page("Free", (Entry("DND", "phone.dnd"),)),
            "locked": Page("Locked", (Entry("Deeper", page="deeper"),), role="admin"),
            # no role of its own, but reached only through "locked"
            "deeper": Page("Deeper", (Entry("Server", "account.1.server"),))}
    monkeypatch.setattr(roles, "_trees", lambda: {"lcd": tree})
    roles.page_roles.cache_clear()
    roles.user_settings.cache_clear()
    try:
        assert roles.page_roles("lcd") == {"top": "user", "free": "user", "locked": "admin",
                                           "deeper": "admin"}
        assert roles.may_change("user", "phone.dnd")
        assert not roles.may_change("user", "account.1.server")
    finally:
        roles.page_roles.cache_clear()
        roles.user_settings.cache_clear()


# --- where the web page listens (firmware/system/weblisten.py) -------------------------------

def _simulated(name: str) -> bool:
    spec, _ = board.read(name)
    return all(spec[p]["driver"] in ("sim", "dummy")
               for p in ("keypad", "hook", "leds", "display", "audio"))


@pytest.mark.parametrize("name,want", [("sim", "127.0.0.1:8080"), ("pi-desk", "0.0.0.0:80"),
                                       ("minimal", "0.0.0.0:80")])
def test_each_board_listens_where_its_owner_expects_by_default(name, want, tmp_path):
    w = SettingsStore(tmp_path).settings.web          # the factory's web settings
    assert w.listen == "auto" and w.port == 80
    assert weblisten.resolve(w.listen, w.port, simulated=_simulated(name)) == want


def test_the_http_port_an_address_or_off_is_used_as_set():
    assert weblisten.resolve("auto", 8088, simulated=False) == "0.0.0.0:8088"
    assert weblisten.resolve("auto", 8088, simulated=True) == "127.0.0.1:8080"
    assert weblisten.resolve("192.168.1.20:81", 80, simulated=False) == "192.168.1.20:81"
    assert weblisten.resolve("", 80, simulated=False) == ""


def test_the_console_and_the_lcd_name_the_address_a_person_types():
    net = [("eth0", "192.168.1.20"), ("lo", "127.0.0.1")]
    assert weblisten.urls("0.0.0.0:80", net) == ["http://192.168.1.20/"]
    assert weblisten.urls("0.0.0.0:8088", net) == ["http://192.168.1.20:8088/"]
    assert weblisten.urls("127.0.0.1:8080", net) == ["http://127.0.0.1:8080/"]
    assert weblisten.urls("", net) == []


# --- the web application -----------------------------------------------------------------------

class Api:
    """What the sign-in, password and guide routes ask of firmware.api.Api: the settings
    store and service of a temp dir (nothing runs behind them)."""
    simulated = console_log = False

    def __init__(self, data_dir):
        self.data_dir, self.store = data_dir, SettingsStore(data_dir)
        self.store.load()
        state = SimpleNamespace(errors=[], notice="")
        self.config = SettingsService(store=self.store, state=state, data_dir=data_dir,
                                      bus=SimpleNamespace(post=lambda ev: None),
                                      console_log=False, sip_error=lambda: "")

    web = property(lambda self: self.store.settings.web)
    lcd_locked = property(lambda self: bool(self.store.settings.lcd.advanced_password))
    update_settings = property(lambda self: self.config.update)
    settings_flushed = property(lambda self: self.config.flushed)
    credentials_from_disk = property(lambda self: self.config.credentials_from_disk)

    def settings_json(self):
        return {"settings": public(self.store.settings), "errors": [
            {"key": p.key, "reason": p.reason} for p in self.store.problems],
            "restart_pending": []}

    def pending_restart(self):
        return []

    def status_lines(self, page):
        return ["L1 1001 registered"]

    def file(self) -> dict:
        path = self.data_dir / "settings.toml"
        return tomllib.loads(path.read_text()) if path.exists() else {}


def run(test, tmp_path, **settings):
    async def go():
        api = Api(tmp_path)
        if settings:
            api.store.update(settings)
        async with TestClient(TestServer(build(api))) as client:
            client.origin = {"Origin": str(client.make_url("")).rstrip("/")}
            await test(client, api)
    asyncio.run(go())


def with_user(**more) -> dict:
    return {"web.password_hash": hash_password(ADMIN_PW),
            "web.user_password_hash": hash_password(USER_PW)} | more


async def sign_in(client, user: str, password: str) -> str:
    """The login form; where it sends the browser."""
    r = await client.post("/login", data={"user": user, "password": password},
                          headers=client.origin, allow_redirects=False)
    assert r.status == 303, await r.text()
    return r.headers["Location"]


def cookie(client, name: str) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == name)


def csrf(client) -> dict:
    token = next(c.value for c in client.session.cookie_jar if c.key == CSRF_COOKIE)
    return client.origin | {"X-CSRF-Token": token}


async def form(client, path: str, fields: dict):
    fields = fields | {"csrf": csrf(client)["X-CSRF-Token"]}
    return await client.post(path, data=fields, headers=client.origin, allow_redirects=False)


def test_the_user_signs_in_changes_their_settings_and_is_refused_the_rest(tmp_path):
    async def t(client, api):
        assert await sign_in(client, "user", USER_PW) == "/"
        r = await client.get("/manage", allow_redirects=False)
        assert r.status == 403 and "administrator" in await r.text()
        for path in ("/api/provision", "/api/backup", "/api/keys/layout", "/guide"):
            r = await client.get(path, headers={"Sec-Fetch-Mode": "cors"})
            assert r.status == 403, path
            assert "sign in as the administrator" in await r.text()
        r = await client.post("/api/restore?name=settings.toml", data=b"", headers=csrf(client))
        assert r.status == 403
        r = await client.patch("/api/settings", json={"forward.always": "1009"},
                               headers=csrf(client))
        assert r.status == 200, await r.text()
        r = await client.patch("/api/settings", json={"phone.dnd": True,
                                                       "account.1.server": "evil.example"},
                               headers=csrf(client))
        reply = await r.json()
        assert r.status == 403 and reply["refused"] == ["account.1.server"]
        assert "nothing changed" in reply["error"]
        saved = api.file()
        assert saved["forward"]["always"] == "1009" and "account" not in saved
        assert "dnd" not in saved.get("phone", {})
        shown = (await (await client.get("/api/settings")).json())
        assert "forward.always" in shown["settings"] and "account.1.server" not in shown["settings"]
        # a bad value of the administrator's in the file: its reason (the value in it) is theirs
        (api.data_dir / "settings.toml").write_text('[account.1]\nserver = 5060\n'
                                                    '[forward]\nbusy = 12\n')
        api.store.load()
        errors = (await (await client.get("/api/settings")).json())["errors"]
        assert [e["key"] for e in errors] == ["forward.busy"], errors
        who = await (await client.get("/api/session")).json()
        assert who == {"user": "user", "role": "user", "must_change": False}
        # the web pages (ui/web/pages.py): the user's only, by the same rule
        listed = await (await client.get("/settings")).text()
        assert 'href="/settings/forward"' in listed and 'href="/settings/network"' not in listed
        assert (await client.get("/settings/network", allow_redirects=False)).status == 403
    run(t, tmp_path, **with_user())


def test_http_basic_signs_in_either_role(tmp_path):
    import base64

    def basic(user, pw):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    async def t(client, api):
        assert (await client.get("/api/provision", headers=basic("user", USER_PW))).status == 403
        assert (await client.get("/api/settings", headers=basic("user", USER_PW))).status == 200
        assert (await client.get("/api/settings", headers=basic("user", ADMIN_PW))).status == 401
        assert (await client.get("/api/settings", headers=basic("root", USER_PW))).status == 401
    run(t, tmp_path, **with_user())


def test_without_a_password_of_its_own_the_user_role_cannot_sign_in(tmp_path):
    async def t(client, api):
        for pw in ("", "root", "user"):
            assert await sign_in(client, "user", pw) == "/login?failed=1"
    run(t, tmp_path, **{"web.password_hash": hash_password(ADMIN_PW)})


def test_the_administrator_sets_the_users_password_and_the_user_changes_it_first(tmp_path):
    async def t(client, api):
        assert await sign_in(client, "root", ADMIN_PW) == "/"
        page = await (await client.get("/password")).text()
        assert "Set the user&#x27;s password" in page or "Set the user's password" in page
        assert "cannot sign in until you set a password" in page
        r = await form(client, "/password", {"who": "user", "u_user": "desk", "u_old": ADMIN_PW,
                                             "u_new": "Temporary-7", "u_again": "Temporary-7"})
        assert r.headers["Location"] == "/password?done=user"
        w = api.web
        assert w.user_name == "desk" and w.user_must_change
        assert verify_password("Temporary-7", w.user_password_hash)
        assert verify_password(ADMIN_PW, w.password_hash)             # the admin's kept
        client.session.cookie_jar.clear()
        # the user: the page that changes the password first, nothing else
        assert await sign_in(client, "desk", "Temporary-7") == "/password"
        r = await client.get("/", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/password"
        r = await client.patch("/api/settings", json={"phone.dnd": True}, headers=csrf(client))
        assert r.status == 403 and "administrator set this password" in (await r.json())["error"]
        page = await (await client.get("/password")).text()
        assert "Set the user" not in page and "administrator set your password" in page
        # a user never sets the administrator's password
        r = await client.post("/api/password", json={"old": "Temporary-7", "new": "Mine-pass-9",
                                                     "role": "admin"}, headers=csrf(client))
        assert r.status == 403
        held = cookie(client, SESSION)
        r = await form(client, "/password", {"who": "self", "user": "desk", "old": "Temporary-7",
                                             "new": "Mine-pass-9", "again": "Mine-pass-9"})
        assert r.status == 303 and r.headers["Location"] == "/"
        assert not api.web.user_must_change
        # the session that could only change the password is not the one that does the rest:
        # a new session token, the one held before the change signs in no more
        sessions = client.server.app[AUTH].sessions
        assert cookie(client, SESSION) != held and held not in sessions
        assert sessions[cookie(client, SESSION)].role == "user"
        assert verify_password("Mine-pass-9", api.web.user_password_hash)
        assert (await client.get("/api/settings")).status == 200
    run(t, tmp_path, **{"web.password_hash": hash_password(ADMIN_PW)})


def test_a_refused_password_says_why_beside_its_field_and_changes_nothing(tmp_path):
    async def t(client, api):
        await sign_in(client, "user", USER_PW)
        before = api.web.user_password_hash
        for fields, field, words in (
                ({"new": "Other-pass-1", "again": "Other-pass-2"}, "again", "differ"),
                ({"new": "short", "again": "short"}, "new", "at least 8"),
                ({"old": "wrong-one-1", "new": "Other-pass-1", "again": "Other-pass-1"},
                 "old", "old password is wrong")):
            r = await form(client, "/password", {"who": "self", "user": "user",
                                                 "old": USER_PW} | fields)
            page = await r.text()
            assert r.status in (400, 403), page
            beside = re.search(rf'<div class="field bad"><label for="f-{field}">.*?</div>',
                               page, re.S)
            assert beside and words in beside.group(0), page
            # no password typed comes back in the page (README: secrets never rendered)
            assert USER_PW not in page and "Other-pass" not in page, page
        assert api.web.user_password_hash == before
    run(t, tmp_path, **with_user())


def test_the_administrators_first_sign_in_goes_through_the_config_guide(tmp_path):
    async def t(client, api):
        assert await sign_in(client, "root", "root") == "/password"
        r = await form(client, "/password", {"who": "self", "user": "root", "old": "root",
                                             "new": ADMIN_PW, "again": ADMIN_PW})
        assert r.headers["Location"] == "/guide"
        page = await (await client.get("/guide")).text()
        assert "Config Guide" in page and 'href="/guide/network"' in page
        assert "<script" not in page
        # a bad address: said beside its field, nothing of the step saved
        r = await form(client, "/guide/network", {
            "network.mode": "static", "network.ip": "300.1.1.1", "network.mask": "255.255.255.0",
            "network.gateway": "", "network.dns1": "", "network.dns2": ""})
        page = await r.text()
        assert r.status == 400
        beside = re.search(r'<div class="field bad"><label for="f-network.ip">.*?</div>',
                           page, re.S)
        assert beside and "300.1.1.1" in beside.group(0)
        assert "network" not in api.file()
        r = await form(client, "/guide/network", {"network.mode": "dhcp"})
        assert r.headers["Location"] == "/guide/account"
        r = await form(client, "/guide/account", {
            "account.1.enable": "true", "account.1.display_name": "Alice",
            "account.1.user": "1001", "account.1.auth_user": "",
            "account.1.password": "secret1001", "account.1.label": "",
            "account.1.server": "192.0.2.10:5060"})
        assert r.headers["Location"] == "/guide/finish"
        account = api.file()["account"]["1"]
        assert account["user"] == "1001" and account["enable"] is True
        assert account["password"] == "secret1001"
        assert "Finish" in await (await client.get("/guide/finish")).text()
        r = await form(client, "/guide/finish", {})
        assert r.headers["Location"] == "/"
        client.session.cookie_jar.clear()
        assert await sign_in(client, "root", ADMIN_PW) == "/"         # not shown again
    run(t, tmp_path)


def test_a_skipped_guide_is_not_shown_again(tmp_path):
    async def t(client, api):
        await sign_in(client, "root", "root")
        r = await client.post("/api/password", json={"old": "root", "new": ADMIN_PW},
                              headers=csrf(client))
        assert r.status == 200
        client.session.cookie_jar.clear()
        assert await sign_in(client, "root", ADMIN_PW) == "/guide"    # until finished/skipped
        r = await form(client, "/guide/skip", {})
        assert r.headers["Location"] == "/"
        assert (tmp_path / "web-guide").read_text().strip() == "skipped"
        client.session.cookie_jar.clear()
        assert await sign_in(client, "root", ADMIN_PW) == "/"
    run(t, tmp_path)


# --- python -m firmware passwd -----------------------------------------------------------------

def test_passwd_sets_either_roles_password(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("Desk-user-22\n"))
    assert main(["passwd", "--role", "user", "--user", "desk", "--data-dir", str(tmp_path)]) == 0
    assert "desk chooses their own password" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("Admin-pass-1\n"))
    assert main(["passwd", "--data-dir", str(tmp_path)]) == 0
    web = tomllib.loads((tmp_path / "settings.toml").read_text())["web"]
    assert web["user_name"] == "desk" and web["user_must_change"] is True
    assert verify_password("Desk-user-22", web["user_password_hash"])
    assert verify_password("Admin-pass-1", web["password_hash"])
    monkeypatch.setattr("sys.stdin", io.StringIO("Another-pass-3\n"))
    assert main(["passwd", "--role", "user", "--user", "root",
                 "--data-dir", str(tmp_path)]) == 2                   # the admin's name
    assert "other role's login name" in capsys.readouterr().err


def test_passwd_for_the_user_takes_effect_in_the_running_phone(tmp_path, monkeypatch):
    import base64

    from tests.phone import PhoneProcess

    def basic(user, pw):
        return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()

    with PhoneProcess(tmp_path / "p", password=ADMIN_PW) as p:
        assert p.status("GET", "/api/settings", auth=basic("user", USER_PW))[0] == 401
        monkeypatch.setattr("sys.stdin", io.StringIO(USER_PW + "\n"))
        assert main(["passwd", "--role", "user", "--data-dir", str(p.data_dir)]) == 0
        # at once, no restart, no HUP: the user signs in, and must choose their own first
        code, reply = p.status("GET", "/api/settings", auth=basic("user", USER_PW))
        assert code == 403 and "administrator set this password" in reply["error"]
        code, reply = p.status("POST", "/api/password", {"old": USER_PW, "new": "Mine-pass-9"},
                               auth=basic("user", USER_PW))
        assert code == 200, reply
        code, reply = p.status("GET", "/api/settings", auth=basic("user", "Mine-pass-9"))
        assert code == 200 and "forward.always" in reply["settings"]
        assert "account.1.server" not in reply["settings"]
        assert p.status("GET", "/api/state")[0] == 200              # the administrator's kept


def test_a_sign_in_unused_for_a_working_day_ends(tmp_path, monkeypatch):
    """A browser left signed in on a shared desk is no open door: a session unused for
    SESSION_IDLE ends (the next page asks to sign in again); one in use goes on."""
    from ui.web import auth as auth_module
    clock = [1000.0]
    monkeypatch.setattr(auth_module.time, "monotonic", lambda: clock[0])

    async def t(client, api):
        assert await sign_in(client, "root", ADMIN_PW) in ("/", "/guide")
        r = await client.get("/api/session", headers={"Sec-Fetch-Mode": "cors"})
        assert r.status == 200
        clock[0] += auth_module.SESSION_IDLE - 60          # used just before the end
        r = await client.get("/api/session", headers={"Sec-Fetch-Mode": "cors"})
        assert r.status == 200
        clock[0] += auth_module.SESSION_IDLE - 60          # counted from that use
        assert (await client.get("/api/session", headers={"Sec-Fetch-Mode": "cors"})).status \
            == 200
        clock[0] += auth_module.SESSION_IDLE + 1           # then left alone
        r = await client.get("/settings", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/login"
    run(t, tmp_path, **with_user())


def test_the_users_password_form_says_when_the_lcds_advanced_setting_is_open(tmp_path):
    """The desk user may work the front panel (it is their phone): with the LCD's advanced
    password empty, as from the factory, that reaches Advanced setting — the administrator
    is told where they set the user's password, and not once it is set."""
    async def t(client, api):
        assert await sign_in(client, "root", ADMIN_PW) == "/"
        page = await (await client.get("/password")).text()
        assert 'id="lcd-open"' in page and 'href="/settings/phone"' in page
        api.store.update({"lcd.advanced_password": "4711"})
        page = await (await client.get("/password")).text()
        assert 'id="lcd-open"' not in page
    run(t, tmp_path, **with_user())
