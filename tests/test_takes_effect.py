"""Changes take effect as a person expects (issue 13, "Changes take effect"), on a real
phone process against a real Kamailio: a new SIP password, server or user re-registers at
once with the new values, whether it came through the API or a hand edit + SIGHUP, and the
LCD says so; `python -m firmware passwd` is used at the next sign-in; POST /api/restart
restarts the phone as the LCD's Reboot does, and GET /api/settings names what waits for
a restart."""
from __future__ import annotations

import os
import signal

import pytest

from tests.peers.kamailio import Kamailio
from tests.phone import PhoneProcess

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
