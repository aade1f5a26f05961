"""The LCD screen, read like the manual (§3 "Understanding Phone Screen Features",
§4 "Basic Call Handling"): build a PhoneState, render it, read the text and a few pixels."""
from __future__ import annotations

import calendar
import statistics
import time

import pytest

from firmware.present import softkeys
from firmware.call.state import Account, AudioDevice, Call, CallState, LineStatus, PhoneState
from ui import demo
from ui.font import SMALL
from ui.lcd import H, KEYS_Y, W, render

pytestmark = pytest.mark.usefixtures("utc")      # tests/conftest.py

NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))     # Mon 03 Jun 2024 14:05 UTC
MONO = 1000.0


def account(index=1, status=LineStatus.REGISTERED, label="", user=None, **kw) -> Account:
    return Account(index=index, enabled=True, label=label, user=user or f"200{index}",
                   status=status, **kw)


def phone(**kw) -> PhoneState:
    kw.setdefault("accounts", [account(1)])
    kw.setdefault("now", NOW)
    kw.setdefault("mono", MONO)
    return PhoneState(**kw)


def call(id=1, state=CallState.CONNECTED, line=1, number="1002", name="", direction="out",
         talked=None, **kw) -> Call:
    return Call(id=id, line=line, account=line, direction=direction, state=state,
                number=number, name=name, uri=f"sip:{number}@pbx.example.com",
                started=MONO - 30,
                connected_at=MONO - talked if talked is not None else 0.0, **kw)


# what the transfer and conference features put on the talking screen's soft keys (the
# phone publishes it into the state: firmware/call/controls.py; tests/test_modes.py)
FEATURE_SOFT_KEYS = {"talking": (None, ("Xfer", "xfer"), ("Conf", "conf"), None)}


def in_call(*calls: Call, focus=1, **kw) -> PhoneState:
    kw.setdefault("accounts", [account(1), account(2), account(3)])
    kw.setdefault("soft", FEATURE_SOFT_KEYS)
    return phone(calls=list(calls), focus=focus, **kw)


def ink(frame, box) -> int:
    """Dark pixels inside box (x0, y0, x1, y1), exclusive end."""
    return frame.image.crop(box).histogram()[0]


# --- the frame -------------------------------------------------------------------------------

def test_a_frame_is_a_128x64_one_bit_image_of_dark_text_on_a_light_background():
    frame = render(phone())
    assert frame.image.size == (128, 64) and (W, H) == (128, 64)
    assert frame.image.mode == "1"
    dark = ink(frame, (0, 0, W, H))
    assert 0 < dark < W * H // 4          # mostly paper, some ink
    assert frame.png().startswith(b"\x89PNG\r\n\x1a\n")
    assert frame.png(scale=4) != frame.png()


def test_the_same_state_draws_the_same_bytes():
    st = in_call(call(talked=42, name="Alice Smith"), audio=AudioDevice.HANDSET, mute=True)
    assert render(st).png() == render(st.snapshot()).png()
    assert render(st).lines == render(st.snapshot()).lines


def test_rendering_reads_no_clock(monkeypatch):
    st = in_call(call(talked=42))
    expected = render(st).lines
    for name in ("time", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, lambda: pytest.fail("render read the clock"))
    assert render(st).lines == expected


def test_the_device_image_lights_the_dots_the_png_darkens():
    frame = render(phone())
    lit = frame.device_image()
    assert lit.mode == "1"
    assert lit.histogram()[255] == ink(frame, (0, 0, W, H))


# --- idle -------------------------------------------------------------------------------------

def test_the_idle_screen_shows_the_time_the_line_status_of_each_account_and_the_soft_keys():
    frame = render(phone(redial="1002"))
    assert frame.screen == "idle"
    assert frame.lines == ["[reg] 2001", "14:05", "Mon 03 Jun", "Redial DND"]


def test_the_clock_shows_12_hour_time_when_the_phone_is_set_to_12_hours():
    assert "2:05 PM" in render(phone(time_format=12)).lines
    assert "12:30 AM" in render(phone(time_format=12, now=NOW - 13 * 3600 - 35 * 60)).lines


def test_the_date_follows_the_date_format():
    assert "03/06/2024" in render(phone(date_format="%d/%m/%Y")).lines


def test_the_clock_is_drawn_big():
    frame = render(phone())
    row = next(i for i, line in enumerate(frame.lines) if line == "14:05")
    assert row == 1
    # The big digits are 14 px tall: some column of the frame has ink in 14 rows
    # between the rule and the date.
    tallest = max(ink(frame, (x, 10, x + 1, 45)) for x in range(W))
    assert tallest >= 12


def test_auto_answer_shows_AA():
    assert render(phone(auto_answer=True)).lines[0] == "[reg] 2001 AA"
    assert "AA" not in render(phone(auto_answer=False)).lines[0]


def test_missed_calls_and_new_voicemail_are_counted_on_the_idle_screen():
    lines = render(phone(missed=2, voicemail=3)).lines
    assert "2 Missed 3 Voicemail" in lines
    lines = render(phone(missed=2, voicemail=0, missed_call_display=False)).lines
    assert not any("Missed" in line for line in lines)


def test_a_notice_or_the_first_settings_error_shows_on_the_status_row():
    assert "Check the network cable" in render(phone(notice="Check the network cable")).lines
    lines = render(phone(errors=["sip.port: must be 1-65535", "other"])).lines
    assert lines[-3:-1] == ["sip.port: must be", "1-65535"]     # wrapped, not cut
    assert SMALL.width(lines[-3]) <= W
    assert "other" not in lines


def test_each_line_status_has_its_own_icon():
    statuses = [LineStatus.NO_NETWORK, LineStatus.P2P, LineStatus.NOT_REGISTERED,
                LineStatus.REGISTERED, LineStatus.DND]
    tokens, pictures = [], []
    for status in statuses:
        frame = render(phone(accounts=[account(1, status)]))
        tokens.append(frame.lines[0].split()[0])
        pictures.append(frame.image.crop((0, 0, 7, 7)).tobytes())
        assert ink(frame, (0, 0, 7, 7)) > 0
    assert tokens == ["[nonet]", "[p2p]", "[unreg]", "[reg]", "[dnd]"]
    assert len(set(pictures)) == 5


def test_dnd_on_the_phone_shows_the_dnd_icon_on_registered_lines():
    frame = render(phone(dnd=True, accounts=[account(1), account(2, LineStatus.NO_NETWORK)]))
    assert frame.lines[0] == "[dnd] 2001 [nonet] 2002"
    assert frame.lines[-1] == "No DND"


def test_a_disabled_account_is_not_shown_and_no_account_says_so():
    off = Account(index=2, enabled=False, user="2002")
    assert render(phone(accounts=[account(1), off])).lines[0] == "[reg] 2001"
    assert render(phone(accounts=[])).lines[0] == "No account"


def test_three_lines_share_the_status_row_and_long_labels_give_way_to_the_extension():
    accounts = [account(1, label="Reception"), account(2, LineStatus.NOT_REGISTERED,
                                                       label="Sales line"),
                account(3, LineStatus.NO_NETWORK, label="Support desk")]
    frame = render(phone(accounts=accounts, auto_answer=True))
    assert frame.lines[0] == "[reg] 2001 [unreg] 2002 [nonet] 2003 AA"
    frame = render(phone(accounts=accounts[:1]))
    assert frame.lines[0] == "[reg] Reception"


def test_labels_too_long_for_the_status_row_are_cut_with_an_ellipsis():
    accounts = [account(i, label=f"Department {i} line", user=f"sales.team.{i}")
                for i in (1, 2, 3)]
    frame = render(phone(accounts=accounts, auto_answer=True))
    entries = frame.lines[0].split(" [")
    assert len(entries) == 3 and frame.lines[0].endswith(" AA")
    assert all("…" in e for e in entries)
    # The AA at the right edge is not overdrawn by a label.
    assert frame.image.crop((W - 11, 0, W, 8)).tobytes() == \
        render(phone(accounts=[], auto_answer=True)).image.crop((W - 11, 0, W, 8)).tobytes()


def test_the_line_label_is_shown_rather_than_the_user_when_set():
    assert render(phone(accounts=[account(1, label="Front desk")])).lines[0] == \
        "[reg] Front desk"


# --- dialling ---------------------------------------------------------------------------------

def test_pre_dial_shows_the_digits_and_the_line_they_go_out_on():
    st = phone(predial="0123", predial_line=2, accounts=[account(1), account(2)])
    frame = render(st)
    assert frame.screen == "predial"
    assert frame.lines[0] == "[reg] L2 2002 14:05"
    assert "0123_" in frame.lines
    assert frame.lines[-1] == "Send <- Cancel"


def test_a_long_number_shows_its_last_digits():
    digits = "0044123456789012345678901234"
    frame = render(phone(predial=digits))
    shown = next(line for line in frame.lines if line.endswith("_"))
    assert shown.startswith("…") and shown.endswith("5678901234_")
    assert SMALL.width(shown) <= W


def test_off_hook_dialing_shows_the_line_and_the_number_typed_with_a_cursor():
    frame = render(in_call(call(state=CallState.DIALING, number="10"),
                           audio=AudioDevice.HANDSET, offhook=True))
    assert frame.screen == "dialing"
    assert frame.lines[0] == "[reg] L1 2001 [handset] 14:05"
    assert frame.lines[1] == "Enter number"
    assert "10_" in frame.lines
    empty = render(in_call(call(state=CallState.DIALING, number="")))
    assert "_" in empty.lines


def test_an_outgoing_call_shows_calling_then_ringing():
    calling = render(in_call(call(state=CallState.CALLING, number="1002")))
    assert calling.lines[1:3] == ["Calling", "1002"]
    ringback = render(in_call(call(state=CallState.RINGBACK, number="1002", name="Bob")))
    assert ringback.lines[1:4] == ["Ringing", "Bob", "1002"]
    assert ringback.lines[-1] == "End"


# --- incoming ---------------------------------------------------------------------------------

def test_a_ringing_call_shows_the_callers_name_and_number_and_the_line():
    frame = render(in_call(call(state=CallState.RINGING, line=2, name="Alice Smith",
                                number="1001", direction="in"), focus=None))
    assert frame.screen == "ringing"
    assert frame.lines == ["[reg] L2 2002 14:05", "Incoming call", "Alice Smith", "1001",
                           "Answer Reject"]


def test_when_several_calls_ring_the_screen_says_which_of_how_many():
    frame = render(in_call(call(1, CallState.RINGING, 1, "1001", direction="in"),
                           call(2, CallState.RINGING, 2, "1003", direction="in"), focus=None))
    assert frame.lines[1] == "Incoming call 1/2"
    assert "L2 ringing" in frame.lines


def test_a_call_ringing_while_another_is_held_is_call_waiting():
    frame = render(in_call(call(1, CallState.HELD, talked=60),
                           call(2, CallState.RINGING, 2, "1003", name="Carol", direction="in"),
                           focus=None))
    assert frame.lines[:2] == ["[reg] L2 2002 14:05", "Call waiting"]
    assert "L1 held" in frame.lines


def test_a_call_ringing_while_we_talk_takes_the_screen_as_call_waiting():
    frame = render(in_call(call(1, talked=300),
                           call(2, CallState.RINGING, 2, "1003", name="Carol", direction="in"),
                           mute=True))
    assert frame.screen == "ringing"
    assert frame.lines == ["[reg] L2 2002 14:05", "Call waiting", "Carol", "1003",
                           "Mute L1 talking", "Answer Reject"]


def test_a_callers_name_in_accents_is_drawn_in_plain_letters():
    frame = render(in_call(call(state=CallState.RINGING, name="José Müller", number="1001"),
                           focus=None))
    assert "Jose Muller" in frame.lines


# --- in a call --------------------------------------------------------------------------------

def test_a_connected_call_shows_a_running_timer():
    st = in_call(call(talked=42, name="Alice Smith", number="1001"),
                 audio=AudioDevice.HANDSET)
    frame = render(st)
    assert frame.screen == "talking"
    assert frame.lines[:4] == ["[reg] L1 2001 [handset] 14:05", "Talking 00:42",
                               "Alice Smith", "1001"]
    st.mono += 1
    later = render(st)
    assert later.lines[1] == "Talking 00:43"
    assert later.png() != frame.png()
    st.mono += 3600
    assert render(st).lines[1] == "Talking 1:00:43"


def test_mute_and_the_far_end_holding_show_while_talking():
    frame = render(in_call(call(talked=5, remote_hold=True), mute=True))
    assert frame.lines[1] == "Held by far end 00:05"
    assert frame.lines[-2] == "Mute"
    assert "Mute" not in render(in_call(call(talked=5))).text


def test_the_audio_device_in_use_shows_as_an_icon():
    pictures = set()
    for device, token in [(AudioDevice.HANDSET, "[handset]"), (AudioDevice.SPEAKER, "[speaker]"),
                          (AudioDevice.HEADSET, "[headset]")]:
        frame = render(in_call(call(talked=5), audio=device))
        assert token in frame.lines[0].split()
        pictures.add(frame.image.crop((80, 0, 100, 8)).tobytes())
    assert len(pictures) == 3
    assert "[" not in render(in_call(call(talked=5), audio=AudioDevice.NONE)).lines[0][6:]


def test_other_calls_are_listed_compactly():
    frame = render(in_call(call(1, talked=10),
                           call(3, CallState.DIALING, 3, "10"),
                           call(2, CallState.HELD, 2, "1004", talked=100)))
    assert frame.lines[-2] == "L2 held L3 dialing"


def test_a_held_call_shows_on_hold_the_far_end_and_the_timer():
    frame = render(in_call(call(state=CallState.HELD, talked=95, name="Alice Smith",
                                number="1001")))
    assert frame.screen == "held"
    assert frame.lines[1:4] == ["On hold 01:35", "Alice Smith", "1001"]
    assert frame.lines[-1] == "Resume New End"


def test_an_ended_call_says_why():
    frame = render(in_call(call(state=CallState.ENDED, number="1999", code=404,
                                reason="Not found (404)"), mute=True))
    assert frame.lines[1:] == ["Call ended", "1999", "Not found (404)", "End"]
    done = call(state=CallState.ENDED, talked=65, reason="Hung up")
    done.ended_at = MONO
    assert render(in_call(done)).lines[1] == "Call ended 01:05"


def test_a_direct_ip_call_says_so_in_the_status_row():
    c = call(talked=3)
    c.account = 0
    assert render(in_call(c)).lines[0] == "L1 IP call 14:05"


# --- text that does not fit --------------------------------------------------------------------

def test_a_long_name_or_number_is_shown_in_turns_not_drawn_off_the_screen():
    name = "Maximilian Mustermann-Schmidt von und zu Hohenzollern"
    number = "+49301234567890123456789012345"
    st = in_call(call(talked=1, name=name, number=number))
    frame = render(st)
    turns = dict(frame.paged)                  # each shown whole, a part per step
    assert " ".join(render(st, k).lines[2] for k in range(turns[name])) == name
    assert "".join(render(st, k).lines[3] for k in range(turns[number])) == number
    for line in frame.lines[2:4]:
        assert SMALL.width(line) <= W
    # Something is drawn near the right edge, nothing is lost past it.
    assert ink(frame, (W - 8, 20, W, 36)) > 0


def test_a_long_line_label_in_the_status_row_leaves_room_for_the_clock():
    frame = render(in_call(call(talked=1), accounts=[account(1, label="A" * 40)],
                           audio=AudioDevice.SPEAKER))
    label, speaker, clock = frame.lines[0].rsplit(" ", 2)
    assert label.endswith("…") and speaker == "[speaker]" and clock == "14:05"


# --- soft keys --------------------------------------------------------------------------------

def test_soft_keys_are_drawn_only_under_the_keys_that_have_a_label():
    frame = render(in_call(call(state=CallState.RINGBACK)))  # -, -, -, End
    cells = [ink(frame, (32 * i, KEYS_Y, 32 * i + 32, H)) for i in range(4)]
    assert cells[3] > 100
    assert cells[0] == 0 and cells[1] == 0 and cells[2] == 0
    assert frame.lines[-1] == "End"
    frame = render(in_call(call(talked=5)))                 # Hold, Xfer, Conf, End
    assert frame.lines[-1] == "Hold Xfer Conf End"
    px = frame.image.load()
    for i in range(4):                                      # each label centred on its key
        box = [x for x in range(32 * i, 32 * i + 32) if px[x, H - 2] == 0]
        text = [x for x in box if any(px[x, y] for y in range(KEYS_Y + 1, H - 1))]
        assert abs((text[0] + text[-1]) / 2 - (32 * i + 15.5)) <= 1.5, (i, text)


def test_soft_key_labels_are_kept_whole():
    frame = render(phone(redial="1002", dnd=True))          # Redial, No DND
    assert frame.lines[-1] == "Redial No DND"


@pytest.mark.parametrize("name", sorted(demo.states()))
def test_every_demo_screen_shows_the_soft_keys_of_its_state(name):
    st = demo.states()[name]
    frame = render(st)
    labels = [label for label, _ in softkeys(st) if label]
    assert frame.lines[-1] == " ".join(labels)
    assert frame.screen == st.screen()


# --- speed ------------------------------------------------------------------------------------

def test_a_busy_screen_renders_in_well_under_5_ms():
    st = demo.states()["talking_busy"]
    times = []
    for _ in range(200):
        st.mono += 1
        t0 = time.perf_counter()
        render(st)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.005


def test_the_demo_command_writes_one_png_per_screen(tmp_path, capsys):
    from ui.lcd import _main

    assert _main(["--demo", str(tmp_path)]) == 0
    pngs = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert pngs == sorted(demo.states())
    assert "--- talking.png (talking)" in capsys.readouterr().out


def test_a_dialled_sip_uri_shows_the_user_big_and_the_host_under_it():
    s = PhoneState(now=0, mono=100, accounts=[Account(index=1, enabled=True, user="1001",
                                                     status=LineStatus.P2P)],
                   calls=[Call(id=1, line=1, account=1, direction="out",
                               state=CallState.RINGBACK, number="sip:1002@10.0.0.9:5062",
                               uri="sip:1002@10.0.0.9:5062", started=99)],
                   focus=1, audio=AudioDevice.SPEAKER)
    lines = render(s).lines
    assert "1002" in lines and "10.0.0.9:5062" in lines
