"""What one LDAP search may cost the phone (issue 14 item 5, the review of the first
version): at most ldap.KEPT (500) hits are kept, both servers together, whatever
ldap.max_hits says (0 = all: up to 32000 a server), with "First 500 shown" on the LCD and
the web; and the web's searches run in two threads of their own, so servers that do not
answer never take the loop's default executor (provisioning's fetches, shutdown) and a
third search is told at once that one is still running (503 on /api/ldap).

Against a real slapd (tests/peers/slapd.py) with 620 people, bound as its root DN (slapd's
own 500-entry limit does not bind that one, so the phone's limit is what cuts), and a
server that takes the connection and never answers (SilentServer). The LCD is the
in-process rig, the web pages are served in-process, as tests/test_ldap_search.py does.
"""
from __future__ import annotations

import asyncio

import pytest

from firmware.directory import ldap
from tests.peers.slapd import ADMIN, PASSWORD, SilentServer, Slapd
from tests.test_ldap_search import PEOPLE_BASE, _rig, _run_jobs, _server, _web

pytestmark = pytest.mark.timeout(120)

PEOPLE = [(f"Person {n:03}", "Person", [str(2000 + n)], []) for n in range(620)]
ROOT = {"ldap.user": ADMIN, "ldap.password": PASSWORD}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    with Slapd(tmp_path_factory.mktemp("slapd-big"), people=PEOPLE) as s:
        yield s


def _sections(port: int, max_hits: int, servers: int = 1) -> list:
    from firmware.settings import Settings
    st = Settings()
    for cfg in (st.ldap, st.ldap2)[:servers]:
        cfg.server, cfg.port, cfg.base = "127.0.0.1", port, PEOPLE_BASE
        cfg.user, cfg.password, cfg.max_hits = ADMIN, PASSWORD, max_hits
    return ldap.servers(st)


# --- what the phone keeps -------------------------------------------------------------------------

def test_all_hits_asked_for_are_cut_at_500_and_it_is_said(big):
    answer = ldap.search(_sections(big.port, 0), "Person")
    assert len(answer.hits) == ldap.KEPT == 500 and answer.more and answer.reason == ""
    answer = ldap.search(_sections(big.port, 32000), "Person")
    assert len(answer.hits) == 500 and answer.more


def test_both_servers_together_keep_500(big):
    answer = ldap.search(_sections(big.port, 400, servers=2), "Person")
    assert len(answer.hits) == 500 and answer.more        # 400 + the first 100 of server 2


def test_the_administrators_smaller_limit_says_more_exist_too(big):
    answer = ldap.search(_sections(big.port, 100), "Person")
    assert len(answer.hits) == 100 and answer.more       # "First 100 shown: type more"
    answer = ldap.search(_sections(big.port, 0), "Person 61")   # 610-619: all of them
    assert len(answer.hits) == 10 and not answer.more


def test_the_lcd_says_first_500_shown(big):
    rig = _rig(big.port, **ROOT, **{"ldap.max_hits": 0})
    rig.walk("Phone book", "LDAP", "Search name")
    rig.press("7")                                         # p
    _run_jobs(rig)
    assert len(rig.state.menu[-1].items) == 500
    assert "First 500 shown" in rig.lcd and "> Person" in rig.lcd


def test_the_web_says_first_500_shown(big, tmp_path):
    async def test(client):
        r = await client.get("/api/ldap", params={"q": "Person"})
        doc = await r.json()
        assert r.status == 200 and len(doc["hits"]) == 500 and doc["more"] is True
        text = await (await client.get("/phonebook/ldap", params={"q": "Person"})).text()
        assert "First 500 shown of those found for “Person”: the servers have more" in text
        assert text.count("<tr><td>Person") == 500
    _web(tmp_path, test, {**_server(big.port), **ROOT, "ldap.max_hits": 0})


# --- the web's own threads ------------------------------------------------------------------------

def test_searches_waiting_on_a_dead_server_leave_the_default_executor_free(tmp_path):
    """Six searches at once against a server that never answers: two wait in the web's
    threads, four are told at once that a search is still running; the loop's default
    executor (what provisioning and shutdown use) still runs a job meanwhile."""
    silent = SilentServer()
    try:
        async def test(client):
            searches = [asyncio.ensure_future(client.get("/api/ldap", params={"q": f"jo{i}"}))
                        for i in range(6)]
            busy = []
            for done in asyncio.as_completed(searches[:]):
                r = await asyncio.wait_for(done, 30)
                busy.append((r.status, (await r.json())["error"]))
                if len(busy) == 4:
                    break
            assert busy == [(503, ldap.BUSY)] * 4
            assert await asyncio.to_thread(lambda: wait_for_count(silent, 2))
            loop = asyncio.get_running_loop()
            assert await asyncio.wait_for(loop.run_in_executor(None, lambda: "free"), 10) \
                == "free"
            text = await (await client.get("/phonebook/ldap", params={"q": "jo"})).text()
            assert "A search is still running: try again in a moment" in text
            silent.close()                                 # the two waiting ones end now
            answered = [r for r in await asyncio.wait_for(asyncio.gather(*searches), 30)
                        if r.status == 200]
            assert len(answered) == 2
            for r in answered:
                assert f"LDAP 127.0.0.1:{silent.port}" in (await r.json())["reason"]
            # both threads free again (a server that answers at once: none is set)
            client.api.update_settings({"ldap.server": ""})
            r = await client.get("/api/ldap", params={"q": "jo"})
            assert r.status == 200 and "no server is set" in (await r.json())["reason"]
        _web(tmp_path, test, {**_server(silent.port), "ldap.timeout": 30})
    finally:
        silent.close()


def wait_for_count(silent: SilentServer, n: int) -> bool:
    """Until the silent server holds `n` connections (bounded: 10 s)."""
    import time
    deadline = time.monotonic() + 10
    while silent.count < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return silent.count >= n
