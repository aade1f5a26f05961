"""Audio codecs (manual §7 "Audio" > Audio Codecs; the setting sip.codecs): the enabled
list, in its order, is what a real phone (pjsua2) offers and accepts; a codec left out is
disabled — an offer of only it is refused 488 before it rings — and a change applies at
once, without a restart. The list's checks and pjsua's priorities from it are tested
without pjsua (firmware/sip/codecs.py), the live change on the in-process rig."""
from __future__ import annotations

import re
import socket
import time

import pytest

from firmware.errors import SettingError
from firmware.settings import check
from firmware.sip import codecs
from tests.fakes.rig import build
from tests.phone import PhoneProcess
from tests.test_sip_gate import final_answer, request, sdp, udp

# the audio codecs of pjsua2's x86 wheel (codecEnum2), as the engine sees them
WHEEL = ["speex/16000/1", "speex/8000/1", "speex/32000/1", "iLBC/8000/1", "GSM/8000/1",
         "PCMU/8000/1", "PCMA/8000/1", "G722/16000/1", "L16/44100/1", "L16/44100/2"]


# -- the list: names and priorities ---------------------------------------------------------

def test_the_factory_list_is_the_desk_phones_codecs_first_then_the_rest_of_the_wheel():
    prio, missing = codecs.priorities(WHEEL, check("sip.codecs", list(codecs.FACTORY)))
    assert missing == []
    ranked = sorted((p, cid) for cid, p in prio.items() if p)
    assert [cid for _, cid in reversed(ranked)][:3] == ["G722/16000/1", "PCMA/8000/1",
                                                        "PCMU/8000/1"]
    assert prio["L16/44100/1"] == 0, "pjsua's own disabled codecs stay disabled"


def test_a_codec_left_out_is_disabled_and_a_name_without_rate_selects_every_rate():
    prio, missing = codecs.priorities(WHEEL, ("pcmu", "speex", "G729"))
    assert prio["PCMU/8000/1"] > prio["speex/8000/1"] == prio["speex/32000/1"] > 0
    assert prio["PCMA/8000/1"] == prio["G722/16000/1"] == 0
    assert missing == ["G729"], "a name this build lacks is named, not an error"
    assert codecs.offered(prio) == {"pcmu", "speex"}


@pytest.mark.parametrize("bad", ["G711", "PCMU/8k", "", "opus/48000/2", "PCMU;rm -rf"])
def test_a_name_that_is_no_codec_is_refused_with_the_names_that_are(bad):
    with pytest.raises(SettingError) as e:
        check("sip.codecs", ["PCMA", bad])
    assert "G722" in str(e.value) and "PCMU" in str(e.value)


def test_an_empty_list_is_refused_not_taken_for_the_factory_one():
    """The Audio page's Enabled list cleared and saved: the phone would fall back to the
    factory list while the page showed none enabled; it is refused with why instead."""
    with pytest.raises(SettingError) as e:
        check("sip.codecs", [])
    assert "at least 1" in str(e.value)
    assert check("sip.codecs", ["PCMU"]) == ("PCMU",)


def test_a_name_in_any_case_is_kept_as_pjsua_and_the_exports_name_it():
    """'pcmu' typed on the Audio page selects PCMU; it is saved as PCMU, so an Escene
    export writes it as G711U (not 'pcmu' beside a disableCode G711U)."""
    assert check("sip.codecs", ["pcmu", "SPEEX/16000", "ilbc"]) == ("PCMU", "speex/16000",
                                                                    "iLBC")


# -- live, on the in-process rig --------------------------------------------------------------

def test_a_new_list_goes_to_the_sip_thread_at_once():
    rig = build()
    rig.update({"sip.codecs": ["PCMU", "G722"]})
    rig.settle()
    assert rig.sip.commands("codecs")[-1] == {"names": ("PCMU", "G722")}
    rig.update({"phone.dial_timeout": 7})
    rig.settle()
    assert len(rig.sip.commands("codecs")) == 1, "another setting leaves the codecs alone"


# -- a real phone (pjsua2) ----------------------------------------------------------------------

OFFER = {"PCMU": "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
         "PCMA": "m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"}


def first_answer(phone: PhoneProcess, codec: str) -> str:
    """The status line of the phone's first answer to an INVITE offering only `codec`
    (a 488 comes first; a call it takes rings: 180), the call then cancelled."""
    with udp() as s:
        s.sendto(request(phone, "INVITE", sock=s, body=sdp(OFFER[codec])),
                 ("127.0.0.1", phone.sip_port))
        s.settimeout(5)
        line = s.recv(65535).split(b"\r\n", 1)[0].decode()
        while line.startswith("SIP/2.0 100"):
            line = s.recv(65535).split(b"\r\n", 1)[0].decode()
    if line.startswith("SIP/2.0 180"):
        phone.wait(lambda st: st["screen"] == "ringing", 5, "ringing")
        phone.key("soft2")                                   # Reject
        phone.wait(lambda st: not st["calls"], 10, "the call gone")
    return line


def offered_payloads(phone: PhoneProcess) -> list[str]:
    """The payload types of the m=audio line of the INVITE the phone sends when it dials us."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far:
        far.bind(("127.0.0.1", 0))
        far.settimeout(10)
        phone.dial(f"sip:far@127.0.0.1:{far.getsockname()[1]}")
        while True:
            packet, src = far.recvfrom(65535)
            if packet.startswith(b"INVITE "):
                break
        text = packet.decode()
        head = text.split("\r\n\r\n", 1)[0]
        # refuse it (486) so the phone ends the call; its ACK needs nothing from us
        keep = [ln for ln in head.split("\r\n")[1:]
                if ln.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
        far.sendto(("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(
            ln + (";tag=far" if ln.lower().startswith("to:") else "") for ln in keep)
            + "\r\nContent-Length: 0\r\n\r\n").encode(), src)
    m = re.search(r"^m=audio \d+ RTP/AVP ([0-9 ]+)\r?$", text, re.M)
    assert m, text
    phone.wait(lambda st: not st["calls"], 10, "the refused call gone")
    return m.group(1).split()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    p = PhoneProcess(tmp_path_factory.mktemp("codecs"), settings={"sip.codecs": ["PCMA", "G722"]})
    p.start()
    yield p
    p.stop()


def test_the_enabled_list_is_what_a_real_phone_offers_and_accepts_and_changes_live(phone):
    # as started: G.711A then G.722; G.711U disabled
    assert offered_payloads(phone)[:2] == ["8", "9"]
    assert "0" not in offered_payloads(phone)
    assert first_answer(phone, "PCMU").startswith("SIP/2.0 488 "), "G.711U is disabled"
    assert first_answer(phone, "PCMA").startswith("SIP/2.0 180 ")
    # the Audio page saves a new list: no restart asked, in use for the next call
    reply = phone.settings({"sip.codecs": ["PCMU", "G722"]})
    assert reply["restart_needed"] == [], reply
    assert offered_payloads(phone)[:2] == ["0", "9"]
    assert "8" not in offered_payloads(phone)
    assert first_answer(phone, "PCMA").startswith("SIP/2.0 488 "), "G.711A is now disabled"
    assert first_answer(phone, "PCMU").startswith("SIP/2.0 180 ")


def test_a_list_with_no_codec_this_build_has_keeps_the_phone_answering(phone):
    phone.settings({"sip.codecs": ["G729"]})
    deadline = time.monotonic() + 10
    while "none of the codecs G729" not in phone.log_tail(200):
        assert time.monotonic() < deadline, phone.log_tail()
        time.sleep(0.05)
    assert first_answer(phone, "PCMU").startswith("SIP/2.0 180 "), "the factory list is used"
    phone.settings({"sip.codecs": list(codecs.FACTORY)})
