"""The manual's §4 "Basic Call Handling" tables, row by row, in-process (tests/fakes/).

Escene SayHi 3xx user manual §4: Placing a Call, Answering a Call, Ending a Call, Using
Hold and Resume, Transferring Calls, Using Mute, Do Not Disturb, 3-way Conference (and
call waiting, which §7 sets). Each test names its table and row, drives keys and the hook
as a person does, and checks what the person sees and hears (screen, soft keys, LEDs,
tone, whose audio) and what went out on the network (FakeSip.wire). The same rows
against real peers (pjsua2, Kamailio) live in test_calls, test_transfer, test_conference;
this suite is the fast one: the whole file runs in a few seconds.
"""
from __future__ import annotations

import pytest

from tests.fakes import build
from tests.fakes.rig import SERVER

RED_ON, RED_FAST, GREEN_ON, GREEN_SLOW, OFF = (("red", "on"), ("red", "fast"),
                                               ("green", "on"), ("green", "slow"), ("", "off"))
B, C = "1002", "1003"


def uri(number: str) -> str:
    return f"sip:{number}@{SERVER}"


@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


# -- moves several rows share --------------------------------------------------------------

SENDS = ["#", "Send soft key", "wait 5 s"]


def send_number(rig, how: str) -> None:
    """The number goes: '#', the Send soft key, or the 5 s dial timeout (not before)."""
    if how == "#":
        rig.press("#")
    elif how == "Send soft key":
        rig.soft("Send")
    else:
        before = list(rig.sip.wire)
        rig.advance(4.9)
        assert rig.sip.wire == before            # not before the dial timeout
        rig.advance(0.1)


def call_out(rig, number: str = B, *, answer: bool = True) -> int:
    """Off-hook with the handset, dial, #; the far end answers. Our call id."""
    rig.hook(True).dial(number + "#")
    call = rig.sip.invited(number)
    if answer:
        rig.far(rig.sip.answers, call)
    return call


def talking_hands_free(rig, number: str = B) -> int:
    """Speaker, dial, #; the far end answers."""
    rig.press("speaker").dial(number + "#")
    call = rig.sip.invited(number)
    rig.far(rig.sip.answers, call)
    return call


def conference_of_three(rig, conf: str = "conference") -> tuple[int, int]:
    """A call to B; CONF (the key, or the "Conf" soft key), dial C, C answers, CONF again:
    the 3-way call."""
    b = call_out(rig, B)
    rig.use(conf)
    assert rig.sip.wire[-1] == f"re-INVITE {b} hold" and rig.screen == "dialing"
    rig.dial(C + "#")
    c = rig.sip.invited(C)
    rig.far(rig.sip.answers, c)
    rig.press("conference")
    return b, c


def held_and_talking(rig) -> tuple[int, int]:
    """B on hold on line 1, C talking on line 2 (Hold, line 2, dial C)."""
    b = call_out(rig, B)
    rig.press("hold", "line2").dial(C + "#")
    c = rig.sip.invited(C)
    rig.far(rig.sip.answers, c)
    assert rig.calls() == {B: "held", C: "connected"}
    return b, c


# == Placing a Call ========================================================================

@pytest.mark.parametrize("send", SENDS)
def test_placing_with_the_handset_dial_tone_first_line_lit_then_the_number_goes(rig, send):
    """Placing a Call / "Place a call using the handset": pick up the handset - dial tone,
    the first line key lit - enter the number - '#', or the Send soft key, or wait 5 s."""
    rig.hook(True)
    assert (rig.screen, rig.tone, rig.led("line1")) == ("dialing", "dial", RED_ON)
    rig.dial(B)
    assert rig.tone is None and rig.sip.wire == []
    send_number(rig, send)
    assert rig.sip.wire == [f"INVITE {uri(B)}"]
    call = rig.sip.invited(B)
    rig.far(rig.sip.rings, call)
    assert (rig.screen, rig.tone, rig.softkeys[3]) == ("calling", "ringback", "End")
    rig.far(rig.sip.answers, call)
    assert (rig.screen, rig.led("line1"), rig.heard) == ("talking", GREEN_ON, (call,))


@pytest.mark.parametrize("key", ["speaker", "line1"])
def test_placing_hands_free_with_the_speaker_or_a_line_key(rig, key):
    """Placing a Call / "Place a call using speakerphone or Programmable buttons"."""
    rig.press(key)
    assert (rig.screen, rig.tone, rig.led("speaker")) == ("dialing", "dial", RED_ON)
    rig.dial(B + "#")
    assert rig.sip.wire == [f"INVITE {uri(B)}"]
    assert rig.state.audio.value == "speaker"


def test_placing_with_a_headset_lights_the_headset_key(rig):
    """Placing a Call / "Place a call using a headset": activate the Headset key, then as
    with the speakerphone."""
    rig.press("headset")
    assert (rig.screen, rig.tone, rig.led("headset")) == ("dialing", "dial", RED_ON)
    rig.dial(B + "#")
    assert rig.sip.wire == [f"INVITE {uri(B)}"] and rig.state.audio.value == "headset"


@pytest.mark.parametrize("how", ["redial", "Redial"])
def test_redial_dials_the_last_number(rig, how):
    """Placing a Call / "Redial": press REDIAL to dial the last number."""
    call = call_out(rig, B)
    rig.hook(False)
    assert rig.sip.wire[-1] == f"BYE {call}" and rig.screen == "idle"
    rig.use(how)
    assert rig.sip.wire[-1] == f"INVITE {uri(B)}" and rig.screen == "calling"


def test_redial_with_nothing_dialled_says_so(rig):
    """Placing a Call / "Redial", before any call: nothing goes out, the LCD says why."""
    rig.press("redial")
    assert rig.sip.wire == [] and rig.state.notice == "No number to redial"


def _dialled(rig):
    call_out(rig, B)
    rig.hook(False)


def _received(rig):
    rig.incoming(B)
    rig.hook(True)
    rig.hook(False)


def _missed(rig):
    call = rig.incoming(B)
    rig.far(rig.sip.cancels, call)


@pytest.mark.parametrize("entry, made, nav", [("3", _dialled, "right"),
                                              ("2", _received, "left"),
                                              ("1", _missed, "down")])
@pytest.mark.parametrize("way", ["menu", "navigation key"])
def test_dialling_from_the_call_log(rig, entry, made, nav, way):
    """Placing a Call / "Dial from a call log": MENU or OK > Call history > Missed calls,
    Received calls or Dialled numbers - or the navigation key on the standby screen (down,
    left, right) - then the Dial soft key."""
    made(rig)
    assert rig.screen == "idle"
    if way == "menu":
        rig.press("ok", "2", entry)                # the menu, 2 Call history, the list
    else:
        rig.press(nav)
    assert rig.screen == "menu" and B in rig.lcd
    before = len(rig.sip.wire)
    rig.soft("Dial")
    assert rig.sip.wire[before:] == [f"INVITE {uri(B)}"]


def test_placing_a_call_while_another_is_active_holds_it(rig):
    """Placing a Call / "Place a call while another call is active": Hold, the other line
    key, enter the number, '#'."""
    b = call_out(rig, B)
    rig.press("hold")
    assert rig.sip.wire[-1] == f"re-INVITE {b} hold" and rig.led("line1") == GREEN_SLOW
    rig.press("line2")
    assert (rig.screen, rig.tone, rig.led("line2")) == ("dialing", "dial", RED_ON)
    rig.dial(C + "#")
    assert rig.sip.wire[-1] == f"INVITE {uri(C)}"
    assert rig.calls() == {B: "held", C: "calling"}


@pytest.mark.parametrize("off_hook", ["handset", "speaker", "headset", "line1", "Send"])
def test_pre_dial_on_hook_then_go_off_hook(rig, off_hook):
    """Placing a Call, Tips: "dial on-hook, without a dial tone (pre-dial) ... then go
    off-hook by lifting the handset or pressing [the line key], Headset or Speaker"."""
    rig.dial(B)
    assert (rig.screen, rig.tone, rig.sip.wire) == ("predial", None, [])
    assert rig.led("line1") == RED_ON
    rig.use(off_hook)
    assert rig.sip.wire == [f"INVITE {uri(B)}"]


def test_c_erases_a_digit_while_dialling(rig):
    """Placing a Call, Tips: "If you make a mistake while dialing, press C to erase"."""
    rig.hook(True).dial("10029")
    rig.press("cancel")
    rig.press("#")
    assert rig.sip.wire == [f"INVITE {uri(B)}"]


def test_holding_c_erases_every_digit(rig):
    """Placing a Call, Tips (C erases): a long press of C clears the number at once."""
    rig.hook(True).dial("555")
    rig.hold_key("cancel")
    assert rig.state.focused.number == "" and rig.tone == "dial"


# == Answering a Call =======================================================================

def test_a_call_rings_with_the_line_key_and_the_light_strip_red_flashing(rig):
    """Answering a Call / "Answer with a handset" 1)-2): the phone rings, the ringing
    line's key and the light strip flash red."""
    call = rig.incoming(B, "Bob")
    assert rig.sip.wire == [f"180 INVITE from {B}"]
    assert (rig.screen, rig.tone) == ("ringing", "ring")
    assert (rig.led("line1"), rig.led("strip")) == (RED_FAST, RED_FAST)
    assert rig.softkeys[:2] == ["Answer", "Reject"] and "Bob" in rig.lcd
    assert call is not None


@pytest.mark.parametrize("how, device", [("handset", "handset"), ("speaker", "speaker"),
                                         ("line1", "speaker"), ("Answer", "speaker"),
                                         ("headset", "headset"), ("ok", "speaker")])
def test_answering_with_the_handset_speaker_line_key_soft_key_or_headset(rig, how, device):
    """Answering a Call / "Answer with a handset" (pick it up), "... the speakerphone"
    (Speaker, the flashing line key, or Answer), "... a headset" (the Headset key)."""
    call = rig.incoming(B)
    rig.use(how)
    assert rig.sip.wire[-1] == f"200 {call}"
    assert (rig.screen, rig.state.audio.value, rig.tone) == ("talking", device, None)
    assert (rig.led("line1"), rig.heard) == (GREEN_ON, (call,))
    if device == "headset":
        assert rig.led("headset") == RED_ON


def test_answering_a_second_call_with_its_line_key_holds_the_first(rig):
    """Answering a Call / "Switch from a connected call to answer a ringing call": the
    other line key and the strip flash red; its line key answers, the first call is held."""
    b = call_out(rig, B)
    c = rig.incoming(C)
    assert (rig.led("line2"), rig.led("strip"), rig.tone) == (RED_FAST, RED_FAST,
                                                              "callwaiting")
    rig.press("line2")
    assert rig.sip.wire[-2:] == [f"re-INVITE {b} hold", f"200 {c}"]
    assert rig.calls() == {B: "held", C: "connected"}
    assert (rig.led("line1"), rig.led("line2"), rig.heard) == (GREEN_SLOW, GREEN_ON, (c,))


def test_auto_answer_answers_after_a_few_rings(rig):
    """Answering a Call / "Auto-answer": enabled, the phone answers by itself after a few
    rings (phone.auto_answer_delay, 3 s), hands-free."""
    rig.set({"phone.auto_answer": True})
    call = rig.incoming(B)
    rig.advance(2.9)
    assert rig.screen == "ringing"
    rig.advance(0.1)
    assert rig.sip.wire[-1] == f"200 {call}"
    assert (rig.screen, rig.state.audio.value) == ("talking", "speaker")


def test_auto_answer_takes_a_waiting_call_once_the_call_before_it_ends(rig):
    """Auto-answer answers a call "when no other call is up": a call that came while the
    last one was still up (its caller's next INVITE before its BYE) waits; once that call
    ends it rings on an idle phone and is answered after the delay, as any other would be
    (test_back_to_back's 150 calls stalled on one such call: it rang until the caller gave
    up, and the calls behind it found every line taken)."""
    rig.set({"phone.auto_answer": True, "phone.auto_answer_delay": 0})
    first = rig.incoming(B)
    rig.advance(0)
    assert rig.calls() == {B: "connected"}
    second = rig.incoming(C)
    rig.advance(1)
    assert rig.calls() == {B: "connected", C: "ringing"}     # waiting: not answered over B
    rig.far(rig.sip.hangs_up, first)
    rig.advance(0)
    assert rig.sip.wire[-1] == f"200 {second}"
    assert (rig.screen, rig.calls()) == ("talking", {C: "connected"})


@pytest.mark.parametrize("waiting", [True, False])
def test_call_waiting_beeps_or_the_second_caller_hears_busy(rig, waiting):
    """Call waiting (§7 phone.call_waiting): a second call during a call beeps in the
    earpiece; with call waiting off the caller gets 486 Busy and nothing rings."""
    rig.set({"phone.call_waiting": waiting})
    call_out(rig, B)
    second = rig.incoming(C)
    if waiting:
        assert (rig.screen, rig.tone, second is not None) == ("ringing", "callwaiting", True)
    else:
        assert second is None and rig.sip.wire[-1] == f"486 INVITE from {C}"
        assert (rig.screen, rig.tone) == ("talking", None)


# == Ending a Call ==========================================================================

@pytest.mark.parametrize("how", ["cradle", "End"])
def test_hanging_up_the_handset_call(rig, how):
    """Ending a Call / "Hang up while using the Handset": the cradle, or End."""
    call = call_out(rig, B)
    rig.use(how)
    assert rig.sip.wire[-1] == f"BYE {call}"
    if how == "cradle":
        assert (rig.screen, rig.state.audio.value, rig.led("line1")) == ("idle", "none", OFF)
    else:                                    # the handset is still up: a fresh dial tone
        assert (rig.screen, rig.tone, rig.led("line1")) == ("dialing", "dial", RED_ON)


@pytest.mark.parametrize("how", ["speaker", "line1", "End"])
def test_hanging_up_the_speakerphone_call(rig, how):
    """Ending a Call / "Hang up while using the Speakerphone": the lit Speaker key, the
    line key, or End."""
    call = talking_hands_free(rig)
    rig.use(how)
    assert rig.sip.wire[-1] == f"BYE {call}"
    assert (rig.screen, rig.led("speaker"), rig.led("line1")) == ("idle", OFF, OFF)


@pytest.mark.parametrize("how, headset_mode", [("headset", False), ("End", True)])
def test_hanging_up_the_headset_call(rig, how, headset_mode):
    """Ending a Call / "Hang up while using the Headset": the Headset key (leaves the
    headset mode) or End (keeps it)."""
    rig.press("headset").dial(B + "#")
    call = rig.sip.invited(B)
    rig.far(rig.sip.answers, call)
    rig.use(how)
    assert rig.sip.wire[-1] == f"BYE {call}" and rig.screen == "idle"
    assert rig.state.headset_mode is headset_mode
    assert rig.led("headset") == (RED_ON if headset_mode else OFF)


def test_hanging_up_one_call_keeps_the_held_one(rig):
    """Ending a Call / "Hang up one call, but preserve another call on the other line":
    End."""
    b, c = held_and_talking(rig)
    rig.soft("End")
    assert rig.sip.wire[-1] == f"BYE {c}"
    assert rig.calls() == {B: "held"} and rig.led("line1") == GREEN_SLOW


def test_the_far_end_hanging_up_shows_why_and_plays_busy_until_hung_up(rig):
    """Ending a Call (the far end hangs up): the call ended screen, a tone, until the
    handset goes down."""
    call = call_out(rig, B)
    rig.far(rig.sip.hangs_up, call)
    assert (rig.screen, rig.tone) == ("ended", "reorder")
    assert "ended by far end" in rig.lcd
    rig.hook(False)
    assert rig.screen == "idle" and rig.tone is None


# == Using Hold and Resume ==================================================================

@pytest.mark.parametrize("how", ["hold", "Hold"])
def test_put_a_call_on_hold(rig, how):
    """Hold and Resume / "Put a call on hold": HOLD, or the Hold soft key; a held call's
    line key flashes green (Tips)."""
    call = call_out(rig, B)
    rig.use(how)
    assert rig.sip.wire[-1] == f"re-INVITE {call} hold"
    assert (rig.screen, rig.led("line1"), rig.heard) == ("held", GREEN_SLOW, ())
    assert rig.softkeys == ["Resume", "", "New", "End"]


def test_hold_a_line_and_switch_to_another(rig):
    """Hold and Resume / "Hold a line and switch to another line": the other line key."""
    b = call_out(rig, B)
    rig.press("line2")
    assert rig.sip.wire[-1] == f"re-INVITE {b} hold"
    assert (rig.screen, rig.led("line1"), rig.led("line2")) == ("dialing", GREEN_SLOW, RED_ON)


@pytest.mark.parametrize("how", ["line1", "hold", "Resume"])
def test_resume_a_call_on_the_current_line(rig, how):
    """Hold and Resume / "Resume a call on current line": the line key (or HOLD again, or
    Resume)."""
    call = call_out(rig, B)
    rig.press("hold")
    rig.use(how)
    assert rig.sip.wire[-1] == f"re-INVITE {call} resume"
    assert (rig.screen, rig.led("line1"), rig.heard) == ("talking", GREEN_ON, (call,))


def test_release_the_hold_on_another_line_holds_the_active_one(rig):
    """Hold and Resume / "Release a call on different line": press the held line's key;
    the call talking now is held in its place."""
    b, c = held_and_talking(rig)
    rig.press("line1")
    assert rig.sip.wire[-2:] == [f"re-INVITE {c} hold", f"re-INVITE {b} resume"]
    assert rig.calls() == {B: "connected", C: "held"} and rig.heard == (b,)


# == Transferring Calls =====================================================================

@pytest.mark.parametrize("start", ["transfer", "Xfer"])
def test_consult_transfer(rig, start):
    """Transferring Calls / "Talk to the transfer recipient before transferring a call
    (consult transfer)": TRANSFER or XFER, the number, '#'; once the target answers,
    TRANSFER again: the two are joined (REFER with Replaces) and we leave."""
    b = call_out(rig, B)
    rig.use(start)
    assert rig.sip.wire[-1] == f"re-INVITE {b} hold"
    assert rig.screen == "dialing" and rig.softkeys == ["Send", "B Xfer", "<-", "Cancel"]
    rig.dial(C + "#")
    c = rig.sip.invited(C)
    rig.far(rig.sip.answers, c)
    assert rig.softkeys[:2] == ["Xfer", "Conf"]
    rig.press("transfer")
    assert rig.sip.wire[-1] == f"REFER {b} replaces {c}"
    rig.far(rig.sip.refer_accepted, b)
    rig.far(rig.sip.refer_notify, b, 200)
    assert rig.sip.wire[-2:] == [f"BYE {b}", f"BYE {c}"]
    assert rig.screen == "idle" and rig.state.notice == "Transferred"


@pytest.mark.parametrize("send", SENDS)
def test_blind_transfer(rig, send):
    """Transferring Calls / "Blind transfer": TRANSFER or XFER, B Xfer, the number, '#'
    (or Send, or wait 5 s): the far end is REFERred to it, no call of ours to the target."""
    b = call_out(rig, B)
    rig.press("transfer")
    rig.soft("B Xfer")
    assert rig.softkeys[1] == "C Xfer"
    rig.dial(C)
    send_number(rig, send)
    assert rig.sip.wire[-1] == f"REFER {b} {uri(C)}"
    assert not rig.sip.commands("make_call")[1:]      # only the first call was an INVITE
    rig.far(rig.sip.refer_accepted, b)
    assert rig.screen == "idle" and rig.state.notice == "Transferred"
    rig.far(rig.sip.refer_notify, b, 200)
    assert rig.sip.wire[-1] == f"BYE {b}" and rig.state.calls == []


def test_blind_transfer_that_fails_gives_the_call_back(rig):
    """Transferring Calls / "Blind transfer" when the target is busy: nothing is dropped
    silently, the held call comes back with the reason."""
    b = call_out(rig, B)
    rig.press("transfer").soft("B Xfer").dial(C + "#")
    rig.far(rig.sip.refer_notify, b, 486)
    assert rig.sip.wire[-1] == f"re-INVITE {b} resume"
    assert rig.screen == "talking" and "Busy" in rig.state.notice


def test_blind_transfer_to_the_held_line(rig):
    """Transferring Calls / "Blind transfer to the held line": TRANSFER, then the line key
    of the held line: the two far ends are joined."""
    b, c = held_and_talking(rig)
    rig.press("transfer")
    rig.press("line1")
    assert rig.sip.wire[-1] == f"REFER {c} replaces {b}"


def test_semi_attended_transfer_while_the_target_rings(rig):
    """Transferring Calls (semi-attended, phone.transfer_mode auto): TRANSFER while the
    target still rings turns the consult call into a blind transfer."""
    b = call_out(rig, B)
    rig.press("transfer").dial(C + "#")
    c = rig.sip.invited(C)
    rig.far(rig.sip.rings, c)
    rig.press("transfer")
    assert rig.sip.wire[-2:] == [f"CANCEL {c}", f"REFER {b} {uri(C)}"]


def test_cancel_on_the_transfer_screen_gives_the_held_call_back(rig):
    """Transferring Calls: C / Cancel before sending gives the held call back."""
    b = call_out(rig, B)
    rig.press("transfer")
    rig.soft("Cancel")
    assert rig.sip.wire[-1] == f"re-INVITE {b} resume" and rig.screen == "talking"


# == Using Mute =============================================================================

def test_mute_on_and_off(rig):
    """Using Mute / "Toggle Mute on" (the Mute key lights red: they cannot hear you) and
    "Toggle Mute off" (the light goes out)."""
    call = call_out(rig, B)
    rig.press("mute")
    assert rig.led("mute") == RED_ON and rig.state.mute
    rig.press("mute")
    assert rig.led("mute") == OFF and not rig.state.mute
    assert rig.heard == (call,)


def test_mute_does_nothing_without_a_call(rig):
    """Using Mute: with no call there is no one to mute."""
    rig.press("mute")
    assert rig.led("mute") == OFF


# == Do Not Disturb =========================================================================

def test_global_dnd_refuses_calls_with_busy_until_switched_off(rig):
    """Do Not Disturb / "Enable global DND" (the DND soft key) and "Disable DND" (the
    same key, now No DND): callers hear busy (486, phone.dnd_code); nothing rings."""
    rig.soft("DND")
    assert rig.saved == [{"phone.dnd": True}] and rig.softkeys[1] == "No DND"
    assert rig.incoming(B) is None
    assert rig.sip.wire[-1] == f"486 INVITE from {B}" and rig.screen == "idle"
    rig.soft("No DND")
    assert rig.softkeys[1] == "DND"
    assert rig.incoming(B) is not None and rig.screen == "ringing"


def test_dnd_on_a_single_line(rig):
    """Do Not Disturb / "Enable DND on a single line" (Function setting > DND > line):
    calls to that line are refused, the other lines still ring; "Disable DND" reverses."""
    rig.set({"account.2.enable": True, "account.2.user": "2001",
             "account.2.server": SERVER, "account.1.dnd": True})
    assert rig.incoming(B, account=1) is None
    assert rig.sip.wire[-1] == f"486 INVITE from {B}"
    assert rig.incoming(C, account=2) is not None
    rig.far(rig.sip.cancels, rig.state.calls[0].id)
    rig.set({"account.1.dnd": False})
    assert rig.incoming(B, account=1) is not None


# == 3-way Conference =======================================================================

def test_conference_with_the_transfer_recipient(rig):
    """3-way Conference / "Invite the transfer recipient into a conference in a
    transferring": when the recipient answers, CONF: the held one, the recipient and you
    are in a conference, the LCD shows it."""
    b = call_out(rig, B)
    rig.press("transfer").dial(C + "#")
    c = rig.sip.invited(C)
    rig.far(rig.sip.answers, c)
    rig.press("conference")
    assert rig.sip.wire[-1] == f"re-INVITE {b} resume"
    assert rig.calls() == {B: "connected", C: "connected"}
    assert set(rig.heard) == {b, c} and "Conference" in rig.lcd
    assert rig.softkeys == ["", "", "", "End"]


@pytest.mark.parametrize("key", ["conference", "Conf"])
def test_conference_inviting_a_third_party_in_an_active_call(rig, key):
    """3-way Conference / "Invite the third party into a conference in a active call":
    CONF, the number, once connected CONF again."""
    b, c = conference_of_three(rig, key)
    assert set(rig.heard) == {b, c} and rig.calls() == {B: "connected", C: "connected"}
    assert rig.led("line1") == rig.led("line2") == GREEN_ON


def test_conference_with_the_held_line(rig):
    """3-way Conference / "establish a conference with held line": one line held, the
    other busy; CONFERENCE (or CONF), then the held line's key."""
    b, c = held_and_talking(rig)
    rig.press("conference")
    assert rig.state.notice == "Press the held line's key"
    rig.press("line1")
    assert rig.sip.wire[-1] == f"re-INVITE {b} resume"
    assert set(rig.heard) == {b, c}


def test_leaving_a_conference_ends_both_calls(rig):
    """3-way Conference, hanging up (phone.conference_exit end_all): both far ends go."""
    b, c = conference_of_three(rig)
    rig.hook(False)
    assert sorted(rig.sip.wire[-2:]) == sorted([f"BYE {b}", f"BYE {c}"])
    assert rig.screen == "idle"


def test_one_party_leaving_leaves_a_normal_call(rig):
    """3-way Conference: when one far end hangs up the other stays as an ordinary call."""
    b, c = conference_of_three(rig)
    rig.far(rig.sip.hangs_up, c)
    assert rig.calls() == {B: "connected"} and rig.heard == (b,)
    assert rig.softkeys == ["Hold", "Xfer", "Conf", "End"]
