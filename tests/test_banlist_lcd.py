"""The ban list from the LCD, the callers who used to slip through (issue 14 item 6, the
review of the first version): a display name with a tab (which the entry's checks refuse,
and a nuisance caller can send on purpose), a SIP user that is no number ("alice"), an
anonymous caller in the call log; and the start-up: the Phone's first incoming policy
already refuses the entries. In-process (tests/fakes rig), keys pressed as a person does.
The rest of the ban list: tests/test_banlist.py, over real SIP tests/test_banlist_sip.py.
"""
from __future__ import annotations

import json

import pytest

from firmware.banlist import Ban, BanList
from firmware.call import config
from firmware.events import PageRequested
from tests.fakes import build
from tests.test_banlist import decide, missed_call, stored

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def rig(tmp_path):
    return build(data_dir=tmp_path)


def ban_while_ringing(rig, number: str, name: str = "", **kw) -> None:
    rig.incoming(number, name=name, **kw)
    assert rig.screen == "ringing"
    rig.soft("Ban")
    assert f"Ban {number}?" in rig.lcd
    rig.soft("Yes")


# --- names and numbers the entry's checks refused ---------------------------------------------

def test_a_display_name_with_a_tab_is_banned_with_the_name_on_one_line(rig):
    ban_while_ringing(rig, "1002", "Spam\tCall\r\nNow")
    assert rig.screen == "idle"                            # refused: the ring stops
    assert rig.sip.wire[-1] == f"{rig.settings.phone.reject_code} 1"
    assert [(e["first_name"], e["mobile"]) for e in stored(rig.data_dir)["entries"]] == \
        [("Spam Call Now", "1002")]
    assert rig.incoming("1002", name="Spam\tCall") is None


def test_a_long_display_name_is_cut_and_the_caller_banned(rig):
    ban_while_ringing(rig, "1002", "x" * 10 + "\t" + "y" * 30)
    assert stored(rig.data_dir)["entries"][0]["first_name"] == "x" * 10 + " " + "y" * 21


def test_a_sip_user_that_is_no_number_is_refused_through_the_blacklist(rig):
    ban_while_ringing(rig, "alice", "Alice")
    assert rig.screen == "idle"
    assert "Banned: alice" in rig.lcd
    assert rig.settings.phone.blacklist == ("alice",)      # the setting takes user names
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()
    assert rig.incoming("alice") is None                   # the SIP thread refuses her
    assert rig.incoming("alice2") is not None              # exactly her: no prefix


def test_a_sip_user_ending_in_a_star_is_not_made_a_prefix(rig):
    ban_while_ringing(rig, "a*", "Sneaky")
    assert rig.screen == "ringing"                         # rings on: nothing banned
    assert "ends in *" in rig.lcd
    assert rig.settings.phone.blacklist == ()


def test_a_call_log_entry_of_a_sip_user_is_banned_too(rig):
    missed_call(rig, "bob", "Bob")
    rig.soft("Add")
    rig.walk("Add to ban list")
    rig.soft("OK")
    assert "Banned: bob" in rig.lcd
    assert rig.settings.phone.blacklist == ("bob",)
    assert rig.incoming("bob") is None


# --- anonymous callers ----------------------------------------------------------------------------

def test_an_anonymous_call_log_entry_says_no_number_at_once(rig):
    cid = rig.incoming("anonymous", name="Anonymous", host="anonymous.invalid")
    rig.far(rig.sip.hangs_up, cid)
    rig.press("down")
    assert rig.state.menu[-1].title == "Missed calls"
    rig.soft("Add")
    assert "No number" in rig.lcd
    assert rig.state.menu[-1].title == "Missed calls"      # no page that fails later
    assert rig.settings.phone.blacklist == ()


def test_an_anonymous_ringing_caller_says_no_number(rig):
    rig.incoming("anonymous", name="Anonymous", host="anonymous.invalid")
    rig.soft("Ban")
    assert "No number" in rig.lcd
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    assert rig.settings.phone.blacklist == ()


# --- the contact editor asked for with no menu open ---------------------------------------------

def test_the_contact_editor_asked_for_on_the_standby_screen_takes_the_keys(rig):
    """contacts.py has its page walked when it opens with no menu below (what the ban
    list's Add asks for from the ringing screen or a call list)."""
    rig.bus.post(PageRequested("contacts:add:1003:Carol"))
    rig.settle()
    assert rig.state.menu[-1].title == "Add contact"
    rig.walk("Save")
    own = json.loads((rig.data_dir / "phonebook" / "own.json").read_text())
    assert [(c["first_name"], c["office"]) for c in own["contacts"]] == [("Carol", "1003")]
    assert rig.screen == "idle"


# --- start-up ---------------------------------------------------------------------------------------

def test_the_phones_first_policy_refuses_the_entries(tmp_path, monkeypatch):
    """No moment between the Phone's first policy and the ban list feature in which a
    banned caller rings: every policy the Phone makes has the entries."""
    BanList(tmp_path).add(Ban(mobile="1002"))
    made = []
    original = config.incoming_policy

    def recorded(settings, now):
        made.append(original(settings, now))
        return made[-1]
    monkeypatch.setattr(config, "incoming_policy", recorded)
    rig = build(data_dir=tmp_path)
    assert made and all(decide(p, "1002") == p.reject_code for p in made)
    assert rig.incoming("1002") is None


# --- "Ban 1002?" answered with OK and C, as every question of the phone ----------------------------

def test_ok_on_the_ringing_question_bans_and_refuses(rig):
    """The rest of the phone confirms with OK (OK: delete, C: keep): here OK answered the
    caller before, and the person who meant Yes was talking to the nuisance."""
    rig.incoming("1002", name="Spam")
    rig.soft("Ban")
    rig.press("ok")
    assert rig.screen == "idle"                            # refused, not answered
    assert rig.sip.wire[-1] == f"{rig.settings.phone.reject_code} 1"
    assert [e["mobile"] for e in stored(rig.data_dir)["entries"]] == ["1002"]
    assert "Banned: 1002" in rig.lcd


def test_c_on_the_ringing_question_closes_it_and_the_ring_goes_on(rig):
    """C was Reject before: the call refused, nobody banned — the opposite of No."""
    rig.incoming("1002")
    rig.soft("Ban")
    rig.press("cancel")
    assert rig.screen == "ringing"
    assert "Ban 1002?" not in rig.lcd
    assert rig.softkeys == ["Answer", "Reject", "Ban", "Add"]
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()
    rig.press("cancel")                                    # the question gone: C rejects
    assert rig.screen == "idle"


@pytest.mark.parametrize("control", ["handset", "speaker", "line1"])
def test_the_handset_speaker_or_line_key_still_answer_while_it_asks(rig, control):
    rig.incoming("1002")
    rig.soft("Ban")
    rig.use(control)
    assert rig.screen == "talking"
    assert "Ban 1002?" not in rig.lcd
    assert not (rig.data_dir / "phonebook" / "banlist.json").exists()
    rig.advance(5)                                         # the question's timer, harmless
    assert rig.screen == "talking"
