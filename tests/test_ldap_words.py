"""LDAP settings and messages in a person's words (issue 14 item 5, the review): a port in
the server field is refused where it is typed, a bind user without a password, TLS
failures (untrusted certificate, host name mismatch) are sentences, not Python reprs; a
search cut by ldap.max_hits says more exist; two servers are searched at once; the desk
user is told to ask the administrator for a server. Against a real slapd with a test CA
(tests/test_ldap.py's fixtures), silent servers (tests/peers/slapd.py), the web in-process."""
from __future__ import annotations

import threading

import pytest

from firmware.directory import ldap
from firmware.errors import SettingError
from firmware.settings import check
from tests.peers.slapd import ADMIN, SilentServer
from tests.test_ldap import PEOPLE_BASE, _settings, certs, search, slapd  # noqa: F401
from tests.test_ldap_search import _rig, _run_jobs, _server, _web

pytestmark = pytest.mark.timeout(120)


# --- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["ldap.server", "ldap2.server"])
@pytest.mark.parametrize("value", ["127.0.0.1:389", "ldap.example.com:636", "[::1]:389"])
def test_a_port_in_the_server_field_is_refused_where_it_is_typed(key, value):
    """It was taken, and the port setting then ignored: "LDAP 127.0.0.1:389:16438"."""
    with pytest.raises(SettingError, match="put the port in LDAP Server Port"):
        check(key, value)


@pytest.mark.parametrize("value", ["ldap.example.com", "10.0.0.5", "fe80::1", "[::1]", ""])
def test_host_names_and_addresses_are_still_taken(value):
    assert check("ldap.server", value) == value


# --- reasons in words -----------------------------------------------------------------------

def test_a_bind_user_without_a_password_is_said_in_words(slapd):
    answer = search(_settings(slapd.port, user=ADMIN, password=""), "Jo")
    assert answer.hits == ()
    assert answer.reason == f"LDAP 127.0.0.1:{slapd.port}: a bind user needs a password " \
        "(ldap.password)"


@pytest.mark.parametrize("security", ["ldaps", "starttls"])
def test_tls_failures_are_said_in_words(slapd, certs, security):  # noqa: F811
    port = slapd.tls_port if security == "ldaps" else slapd.port
    untrusted = search(_settings(port, security=security, ca_file=str(certs["other"])), "Jo")
    assert untrusted.reason == f"LDAP 127.0.0.1:{port}: certificate not trusted: check " \
        "ldap.ca_file"
    st = _settings(port, security=security, ca_file=str(certs["ca"]))
    st.ldap.server = "localhost"                 # the certificate names 127.0.0.1 only
    assert search(st, "Jo").reason == f"LDAP localhost:{port}: host name does not match " \
        "the certificate"
    st = _settings(port, security=security, ca_file="/nonexistent/ca.pem")
    assert search(st, "Jo").reason == f"LDAP 127.0.0.1:{port}: cannot read the CA file " \
        "(ldap.ca_file)"


def test_the_second_servers_setting_is_named_as_its_own(slapd, certs):  # noqa: F811
    st = _settings(slapd.tls_port)
    st.ldap.server = ""
    st.ldap2.server, st.ldap2.port, st.ldap2.base = "127.0.0.1", slapd.tls_port, PEOPLE_BASE
    st.ldap2.security, st.ldap2.ca_file = "ldaps", str(certs["other"])
    assert search(st, "Jo").reason.endswith("certificate not trusted: check ldap2.ca_file")
    st.ldap2.security, st.ldap2.user = "none", ADMIN
    st.ldap2.port = slapd.port
    assert search(st, "Jo").reason.endswith("a bind user needs a password (ldap2.password)")


# --- more than max_hits -----------------------------------------------------------------------

def test_a_search_cut_by_max_hits_says_more_exist(slapd):
    answer = search(_settings(slapd.port, max_hits=2), "Jo")   # four entries start so
    assert len(answer.hits) == 2 and answer.more
    assert not search(_settings(slapd.port, max_hits=4), "Jo").more   # all four came
    rig = _rig(slapd.port, **{"ldap.max_hits": 2})
    rig.walk("Phone book", "LDAP", "Search name")
    rig.press("5")                               # j
    _run_jobs(rig)
    assert "First 2 shown: type" in rig.seen and "more to narrow" in rig.seen   # in turns


def test_the_web_says_first_shown_when_max_hits_cut_it(slapd, tmp_path):
    async def test(client):
        text = await (await client.get("/phonebook/ldap", params={"q": "Jo"})).text()
        assert "First 2 shown of those found for “Jo”: the servers have more, type more " \
            "to narrow the search" in text
        assert "2 found" not in text
    _web(tmp_path, test, {**_server(slapd.port), "ldap.max_hits": 2})


# --- two servers at once ----------------------------------------------------------------------

def test_two_silent_servers_are_waited_for_at_once():
    """Both are asked before either has answered (one after the other, a silent first
    server held the second one's search back a whole timeout)."""
    first, second = SilentServer(), SilentServer()
    st = _settings(first.port, timeout=30)
    st.ldap2.server, st.ldap2.port, st.ldap2.base = "127.0.0.1", second.port, PEOPLE_BASE
    st.ldap2.timeout = 30
    answers = []
    searching = threading.Thread(target=lambda: answers.append(search(st, "Jo")), daemon=True)
    searching.start()
    try:
        assert first.accepted.wait(10) and second.accepted.wait(10), "not asked at once"
        assert searching.is_alive()              # neither has answered
    finally:
        first.close()                            # their connections break: the search ends
        second.close()
    searching.join(30)
    (answer,) = answers
    assert answer.hits == ()
    assert answer.reason.index(f":{first.port}:") < answer.reason.index(f":{second.port}:")


# --- the desk user ------------------------------------------------------------------------------

def test_the_desk_user_is_told_to_ask_the_administrator(tmp_path):
    async def desk(client):
        text = await (await client.get("/phonebook/ldap", params={"q": "jo"})).text()
        assert "No LDAP server is set: ask your administrator to set an LDAP server" in text
        assert "Phone Book &gt; LDAP" not in text          # a page the desk user cannot open
        doc = await (await client.get("/api/ldap", params={"q": "jo"})).json()
        assert "ask your administrator" in doc["reason"]
    (tmp_path / "user").mkdir()
    _web(tmp_path / "user", desk, role="user")

    async def admin(client):
        text = await (await client.get("/phonebook/ldap", params={"q": "jo"})).text()
        assert "no server is set (Phone Book &gt; LDAP)" in text
    (tmp_path / "admin").mkdir()
    _web(tmp_path / "admin", admin)
