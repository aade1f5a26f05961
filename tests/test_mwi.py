"""Message waiting and the MESSAGE key (manual §3: "Messages button: typically auto-dials
your voice message service. Red means have unread voice mail"; §7 Booking Voice Mail, Play
Voice Mail Tone): a voice mail server (sipp) tells the phone, a person sees and dials."""
from __future__ import annotations

import pytest

from firmware.sip import parse_summary
from tests.peers.sipp import Sipp
from tests.phone import PhoneProcess


@pytest.mark.parametrize("body, want", [
    ("Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n", (True, 2, 8)),
    ("Messages-Waiting: no\r\nVoice-Message: 0/3 (0/0)\r\n", (False, 0, 3)),
    ("Messages-Waiting: yes\r\n", (True, 1, 0)),          # no counts: still "has mail"
    ("messages-waiting: YES\nvoice-message:  4 / 1\n", (True, 4, 1)),
    ("Messages-Waiting: no\r\n", (False, 0, 0)),
    ("", (False, 0, 0)),
    ("garbage\x00\xff: ::\nVoice-Message: lots\n", (False, 0, 0)),
])
def test_message_summary_bodies_are_read_as_rfc_3842_says(body, want):
    assert parse_summary(body) == want


def _notify(tmp_path, phone: PhoneProcess, *, waiting: str, new: int, old: int) -> str:
    s = Sipp(tmp_path / f"mwi-{new}-{old}", scenario="uac_notify_mwi.xml", remote=phone.addr,
             service="1001", keys={"waiting": waiting, "new": new, "old": old}, timeout=10)
    s.run()
    return s.messages()


def test_an_unsolicited_notify_lights_the_message_led_and_counts_on_the_idle_screen(
        tmp_path, phones):
    phone = phones.start("1001")
    assert phone.leds()["message"]["pattern"] == "off"
    _notify(tmp_path, phone, waiting="yes", new=2, old=5)
    s = phone.wait(lambda s: s["voicemail"] == 2, what="two new messages")
    assert s["accounts"][0]["messages"] == 2 and s["accounts"][0]["old_messages"] == 5
    assert phone.leds()["message"] == {"colour": "red", "pattern": "on"}
    assert "2 Voicemail" in phone.wait_screen("Voicemail")
    # listened to them: the server says so, the LED goes out
    _notify(tmp_path, phone, waiting="no", new=0, old=7)
    phone.wait(lambda s: s["voicemail"] == 0, what="no new messages")
    assert phone.leds()["message"]["pattern"] == "off"
    assert "Voicemail" not in phone.screen()


def test_the_phone_subscribes_to_its_voice_mail_at_the_registrar(tmp_path):
    server = Sipp(tmp_path / "vm", scenario="uas_register_mwi.xml",
                  keys={"waiting": "yes", "new": 3, "old": 1}, timeout=20, calls=3)
    server.start()
    try:
        with PhoneProcess(tmp_path / "p", account={"user": "1001", "server": server.addr,
                                                  "mwi": True}) as phone:
            phone.wait_registered(1)
            s = phone.wait(lambda s: s["voicemail"] == 3, what="the server's NOTIFY")
            assert s["accounts"][0]["old_messages"] == 1
            assert phone.leds()["message"] == {"colour": "red", "pattern": "on"}
        text = server.messages()
        assert "SUBSCRIBE sip:1001@" in text and "Event: message-summary" in text
    finally:
        server.stop()


def test_booking_voice_mail_is_off_by_default_and_subscribes_once_switched_on(tmp_path):
    server = Sipp(tmp_path / "vm", scenario="uas_register_mwi.xml",
                  keys={"waiting": "yes", "new": 3, "old": 1}, timeout=20, calls=10)
    server.start()
    try:
        with PhoneProcess(tmp_path / "p", account={"user": "1001",
                                                  "server": server.addr}) as phone:
            phone.wait_registered(1)
            phone.wait(lambda s: s["accounts"][0]["expires"] > 0)
            assert "SUBSCRIBE sip:" not in server.messages()
            assert phone.state()["voicemail"] == 0
            phone.settings({"account.1.mwi": True})
            phone.wait(lambda s: s["voicemail"] == 3, what="the subscription once on")
        assert "SUBSCRIBE sip:" in server.messages()
    finally:
        server.stop()


def test_message_key_dials_the_voice_mail_number_of_the_line(phones):
    a = phones.start("1001", account={"voicemail": "1002"})
    b = phones.start("1002")
    a.key("message")
    b.wait(lambda s: s["screen"] == "ringing", what="voice mail (1002) to ring")
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["state"] in ("calling", "ringback"))
    assert s["calls"][0]["number"] == "1002"


def test_message_key_without_a_number_says_what_to_set(phones):
    a = phones.start("1001")
    a.key("message")
    s = a.wait(lambda s: "voice mail" in s["notice"], what="the notice")
    assert "account.1.voicemail" in s["notice"] and not s["calls"]


def test_play_voice_mail_tone_rings_briefly_when_a_message_arrives(tmp_path, phones):
    phone = phones.start("1001", settings={"phone.voicemail_tone": True})
    _notify(tmp_path, phone, waiting="yes", new=1, old=0)
    s = phone.wait(lambda s: s["tone"] == "message", what="the message tone")
    assert s["route"] == "speaker"
    phone.wait(lambda s: s["tone"] is None, timeout=5, what="the tone to stop by itself")
    assert phone.leds()["message"]["pattern"] == "on"
    assert "SIP command" not in phone.log_tail(200)      # the tone really played
