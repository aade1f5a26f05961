"""Changes take effect as a person expects (issue 13, "Changes take effect"), on a real
phone process against a real Kamailio: a new SIP password, server or user re-registers at
once with the new values, whether it came through the API or a hand edit + SIGHUP, and the
LCD says so; `python -m firmware passwd` is used at the next sign-in; POST /api/restart
restarts the phone as the LCD's Reboot does, and GET /api/settings names what waits for
a restart."""
from __future__ import annotations

import os
import signal
import time
import urllib.parse

import pytest

from tests.peers.kamailio import Kamailio
from tests.phone import TEST_PASSWORD, PhoneError, PhoneProcess, password_hash
from tests.test_web_security import basic, call, own, sign_in

ALICE = {"user": "1001", "password": "secret1001", "display_name": "Alice"}


@pytest.fixture
def kam(tmp_path):
    with Kamailio(tmp_path / "kam") as k:
        yield k


def line(s: dict) -> dict:
    return s["accounts"][0]


def refused(s: dict) -> bool:
    return line(s)["code"] in (401, 403) and line(s)["status"] == "not_registered"


def test_a_new_sip_password_is_used_at_once(tmp_path, kam):
    """The phone used to answer the server's challenge with the old password cached by
    pjsip, and the line said "registered" with a password the server no longer took."""
    with PhoneProcess(tmp_path / "a", account={**ALICE, "server": kam.addr}) as a:
        a.wait_registered(1)
        a.settings({"account.1.password": "wrong-one"})
        a.wait(refused, 10, "the wrong password refused")
        a.wait_screen("[unreg]", 3)
        a.settings({"account.1.password": "secret1001"})
        a.wait_registered(1)
        a.wait_screen("[reg] 1001", 3)


def test_a_hand_edit_and_sighup_re_registers_with_the_new_password(tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account={**ALICE, "server": kam.addr}) as a:
        a.wait_registered(1)
        path = a.data_dir / "settings.toml"
        right = path.read_text()
        assert '"secret1001"' in right
        path.write_text(right.replace('"secret1001"', '"not-it"'))
        os.kill(a.proc.pid, signal.SIGHUP)
        a.wait(refused, 10, "the wrong password refused after SIGHUP")
        a.wait_screen("[unreg]", 3)
        path.write_text(right)
        os.kill(a.proc.pid, signal.SIGHUP)
        a.wait_registered(1)
        a.wait_screen("[reg] 1001", 3)


def test_a_new_server_and_user_register_there_at_once(tmp_path, kam):
    with Kamailio(tmp_path / "kam2") as other, \
            PhoneProcess(tmp_path / "a", account={**ALICE, "server": kam.addr}) as a:
        a.wait_registered(1)
        a.settings({"account.1.server": other.addr})
        s = a.wait(lambda s: line(s)["status"] == "registered" and
                   line(s)["server"] == other.addr, 10, "registered at the new server")
        assert other.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]
        a.settings({"account.1.user": "1002", "account.1.password": "secret1002"})
        a.wait(lambda s: line(s)["user"] == "1002" and line(s)["status"] == "registered",
               10, "1002 registered")
        assert other.registered_contacts("1002") == [f"sip:1002@{a.addr};ob"]
        a.wait_screen("[reg] 1002", 3)


def test_a_web_password_changed_by_hand_and_sighup_is_used_and_ends_old_sessions(tmp_path):
    """`python -m firmware passwd` is used at the next sign-in (tests/test_web_security.py);
    a hand edit of the password followed by SIGHUP is too, and the browsers signed in with
    the old one sign in again."""
    with PhoneProcess(tmp_path / "pw", account={"user": "1001"}) as p:
        _, cookies = sign_in(p, TEST_PASSWORD)
        assert call(p, "GET", "/api/state", cookies=cookies).status == 200
        path = p.data_dir / "settings.toml"
        path.write_text(path.read_text().replace(password_hash(TEST_PASSWORD),
                                                 password_hash("By-hand-and-HUP-4")))
        os.kill(p.proc.pid, signal.SIGHUP)
        # no request before the phone read the file on SIGHUP (a request would have it read
        # the credentials itself): this is the SIGHUP's way in
        log = p.data_dir / "logs" / "phone.log"
        deadline = time.monotonic() + 10
        while "settings changed: web.password_hash" not in log.read_text() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert p.status("GET", "/api/state")[0] == 401                    # the old one is gone
        assert p.status("GET", "/api/state", auth=basic("root", "By-hand-and-HUP-4"))[0] == 200
        assert call(p, "GET", "/api/state", cookies=cookies).status == 401


def test_saved_settings_waiting_for_a_restart_are_listed_and_post_restart_restarts(tmp_path):
    """The web's "needs a restart" notice and Restart button: GET /api/settings lists what
    waits; POST /api/restart restarts the phone under firmware.boot as the LCD's Reboot
    does, and then nothing waits."""
    p = PhoneProcess(tmp_path / "a", module="firmware.boot",
                     module_args=["--slots", str(tmp_path / "slots"), "--"])
    p.out = tmp_path / "a.out"
    with p:
        assert p.request("GET", "/api/settings")["restart_pending"] == []
        reply = p.settings({"hardware.long_press_ms": 900})
        assert reply["restart_needed"] == reply["restart_pending"] == ["hardware.long_press_ms"]
        reply = p.settings({"account.1.label": "Desk"})          # applies at once
        assert reply["restart_needed"] == [] and \
            reply["restart_pending"] == ["hardware.long_press_ms"]
        assert p.request("GET", "/api/settings")["restart_pending"] == ["hardware.long_press_ms"]
        before = p.state()["pid"]
        _, cookies = sign_in(p, TEST_PASSWORD)        # a browser: its CSRF token or nothing
        assert call(p, "POST", "/api/restart", cookies=cookies, headers=own(p)).status == 403
        assert p.state()["pid"] == before
        # the web pages' Restart button: a plain form with the session's token
        form = urllib.parse.urlencode({"csrf": cookies["deskphone_csrf"]}).encode()
        a = call(p, "POST", "/api/restart", cookies=cookies, body=form, headers={
            **own(p), "Content-Type": "application/x-www-form-urlencoded"})
        assert a.status == 202 and b"Restarting" in a.body
        before = wait_up_again(p, before)
        doc = p.request("GET", "/api/settings")
        assert doc["restart_pending"] == [] and doc["settings"]["hardware.long_press_ms"] == 900
        log = (p.data_dir / "logs" / "phone.log").read_text()
        assert "restart requested from the web" in log and "hardware.long_press_ms" in log
        # a script: JSON
        code, body = p.status("POST", "/api/restart")
        assert (code, body) == (202, {"restarting": True, "restart_pending": []})
        wait_up_again(p, before)


def wait_up_again(p: PhoneProcess, before: int, timeout: float = 30.0) -> int:
    """The pid of the phone that answers after the one with pid `before`. Bounded: the old
    process answers until it stops, then nothing until the new one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = p.state()["pid"]
            if pid != before:
                return pid
        except (OSError, PhoneError):
            pass
        time.sleep(0.1)
    raise PhoneError(f"the phone did not come back in {timeout} s\n{p.output()}\n{p.log_tail()}")
