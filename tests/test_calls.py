"""Basic call handling, as the manual's §4 tables describe it, against real peers.

Phones are real `python -m firmware` processes registered to a real Kamailio; sipp plays
the far end where a scripted peer is needed. Keys and the hook are driven through the
API the way the front panel does; what a person would see and hear is read back from
the LCD text, the LEDs, the tone and a recording of the earpiece.
"""
from __future__ import annotations

import re
import statistics
import time

from tests import audio
from tests.helpers import call_states, connect, idle, talking
from tests.peers.sipp import Sipp


# --- placing a call ---------------------------------------------------------------------

def test_lifting_the_handset_gives_dial_tone_and_the_dial_screen(phones):
    a = phones.start("1001")
    a.hook(True)
    s = a.wait(lambda s: s["screen"] == "dialing")
    assert s["tone"] == "dial" and s["audio"] == "handset"
    assert "Enter number" in a.screen()
    assert a.leds()["line1"] == {"colour": "red", "pattern": "on"}
    assert audio.tones(a.listen(1.0)) >= {350, 440}           # dial tone: 350 + 440 Hz
    a.key("5")
    s = a.wait(lambda s: s["tone"] is None)                   # the first digit stops it
    a.hook(False)
    s = a.wait(idle)
    assert s["screen"] == "idle" and a.leds()["line1"]["pattern"] == "off"


def test_a_call_through_the_server_rings_connects_and_carries_audio_both_ways(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.hook(True)
    a.keys("1002#")
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["tone"] == "ring"
    assert audio.tones(b.listen(4.2), (1000, 1250)) == {1000, 1250}   # one ring cadence
    shown = b.screen()
    assert "Incoming call" in shown and "Alice" in shown and "1001" in shown
    assert b.leds()["line1"] == {"colour": "red", "pattern": "fast"}
    assert b.leds()["strip"] == {"colour": "red", "pattern": "fast"}
    s = a.wait(lambda s: s["calls"][0]["state"] == "ringback")
    assert s["tone"] == "ringback"
    assert audio.tones(a.listen(2.0)) >= {440, 480}           # ringback: 440 + 480 Hz
    b.hook(True)
    a.wait(talking)
    b.wait(talking)
    assert "Talking" in a.screen() and "Talking" in b.screen()
    assert a.leds()["line1"] == {"colour": "green", "pattern": "on"}
    a.mic(1000)
    b.mic(1500)
    heard_by_b, heard_by_a = b.listen(1.0), a.listen(1.0)
    assert audio.hears(heard_by_b, 1000) and not audio.hears(heard_by_b, 1500)
    assert audio.hears(heard_by_a, 1500) and not audio.hears(heard_by_a, 1000)
    a.hook(False)
    s = b.wait(lambda s: s["screen"] == "ended")
    assert s["tone"] == "reorder" and "Call ended" in b.screen()     # LP-388 item 11
    assert audio.tones(b.listen(1.0)) >= {480, 620}
    b.hook(False)
    b.wait(idle)
    a.wait(idle)


def test_the_number_is_sent_after_the_dial_timeout(phones):
    phones.start("1002")
    a = phones.start("1001", settings={"phone.dial_timeout": 1})
    a.hook(True)
    a.keys("1002")
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["state"] in ("calling", "ringback"), 5)
    assert s["calls"][0]["number"] == "1002"


def test_c_erases_the_last_digit(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.hook(True)
    a.keys("10029")
    a.wait_screen("10029")
    a.key("cancel")
    shown = a.wait_screen("1002_")
    assert "10029" not in shown
    a.key("#")
    b.wait(lambda s: s["screen"] == "ringing")


def test_pre_dial_on_hook_then_lift_the_handset(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.keys("1002")
    s = a.wait(lambda s: s["screen"] == "predial")
    assert s["predial"] == "1002" and s["tone"] is None and s["audio"] == "none"
    assert "1002" in a.screen()
    a.hook(True)
    b.wait(lambda s: s["screen"] == "ringing")
    s = a.wait(lambda s: s["calls"] and s["calls"][0]["state"] in ("calling", "ringback"))
    assert s["audio"] == "handset" and s["predial"] == ""


def test_speaker_key_places_and_ends_a_hands_free_call(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.key("speaker")
    s = a.wait(lambda s: s["screen"] == "dialing")
    assert s["audio"] == "speaker" and a.leds()["speaker"] == {"colour": "red",
                                                              "pattern": "on"}
    a.keys("1002")
    a.key("ok")                                              # OK ends dialling too
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("speaker")                                         # answer hands-free
    b.wait(talking)
    a.wait(talking)
    a.key("speaker")                                         # hang up hands-free
    a.wait(idle)
    assert a.leds()["speaker"]["pattern"] == "off"
    s = b.wait(lambda s: s["screen"] == "ended")
    assert "Call ended by far end" in b.screen()
    b.wait(idle, timeout=10)      # on the speaker the ended screen goes away by itself


def test_headset_key_answers_and_hangs_up(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("headset")
    s = b.wait(talking)
    assert s["audio"] == "headset" and s["headset_mode"]
    assert b.leds()["headset"] == {"colour": "red", "pattern": "on"}
    b.key("headset")                            # manual: hangs up, leaves headset mode
    s = b.wait(idle)
    assert not s["headset_mode"] and b.leds()["headset"]["pattern"] == "off"
    a.wait(lambda s: s["screen"] == "ended")


def test_the_flashing_line_key_answers(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    b.key("line1")
    s = b.wait(talking)
    assert s["audio"] == "speaker"
    assert b.leds()["line1"] == {"colour": "green", "pattern": "on"}


def test_answer_and_reject_soft_keys(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    assert "Answer" in b.screen() and "Reject" in b.screen()
    b.key("soft2")                                            # Reject
    b.wait(idle)
    s = a.wait(lambda s: s["screen"] == "ended")
    assert s["tone"] == "busy" and "Busy (486)" in a.screen()
    assert audio.tones(a.listen(1.5)) >= {480, 620}          # busy: 480 + 620 Hz
    assert b.state()["missed"] == 0                           # refused is not missed


def test_a_call_nobody_answers_counts_as_missed(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")
    a.key("soft4")                                            # End while it rings
    s = b.wait(lambda s: idle(s) and s["missed"] == 1)
    assert "1 Missed" in b.screen()
    assert b.leds()["strip"] == {"colour": "red", "pattern": "on"}


# --- the far end ------------------------------------------------------------------------

def test_an_incoming_call_from_sipp_is_answered_by_lifting_the_handset(phones, kamailio,
                                                                       tmp_path):
    a = phones.start("1001")
    caller = Sipp(tmp_path / "sipp", scenario="uac_call.xml", remote=kamailio.addr,
                  service="1001", variables={"pause_ms": 1500})
    with caller:
        s = a.wait(lambda s: s["screen"] == "ringing")
        assert s["calls"][0]["direction"] == "in"
        a.hook(True)
        a.wait(talking)
        s = a.wait(lambda s: s["screen"] == "ended", 10)     # sipp hangs up after 1.5 s
        assert s["tone"] == "reorder"
        assert caller.wait() == 0, caller.messages()[-2000:]
    a.hook(False)
    a.wait(idle)


def test_far_end_hang_up_gives_re_order_tone(phones, tmp_path):
    a = phones.start("1001")
    far = Sipp(tmp_path / "sipp", scenario="uas_answer_bye.xml",
               variables={"pause_ms": 800})
    with far:
        a.hook(True)
        a.dial(f"sip:bob@{far.addr}")
        a.wait(talking)
        s = a.wait(lambda s: s["screen"] == "ended", 10)
        assert s["tone"] == "reorder" and "Call ended by far end" in a.screen()
        assert audio.tones(a.listen(1.0)) >= {480, 620}
        assert far.wait() == 0
    a.hook(False)
    a.wait(idle)


def test_a_busy_callee_gives_busy_tone(phones, tmp_path):
    a = phones.start("1001")
    with Sipp(tmp_path / "sipp", scenario="uas_busy.xml") as far:
        a.key("speaker")
        a.dial(f"sip:carol@{far.addr}")
        s = a.wait(lambda s: s["screen"] == "ended")
        assert s["tone"] == "busy" and "Busy (486)" in a.screen()
        far.wait()


def test_dialling_a_number_nobody_has_says_not_found(phones):
    a = phones.start("1001")
    a.hook(True)
    a.keys("1999#")
    s = a.wait(lambda s: s["screen"] == "ended")
    assert s["calls"][0]["code"] == 404 and "Not found (404)" in a.screen()
    assert s["tone"] == "reorder"


# --- two calls ----------------------------------------------------------------------------

def test_call_waiting_then_the_flashing_line_key_holds_the_first_call(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    c.dial("1001")
    s = a.wait(lambda s: len(s["calls"]) == 2)
    assert s["tone"] == "callwaiting" and s["screen"] == "ringing"
    assert "Call waiting" in a.screen() and "Carol" in a.screen()
    assert a.leds()["line2"] == {"colour": "red", "pattern": "fast"}
    assert a.leds()["line1"] == {"colour": "green", "pattern": "on"}
    a.key("line2")                                       # answer; line 1 goes on hold
    s = a.wait(lambda s: call_states(s) == {1: "held", 2: "connected"})
    assert a.leds()["line1"] == {"colour": "green", "pattern": "slow"}
    assert a.leds()["line2"] == {"colour": "green", "pattern": "on"}
    b.wait(lambda s: s["calls"][0]["remote_hold"])
    c.wait(talking)
    a.mic(1000)
    assert audio.hears(c.listen(1.0), 1000)              # Carol hears Alice
    assert not audio.hears(b.listen(1.0), 1000)          # Bob, on hold, does not
    a.key("line1")                                       # back to Bob; Carol is held
    a.wait(lambda s: call_states(s) == {1: "connected", 2: "held"})
    b.wait(lambda s: not s["calls"][0]["remote_hold"])
    assert audio.hears(b.listen(1.0), 1000)


def test_hold_and_resume(phones):
    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    a.key("hold")
    s = a.wait(lambda s: s["screen"] == "held")
    assert "On hold" in a.screen()
    assert a.leds()["line1"] == {"colour": "green", "pattern": "slow"}
    b.wait(lambda s: s["calls"][0]["remote_hold"])
    assert "Held by far end" in b.screen()
    a.key("soft1")                                       # Resume
    a.wait(lambda s: s["screen"] == "talking")
    b.wait(lambda s: not s["calls"][0]["remote_hold"])
    a.mic(1000)
    assert audio.hears(b.listen(1.0), 1000)


def test_placing_a_second_call_while_one_is_active(phones):
    """Manual: press HOLD, press the other line key, enter the number, press #."""
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    a.key("hold")
    a.wait(lambda s: s["screen"] == "held")
    a.key("line2")
    a.wait(lambda s: s["screen"] == "dialing")
    a.keys("1003#")
    c.wait(lambda s: s["screen"] == "ringing")
    c.hook(True)
    s = a.wait(lambda s: call_states(s) == {1: "held", 2: "connected"})
    assert s["audio"] == "handset"


def test_mute_stops_the_far_end_hearing_us(phones):
    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    a.mic(1000)
    assert audio.hears(b.listen(1.0), 1000)
    a.key("mute")
    s = a.wait(lambda s: s["mute"])
    assert a.leds()["mute"] == {"colour": "red", "pattern": "on"} and "Mute" in a.screen()
    heard = b.listen(1.5)
    assert not audio.hears(audio.tail(heard, 1.0), 1000), audio.levels(heard)  # once the
    # audio already in flight (jitter buffer) has played out
    b.mic(1500)
    assert audio.hears(a.listen(1.0), 1500)               # we still hear them
    a.key("mute")
    a.wait(lambda s: not s["mute"])
    assert audio.hears(b.listen(1.0), 1000)


def test_redial_calls_the_last_number_again(phones):
    a, b = phones.start("1001"), phones.start("1002")
    a.hook(True)
    a.keys("1002#")
    b.wait(lambda s: s["screen"] == "ringing")
    a.hook(False)
    b.wait(idle)
    a.wait(idle)
    a.key("redial")
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1001"
    assert a.state()["audio"] == "speaker"


def test_dnd_refuses_calls_with_busy(phones):
    a, b = phones.start("1001"), phones.start("1002")
    b.key("soft2")                                        # idle soft key DND
    b.wait(lambda s: s["dnd"])
    a.dial("1002")
    s = a.wait(lambda s: s["screen"] == "ended")
    assert s["calls"][0]["code"] == 486
    assert b.state()["calls"] == [] and b.state()["missed"] == 0


# --- peer to peer -------------------------------------------------------------------------

def test_dialling_an_ip_address_from_the_keypad_calls_peer_to_peer(p2p_phones):
    """No server at all: * stands for the dots, the last group is the port."""
    a, b = p2p_phones.start("1001", server=False), p2p_phones.start("1002", server=False)
    a.hook(True)
    a.keys(f"127*0*0*1*{b.sip_port}#")
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1001"
    b.key("line1")
    a.wait(talking)


def test_a_sip_uri_can_be_dialled(p2p_phones):
    a, b = p2p_phones.start("1001", server=False), p2p_phones.start("1002", server=False)
    a.dial(b.uri("1002"))
    b.wait(lambda s: s["screen"] == "ringing")


def test_a_number_on_a_line_without_server_says_what_to_do(p2p_phones):
    a = p2p_phones.start("1001", server=False)
    a.hook(True)
    a.keys("1002#")
    s = a.wait(lambda s: s["screen"] == "ended")
    assert "No server" in s["calls"][0]["reason"]
    time.sleep(0.1)
    a.hook(False)
    a.wait(idle)


def test_volume_keys_change_what_the_person_hears(phones):
    a = phones.start("1001")
    a.hook(True)
    a.wait(lambda s: s["tone"] == "dial")
    before = audio.level(a.listen(0.5))
    a.key("volup")
    a.key("volup")
    a.key("volup")
    assert "Volume handset 8/9" in a.wait_screen("Volume handset 8/9")
    louder = audio.level(a.listen(0.5))
    assert 1.8 < louder / before < 2.2                      # +6 dB: three 2 dB steps
    for _ in range(10):
        a.key("voldown")
    a.wait_screen("Volume handset 1/9")
    assert audio.level(a.listen(0.5)) < before / 2


def test_an_outgoing_call_to_a_sipp_callee_goes_through_the_outbound_proxy(phones, kamailio,
                                                                           tmp_path):
    a = phones.start("1001", account={"outbound_proxy": kamailio.addr})
    with Sipp(tmp_path / "sipp", scenario="uas_answer.xml") as far:
        a.hook(True)
        a.dial(f"sip:bob@{far.addr}")
        a.wait(talking)
        a.hook(False)                                      # our BYE; sipp expects it
        assert far.wait() == 0, far.messages()[-2000:]
    relayed = [e for e in kamailio.events() if e["kind"] == "SIPREQ"
               and e.get("m") == "INVITE" and far.addr in (e.get("ru") or "")]
    assert relayed and relayed[0]["fu"] == "1001"


def test_the_handset_mic_volume_is_what_the_far_end_hears(phones):
    """§6 Volume setting > Handset mic: level 1 is 8 dB below level 5 at the far end; the
    change reaches a call in progress (SettingsChanged) and is kept in settings.toml."""
    def level() -> float:        # the median of 100 ms windows: a late packet moves nothing
        return statistics.median(audio.levels(b.listen(1.0), 0.1))

    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    a.mic(1000)
    b.wait(lambda s: audio.hears(b.listen(0.3), 1000), what="b hears a's microphone")
    before = level()
    a.settings({"volume.handset_mic": 1})
    b.wait(lambda s: level() < before * 0.6, what="a's microphone quieter")
    assert 0.35 < level() / before < 0.45                  # -8 dB: four 2 dB steps
    assert "handset_mic = 1" in (a.data_dir / "settings.toml").read_text()


def test_the_offer_puts_the_manuals_codecs_first(p2p_phones, tmp_path):
    """Manual "Audio": G.722, G.711A, G.711U lead the offer a callee sees (Speex and the
    rest this pjsua has follow)."""
    a = p2p_phones.start("1001", server=False)
    with Sipp(tmp_path / "sipp", scenario="uas_answer.xml") as far:
        a.hook(True)
        a.dial(f"sip:bob@{far.addr}")
        a.wait(talking)
        a.hook(False)
        assert far.wait() == 0, far.messages()[-2000:]
        offer = re.search(r"m=audio \d+ RTP/AVP ([\d ]+)", far.messages()).group(1).split()
    assert offer[:3] == ["9", "8", "0"]                   # G722, PCMA, PCMU


def test_after_the_far_end_hangs_up_c_gives_a_fresh_dial_tone(phones):
    a, b = phones.start("1001"), phones.start("1002")
    connect(a, b)
    b.hook(False)
    a.wait(lambda s: s["screen"] == "ended" and s["tone"] == "reorder")
    a.key("cancel")
    s = a.wait(lambda s: s["screen"] == "dialing")
    assert s["tone"] == "dial" and s["audio"] == "handset"


def test_a_held_call_the_far_end_hangs_up_goes_away_with_a_notice(phones):
    a, b, c = phones.start("1001"), phones.start("1002"), phones.start("1003")
    connect(a, b)
    c.dial("1001")
    a.wait(lambda s: len(s["calls"]) == 2)
    a.key("line2")
    a.wait(lambda s: call_states(s) == {1: "held", 2: "connected"})
    b.hook(False)                                   # Bob, on hold, hangs up
    s = a.wait(lambda s: call_states(s) == {2: "connected"})
    assert "Line 1 ended by far end" in a.screen()


def test_dnd_on_one_line_refuses_only_calls_to_that_line(phones, kamailio):
    a = phones.start("1001")
    b = phones.start("1002", accounts={2: {"user": "1003", "password": "secret1003",
                                          "server": kamailio.addr, "dnd": True}})
    b.wait_registered(2)
    s = b.wait(lambda s: s["accounts"][1]["status"] == "dnd")
    assert s["accounts"][0]["status"] == "registered"
    a.dial("1003")
    s = a.wait(lambda s: s["screen"] == "ended")
    assert s["calls"][0]["code"] == 486
    a.key("soft4")
    a.wait(idle)
    a.dial("1002")
    b.wait(lambda s: s["screen"] == "ringing")


# --- dial plan ------------------------------------------------------------------------------

def test_a_complete_digit_map_match_dials_at_once(phones):
    a = phones.start("1001", settings={"dialplan.digit_map": "(1xxx|9[2-9]xxxxxx)",
                                       "phone.dial_timeout": 0})
    b = phones.start("1002")
    a.hook(True)
    a.keys("1002")                                 # no #, no timeout: the map says go
    b.wait(lambda s: s["screen"] == "ringing")


def test_an_impossible_number_gives_re_order_at_once(phones):
    a = phones.start("1001", settings={"dialplan.digit_map": "(1xxx|9[2-9]xxxxxx)"})
    a.hook(True)
    a.keys("5")
    s = a.wait(lambda s: s["screen"] == "ended")
    assert s["tone"] == "reorder" and "No such number" in a.screen()


def test_a_dial_rule_rewrites_the_number(phones):
    a = phones.start("1001", settings={"dialplan.rules": ["prefix=0 delete=1"]})
    b = phones.start("1002")
    a.hook(True)
    a.keys("01002#")                               # an outside-line 0, taken off
    s = b.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1001"


def test_a_digit_map_with_a_syntax_error_is_refused_with_the_position(phones):
    a = phones.start("1001", settings={"dialplan.digit_map": "(1xxx)"})
    code, body = a.status("PATCH", "/api/settings", {"dialplan.digit_map": "(1xx[9-2]x)"})
    assert code == 400 and "position" in body["errors"][0]["reason"]
    assert a.request("GET", "/api/settings")["settings"]["dialplan.digit_map"] == "(1xxx)"


def test_emergency_numbers_go_out_on_a_registered_line(phones, kamailio):
    """Line 1 (the default) is not registered; 112 still goes out, on line 2."""
    from tests.peers.kamailio import DEFAULT_USERS
    a = phones.start("1001", account={"server": "127.0.0.1:9", "password": "x"},
                     wait_registered=False,
                     accounts={2: {"user": "1004", "password": DEFAULT_USERS["1004"],
                                   "server": kamailio.addr}},
                     settings={"phone.emergency": ["112", "1003"]})
    c = phones.start("1003")                       # stands in for the emergency desk
    a.wait_registered(2)
    a.hook(True)
    a.keys("1003")                                 # no # needed: emergency dials at once
    s = c.wait(lambda s: s["screen"] == "ringing")
    assert s["calls"][0]["number"] == "1004"
