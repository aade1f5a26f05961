"""Registration that tells the truth (issue 10, item 5), against real Kamailios.

A registrar that restarts without our binding, or goes silent, is noticed within the
documented bounds (firmware/sip/registration.py, "Keep-alive"): a binding lost within
sip.keepalive_interval, a silent server within keepalive_interval + failover_timeout.
Meanwhile the API (/api/state, what the web page shows) and the LCD stop saying
"registered". Each wait below ends at its bound plus SLACK (a loaded 2-core machine):
timing out is the failure these tests look for.
"""
from __future__ import annotations

import pytest

from tests.peers.kamailio import Kamailio
from tests.phone import PhoneProcess
from tests.test_registration import alice, wait_for

KEEPALIVE = 2          # sip.keepalive_interval
FAILOVER = 3           # sip.failover_timeout
SLACK = 10             # scheduling and start-up on a busy machine, never the behaviour
FAST = {"sip.keepalive_interval": KEEPALIVE, "sip.failover_timeout": FAILOVER,
        "sip.retry_interval": 2}


@pytest.fixture
def kam(tmp_path):
    with Kamailio(tmp_path / "kam") as k:
        yield k


def line(a: PhoneProcess) -> dict:
    return a.state()["accounts"][0]


def test_the_keepalive_is_an_options_to_our_own_address_that_the_server_forwards_to_us(
        tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam), settings=FAST) as a:
        a.wait_registered(1)

        def keepalives():
            return [e for e in kam.events() if e["kind"] == "SIPREQ" and e["m"] == "OPTIONS"
                    and e["src"] == a.addr]
        wait_for(lambda: len(keepalives()) >= 2, 2 * KEEPALIVE + SLACK)
        first = keepalives()[0]
        assert first["ru"] == f"sip:1001@{kam.addr}" and first["fu"] == "1001"
        assert line(a)["status"] == "registered"       # we answered it: binding is there


def test_a_registrar_restarted_without_our_binding_has_it_again_within_the_interval(
        tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam), settings=FAST) as a:
        a.wait_registered(1)
        mine = [f"sip:1001@{a.addr};ob"]
        assert kam.registered_contacts("1001") == mine
        kam.restart()                                   # usrloc in memory: binding gone
        wait_for(lambda: kam.registered_contacts("1001") == mine, KEEPALIVE + SLACK)
        acc = a.wait_registered(1)["accounts"][0]
        assert (acc["code"], acc["reason"], acc["server"]) == (200, "", kam.addr)
        assert "[reg] 1001" in a.screen()


def test_a_registrar_that_lost_us_and_refuses_us_now_is_not_shown_as_registered(
        tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam), settings=FAST) as a:
        a.wait_registered(1)
        del kam.users["1001"]                           # the restarted server forgot 1001
        kam.restart()
        s = a.wait(lambda s: s["accounts"][0]["status"] == "not_registered",
                   KEEPALIVE + SLACK, "the line to stop saying registered")
        acc = s["accounts"][0]
        assert acc["code"] in (403, 404) or "lost" in acc["reason"], acc
        a.wait(lambda s: s["accounts"][0]["code"] == 403, SLACK, "the server's refusal")
        assert "[unreg] 1001" in a.screen()
        assert "Account 1's user name" in line(a)["reason"]   # says what to check


def test_a_registrar_gone_silent_is_shown_within_keepalive_plus_failover_timeout(
        tmp_path, kam):
    with PhoneProcess(tmp_path / "a", account=alice(kam), settings=FAST) as a:
        a.wait_registered(1)
        kam.stop()
        s = a.wait(lambda s: s["accounts"][0]["status"] == "not_registered",
                   KEEPALIVE + FAILOVER + SLACK, "the silent server to be noticed")
        assert "No answer from" in s["accounts"][0]["reason"]
        assert kam.addr in s["accounts"][0]["reason"]
        assert "[unreg] 1001" in a.screen()
        kam.start()
        a.wait_registered(1, timeout=FAILOVER + 2 + SLACK)      # retry_interval 2


def test_a_dead_primary_is_replaced_by_the_secondary_within_keepalive_plus_failover(
        tmp_path):
    with Kamailio(tmp_path / "k1") as primary, Kamailio(tmp_path / "k2") as secondary:
        acct = alice(primary, secondary_server=secondary.addr)
        with PhoneProcess(tmp_path / "a", account=acct, settings=FAST) as a:
            acc = a.wait_registered(1)["accounts"][0]
            assert (acc["server"], acc["on_secondary"]) == (primary.addr, False)
            primary.stop()
            s = a.wait(lambda s: s["accounts"][0]["on_secondary"]
                       and s["accounts"][0]["status"] == "registered",
                       KEEPALIVE + FAILOVER + SLACK, "registered on the secondary")
            assert s["accounts"][0]["server"] == secondary.addr
            assert secondary.registered_contacts("1001") == [f"sip:1001@{a.addr};ob"]
            assert "[reg] 1001" in a.screen()


def test_a_pbx_answering_options_itself_is_kept_alive_without_registering_again_and_again(
        tmp_path):
    """Servers that answer an OPTIONS to a user from their dial plan (404 even while we
    are registered) must not make the phone REGISTER at every keep-alive: after one
    fresh REGISTER that changes nothing, keep-alives go to the server itself."""
    from tests.peers.sipp import Sipp, parse_messages
    server = Sipp(tmp_path / "pbx", scenario="uas_register_options_404.xml", calls=1000,
                  timeout=120, extra_args=["-deadcall_wait", "1"]).start()
    # (-deadcall_wait: a REGISTER refresh reuses the Call-ID of an ended sipp "call")
    try:
        with PhoneProcess(tmp_path / "a", account={"user": "1001", "server": server.addr},
                          settings=FAST) as a:
            a.wait_registered(1)

            def received(method):
                return [m for m in parse_messages(server.messages())
                        if m["direction"] == "received" and m["method"] == method]
            to_server = f"OPTIONS sip:{server.addr} SIP/2.0"
            wait_for(lambda: sum(m["first_line"] == to_server
                                 for m in received("OPTIONS")) >= 3,
                     4 * KEEPALIVE + SLACK)
            options = [m["first_line"] for m in received("OPTIONS")]
            assert options[:2] == [f"OPTIONS sip:1001@{server.addr} SIP/2.0"] * 2, options
            assert set(options[2:]) == {to_server}, options
            registers = [m for m in received("REGISTER") if "Contact: *" not in m["text"]]
            assert len(registers) == 2                       # the first, and one more
            assert line(a)["status"] == "registered"
    finally:
        server.stop()


def test_a_refusal_names_the_fields_as_the_account_pages_do():
    """The LCD's and the web's account pages say "User name", "Authen user"/"Authenticate
    Name", "SIP1"/"SIP Server": a reason naming `account.1.auth_user` sent a person to a
    file they may never have seen."""
    from firmware.sip.registration import explain
    for code in (401, 403, 404, 408):
        text = explain(code, "", "pbx.example.com:5060", 2)
        assert "Account 2's" in text and "account.2" not in text, text
    assert "user name, authentication name and password" in explain(401, "", "s", 1)
    assert "SIP server and the network" in explain(408, "", "s", 1)
