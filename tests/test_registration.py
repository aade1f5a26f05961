"""Registration against a real Kamailio: register, refresh, 423, failover and back, errors.

Manual §7 SIP Account (SIP Server, Secondary server, Register Expire Time) and the LP-388
note (item 7: unregister first; bug fix 1: four 423s must not stop registration).
"""
from __future__ import annotations

import time

import pytest

from tests.helpers import wait_for
from tests.peers.kamailio import Kamailio
from tests.netns import NetNs
from tests.peers.ports import HeldPort
from tests.phone import PhoneProcess

ALICE = {"user": "1001", "password": "secret1001", "display_name": "Alice"}




def alice(kam: Kamailio, **more) -> dict:
    return {**ALICE, "server": kam.addr, **more}


@pytest.fixture
def kam(tmp_path):
    with Kamailio(tmp_path / "kam") as k:
        yield k


def test_the_phone_registers_and_shows_the_line_as_registered(tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam)) as a:
        s = a.wait_registered(1)
        acc = s["accounts"][0]
        assert (acc["status"], acc["code"], acc["reason"], acc["expires"]) == \
            ("registered", 200, "", 3600)
        assert kam.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]
        assert "[reg] 1001" in a.screen()


def test_at_start_it_unregisters_every_binding_then_registers(tmp_path, kam):
    """LP-388 item 7: a stale binding from an earlier boot is gone once the phone is up."""
    stale = PhoneProcess(tmp_path / "old", account=alice(kam)).start()
    stale.wait_registered(1)
    stale.kill()                      # died without unregistering: its binding stays
    stale_contact = f"sip:1001@{stale.addr};ob"
    assert kam.registered_contacts("1001") == [stale_contact]
    with PhoneProcess(tmp_path / "a", account=alice(kam)) as a:
        a.wait_registered(1)
        # Kamailio logs a reply just after sending it: wait for both lines.
        kam.wait_register("1001", count=2, where=lambda r: r["src"] == a.addr)
        mine = [r for r in kam.registers("1001") if r["src"] == a.addr and r["code"] == 200]
        assert mine[0]["contact"] == "*" and mine[0]["expires"] == 0
        assert mine[1]["expires"] == 3600 and mine[1]["reply_time"] > mine[0]["reply_time"]
        assert kam.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]


def test_registration_is_refreshed_before_it_expires(tmp_path):
    with Kamailio(tmp_path / "kam", max_expires=6) as kam:
        with PhoneProcess(tmp_path / "a", account=alice(kam, expires=60)) as a:
            a.wait_registered(1)
            assert a.state()["accounts"][0]["expires"] == 6     # what the server granted
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                ok = [r for r in kam.registers("1001") if r["code"] == 200 and r["expires"]]
                if len(ok) >= 3:
                    break
                time.sleep(0.2)
            gaps = [b["time"] - a_["time"] for a_, b in zip(ok, ok[1:])]
            assert len(ok) >= 3, f"only {len(ok)} REGISTERs in 15 s"
            assert all(2 <= g < 6 for g in gaps), gaps            # before the 6 s ran out
            assert a.state()["accounts"][0]["status"] == "registered"


def test_423_interval_too_brief_with_growing_min_expires(tmp_path):
    """Five 423s in a row, Min-Expires 60, 120, ... 960: the phone keeps going."""
    with Kamailio(tmp_path / "kam", reply_423=5, min_expires_423=60) as kam:
        with PhoneProcess(tmp_path / "a", account=alice(kam, expires=30)) as a:
            s = a.wait_registered(1, timeout=20)
            kam.wait_register("1001", where=lambda r: r["expires"])  # logged after its reply
            regs = [r for r in kam.registers("1001") if r["expires"]]
            codes = [r["code"] for r in regs if r["code"] != 401]
            assert codes == [423] * 5 + [200], codes
            assert s["accounts"][0]["expires"] == 960


def test_423_with_the_same_min_expires_again_and_again(tmp_path):
    """The LP-388 stopped after four 423s. Here the server insists five times on a
    Min-Expires the phone has already used; registration still gets through."""
    with Kamailio(tmp_path / "kam", reply_423=5, min_expires_423=60,
                  min_expires_423_constant=True) as kam:
        with PhoneProcess(tmp_path / "a", account=alice(kam, expires=30)) as a:
            a.wait_registered(1, timeout=30)
            kam.wait_register("1001", where=lambda r: r["expires"])  # logged after its reply
            codes = [r["code"] for r in kam.registers("1001") if r["expires"]
                     and r["code"] != 401]
            assert codes.count(423) == 5 and codes[-1] == 200, codes


def test_a_silent_server_fails_over_to_the_secondary_and_comes_back(tmp_path):
    silent = HeldPort("both")     # bound, never read, until the primary comes up there
    primary_port = silent.port
    with silent, Kamailio(tmp_path / "k2") as secondary:
        acct = alice(secondary, server=f"127.0.0.1:{primary_port}",
                     secondary_server=secondary.addr)
        with PhoneProcess(tmp_path / "a", account=acct,
                          settings={"sip.failover_timeout": 2,
                                    "sip.failback_interval": 1}) as a:
            s = a.wait(lambda s: s["accounts"][0]["status"] == "registered", 20,
                       "registered on the secondary")
            acc = s["accounts"][0]
            assert acc["on_secondary"] and acc["server"] == secondary.addr
            assert secondary.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]
            silent.release()
            with Kamailio(tmp_path / "k1", port=primary_port) as primary:
                s = a.wait(lambda s: not s["accounts"][0]["on_secondary"]
                           and s["accounts"][0]["status"] == "registered", 20,
                           "back on the primary")
                assert s["accounts"][0]["server"] == f"127.0.0.1:{primary_port}"
                mine = [f"sip:1001@{a.addr};ob"]
                wait_for(lambda: primary.registered_contacts("1001") == mine,
                         "our binding on the primary", 10)
                # the unregister sent at boot to the silent primary was retransmitted by
                # pjsip and may land after the REGISTER: the binding must survive it
                time.sleep(3)
                assert primary.registered_contacts("1001") == mine


def test_a_silent_registrar_is_tried_again_and_again_without_a_warning_each_time(tmp_path):
    """Each retry starts over with a new account (pjsip holds an unanswered REGISTER 32 s);
    deleting the old one made pjsua log 'Unable to create/send REGISTER: Object is busy
    (PJSIP_EBUSY)' as a warning on every retry."""
    with HeldPort("udp") as silent:
        acct = {**ALICE, "server": f"127.0.0.1:{silent.port}"}
        with PhoneProcess(tmp_path / "a", account=acct,
                          settings={"sip.failover_timeout": 1, "sip.retry_interval": 1}) as a:
            a.wait(lambda s: "No answer" in s["accounts"][0]["reason"], 10)
            deadline = time.monotonic() + 15
            registers: set[bytes] = set()
            while len(registers) < 4 and time.monotonic() < deadline:   # new REGISTERs
                registers |= {d.split(b"Call-ID:")[1].split(b"\r\n")[0] + b"/" +
                              d.split(b"CSeq:")[1].split(b"\r\n")[0]
                              for d in silent.datagrams() if d.startswith(b"REGISTER ")}
                time.sleep(0.2)
            assert len(registers) >= 4, registers
            log = (a.data_dir / "logs" / "phone.log").read_text()
            assert "PJSIP_EBUSY" not in log, log[-3000:]


def test_no_answer_and_no_secondary_says_why_and_keeps_trying(tmp_path):
    silent = HeldPort("both")     # bound, never read, until Kamailio comes up there
    port = silent.port
    acct = {**ALICE, "server": f"127.0.0.1:{port}"}
    with PhoneProcess(tmp_path / "a", account=acct,
                      settings={"sip.failover_timeout": 1, "sip.retry_interval": 1}) as a:
        s = a.wait(lambda s: "No answer" in s["accounts"][0]["reason"], 10)
        assert s["accounts"][0]["status"] == "not_registered"
        assert f"127.0.0.1:{port}" in s["accounts"][0]["reason"]
        assert "[unreg]" in a.screen()
        silent.release()
        with Kamailio(tmp_path / "kam", port=port):
            a.wait_registered(1, timeout=15)


def test_a_wrong_password_is_reported_with_what_to_do(tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam, password="wrong")) as a:
        s = a.wait(lambda s: s["accounts"][0]["code"] in (401, 403), 10)
        acc = s["accounts"][0]
        assert acc["status"] == "not_registered"
        assert "password" in acc["reason"] and "Account 1's" in acc["reason"]
        assert "[unreg]" in a.screen()


def test_a_line_without_server_is_peer_to_peer_only(tmp_path):
    with PhoneProcess(tmp_path / "a", account={"user": "1001"}) as a:
        s = a.wait(lambda s: s["accounts"][0]["status"] == "p2p", 5)
        assert s["accounts"][1]["status"] == "disabled"
        assert "[p2p] 1001" in a.screen()


def test_dnd_shows_on_every_line(tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam)) as a:
        a.wait_registered(1)
        a.key("soft2")                                   # idle soft key: DND
        s = a.wait(lambda s: s["accounts"][0]["status"] == "dnd", 5)
        assert s["dnd"] and "[dnd]" in a.screen()
        a.key("soft2")
        a.wait(lambda s: s["accounts"][0]["status"] == "registered", 5)


def test_changing_the_account_in_settings_registers_again(tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam)) as a:
        a.wait_registered(1)
        a.settings({"account.1.user": "1002", "account.1.password": "secret1002"})
        a.wait(lambda s: s["accounts"][0]["user"] == "1002"
               and s["accounts"][0]["status"] == "registered", 10)
        assert kam.registered_contacts("1002") == [f"sip:1002@{a.addr};ob"]


def test_without_a_route_to_the_server_the_line_shows_no_network(tmp_path):
    """Manual §3 screen table: 'Disconnect into network'. The phone sits in a network
    namespace whose only link leads to the test; the server is beyond it."""
    with NetNs() as ns:
        acct = {**ALICE, "server": "192.0.2.77:5060"}          # TEST-NET-1: no route
        with PhoneProcess(tmp_path / "a", account=acct, host=ns.ns_ip, prefix=ns.prefix,
                          settings={"sip.failover_timeout": 1}) as a:
            s = a.wait(lambda s: s["accounts"][0]["status"] == "no_network", 10)
            assert "192.0.2.77" in s["accounts"][0]["reason"]
            assert "[nonet]" in a.screen()


def test_a_server_that_vanishes_is_noticed_at_the_refresh_and_found_again(tmp_path):
    with Kamailio(tmp_path / "kam", max_expires=6) as kam:
        with PhoneProcess(tmp_path / "a", account=alice(kam, expires=60)) as a:
            a.wait_registered(1)
            kam.stop()
            s = a.wait(lambda s: s["accounts"][0]["status"] == "not_registered", 20,
                       "the refresh to go unanswered")
            assert "No answer" in s["accounts"][0]["reason"]
            kam.start()
            a.wait_registered(1, timeout=20)
            assert kam.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]
