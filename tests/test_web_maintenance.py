"""The key tables (ui/web/keyspage.py) and the maintenance pages (ui/web/maintenance.py:
Auto Provision Now and its result, Firmware Upgrade, Configuration Backup) without a
browser, without JavaScript: the real web application (guard, sessions, CSRF) over the real
settings store; keys checked by memkeys' check_layout, backups made and applied by the real
Api.backup / Api.restore and escene, images read by provisioning.image. Only the running
phone behind the Api is left out (tests/test_web_maintenance_browser.py has it).
"""
from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace

import pytest
from aiohttp import FormData

from firmware import api as real_api
from firmware.features.memkeys import check_layout
from firmware.phonebooks import Books
from tests.test_web_pages import Api as PagesApi, Form, get, post, run

pytestmark = pytest.mark.timeout(60)


class Api(PagesApi):
    """The pages' fake Api, plus what these pages ask: the key layout, provisioning,
    firmware, backup and restore."""
    mac = "00:26:8b:00:00:01"

    def __init__(self, data_dir):
        super().__init__(data_dir)
        self.provisioned = 0
        self.installed = []
        self.books = Books(data_dir)     # Firmware Upgrade's Phone Book section (bookfiles.py)

    # the real functions, over this store's settings
    backup = real_api.Api.backup
    restore = real_api.Api.restore

    @property
    def _app(self):
        return SimpleNamespace(settings=self.store.settings, mac=self.mac)

    def key_layout(self):
        path = self.data_dir / "keys.json"
        return json.loads(path.read_text()) if path.exists() else {"memory": [], "program": []}

    def set_key_layout(self, doc):            # memkeys.replace_layout, without a phone
        layout, problems = check_layout(doc)
        if not problems:
            layout.save(self.data_dir / "keys.json")
        return len(layout.memory), problems

    def provision_now(self):
        self.provisioned += 1

    def provision_status(self):
        return {"running": False, "next_text": "tomorrow at 02:00", "mac": self.mac,
                "version": "1.0.0", "log": ["2026-12-06T10:00:00 run by boot"],
                "firmware": {"other": None, "last": None},
                "last": {"trigger": "boot", "started": "2026-12-06T10:00:00",
                         "result": "failed", "summary": "tftp://10.0.0.5: timed out",
                         "files": [{"name": "sys_DP330.xml", "kind": "config",
                                    "status": "failed", "detail": "timed out"}]}}

    def upload_path(self, name):
        (self.data_dir / "upload").mkdir(exist_ok=True)
        return self.data_dir / "upload" / name

    async def upgrade(self, *, path=None, url="", md5=None):
        from provisioning import image
        manifest = await asyncio.to_thread(image.read_manifest, path)   # the real reading
        self.installed.append(manifest.version)
        return f"firmware {manifest.version} installed"


@pytest.fixture
def phone(tmp_path):
    def runner(test, role="admin"):
        async def go(tmp):
            import tests.test_web_pages as tp
            saved, tp.Api = tp.Api, Api          # run() builds this module's Api
            try:
                await run(test, role)(tmp)
            finally:
                tp.Api = saved
        asyncio.run(go(tmp_path))
    return runner


async def form(client, path: str, action: str | None = None) -> list:
    return Form(await get(client, path)).forms[action or path]


async def upload(client, path: str, **files) -> tuple:
    """Post the page's file form as a browser does (multipart, the CSRF token in the form's
    action): `files` name=(file name, bytes), other fields name=text."""
    actions = [a for a in Form(await get(client, path)).forms if a.startswith(path + "?csrf=")]
    assert len(actions) >= 1, "no file form posting to the page with its token"
    body = FormData()
    for name, value in files.items():
        if isinstance(value, tuple):
            body.add_field(name, value[1], filename=value[0])
        else:
            body.add_field(name, value)
    r = await client.post(actions[0], data=body, headers=client.headers)
    return r, await r.text()


def row(text: str, key: str) -> str:
    m = re.search(rf'<tr data-key="{re.escape(key)}".*?</tr>', text, re.S)
    assert m, f"no row {key}"
    return m.group(0)


def with_(fields: list, **changes) -> list:
    """The form's fields with some changed (a field's name has dots: give it with __)."""
    changes = {k.replace("__", "."): v for k, v in changes.items()}
    return [(n, changes.pop(n, v)) for n, v in fields] + list(changes.items())


# --- Programmable Keys and Expansion Module --------------------------------------------------

def test_the_memory_keys_table_saves_a_key_as_put_keys_layout_does(phone):
    async def t(client, api):
        fields = await form(client, "/keys")
        assert ("csrf", client.csrf) in fields
        assert len([n for n, _ in fields if n.endswith(".type")]) == 12
        fields = with_(fields, p2__type="speed_dial", p2__account="2", p2__label="Bob",
                       p2__number="1002")
        r = await post(client, "/keys", fields)
        assert r.status == 303 and r.headers["Location"] == "/keys?saved=1"
        assert api.key_layout()["memory"] == [{"index": 1, "type": "speed_dial",
                                               "number": "1002", "label": "Bob",
                                               "account": 2, "module": 0}]
        text = await get(client, r.headers["Location"])
        assert "Saved: 1 keys" in text
        p2 = row(text, "p2")
        assert 'value="speed_dial" selected' in p2 and 'value="2" selected' in p2
        assert 'value="Bob"' in p2 and 'value="1002"' in p2
    phone(t)


def test_a_refused_key_says_why_beside_its_row_and_nothing_is_saved(phone):
    async def t(client, api):
        api.set_key_layout({"memory": [{"key": "p1", "type": "speed_dial", "number": "1"}]})
        before = api.key_layout()
        fields = with_(await form(client, "/keys"), p3__type="blf", p3__label="Carol",
                       p4__type="dtmf", p4__number="12<3>")
        r = await post(client, "/keys", fields)
        text = await r.text()
        assert r.status == 400 and "Nothing was saved" in text
        assert "an Asterisk BLF key needs a number" in row(text, "p3")
        assert "number must be one line of text" in row(text, "p4")
        assert 'value="Carol"' in row(text, "p3")          # what was typed stays
        assert "role=\"alert\"" not in row(text, "p1")
        assert api.key_layout() == before
    phone(t)


def test_a_module_page_keeps_the_memory_keys_and_mode_none_clears_a_key(phone):
    async def t(client, api):
        api.set_key_layout({"memory": [{"key": "p1", "type": "speed_dial", "number": "1"},
                                       {"key": "e2.5", "type": "blf", "number": "1003"},
                                       {"key": "line3", "type": "speed_dial", "number": "9"}]})
        fields = await form(client, "/keys/module/2")
        assert len([n for n, _ in fields if n.endswith(".type")]) == 32
        fields = with_(fields, **{"e2.5.type": "", "e2.32.type": "intercom",
                                  "e2.32.number": "1005"})
        r = await post(client, "/keys/module/2", fields)
        assert r.status == 303, await r.text()
        names = {(k["module"], k["index"]) for k in api.key_layout()["memory"]}
        assert names == {(0, 0), (-1, 2), (2, 31)}
        assert (await client.get("/keys/module/7")).status == 404
    phone(t)


def test_the_key_pages_are_the_administrators(phone):
    async def t(client, api):
        for path in ("/keys", "/keys/module/1", "/maintenance/firmware",
                     "/maintenance/backup"):
            r = await client.get(path, allow_redirects=False)
            assert r.status == 403, path
        r = await post(client, "/keys", [("csrf", client.csrf), ("p1.type", "speed_dial"),
                                         ("p1.number", "1")])
        assert r.status == 403 and api.key_layout()["memory"] == []
    phone(t, role="user")


# --- Auto Provision -----------------------------------------------------------------------------

def test_auto_provision_is_a_settings_page_with_provision_now_and_the_last_result(phone):
    async def t(client, api):
        text = await get(client, "/settings/provision")
        assert "Auto Provision Now" in text
        assert "Failed" in text and "tftp://10.0.0.5: timed out" in text
        assert "<td>sys_DP330.xml</td>" in text
        fields = with_(Form(text).forms["/settings/provision"],
                       provisioning__url="http://10.0.0.5/prov", provisioning__periodic="on",
                       provisioning__frequency_hours="12")
        r = await post(client, "/settings/provision", fields)
        assert r.status == 303, await r.text()
        assert api.file()["provisioning"] == {"url": "http://10.0.0.5/prov",
                                              "periodic": True, "frequency_hours": 12}
        r = await post(client, "/maintenance/provision",
                       Form(text).forms["/maintenance/provision"])
        assert r.status == 303 and r.headers["Location"] == "/settings/provision?now=1"
        assert api.provisioned == 1
        assert "Auto provisioning started" in await get(client, r.headers["Location"])
    phone(t)


# --- Firmware Upgrade ---------------------------------------------------------------------------

def test_a_file_that_is_no_image_gets_a_clear_error_page_and_nothing_installed(phone):
    async def t(client, api):
        r, text = await upload(client, "/maintenance/firmware", md5="",
                               image=("S2_DP330_version9.9.9", b"not a firmware image"))
        assert r.status == 400, text
        assert re.search(r"Not installed: .+; the phone keeps its firmware", text)
        assert api.installed == [] and not list((api.data_dir / "upload").iterdir())
        r, text = await upload(client, "/maintenance/firmware", image=("", b""))
        assert r.status == 400 and "choose an image file" in text, text
        # a token in the body (a small form) is read by the guard: the page still reads it
        data = FormData([("csrf", client.csrf)])
        data.add_field("image", b"", filename="")
        r = await client.post("/maintenance/firmware", data=data, headers=client.headers)
        assert r.status == 400 and "choose an image file" in await r.text()
    phone(t)


# --- Configuration Backup -----------------------------------------------------------------------

async def restore(client, data: bytes, name: str):
    r, _ = await upload(client, "/maintenance/backup", backup=(name, data))
    return r


@pytest.mark.parametrize("fmt", ["xml", "toml"])
def test_reset_to_factory_then_restore_round_trip(phone, fmt):
    async def t(client, api):
        mine = {"forward.always": "1009", "phone.dial_timeout": 7,
                "account.2.user": "1002", "account.2.password": "s3cret-2",
                "dialplan.rules": ["prefix=9 delete=1@0"],
                "provisioning.url": "http://10.0.0.5/prov"}
        api.update_settings(mine)
        text = await get(client, "/maintenance/backup")
        assert '<form method="get" action="/api/backup"' in text
        r = await client.get(f"/api/backup?format={fmt}&secrets=1")
        assert r.status == 200
        backup = await r.read()
        r = await post(client, "/settings/defaults",
                       [("csrf", client.csrf), ("confirm", "yes")])
        assert r.status == 200 and api.file().get("forward") is None
        r = await restore(client, backup, f"backup.{fmt}")
        text = await r.text()
        assert r.status == 200 and "Restored from backup." in text, text
        got = api.settings_json()["settings"]
        for key, value in mine.items():
            if key != "account.2.password":
                assert got[key] == (list(value) if isinstance(value, list) else value), key
        assert api.store.settings.get("account.2.password") == "s3cret-2"
    phone(t)


def test_a_bad_backup_is_refused_with_its_reasons_and_nothing_changes(phone):
    async def t(client, api):
        api.update_settings({"phone.dial_timeout": 7})
        before = api.file()
        r = await restore(client, b"[phone]\ndial_timeout = 'x'\n", "bad.toml")
        text = await r.text()
        assert r.status == 400 and "Not restored:" in text and "nothing changed" in text
        assert "phone.dial_timeout" in text
        r = await restore(client, b'<all><sipUsers><sipUser id="0" UserNumber="1', "cut.xml")
        assert r.status == 400 and "nothing changed" in await r.text()
        assert api.file() == before
    phone(t)
