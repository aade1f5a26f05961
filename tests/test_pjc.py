"""The C layout the NOTIFY readers (BLF lamps, check-sync) rely on is checked at start-up,
and a layout that does not match is refused rather than misread."""
from __future__ import annotations

import ctypes

import pytest

from firmware.sip import native as pjc
from tests.phone import PhoneProcess


@pytest.fixture
def fresh_check(monkeypatch):
    monkeypatch.setattr(pjc, "rx_layout", None)
    monkeypatch.setattr(pjc, "src_layout", None)


def _rdata(text: bytes, at: int) -> tuple[ctypes.Array, int]:
    buf = ctypes.create_string_buffer(pjc._PACKET_AT + pjc._MAX_PKT + 64)
    ctypes.memmove(ctypes.addressof(buf) + at, text, len(text))
    return buf, ctypes.addressof(buf)


def test_nothing_is_read_until_our_own_probe_has_shown_where_the_packet_is(fresh_check):
    buf, addr = _rdata(b"NOTIFY sip:1001@127.0.0.1 SIP/2.0\r\n\r\n", pjc._PACKET_AT)
    assert pjc.packet(addr, "NOTIFY") is None          # reading is not proof
    probe = pjc.self_check_request("127.0.0.1", 5060, "abc")
    pbuf, paddr = _rdata(probe, pjc._PACKET_AT)
    assert pjc.check_probe(paddr) is True and pjc.rx_layout is True
    assert pjc.packet(addr, "NOTIFY").startswith(b"NOTIFY sip:1001@")


def test_someone_elses_options_before_the_probe_decides_nothing(fresh_check):
    buf, addr = _rdata(b"OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\n\r\n", pjc._PACKET_AT)
    assert pjc.check_probe(addr) is False and pjc.rx_layout is None


def test_another_layout_is_refused_once_and_then_never_read(fresh_check, caplog):
    probe = pjc.self_check_request("127.0.0.1", 5060, "abc")
    buf, addr = _rdata(probe, pjc._PACKET_AT + 8)        # not where this layout says
    assert pjc.check_probe(addr) is False
    assert pjc.rx_layout is False
    assert "BLF lamps" in caplog.text and "pjproject >= 2.16" in caplog.text
    good, good_addr = _rdata(b"NOTIFY sip:x SIP/2.0\r\n\r\n", pjc._PACKET_AT)
    assert pjc.packet(good_addr, "NOTIFY") is None       # no second guess


def test_an_odd_method_never_turns_the_readers_off(monkeypatch):
    """A stranger's "NOTIFYX" (or a 200-character method pjsip's summary cuts short) is
    just not read: before, it set the layout to "unknown" and BLF lamps went dark."""
    monkeypatch.setattr(pjc, "rx_layout", True)
    buf, addr = _rdata(b"NOTIFYX sip:1001@127.0.0.1 SIP/2.0\r\n\r\n", pjc._PACKET_AT)
    assert pjc.packet(addr, "NOTIFY") is None
    assert pjc.rx_layout is True


def test_the_probe_is_a_request_pjsip_can_parse():
    text = pjc.self_check_request("127.0.0.1", 5060, "abc123").decode()
    first, _, rest = text.partition("\r\n")
    assert first == f"OPTIONS sip:{pjc.SELF_CHECK}@127.0.0.1:5060 SIP/2.0"
    for header in ("Via:", "From:", "To:", "Call-ID:", "CSeq: 1 OPTIONS", "Max-Forwards:"):
        assert header in rest
    assert text.endswith("\r\n\r\n")


def test_a_starting_phone_checks_the_layout_with_its_own_probe_and_answers_no_one(tmp_path):
    with PhoneProcess(tmp_path / "p") as phone:
        phone.wait(lambda s: "rx_data layout checked" in phone.log_tail(100),
                   what="the start-up self-check")
        assert "rx_data layout is not" not in phone.log_tail(100)


# --- which BLF route this build has (firmware/sip/pjblf.py) -----------------------------------

def test_a_32_bit_pjproject_2_16_has_dialog_blf_through_pjsua2():
    """The native check comes before the word-size guard: Raspberry Pi OS 32-bit with a
    2.16 build has Buddy.subscribeDlgEvent and needs nothing of the C API."""
    from firmware.sip.pjblf import dialog_blf_problem
    for c_api in (True, False):
        assert dialog_blf_problem(pointer_bytes=4, native=True, c_api=c_api,
                                  c_subscribe=False, pj_version="2.16") == ""
    assert dialog_blf_problem(pointer_bytes=8, native=True, c_api=True, c_subscribe=True,
                              pj_version="2.16") == ""


def test_the_2_15_c_route_needs_the_c_api_and_a_64_bit_build():
    from firmware.sip.pjblf import dialog_blf_problem
    assert dialog_blf_problem(pointer_bytes=8, native=False, c_api=True, c_subscribe=True,
                              pj_version="2.15.1") == ""
    on_32 = dialog_blf_problem(pointer_bytes=4, native=False, c_api=True, c_subscribe=True,
                               pj_version="2.15.1")
    assert "2.16" in on_32 and "presence" in on_32
    assert "not reachable" in dialog_blf_problem(pointer_bytes=8, native=False, c_api=False,
                                                 c_subscribe=False)
    assert "neither" in dialog_blf_problem(pointer_bytes=8, native=False, c_api=True,
                                           c_subscribe=False)
