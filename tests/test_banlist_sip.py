"""The ban list over real SIP (issue 14 item 6): phone processes registered to Kamailio.
An entry added on the web's BanList page is refused by the SIP thread before it rings, a
caller not on it rings; a ringing caller banned from the LCD (Ban, Yes) is refused at once
and on every call after. The in-process walks, the store and the web page's forms:
tests/test_banlist.py."""
from __future__ import annotations

import urllib.parse
import urllib.request

from tests.helpers import idle, wait_for
from tests.test_incoming import ended_with


def add_on_the_web(phone, **fields) -> None:
    """Add BanList as a script does it: the page's form, HTTP Basic (no CSRF token)."""
    data = urllib.parse.urlencode(fields).encode()
    req = urllib.request.Request(phone.base + "/phonebook/banlist/new", data=data,
                                 method="POST")
    req.add_header("Authorization", phone.auth)
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=10) as resp:      # 303 -> the list
        page = resp.read().decode()
    assert fields["mobile"] in page and "Added" in page


def refused_by_the_sip_thread(phone, caller: str, code: int) -> None:
    """The phone's log says its SIP thread answered the INVITE itself (it never rang)."""
    wait_for(lambda: f"INVITE from sip:{caller}@127.0.0.1 refused with {code}" in
             phone.log_tail(400), f"{caller}'s INVITE refused in the log")


def test_an_entry_added_on_the_web_is_refused_and_others_ring(phones):
    a = phones.start("1001")
    b = phones.start("1002")
    c = phones.start("1003")
    add_on_the_web(b, first_name="Alice", mobile="1001", account="")
    a.dial("1002")
    ended_with(a, 486)
    assert b.state()["calls"] == [] and b.state()["missed"] == 0
    refused_by_the_sip_thread(b, "1001", 486)
    c.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")


def test_an_entry_for_another_account_lets_the_call_ring(phones):
    a = phones.start("1001")
    b = phones.start("1002")
    add_on_the_web(b, mobile="1001", account="2")     # B's line 1 takes this call
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")


def test_a_ringing_caller_banned_on_the_lcd_is_refused_now_and_after(phones):
    a = phones.start("1001")
    b = phones.start("1002")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("soft3")                                     # Ban
    b.wait(lambda s: "Ban 1001?" in b.screen(), what="the question")
    b.key("soft3")                                     # Yes
    ended_with(a, 486)                                 # phone.reject_code
    b.wait(idle)
    a.key("soft4")
    a.wait(idle)
    a.dial("1002")                                     # the SIP thread knows it already
    ended_with(a, 486)
    assert b.state()["calls"] == []
    refused_by_the_sip_thread(b, "1001", 486)


def test_an_entry_ending_in_a_star_refuses_every_caller_it_starts(phones):
    """0900* on the BanList page was taken, and 0900123 rang (the SIP thread matched the
    entry exactly); here 100* refuses 1001 before it rings."""
    a = phones.start("1001")
    b = phones.start("1002")
    add_on_the_web(b, mobile="100*", account="")
    a.dial("1002")
    ended_with(a, 486)
    assert b.state()["calls"] == [] and b.state()["missed"] == 0
    refused_by_the_sip_thread(b, "1001", 486)
