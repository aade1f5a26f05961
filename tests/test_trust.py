"""Who may ring, answer and notify us (issue 10 item 2, README "Security"): a call that asks
to be answered by itself opens the microphone only for the line's own server (or addresses
the administrator lists), a malformed answer delay is an ordinary call, with a server the
phone takes requests from its servers only (sip.trusted_only), and only the server lights
the message lamp. The server is a real Kamailio on 127.0.0.1; the stranger is sipp on
127.0.0.2 (Linux answers the whole 127/8 on lo: another address is another host)."""
from __future__ import annotations

import ipaddress

import pytest

from firmware.record import replace
from firmware.settings import Settings
from firmware.sip import IncomingPolicy, auto_answer
from firmware.sip.text import host_only as host
from firmware.sip.trust import Trust, trust_for
from tests.helpers import idle, talking
from tests.peers.kamailio import DEFAULT_USERS
from tests.peers.sipp import Sipp, parse_messages
from tests.phone import PhoneProcess

SERVER, STRANGER, OTHER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
INTERCOM = ["Call-Info: <sip:127.0.0.1>;answer-after=0", "Answer-Mode: Auto",
            "Alert-Info: Auto Answer"]
GARBAGE = ["-5", "-99999999999", "nan", "inf", "1e309", "abc", ""]


def invite(*headers: str) -> str:
    return ("INVITE sip:1001@127.0.0.1 SIP/2.0\r\nFrom: <sip:pbx@127.0.0.1>;tag=1\r\n"
            + "".join(h + "\r\n" for h in headers) + "Content-Length: 0\r\n\r\n")


# --- the rules, pure -------------------------------------------------------------------------

@pytest.mark.parametrize("delay", GARBAGE + ["3601", "0x10", "1_0", " -0.5"])
def test_a_malformed_answer_delay_asks_for_nothing(delay):
    for header in (f"Call-Info: <sip:x>;answer-after={delay}",
                   f"Alert-Info: <http://x>;info=alert-autoanswer;delay={delay}",
                   f"P-Auto-Answer: normal;delay={delay}"):
        assert auto_answer(invite(header)) is None, header


def test_a_well_formed_delay_still_counts_and_a_bad_header_does_not_hide_a_good_one():
    assert auto_answer(invite("Call-Info: <sip:x>;answer-after=2.5")).delay == 2
    page = auto_answer(invite("Call-Info: <sip:x>;answer-after=-5", "Answer-Mode: Auto"))
    assert page is not None and page.delay == 0 and page.header == "answer-mode"


def _settings(**account) -> Settings:
    s = Settings()
    if account:
        s.account[1].enable = True
        for k, v in account.items():
            setattr(s.account[1], k, v)
    return s


def test_trusted_only_is_on_by_itself_once_a_line_has_a_server_and_off_without_one():
    assert not trust_for(_settings(), {}).only                      # peer-to-peer phone
    assert not trust_for(_settings(user="1001"), {}).only
    assert trust_for(_settings(server="10.0.0.5"), {}).only
    assert trust_for(_settings(outbound_proxy="sip:proxy.example;lr"), {}).only
    s = _settings(server="10.0.0.5")
    s.account[1].enable = False                                     # a line switched off
    assert not trust_for(s, {}).only
    s = _settings()
    s.sip.trusted_only = "on"
    assert trust_for(s, {}).only
    s = _settings(server="10.0.0.5")
    s.sip.trusted_only = "off"
    assert not trust_for(s, {}).only


def test_servers_are_the_registrar_secondary_and_proxy_resolved_and_nothing_is_guessed():
    s = _settings(server="pbx.example:5070", secondary_server="[2001:db8::7]:5060",
                  outbound_proxy="sip:10.0.0.9;transport=udp")
    t = trust_for(s, {})                   # pbx.example not looked up yet: not trusted
    assert t.is_server("10.0.0.9") and t.is_server("2001:db8::7")
    assert not t.is_server("10.0.0.5")
    t = trust_for(s, {"pbx.example": frozenset([ipaddress.ip_address("10.0.0.5")])})
    assert t.is_server("10.0.0.5") and t.is_server("::ffff:10.0.0.5")
    assert [host(x) for x in ("pbx:5070", "[::1]:5060", "::1", "sips:h;x=1")] == \
        ["pbx", "::1", "::1", "h"]


def test_who_may_page_ring_and_notify():
    t = Trust(servers=frozenset([ipaddress.ip_address("10.0.0.5")]),
              trusted=(ipaddress.ip_network("10.1.0.0/16"),),
              intercom=(ipaddress.ip_network("10.2.0.7/32"),), only=True)
    assert t.may_page("10.0.0.5") and t.may_page("10.1.2.3") and t.may_page("10.2.0.7")
    assert not t.may_page("10.9.9.9") and not t.may_page("garbage")
    assert t.is_server("10.1.2.3") and not t.is_server("10.2.0.7")   # pages, not a server
    assert t.allows("10.2.0.7") and not t.allows("10.9.9.9") and not t.allows("")
    assert Trust().allows("10.9.9.9") and not Trust().may_page("10.9.9.9")


def test_the_policy_refuses_strangers_and_rings_their_pages_as_ordinary_calls():
    page = auto_answer(invite("Answer-Mode: Auto"))
    t = Trust(servers=frozenset([ipaddress.ip_address(SERVER)]), only=True)
    pol = IncomingPolicy(pages=True, trust=t)
    ask = dict(account=1, calls=0, caller="", anonymous=False)
    assert pol.decide(**ask, source_ip=STRANGER) == (403, "")
    assert not pol.allows_source(STRANGER) and pol.allows_source(SERVER)
    assert not pol.allows_notify(STRANGER, "message-summary")
    assert pol.page_from(SERVER, page) is page and pol.page_from(STRANGER, page) is None
    pol = replace(pol, trust=Trust(servers=t.servers))                 # trusted_only off
    assert pol.decide(**ask, source_ip=STRANGER, page=pol.page_from(STRANGER, page)) == \
        (180, "")


def test_a_kept_verdict_never_hides_a_page_from_a_source_that_may_page():
    """judge() keeps a verdict that read nothing of the INVITE (one lookup before the next
    180): from the server, whose INVITEs may ask to be answered, the next one that asks
    is still read and answered by itself; from a stranger the ask changes nothing."""
    t = Trust(servers=frozenset([ipaddress.ip_address(SERVER)]))
    pol = IncomingPolicy(pages=True, trust=t)
    plain, asks = invite(), invite("Answer-Mode: Auto")
    for _ in range(2):                              # worked out, then kept
        assert pol.judge(plain, account=1, calls=0, source_ip=SERVER).page is None
        assert pol.judge(plain, account=1, calls=0, source_ip=STRANGER).page is None
    paged = pol.judge(asks, account=1, calls=0, source_ip=SERVER)
    assert paged.code == 180 and paged.page is not None and paged.page.header == "answer-mode"
    assert pol.judge(asks, account=1, calls=0, source_ip=STRANGER).page is None
    assert pol.judge(plain, account=1, calls=0, source_ip=SERVER).page is None
    busy = pol.judge(plain, account=1, calls=1, source_ip=STRANGER)        # another key
    assert busy.code == 180 and pol.judge(plain, account=1, calls=9,
                                          source_ip=STRANGER).code == 486


# --- a phone registered at Kamailio; sipp as its server and as a stranger --------------------

@pytest.fixture(scope="module")
def registered(tmp_path_factory, kamailio):
    """Phone 1001 registered at the Kamailio on 127.0.0.1, factory trust settings."""
    p = PhoneProcess(tmp_path_factory.mktemp("trust") / "phone",
                     account={"user": "1001", "server": kamailio.addr,
                              "password": DEFAULT_USERS["1001"]})
    with p:
        p.wait_registered(1)
        yield p


@pytest.fixture
def ph(registered):
    yield registered
    p = registered
    if p.proc.poll() is None:
        if not idle(p.state()):
            if p.state()["screen"] == "ringing":
                p.key("soft2")
            elif p.state()["audio"] == "speaker":
                p.key("speaker")
            p.wait(idle, 8, "idle after the test")
        p.settings({"sip.trusted_only": "auto", "sip.trusted": [],
                    "paging.intercom_allow": []})


def sipp(tmp_path, phone, scenario, *, host=SERVER, keys=None, **kw) -> Sipp:
    return Sipp(tmp_path / f"sipp-{host}", scenario=scenario, remote=phone.addr,
                service="1001", keys=keys or {}, host=host, timeout=30, **kw)


def page(tmp_path, phone, header, *, host=SERVER, rings=False) -> Sipp:
    """A page from `host`: one that must be answered by itself (uac_page), or one that
    must ring and is declined by the person (uac_page_rings: a 200 fails it)."""
    return sipp(tmp_path, phone, "uac_page_rings.xml" if rings else "uac_page.xml",
                host=host, keys={"page_header": header, "extra_header": "X-Test: 1"},
                variables={} if rings else {"pause_ms": 500})


def rings_and_is_declined(phone: PhoneProcess, s: Sipp) -> None:
    """What a person sees of a call that rings like any other: the ringing screen, no
    "Broadcast", nothing switched on; they decline it and the caller never got a 200."""
    st = phone.wait(lambda s: s["screen"] == "ringing", what="the call ringing")
    assert st["calls"][0]["state"] == "ringing" and st["audio"] == "none", st
    assert "Broadcast" not in phone.screen()
    phone.key("soft2")                                 # Reject
    assert s.wait(20) == 0, s.errors()[-1500:] + s.messages()[-3000:]
    assert not [m for m in parse_messages(s.messages()) if m["direction"] == "received"
                and m["code"] == 200 and m["cseq_method"] == "INVITE"]
    phone.wait(idle, what="idle after declining")


@pytest.mark.parametrize("header", INTERCOM)
def test_a_page_from_another_host_rings_as_an_ordinary_call_and_the_microphone_stays_off(
        ph, tmp_path, header):
    ph.settings({"sip.trusted_only": "off"})          # strangers may call; may they page?
    with page(tmp_path, ph, header, host=STRANGER, rings=True) as s:
        rings_and_is_declined(ph, s)
    assert "asks to be answered by itself" in ph.log_tail(200)
    assert "not one of the lines' servers nor in paging.intercom_allow" in ph.log_tail(200)
    with page(tmp_path, ph, header) as s:             # the line's server pages as before
        ph.wait(lambda s: talking(s) and s["audio"] == "speaker", what="the page answered")
        assert "Broadcast" in ph.screen()
        assert s.wait(20) == 0, s.errors()[-1500:]
    ph.wait(idle, what="idle once the pager hangs up")


def test_an_address_in_intercom_allow_may_page_and_call_with_trusted_only_on(ph, tmp_path):
    with sipp(tmp_path, ph, "uac_page_rings.xml", host=STRANGER,
              keys={"page_header": "Answer-Mode: Auto", "extra_header": "X-Test: 1"}) as s:
        assert s.wait(20) != 0                         # refused before anything rang
    assert "SIP/2.0 403" in s.messages() and idle(ph.state())
    ph.settings({"paging.intercom_allow": [f"{STRANGER}/32"]})
    with page(tmp_path, ph, "Answer-Mode: Auto", host=STRANGER) as s:
        ph.wait(lambda s: talking(s) and s["audio"] == "speaker", what="the page answered")
        assert s.wait(20) == 0, s.errors()[-1500:]
    ph.wait(idle, what="idle once the pager hangs up")


@pytest.mark.parametrize("delay", GARBAGE)
def test_a_malformed_delay_from_the_server_rings_normally_and_the_phone_goes_on(
        ph, tmp_path, delay):
    with page(tmp_path, ph, f"Call-Info: <sip:127.0.0.1>;answer-after={delay}",
              rings=True) as s:
        rings_and_is_declined(ph, s)
    sipp(tmp_path, ph, "uac_options_ping.xml").run(timeout=15)
    assert "Traceback" not in ph.log_tail(400)


def test_with_a_server_calls_from_other_hosts_are_refused_until_trusted(ph, tmp_path):
    refused = sipp(tmp_path, ph, "uac_page_rings.xml", host=STRANGER,
                   keys={"page_header": "Subject: hello", "extra_header": "X-Test: 1"})
    assert refused.run(timeout=20, check=False) != 0
    assert "SIP/2.0 403" in refused.messages() and idle(ph.state())
    ph.settings({"sip.trusted": [STRANGER]})          # a second PBX node
    with sipp(tmp_path, ph, "uac_page_rings.xml", host=STRANGER,
              keys={"page_header": "Subject: hello", "extra_header": "X-Test: 1"}) as s:
        rings_and_is_declined(ph, s)


def test_with_a_server_other_hosts_get_403_for_every_request(ph, tmp_path):
    """The request gate (firmware/sip/gate.py) asks the policy for every out-of-dialog
    request; OPTIONS is the one a scanner sends first."""
    ping = sipp(tmp_path, ph, "uac_options_ping.xml", host=STRANGER)
    assert ping.run(timeout=15, check=False) != 0
    assert "SIP/2.0 403" in ping.messages()
    sipp(tmp_path, ph, "uac_options_ping.xml").run(timeout=15)     # the server's: 200


def _mwi(tmp_path, phone, host: str, new: int, old: int) -> str:
    s = sipp(tmp_path, phone, "uac_notify_mwi.xml", host=host,
             keys={"waiting": "yes" if new else "no", "new": new, "old": old})
    s.run(timeout=15, check=False)
    return s.messages()


@pytest.mark.parametrize("trusted_only", ["auto", "off"])
def test_only_the_server_lights_the_message_lamp(ph, tmp_path, trusted_only):
    ph.settings({"sip.trusted_only": trusted_only})
    text = _mwi(tmp_path, ph, STRANGER, 7, 3)
    assert "SIP/2.0 200" in text or "SIP/2.0 403" in text, text
    _mwi(tmp_path, ph, SERVER, 1, 0)                 # after the stranger's, in order
    s = ph.wait(lambda s: s["voicemail"] == 1, what="the server's NOTIFY counted")
    assert s["accounts"][0]["old_messages"] == 0
    assert "7 new, 3 old" not in ph.log_tail(400)    # the stranger's never counted
    assert ph.leds()["message"] == {"colour": "red", "pattern": "on"}
    _mwi(tmp_path, ph, SERVER, 0, 0)
    ph.wait(lambda s: s["voicemail"] == 0, what="the lamp out again")


# --- a phone with no server, and server names -----------------------------------------------

def test_without_a_server_anyone_may_call_but_nobody_may_page_unless_listed(tmp_path):
    with PhoneProcess(tmp_path / "p2p", account={"user": "1001"}) as p:
        with page(tmp_path, p, "Answer-Mode: Auto", host=STRANGER, rings=True) as s:
            rings_and_is_declined(p, s)                # peer-to-peer: it rings
        p.settings({"sip.trusted_only": "on"})
        refused = page(tmp_path, p, "Answer-Mode: Auto", host=STRANGER, rings=True)
        assert refused.run(timeout=20, check=False) != 0
        assert "SIP/2.0 403" in refused.messages()


def test_a_server_given_by_name_is_trusted_once_resolved_and_again_when_it_changes(tmp_path):
    acct = {"user": "1001", "server": f"{OTHER}:9"}
    with PhoneProcess(tmp_path / "named", account=acct,
                      settings={"sip.trusted_only": "off"}) as p:
        with page(tmp_path, p, "Answer-Mode: Auto", rings=True) as s:
            rings_and_is_declined(p, s)                # 127.0.0.1 is not the server
        p.settings({"account.1.server": "localhost:9"})
        p.wait(lambda s: "server localhost is 127.0.0.1" in p.log_tail(200), 15,
               "the server's name looked up")
        with page(tmp_path, p, "Answer-Mode: Auto") as s:
            p.wait(lambda s: talking(s) and s["audio"] == "speaker", what="the page answered")
            assert s.wait(20) == 0, s.errors()[-1500:]
