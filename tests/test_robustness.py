"""Malformed SIP, in the spirit of RFC 4475 (the messages are our own): each is sent over
UDP from 127.0.0.1 to a real phone, after which the phone must still answer OPTIONS with
200, its process must be alive and no call may linger.  Where RFC 3261 (or issue #10) names
an answer, the test asserts it:

- a method we do not handle (FOO, REGISTER, PUBLISH, ...): 405 or 501;
- BYE/INFO/REFER/PRACK/UPDATE/NOTIFY/re-INVITE for a dialog that does not exist, and a
  CANCEL with no transaction: 481;
- CSeq method not the request's method: 400;
- an INVITE whose offer has no media we can use: 488, before anything rings;
- an unknown Require in an INVITE: 420;
- garbage nobody could answer: no answer, or 400.

Odd but valid messages (folding, compact forms, escapes, odd whitespace) must work as plain
ones do: OPTIONS gets 200, INVITE rings.  Anything ringing is cancelled as a caller would.

Every message gets its own UDP socket (so whatever comes back answers it) and the OPTIONS
probe goes out on the same socket right after it: the phone handles one datagram after the
other, so by the time the probe's 200 is back, the answer to the message (if any) is too.
The table is plain Python: a `$`-template per message, filled in per test.
"""
from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import Callable

import pytest

from tests.helpers import idle
from tests.phone import PhoneProcess
from tests.sipwire import Response, Wire, token

pytestmark = pytest.mark.timeout(30)

ANY = "any"                  # no particular answer asked for: only "still works"
GARBAGE = {None, 400}        # nobody could answer it: drop it or say 400


# --- the messages ------------------------------------------------------------------------

@dataclass
class Ctx:
    """What a template is filled with: the phone's address and this test's socket."""
    host: str
    port: int
    lport: int
    cid: str
    branch: str
    tag: str

    def fill(self, text: str, method: str = "") -> str:
        for k, v in (("$HOST", self.host), ("$PORT", str(self.port)),
                     ("$LP", str(self.lport)), ("$CID", self.cid), ("$BR", self.branch),
                     ("$TAG", self.tag), ("$METHOD", method)):
            text = text.replace(k, v)
        return text


RURI = "sip:1001@$HOST:$PORT"
STD = {
    "via": "Via: SIP/2.0/UDP 127.0.0.1:$LP;branch=z9hG4bK$BR;rport",
    "max-forwards": "Max-Forwards: 70",
    "from": 'From: "Torture" <sip:torture@127.0.0.1:$LP>;tag=$TAG',
    "to": "To: <sip:1001@$HOST:$PORT>",
    "call-id": "Call-ID: $CID",
    "cseq": "CSeq: 1 $METHOD",
    "contact": "Contact: <sip:torture@127.0.0.1:$LP>",
}
SDP = ("v=0\r\no=torture 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio $LP RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def sdp(*replace: tuple[str, str], drop: tuple[str, ...] = (), add: str = "") -> str:
    """The plain offer with lines replaced (prefix -> whole line) or dropped (by prefix)."""
    lines = SDP.split("\r\n")[:-1]
    for prefix, line in replace:
        lines = [line if ln.startswith(prefix) else ln for ln in lines]
    lines = [ln for ln in lines if not ln.startswith(drop)] if drop else lines
    return "\r\n".join(lines) + "\r\n" + add


Render = Callable[[Ctx], bytes]


def req(method: str = "OPTIONS", *, ruri: str = RURI, drop: tuple[str, ...] = (),
        set: dict[str, str] | None = None, add: str | list[str] = (),
        body: str | None = None, ctype: str | None = None, length: str | None = None,
        first: str | None = None, eol: str = "\r\n") -> Render:
    """A request built from the standard headers: `drop` some (by name), `set` others to a
    whole line, `add` lines; body (INVITE: the plain SDP unless given), Content-Length the
    body's unless `length`; `first` replaces the request line."""
    headers = dict(STD)
    for name in drop:
        del headers[name]
    for name, line in (set or {}).items():
        headers[name] = line
    lines = [first or f"{method} {ruri} SIP/2.0", *headers.values()]
    lines += [add] if isinstance(add, str) else list(add)
    if body is None:
        body = SDP if method == "INVITE" else ""
    if body and ctype is None:
        ctype = "application/sdp" if method == "INVITE" else "text/plain"
    if ctype:
        lines.append(f"Content-Type: {ctype}")

    def render(ctx: Ctx) -> bytes:
        b = ctx.fill(body).encode("latin-1")
        ls = [ctx.fill(ln, method) for ln in lines if ln]
        ls.append(f"Content-Length: {length if length is not None else len(b)}")
        return (eol.join(ls) + eol + eol).encode("latin-1") + b
    return render


def raw(text: str | bytes) -> Render:
    """Exactly these bytes (str: latin-1, `$` fields filled, no CRLF added)."""
    if isinstance(text, bytes):
        return lambda ctx: text
    return lambda ctx: ctx.fill(text).encode("latin-1")


def invite_with_to_tag(method: str, *extra: str) -> Render:
    """An in-dialog request (To has a tag) for a dialog that was never made."""
    return req(method, set={"to": "To: <sip:1001@$HOST:$PORT>;tag=never-made"},
               add=list(extra))


@dataclass
class Case:
    name: str
    render: Render
    finals: set | str = ANY          # final codes allowed; None in it = no answer allowed
    rings: bool | None = None        # True: must ring (180/183); False: must not


RNG = random.Random(4475)
OPTIONS_OK = {200}

CASES = [
    # -- sanity: the plain messages the others are variations of
    Case("options_plain", req("OPTIONS"), OPTIONS_OK),
    Case("invite_plain", req("INVITE"), ANY, rings=True),

    # -- whitespace, folding, case, compact forms: valid, so they must work
    Case("folded_headers", req(set={
        "to": "To:\r\n <sip:1001@$HOST:$PORT>",
        "from": 'From: "Torture"\r\n\t <sip:torture@127.0.0.1:$LP>\r\n  ;tag=$TAG'},
        add="Subject: one\r\n two\r\n\tthree"), OPTIONS_OK),
    Case("whitespace_around_colons", req(set={
        "call-id": "Call-ID   :   $CID", "cseq": "CSeq:1\t\t  $METHOD",
        "max-forwards": "Max-Forwards :\t70"}), OPTIONS_OK),
    Case("whitespace_in_via_params", req(set={
        "via": "Via: SIP/2.0/UDP 127.0.0.1:$LP ; branch = z9hG4bK$BR ; rport"}), ANY),
    Case("compact_header_forms", req(set={
        "via": "v: SIP/2.0/UDP 127.0.0.1:$LP;branch=z9hG4bK$BR;rport",
        "from": "f: <sip:torture@127.0.0.1:$LP>;tag=$TAG", "to": "t: <sip:1001@$HOST:$PORT>",
        "call-id": "i: $CID", "contact": "m: <sip:torture@127.0.0.1:$LP>"}), OPTIONS_OK),
    Case("header_names_in_odd_case", req(set={
        "call-id": "cAlL-iD: $CID", "cseq": "cseq: 1 $METHOD", "via":
        "VIA: SIP/2.0/UDP 127.0.0.1:$LP;branch=z9hG4bK$BR;rport"}), OPTIONS_OK),
    Case("invite_folded_and_compact", req("INVITE", set={
        "from": "f: \"Fold\"\r\n <sip:fold@127.0.0.1:$LP>;tag=$TAG",
        "call-id": "i: $CID"}), ANY, rings=True),
    Case("lf_only_line_ends", req(eol="\n"), ANY),
    Case("uri_user_escaped", req(ruri="sip:%31%30%30%31@$HOST:$PORT"), ANY),
    Case("from_user_escaped_nul_and_space",
         req(set={"from": "From: <sip:a%20b%00c@127.0.0.1:$LP>;tag=$TAG"}), ANY),
    Case("quoted_display_with_escapes", req(set={
        "from": 'From: "J\\"o\\\\e \\t \\x" <sip:torture@127.0.0.1:$LP>;tag=$TAG'}),
         OPTIONS_OK),
    Case("invite_quoted_display_with_escapes", req("INVITE", set={
        "from": 'From: "Q\\"u\\\\o<te>,;" <sip:quote@127.0.0.1:$LP>;tag=$TAG'}),
         ANY, rings=True),
    Case("empty_display_name", req(set={
        "from": 'From: "" <sip:torture@127.0.0.1:$LP>;tag=$TAG'}), OPTIONS_OK),
    Case("unknown_header_token_chars", req(add="X-Torture-!%*_+`'~: !#$%&'*+-.^_`|~"),
         OPTIONS_OK),
    Case("uri_params_and_headers", req(set={
        "contact": "Contact: <sip:t@127.0.0.1:$LP;lr;foo=b%61r;maddr=127.0.0.1"
                   "?Subject=hi&Priority=urgent>;expires=10;+sip.instance=\"<urn:x>\""}),
         ANY),
    Case("ipv6_in_headers", req(set={
        "contact": "Contact: <sip:t@[::1]:5060>",
        "from": "From: <sip:t@[2001:db8::10]>;tag=$TAG"}), ANY),
    Case("accept_list_with_q_values", req(
        add="Accept: application/sdp;level=1, text/plain ; q=0.5, */*;q=0"), OPTIONS_OK),
    Case("max_forwards_zero", req(set={"max-forwards": "Max-Forwards: 0"}), {200, 483}),
    Case("max_forwards_garbage", req(set={"max-forwards": "Max-Forwards: seventy"}),
         {None, 400, 483, 200}),
    Case("max_forwards_huge", req(set={"max-forwards": "Max-Forwards: 99999999999999999"}),
         ANY),
    Case("double_spaces_in_request_line",
         req(first="OPTIONS  sip:1001@$HOST:$PORT  SIP/2.0"), ANY),
    Case("sips_uri_over_udp", req(ruri="sips:1001@$HOST:$PORT"), ANY),
    Case("sip_version_lowercase", req(first="OPTIONS sip:1001@$HOST:$PORT sip/2.0"), ANY),
    Case("sip_version_3", req(first="OPTIONS sip:1001@$HOST:$PORT SIP/3.0"),
         {None, 400, 505}),
    Case("long_subject_3000_bytes", req(add="Subject: " + "s" * 3000), ANY),
    Case("invite_unknown_require", req("INVITE", add="Require: torture-extension"),
         {420}, rings=False),
    Case("invite_expires_garbage", req("INVITE", add="Expires: -99999999999999999999"),
         ANY),
    Case("invite_session_expires_tiny", req("INVITE", add=["Session-Expires: 1",
                                                            "Supported: timer"]), ANY),
    Case("invite_answer_after_inf", req("INVITE", add=[
        "Call-Info: <sip:127.0.0.1>;answer-after=inf", "Alert-Info: <x>;info=alert-autoanswer"
    ]), ANY),
    Case("invite_answer_after_nan", req("INVITE", add=[
        "Call-Info: <sip:127.0.0.1>;answer-after=nan", "Answer-Mode: Auto"]), ANY),
    Case("invite_answer_after_huge_negative", req("INVITE", add=[
        "Call-Info: <sip:127.0.0.1>;answer-after=-1" + "0" * 400]), ANY),

    # -- Content-Length
    Case("content_length_negative", req(body="hello", length="-5"), GARBAGE),
    Case("content_length_larger_than_body", req(body="ten bytes!", length="500"), GARBAGE),
    Case("content_length_2_64", req(body="x", length="18446744073709551616"), GARBAGE),
    Case("content_length_2_32", req(body="x", length="4294967296"), GARBAGE),
    Case("content_length_200_digits", req(length="9" * 200), GARBAGE),
    Case("content_length_not_a_number", req(body="abc", length="three"), GARBAGE),
    Case("content_length_smaller_than_body", req(body="0123456789abcdef", length="4"),
         OPTIONS_OK),
    Case("content_length_leading_zeros", req(length="0000"), OPTIONS_OK),
    Case("content_length_twice_disagreeing", req(add="Content-Length: 40"), ANY),
    Case("invite_content_length_larger_than_body", req("INVITE", length="4000"), GARBAGE,
         rings=False),
    Case("invite_content_length_negative", req("INVITE", length="-1"), GARBAGE,
         rings=False),
    Case("invite_content_length_2_64", req("INVITE", length="18446744073709551617"),
         GARBAGE, rings=False),

    # -- mandatory headers missing
    Case("options_without_via", req(drop=("via",)), GARBAGE),
    Case("options_without_from", req(drop=("from",)), GARBAGE),
    Case("options_without_to", req(drop=("to",)), GARBAGE),
    Case("options_without_call_id", req(drop=("call-id",)), GARBAGE),
    Case("options_without_cseq", req(drop=("cseq",)), GARBAGE),
    Case("options_without_max_forwards", req(drop=("max-forwards",)), {None, 200, 400}),
    Case("invite_without_via", req("INVITE", drop=("via",)), GARBAGE, rings=False),
    Case("invite_without_from", req("INVITE", drop=("from",)), GARBAGE, rings=False),
    Case("invite_without_to", req("INVITE", drop=("to",)), GARBAGE, rings=False),
    Case("invite_without_call_id", req("INVITE", drop=("call-id",)), GARBAGE, rings=False),
    Case("invite_without_cseq", req("INVITE", drop=("cseq",)), GARBAGE, rings=False),
    Case("invite_without_max_forwards", req("INVITE", drop=("max-forwards",)), ANY),
    Case("invite_without_contact", req("INVITE", drop=("contact",)), GARBAGE, rings=False),
    Case("empty_call_id", req(set={"call-id": "Call-ID: "}), GARBAGE),
    Case("call_id_header_name_with_space", req(set={"call-id": "Call ID: $CID"}), GARBAGE),
    Case("call_id_10_kb", req(set={"call-id": "Call-ID: " + "c" * 10000}), ANY),
    Case("call_id_twice", req(add="Call-ID: another-$CID"), ANY),
    Case("from_twice", req(add="From: <sip:second@127.0.0.1>;tag=2"), ANY),
    Case("from_without_tag", req(set={"from": "From: <sip:torture@127.0.0.1:$LP>"}), ANY),
    Case("via_without_branch", req(set={"via": "Via: SIP/2.0/UDP 127.0.0.1:$LP;rport"}),
         ANY),
    Case("via_unknown_transport", req(set={
        "via": "Via: SIP/2.0/FOO 127.0.0.1:$LP;branch=z9hG4bK$BR;rport"}), ANY),
    Case("via_port_99999", req(set={
        "via": "Via: SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bK$BR;rport"}), ANY),

    # -- methods and schemes
    Case("method_foo", req("FOO"), {405, 501}),
    Case("method_register", req("REGISTER", ruri="sip:$HOST:$PORT", add="Expires: 60"),
         {405, 501}),
    Case("method_publish", req("PUBLISH", add="Event: presence", body="x"), {405, 501}),
    Case("method_lowercase_invite", req("invite", body=SDP, ctype="application/sdp"),
         {405, 501}, rings=False),
    Case("method_long_extension", req("X" * 200 + "-TORTURE", body="payload"), {405, 501}),
    Case("subscribe_unknown_event", req("SUBSCRIBE", add=["Event: torture", "Expires: 60"]),
         {403, 405, 489, 501}),          # 403: only the lines' servers may subscribe
    Case("message_out_of_dialog", req("MESSAGE", body="hi"), ANY),
    Case("bye_no_dialog", invite_with_to_tag("BYE"), {481}),
    Case("info_no_dialog", invite_with_to_tag("INFO"), {481}),
    Case("refer_no_dialog", invite_with_to_tag("REFER", "Refer-To: <sip:1002@127.0.0.1>"),
         {481}),
    Case("prack_no_dialog", invite_with_to_tag("PRACK", "RAck: 1 1 INVITE"), {481}),
    Case("update_no_dialog", invite_with_to_tag("UPDATE"), {481}),
    Case("notify_no_dialog", invite_with_to_tag("NOTIFY", "Event: dialog",
                                                "Subscription-State: active"), {481}),
    Case("reinvite_no_dialog", invite_with_to_tag("INVITE"), {481}, rings=False),
    Case("bye_without_to_tag", req("BYE"), {481}),
    Case("info_without_to_tag", req("INFO"), {481}),
    Case("refer_without_to_tag", req("REFER", add="Refer-To: <sip:1002@127.0.0.1>"),
         {403, 405, 481, 501}),
    Case("prack_without_to_tag", req("PRACK", add="RAck: 1 1 INVITE"), {481}),
    Case("update_without_to_tag", req("UPDATE"), {481}),
    Case("cancel_no_transaction", req("CANCEL"), {481}),
    Case("ack_no_transaction", req("ACK"), {None}),
    Case("ruri_scheme_im", req(ruri="im:1001@$HOST"), {None, 400, 404, 416}),
    Case("invite_ruri_scheme_foo", req("INVITE", ruri="foo:bar"), {None, 400, 404, 416},
         rings=False),
    Case("invite_ruri_tel", req("INVITE", ruri="tel:+1-1001;phone-context=x"), ANY),
    Case("from_scheme_foo", req(set={"from": "From: <foo:bar>;tag=$TAG"}), ANY),
    Case("invite_to_scheme_im", req("INVITE", set={"to": "To: <im:1001@$HOST>"}), ANY),
    Case("invite_contact_scheme_foo", req("INVITE", set={"contact": "Contact: <foo:x@y>"}),
         ANY),
    Case("no_request_uri", req(first="OPTIONS SIP/2.0"), GARBAGE),

    # -- CSeq
    Case("cseq_method_mismatch", req(set={"cseq": "CSeq: 1 INVITE"}), {400}),
    Case("invite_cseq_method_mismatch", req("INVITE", set={"cseq": "CSeq: 1 OPTIONS"}),
         {400}, rings=False),
    Case("cseq_negative", req(set={"cseq": "CSeq: -1 OPTIONS"}), GARBAGE),
    Case("cseq_2_32", req(set={"cseq": "CSeq: 4294967296 OPTIONS"}), {None, 200, 400}),
    Case("cseq_without_method", req(set={"cseq": "CSeq: 5"}), GARBAGE),
    Case("cseq_not_a_number", req(set={"cseq": "CSeq: abc OPTIONS"}), GARBAGE),
    Case("cseq_twice_disagreeing", req(add="CSeq: 2 OPTIONS"), ANY),

    # -- NUL bytes and other control characters
    Case("nul_in_header_value", req(add="Subject: before\x00after"), ANY),
    Case("nul_in_request_uri", req(ruri="sip:10\x0001@$HOST:$PORT"), ANY),
    Case("nul_in_header_name", req(add="X-Nu\x00ll: 1"), ANY),
    Case("nul_in_body", req(body="bin\x00ary\x00\x00", ctype="application/octet-stream"),
         ANY),
    Case("invite_nul_in_sdp", req("INVITE", body=sdp(("s=", "s=a\x00b"))), ANY),
    Case("nul_bytes_only", raw(b"\x00" * 512), GARBAGE),
    Case("single_nul", raw(b"\x00"), GARBAGE),
    Case("crlf_keepalive", raw(b"\r\n\r\n"), {None}),
    Case("empty_datagram", raw(b""), {None}),
    Case("escape_sequences_in_subject", req(add="Subject: \x1b[2J\x1b[31mred\x07\x08"), ANY),

    # -- bytes that are not UTF-8
    Case("invite_latin1_display_name", req("INVITE", set={
        "from": 'From: "\xc9ric M\xfcller" <sip:eric@127.0.0.1:$LP>;tag=$TAG'}),
         ANY, rings=True),
    Case("invite_broken_utf8_display_name", req("INVITE", set={
        "from": 'From: "\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28" <sip:b@127.0.0.1:$LP>'
                ';tag=$TAG'}), ANY, rings=True),
    Case("invite_overlong_utf8_display_name", req("INVITE", set={
        "from": 'From: "\xc0\xaf\xe0\x80\xaf" <sip:o@127.0.0.1:$LP>;tag=$TAG'}), ANY),
    Case("invite_utf16_display_name", req("INVITE", set={
        "from": 'From: "\xff\xfeA\x00B\x00" <sip:u@127.0.0.1:$LP>;tag=$TAG'}), ANY),
    Case("invalid_utf8_in_subject", req(add="Subject: \xc3\x28\xff\xfe"), ANY),
    Case("unquoted_display_name_8bit", req(set={
        "from": "From: \xe9\xe8\xe0 <sip:torture@127.0.0.1:$LP>;tag=$TAG"}), ANY),

    # -- size
    Case("header_64_kb", req(add="Subject: " + "H" * 64000), ANY),
    Case("many_vias_3000", req(add=["v: SIP/2.0/UDP h%d" % i for i in range(3000)]), ANY),
    Case("one_via_3000_values", req(add="Via: " + ",".join(
        "SIP/2.0/UDP h%d" % i for i in range(3000))), ANY),
    Case("headers_5000", req(add=["X:%d" % i for i in range(5000)]), ANY),
    Case("request_uri_8_kb", req(ruri="sip:" + "u" * 8000 + "@$HOST:$PORT"), ANY),
    Case("display_name_10000_backslashes", req(set={
        "from": 'From: "' + "\\\\" * 5000 + '" <sip:t@127.0.0.1:$LP>;tag=$TAG'}), ANY),
    Case("datagram_65507_bytes", raw(b"A" * 65507), GARBAGE),
    Case("invite_sdp_60_kb", req("INVITE", body=sdp(add="a=x-pad:" + "p" * 60000 + "\r\n")),
         ANY),
    Case("invite_sdp_500_m_lines", req("INVITE", body=sdp(add="".join(
        f"m=audio {2000 + 2 * i} RTP/AVP 0\r\n" for i in range(500)))), ANY),
    Case("invite_sdp_1000_payload_types", req("INVITE", body=sdp(
        ("m=", "m=audio $LP RTP/AVP " + " ".join(str(i % 128) for i in range(1000))))), ANY),

    # -- SDP we cannot use: 488 before ringing
    Case("sdp_without_m_line", req("INVITE", body=sdp(drop=("m=", "a="))), {400, 488},
         rings=False),
    Case("sdp_audio_port_0", req("INVITE", body=sdp(("m=", "m=audio 0 RTP/AVP 0"))),
         {488}, rings=False),
    Case("sdp_unknown_codecs_only", req("INVITE", body=sdp(
        ("m=", "m=audio $LP RTP/AVP 96 97"), ("a=rtpmap:0", "a=rtpmap:96 TORTURE/8000"),
        ("a=rtpmap:101", "a=rtpmap:97 NOPE/16000"))), {488}, rings=False),
    Case("sdp_video_only", req("INVITE", body=sdp(
        ("m=", "m=video $LP RTP/AVP 96"), ("a=rtpmap:0", "a=rtpmap:96 H264/90000"),
        ("a=rtpmap:101", "a=sendrecv"))), {488}, rings=False),
    Case("sdp_unknown_transport", req("INVITE", body=sdp(("m=", "m=audio $LP TORTURE/X 0"))),
         {488}, rings=False),
    Case("sdp_bad_c_line", req("INVITE", body=sdp(("c=", "c=IN IP4 999.1.2.3.4"))),
         {400, 488}, rings=False),
    Case("sdp_c_line_garbage", req("INVITE", body=sdp(("c=", "c=XX"))), {400, 488},
         rings=False),
    Case("sdp_no_c_line", req("INVITE", body=sdp(drop=("c=",))), {400, 488}, rings=False),
    Case("sdp_port_too_big", req("INVITE", body=sdp(("m=", "m=audio 99999 RTP/AVP 0"))),
         {400, 488}, rings=False),
    Case("sdp_not_sdp_at_all", req("INVITE", body="this is not a session description\r\n"),
         {400, 488}, rings=False),
    Case("sdp_without_v_line", req("INVITE", body=sdp(drop=("v=",))), {400, 488},
         rings=False),
    Case("sdp_body_as_text_plain", req("INVITE", ctype="text/plain"), {400, 415, 488},
         rings=False),
    Case("invite_without_offer", req("INVITE", body=""), ANY, rings=True),

    # -- responses where requests belong, and garbage
    Case("stray_200_ok", raw(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bK$BR\r\n"
        "From: <sip:1001@$HOST>;tag=$TAG\r\nTo: <sip:x@127.0.0.1>;tag=2\r\nCall-ID: $CID\r\n"
        "CSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:$LP>\r\nContent-Length: 0\r\n\r\n"),
         {None}),
    Case("stray_180", raw(
        "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bK$BR\r\n"
        "From: <sip:1001@$HOST>;tag=$TAG\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: $CID\r\n"
        "CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"), {None}),
    Case("response_code_999", raw(
        "SIP/2.0 999 Odd\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bK$BR\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: $CID\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"), {None}),
    Case("response_code_huge", raw(
        "SIP/2.0 4294967297 Huge\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bK$BR\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: $CID\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"), {None}),
    Case("response_line_with_request_headers", req(first="SIP/2.0 200 OK"), {None}),
    Case("response_with_sdp_body", raw(
        "SIP/2.0 183 Session Progress\r\nVia: SIP/2.0/UDP $HOST:$PORT;branch=z9hG4bK$BR\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: $CID\r\nCSeq: 1 INVITE\r\n"
        "Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\nxxxxx"), {None}),
    Case("http_request", raw("GET / HTTP/1.1\r\nHost: $HOST\r\n\r\n"), GARBAGE),
    Case("header_line_without_colon", req(add="This line has no colon"), GARBAGE),
    Case("headers_without_request_line", raw(
        "Via: SIP/2.0/UDP 127.0.0.1:$LP;branch=z9hG4bK$BR;rport\r\nCall-ID: $CID\r\n\r\n"),
         GARBAGE),
    Case("truncated_in_a_header", lambda ctx: req()(ctx)[:150], GARBAGE),
    Case("truncated_in_request_line", raw("OPTIONS sip:1001@$HO"), GARBAGE),
    Case("random_bytes", raw(bytes(RNG.randrange(256) for _ in range(1200))), GARBAGE),
    Case("rtp_like_packet", raw(b"\x80\x00\x12\x34" + bytes(168)), GARBAGE),
    Case("stun_binding_request", raw(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)), ANY),
    Case("only_a_request_line", raw("OPTIONS sip:1001@$HOST:$PORT SIP/2.0\r\n\r\n"),
         GARBAGE),
    Case("invite_twice_same_branch", lambda ctx: req("INVITE")(ctx), ANY),   # sent twice
]
SEND_TWICE = {"invite_twice_same_branch"}


def test_the_torture_set_has_at_least_80_messages():
    assert len(CASES) >= 80 and len({c.name for c in CASES}) == len(CASES)


# --- the phone ---------------------------------------------------------------------------

class PhoneUnderTest:
    """The module's phone; one that died is replaced for the next message (so every
    message that kills it is named, not only the first), its log kept in its own dir."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0
        self.phone: PhoneProcess | None = None

    def get(self) -> PhoneProcess:
        if self.phone is None or self.phone.proc.poll() is not None:
            self.n += 1
            self.phone = PhoneProcess(self.tmp / f"phone-{self.n}",
                                      account={"user": "1001", "display_name": "Torture"})
            self.phone.start()
        return self.phone

    def close(self) -> None:
        if self.phone is not None:
            try:
                self.phone.stop()
            finally:
                self.phone.kill()


@pytest.fixture(scope="module")
def phones(tmp_path_factory):
    p = PhoneUnderTest(tmp_path_factory.mktemp("torture"))
    yield p
    p.close()


class LogWatch:
    """The phone's log lines written since this was made."""

    def __init__(self, ph: PhoneProcess):
        self.path = ph.data_dir / "logs" / "phone.log"
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def new(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# --- one message -------------------------------------------------------------------------

def is_final(r: Response) -> bool:
    return r.code >= 200


def ring_codes(rs: list[Response]) -> list[int]:
    return [r.code for r in rs if r.code in (180, 183) and r.cseq[1] == "INVITE"]


def request_uri(data: bytes, fallback: str) -> str:
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) == 3 and parts[0] == b"INVITE" else fallback


def clean_up(w: Wire, ruri: str, answers: list[Response]) -> list[str]:
    """Leave no call behind, as the caller would: ACK a final answer (and BYE a 2xx),
    CANCEL a call that rings.  Returns what went wrong, for the failure message."""
    problems = []
    invite = [r for r in answers if r.cseq[1] == "INVITE"]
    final = next((r for r in invite if is_final(r)), None)
    if final is None and ring_codes(invite):
        ringing = next(r for r in invite if r.code in (180, 183))
        w.cancel(ruri, ringing)
        final = w.wait(lambda r: r.cseq[1] == "INVITE" and is_final(r), 3.0)
        if final is None:
            problems.append("a CANCEL of the ringing call got no final answer to the INVITE")
    if final is not None:
        w.ack(ruri, final)
        if final.code < 300:
            w.bye(ruri, final)
            if w.wait(lambda r: r.cseq[1] == "BYE" and is_final(r), 3.0) is None:
                problems.append("BYE of the answered call got no answer")
    return problems


def show(rs: list[Response]) -> str:
    return "\n".join(f"  {r.code} {r.reason} (CSeq {' '.join(map(str, r.cseq))})"
                     for r in rs) or "  (nothing)"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_after_a_malformed_message_the_phone_still_answers(phones, case):
    ph = phones.get()
    log = LogWatch(ph)
    with Wire(ph.host, ph.sip_port) as w:
        ctx = Ctx(ph.host, ph.sip_port, w.lport, f"{token()}@torture", token(), token(4))
        data = case.render(ctx)
        w.send(data)
        if case.name in SEND_TWICE:
            w.send(data)
        # the probe on the same socket: its 200 comes after the message's answer, if any
        probe_cid = w.request("OPTIONS", ph.uri("1001"))
        probe = w.wait(lambda r: r.call_id == probe_cid and is_final(r), 5.0)
        theirs = lambda r: r.call_id != probe_cid   # noqa: E731 - every other answer
        if case.finals != ANY and None not in case.finals:
            w.wait(lambda r: theirs(r) and is_final(r), 2.0)
        if case.rings:
            w.wait(lambda r: theirs(r) and r.code in (180, 183), 2.0)
        w.drain()
        answers = [r for r in w.received if theirs(r)]
        problems = clean_up(w, request_uri(data, ph.uri("1001")), answers)
        alive = ph.proc.poll() is None
    after = None
    if alive:
        with Wire(ph.host, ph.sip_port) as w2:
            after = w2.options(ph.uri("1001"), 3.0)
    report = (f"{case.name}: the phone's answers:\n{show(answers)}\n"
              f"probe right after: {probe.code if probe else 'no answer'}; "
              f"process {'alive' if alive else f'EXITED {ph.proc.returncode}'}\n"
              f"phone.log meanwhile:\n{log.new()[-3000:]}\n{ph.output()[-1500:]}")
    assert alive, report
    assert probe is not None and probe.code == 200, report
    assert after is not None and after.code == 200, report
    finals = {r.code for r in answers if is_final(r)}
    if case.finals != ANY:
        assert (finals or {None}) <= case.finals, (
            f"expected {sorted(case.finals, key=str)}, got {sorted(finals) or 'no answer'}\n"
            + report)
    if case.rings is True:
        assert ring_codes(answers), "expected it to ring (180)\n" + report
    elif case.rings is False:
        assert not ring_codes(answers), "it rang before it was refused\n" + report
    assert not problems, "\n".join(problems) + "\n" + report
    ph.wait(idle, 5, f"the phone idle again after {case.name}")


def test_a_display_name_that_is_not_utf8_is_logged(phones):
    """An INVITE from "Éric Müller" in Latin-1 (not UTF-8) rings, and the phone's log has
    the incoming call, its URI readable, the name however it could be shown."""
    ph = phones.get()
    user = f"latin{token(3)}"
    case = req("INVITE", set={
        "from": f'From: "\xc9ric M\xfcller\xff" <sip:{user}@127.0.0.1:$LP>;tag=$TAG'})
    log = LogWatch(ph)
    with Wire(ph.host, ph.sip_port) as w:
        ctx = Ctx(ph.host, ph.sip_port, w.lport, f"{token()}@torture", token(), token(4))
        w.send(case(ctx))
        rang = w.wait(lambda r: r.code == 180, 5.0)
        assert rang is not None, f"no 180\n{show(w.received)}\n{log.new()}"
        deadline = time.monotonic() + 5
        line = None
        while line is None and time.monotonic() < deadline:
            line = next((ln for ln in log.new().splitlines()
                         if user in ln and re.search(r"incoming", ln, re.I)), None)
            time.sleep(0.05)
        problems = clean_up(w, ph.uri("1001"), list(w.received))
    assert line is not None, f"no log line for the call from {user}:\n{log.new()}"
    assert "ric M" in line, line
    assert not problems, problems
    ph.wait(idle, 5, "idle after the cancelled call")
