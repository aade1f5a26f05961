"""The LDAP phone book (manual, LDAP appendix; issue 14 item 5) against a real slapd
(tests/peers/slapd.py): filters with the manual's % / %s, RFC 4515 escaping of what a
person types, max hits, sorting, a wrong bind password, a server that is down, silent or
not LDAP at all (each a reason, never an exception), LDAPS and StartTLS with a test CA, and
a ringing phone whose caller's name comes from the directory without the ring waiting."""
from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from firmware.directory import ldap
from firmware.errors import SettingError
from firmware.settings import Settings, check
from tests.fakes import build
from tests.peers.slapd import ADMIN, BASE, PASSWORD, SilentServer, Slapd

PEOPLE_BASE = f"ou=people,{BASE}"


def _make_certs(d) -> dict:
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    def run(*argv):
        subprocess.run(["openssl", *argv], cwd=d, check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=deskphone test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out",
        "other.pem", "-days", "2", "-subj", "/CN=another CA")
    return {n: d / f"{n}.pem" for n in ("ca", "server", "other")} | {"key": d / "server.key"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return _make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, certs):
    with Slapd(tmp_path_factory.mktemp("slapd"), tls=(certs["server"], certs["key"])) as s:
        yield s


def _settings(port: int, **ldap_values) -> Settings:
    st = Settings()
    st.ldap.server, st.ldap.port, st.ldap.base = "127.0.0.1", port, PEOPLE_BASE
    for k, v in ldap_values.items():
        setattr(st.ldap, k, v)
    return st


def search(st: Settings, typed: str, kind: str = "name") -> ldap.Answer:
    return ldap.search(ldap.servers(st), typed, kind, st.ldap.sort)


def names(answer: ldap.Answer) -> list[str]:
    return [h.name for h in answer.hits]


@pytest.fixture
def silent():
    s = SilentServer()
    yield s
    s.close()


# --- filters: the manual's substitution and RFC 4515 escaping -----------------------------

def test_percent_and_percent_s_are_the_typed_prefix_escaped():
    assert ldap.build_filter("(|(cn=%s)(sn=%))", "Jo") == "(|(cn=Jo*)(sn=Jo*))"
    assert ldap.build_filter("(cn=%)", "a*b(c)d\\e\0") == r"(cn=a\2ab\28c\29d\5ce\00*)"
    # a % typed is a character, not a second placeholder
    assert ldap.build_filter("(cn=%s)", "50%s") == "(cn=50%s*)"
    assert ldap.build_filter("(&(telephoneNumber=%s)(sn=*))", "") == \
        "(&(telephoneNumber=*)(sn=*))"


def test_bad_filters_and_attributes_are_refused_by_the_settings():
    assert check("ldap.name_filter", "(&(sn=%)(cn=%s))") == "(&(sn=%)(cn=%s))"
    for bad in ("cn=%", "(cn=%", "(cn=%))(", "(cn=%)\n"):
        with pytest.raises(SettingError, match="LDAP filter|single line"):
            check("ldap2.name_filter", bad)
    with pytest.raises(SettingError, match="several filters: join them"):
        check("ldap.name_filter", "(cn=%)(sn=%)")
    with pytest.raises(SettingError, match="attribute"):
        check("ldap.number_attributes", ["telephoneNumber", "tel number"])
    with pytest.raises(SettingError, match="host"):
        check("ldap.server", "ldap server")
    assert check("ldap.version", 2) == 2
    with pytest.raises(SettingError):
        check("ldap.security", "ssl")


# --- searching a real slapd ---------------------------------------------------------------

def test_a_name_search_finds_every_entry_starting_with_the_prefix(slapd):
    answer = search(_settings(slapd.port, sort=True), "Jo")
    assert answer.reason == ""
    # cn or sn starting with Jo: Mary Jones by her surname
    assert names(answer) == ["Jo Adams", "Johanna Berg", "John Smith", "Mary Jones"]
    johanna = answer.hits[1]
    assert johanna.numbers == ("1007", "1008", "0170 555 1007")


@pytest.mark.parametrize("typed, found", [
    ("Star*", ["Star*Man"]), ("Star", ["Star*Man"]), ("Paren (", ["Paren (Sales)"]),
    ("Paren (Sales)", ["Paren (Sales)"]), ("Back\\", ["Back\\Slash"]), ("张", ["张三"]),
    ("*", []), (")(|(cn=*", []), ("\0", [])])
def test_what_is_typed_is_only_ever_a_value(slapd, typed, found):
    """*, (, ), \\ and NUL typed are matched as characters, never as filter syntax."""
    answer = search(_settings(slapd.port), typed)
    assert answer.reason == ""
    assert names(answer) == found


def test_a_number_search_and_the_attributes_asked_for(slapd):
    st = _settings(slapd.port, number_filter="(|(telephoneNumber=%s)(mobile=%s))",
                   name_attributes=("displayName", "sn"), number_attributes=("Mobile",))
    answer = search(st, "0170", "number")
    # no displayName: the first attribute the entry has (sn); the manual's "Mobile" spelling
    assert sorted((h.name, h.numbers) for h in answer.hits) == [
        ("Berg", ("0170 555 1007",)), ("Smith", ("0170 555 1001",))]


def test_max_hits_and_sorting(slapd):
    every = search(_settings(slapd.port, max_hits=0, sort=True), "")
    assert len(every.hits) == 8 and every.reason == ""
    assert names(every) == sorted(names(every), key=str.casefold)
    two = search(_settings(slapd.port, max_hits=2), "")
    assert len(two.hits) == 2 and two.reason == ""     # the server stopped at two: not an error


def test_the_caller_name_is_the_entry_with_exactly_that_number(slapd):
    servers = ldap.servers(_settings(slapd.port))
    assert ldap.caller_name(servers, "1008") == ("Johanna Berg", "")
    # spaces and dashes aside (the server's telephoneNumber matching does the same)
    assert ldap.caller_name(servers, "0170-555-1001") == ("John Smith", "")
    assert ldap.caller_name(servers, "0170555") == ("", "")           # a prefix only
    assert ldap.caller_name(servers, "100") == ("", "")               # 1001... are not 100


def test_a_wrong_bind_password_is_a_reason(slapd):
    answer = search(_settings(slapd.port, user=ADMIN, password="wrong"), "Jo")
    assert answer.hits == ()
    assert answer.reason == f"LDAP 127.0.0.1:{slapd.port}: wrong bind user or password"
    assert names(search(_settings(slapd.port, user=ADMIN, password=PASSWORD), "John")) == \
        ["John Smith"]


def test_the_servers_refusals_are_reasons_with_its_words(slapd):
    v2 = search(_settings(slapd.port, version=2), "Jo")       # slapd allows no LDAPv2 bind
    assert v2.hits == () and "bind refused (2 protocolError" in v2.reason
    base = search(_settings(slapd.port, base="dc=nothere,dc=org"), "Jo")
    assert base.hits == () and base.reason.endswith("search failed (32 noSuchObject)")


def test_a_server_that_is_down_fails_at_once_with_a_reason(slapd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # bound, not listening: connection refused
        answer = search(_settings(port), "Jo")
    assert answer.hits == () and "cannot connect" in answer.reason
    assert f"127.0.0.1:{port}" in answer.reason


def test_a_silent_server_is_given_up_after_the_timeout(silent):
    answer = search(_settings(silent.port, timeout=1), "Jo")
    assert silent.accepted.is_set()
    assert answer.hits == () and answer.reason.endswith("no answer within 1 s")


def test_a_peer_that_is_not_ldap_is_a_reason_not_an_exception():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def answer_http():
            conn, _ = srv.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()
        threading.Thread(target=answer_http, daemon=True).start()
        answer = search(_settings(srv.getsockname()[1], timeout=3), "Jo")
    assert answer.hits == () and answer.reason.startswith("LDAP 127.0.0.1:")


def test_the_second_server_is_searched_too_and_its_failure_named(slapd):
    st = _settings(slapd.port)
    st.ldap2.server, st.ldap2.port, st.ldap2.base = "127.0.0.1", slapd.port, PEOPLE_BASE
    st.ldap2.name_filter = "(cn=%)"
    st.ldap2.name_attributes = ("sn",)
    assert names(search(st, "John")) == ["John Smith", "Smith"]
    st.ldap.server = ""
    assert names(search(st, "John")) == ["Smith"]
    st.ldap2.password, st.ldap2.user = "wrong", ADMIN
    answer = search(st, "John")
    assert answer.hits == () and "wrong bind user or password" in answer.reason


# --- TLS ----------------------------------------------------------------------------------

def test_ldaps_and_starttls_check_the_server_against_the_ca(slapd, certs):
    ldaps = _settings(slapd.tls_port, security="ldaps", ca_file=str(certs["ca"]))
    assert names(search(ldaps, "John")) == ["John Smith"]
    starttls = _settings(slapd.port, security="starttls", ca_file=str(certs["ca"]))
    assert names(search(starttls, "John")) == ["John Smith"]
    for st in (ldaps, starttls):
        st.ldap.ca_file = str(certs["other"])           # not the CA that signed it
        answer = search(st, "John")
        assert answer.hits == () and "certificate not trusted" in answer.reason, \
            answer.reason                              # in words: tests/test_ldap_words.py


# --- the caller's name while it rings (in-process rig, the real slapd) ---------------------

def _rig(slapd, **extra):
    rig = build({"ldap.server": "127.0.0.1", "ldap.port": slapd.port, "ldap.base": PEOPLE_BASE,
                 "ldap.incoming": True, **extra})
    feature = rig.features.get("ldap")
    # the rig has no threads: the worker's job runs here, its event is posted as it would be
    feature._submit = lambda fn, *args: fn(*args)
    rig.bus.post_threadsafe = rig.bus.post
    return rig


def test_a_ringing_call_shows_the_callers_ldap_name_and_the_log_keeps_it(slapd):
    rig = _rig(slapd)
    cid = rig.incoming("1007", "Sip Name")
    rig.settle()
    assert rig.screen == "ringing" and "Johanna Berg" in rig.seen
    rig.far(rig.sip.hangs_up, cid)
    assert rig.calllog.lists["missed"][0].name == "Johanna Berg"


def test_a_name_for_a_call_already_gone_is_dropped(slapd):
    rig = _rig(slapd)
    feature = rig.features.get("ldap")
    jobs = []
    feature._submit = lambda fn, *args: jobs.append((fn, args))
    cid = rig.incoming("1007", "Sip Name")
    rig.far(rig.sip.hangs_up, cid)
    cid2 = rig.incoming("1009", "Second")       # the same id may come back for another call
    for fn, args in jobs:
        fn(*args)
    rig.settle()
    call = rig.state.call(cid2)
    assert call is not None and call.name == "Jo Adams"
    assert rig.calllog.lists["missed"][0].name == "Sip Name"


def test_lookup_off_or_unknown_number_keeps_the_sip_name(slapd):
    rig = _rig(slapd, **{"ldap.incoming": False})
    rig.incoming("1007", "Sip Name")
    assert "Sip Name" in rig.seen
    rig = _rig(slapd)
    rig.incoming("4711", "Sip Name")
    rig.settle()
    assert "Sip Name" in rig.seen


def test_a_phone_book_name_comes_before_the_ldap_name(slapd):
    rig = _rig(slapd)
    rig.phone.names.add("book", lambda n: "Aunt Jo" if n == "1007" else "")
    rig.incoming("1007", "Sip Name")
    rig.settle()
    assert "Aunt Jo" in rig.seen and "Johanna" not in rig.seen


def test_a_number_we_call_gets_its_ldap_name_with_lookup_for_dial(slapd):
    rig = _rig(slapd, **{"ldap.incoming": False, "ldap.dial": True})
    rig.hook(True)
    rig.dial("1007#")
    out = rig.sip.invited("1007")
    rig.settle()
    assert "Johanna Berg" in rig.seen
    rig.far(rig.sip.answers, out)
    assert rig.screen == "talking" and "Johanna Berg" in rig.seen
    rig.hook(False)
    assert rig.calllog.lists["dialled"][0].name == "Johanna Berg"
    rig = _rig(slapd)                               # ldap.dial off: the number alone
    rig.hook(True)
    rig.dial("1007#")
    rig.settle()
    assert "Johanna" not in rig.seen


def test_the_search_the_lcd_and_the_web_use_answers_on_the_loop(slapd):
    rig = _rig(slapd, **{"ldap.sort": True})
    got = []
    rig.features.get("ldap").search("Jo", "name", got.append)
    rig.settle()
    assert [names(a) for a in got] == [["Jo Adams", "Johanna Berg", "John Smith", "Mary Jones"]]


# --- a real phone: the name while it rings, and a silent server never delays the ring ------

def _ldap_settings(port: int, **extra) -> dict:
    return {"ldap.server": "127.0.0.1", "ldap.port": port, "ldap.base": PEOPLE_BASE,
            "ldap.incoming": True, **extra}


def test_a_phone_shows_the_callers_ldap_name_while_it_rings(phones, slapd):
    alice = phones.start("1001")                    # her SIP display name: Alice
    bob = phones.start("1002", settings=_ldap_settings(slapd.port))
    alice.dial("1002")
    bob.wait(lambda s: s["screen"] == "ringing")
    s = bob.wait(lambda s: s["calls"] and s["calls"][0]["name"] == "John Smith",
                 what="the LDAP name of 1001 on the ringing call")
    assert s["screen"] == "ringing"
    bob.wait_screen("John Smith")
    bob.hook(True)                                  # answered: the name stays
    bob.wait(lambda s: s["screen"] == "talking")
    bob.wait_screen("John Smith")
    bob.hook(False)
    received = bob.wait(lambda s: not s["calls"]) and \
        bob.request("GET", "/api/calllog")["received"]
    assert received[0]["number"] == "1001" and received[0]["name"] == "John Smith"


def test_a_silent_ldap_server_never_delays_the_ring(phones, silent):
    """The server takes the connection and never answers; the lookup waits out its 5 s
    while the phone already rings (and rang 180 to the caller)."""
    alice = phones.start("1001")
    bob = phones.start("1002", settings=_ldap_settings(silent.port, **{"ldap.timeout": 5}))
    alice.dial("1002")
    s = bob.wait(lambda s: s["screen"] == "ringing")
    alice.wait(lambda s: s["calls"] and s["calls"][0]["state"] == "ringback",
               what="Alice hears the ring back (180)")
    assert silent.accepted.wait(5), "the lookup never connected"
    # ringing, with the SIP name, while the lookup is still waiting for its answer
    assert s["calls"][0]["name"] == "Alice"
    assert "no answer within" not in bob.log_tail(200)
    bob.wait(lambda s: "no answer within 5 s" in bob.log_tail(200), timeout=15,
             what="the lookup to give up with its reason")
    assert bob.state()["screen"] == "ringing" and bob.state()["calls"][0]["name"] == "Alice"
