"""The SIP text toolkit (firmware/sip/text.py): one header parser, one URI helper."""
from __future__ import annotations

import pytest

from firmware.sip.text import (Message, headers, host_of, host_only, params, parse_summary,
                               source_ip, split_host_port, split_uri, uri_key, user_of,
                               via_host)

INVITE = ("INVITE sip:1001@10.0.0.2 SIP/2.0\r\n"
          "v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK1\r\n"
          "f: \"Alice\" <sip:1002@pbx>;tag=a\r\n"
          "t: <sip:1001@pbx>\r\n"
          "i: abc@10.0.0.9\r\n"
          "CSeq: 1 INVITE\r\n"
          "m: <sip:1002@10.0.0.9:5060>\r\n"
          "c: application/sdp\r\n"
          "k: 100rel\r\n"
          "o: dialog;id=1\r\n"
          "e: gzip\r\n"
          "s: lunch\r\n"
          "u: talk\r\n"
          "r: <sip:1003@pbx>\r\n"
          "b: <sip:1004@pbx>\r\n"
          "x: 1800;refresher=uac\r\n"
          "l: 4\r\n"
          "\r\n"
          "v=0\r\nextra")


def test_every_compact_form_reads_as_its_full_name():
    h = headers(INVITE)
    assert h["via"].startswith("SIP/2.0/UDP 10.0.0.9")
    assert h["from"] == '"Alice" <sip:1002@pbx>;tag=a'
    assert h["to"] == "<sip:1001@pbx>"
    assert h["call-id"] == "abc@10.0.0.9"
    assert h["contact"] == "<sip:1002@10.0.0.9:5060>"
    assert h["content-type"] == "application/sdp"
    assert h["supported"] == "100rel"
    assert h["event"] == "dialog;id=1"
    assert h["content-encoding"] == "gzip"
    assert h["subject"] == "lunch"
    assert h["allow-events"] == "talk"
    assert h["refer-to"] == "<sip:1003@pbx>"
    assert h["referred-by"] == "<sip:1004@pbx>"
    assert h["session-expires"] == "1800;refresher=uac"
    assert h["content-length"] == "4"


def test_the_body_ends_where_content_length_says():
    msg = Message.parse(INVITE)
    assert msg.body == "v=0\r"
    assert msg.method == "INVITE" and msg.status == 0


def test_folded_lines_are_joined_and_lf_line_ends_read():
    msg = Message.parse("OPTIONS sip:x SIP/2.0\nFrom: \"Fold\"\n <sip:f@h>;tag=1\n"
                        "Subject: one\n\ttwo\n\nbody")
    assert msg.get("from") == '"Fold" <sip:f@h>;tag=1'
    assert msg.get("subject") == "one two"
    assert msg.body == "body"


def test_first_value_wins_and_all_values_are_kept_in_order():
    msg = Message.parse(b"NOTIFY sip:x SIP/2.0\r\nEvent: dialog\r\no: presence\r\n\r\n")
    assert msg.get("Event") == "dialog" and msg.get("o") == "dialog"
    assert msg.all("event") == ["dialog", "presence"]


def test_a_response_has_its_status_and_reason():
    msg = Message.parse(b"SIP/2.0 489 Bad Event\r\nCSeq: 2 SUBSCRIBE\r\n\r\n")
    assert (msg.status, msg.reason, msg.method) == (489, "Bad Event", "SIP/2.0")


def test_header_parameters():
    assert params("<sip:pbx>;answer-after=0;Priority=\"emergency\"") == {
        "answer-after": "0", "priority": "emergency"}
    assert params("answer-after=2;x") == {"answer-after": "2", "x": ""}


@pytest.mark.parametrize("text, want", [
    ('"Alice" <sip:1001@host>', ("Alice", "sip:1001@host", "1001")),
    ('Bob <sips:1002@host:5061;transport=tls>;tag=x', ("Bob", "sips:1002@host:5061;transport=tls",
                                                       "1002")),
    ('"Q\\"u<o>te,;" <sip:q@h>', ('Q"u<o>te,;', "sip:q@h", "q")),
    ('"" <sip:e@h>', ("", "sip:e@h", "e")),
    ("sip:1003@pbx;user=phone", ("", "sip:1003@pbx", "1003")),
    ("<tel:+15551234>", ("", "tel:+15551234", "+15551234")),
    ("sip:[2001:db8::1]:5060", ("", "sip:[2001:db8::1]:5060", "[2001:db8::1]:5060")),
])
def test_split_uri(text, want):
    assert split_uri(text) == want


def test_user_part():
    assert user_of("<sip:1003@pbx?Replaces=abc>") == "1003"
    assert user_of("sips:1004@pbx;transport=tls") == "1004"
    assert user_of("tel:+1555") == "+1555"


@pytest.mark.parametrize("server, hostport, host, port", [
    ("pbx.example.net", "pbx.example.net", "pbx.example.net", ""),
    ("pbx.example.net:5070", "pbx.example.net:5070", "pbx.example.net", "5070"),
    ("sip:10.0.0.1;transport=udp", "10.0.0.1", "10.0.0.1", ""),
    ("SIPS:pbx:5061", "pbx:5061", "pbx", "5061"),
    ("[2001:db8::1]:5060", "[2001:db8::1]:5060", "2001:db8::1", "5060"),
    ("sip:[2001:db8::1]", "[2001:db8::1]", "2001:db8::1", ""),
    ("2001:db8::1", "2001:db8::1", "2001:db8::1", ""),
])
def test_hosts_and_ports(server, hostport, host, port):
    assert host_of(server) == hostport
    assert host_only(server) == host
    assert split_host_port(host_of(server)) == (host, port)


def test_uri_key_matches_a_notify_to_its_subscription():
    assert uri_key("<sip:1002@127.0.0.1:5070;transport=udp>") == "1002@127.0.0.1"
    assert uri_key('"Bob" <sip:1002@PBX>;tag=9') == "1002@pbx"
    assert uri_key("sip:1002@[2001:db8::1]:5060") == "1002@[2001:db8::1]"


def test_sources_and_vias():
    assert source_ip("10.0.0.5:5060") == "10.0.0.5"
    assert source_ip("[::1]:5060") == "::1"
    assert via_host("SIP/2.0/UDP 10.0.0.9:5060;branch=z9;received=10.0.0.7") == "10.0.0.7"
    assert via_host("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9") == "2001:db8::9"
    assert via_host("SIP/2.0/UDP pbx;branch=z9") == "pbx"


def test_message_summary():
    assert parse_summary("Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n") == (True, 2, 8)
    assert parse_summary("Messages-Waiting: yes\r\n") == (True, 1, 0)
    assert parse_summary("Messages-Waiting: no\r\n") == (False, 0, 0)
