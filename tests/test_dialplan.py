"""The dial plan, read like the manual (§7 Web Settings > Advance > Dial Plan) and the
Linksys SPA administration guide (digit maps): what the keys typed so far mean."""
from __future__ import annotations

import ast
import itertools
import random
import re
import time
from pathlib import Path

import pytest

from firmware.call.dialplan import (NO_SUCH, NOT_ALLOWED, Decision, Dialler, DigitMap,
                               DigitMapError, Rule, apply_rules, check_digit_map, check_rule,
                               is_emergency, parse_rule)

LINKSYS_DEFAULT = "(*xx|[3469]11|0|00|[2-9]xxxxxx|1xxx[2-9]xxxxxxS0|xxxxxxxxxxxx.)"
OFFICE = ("(*xx|[3469]11|0|00|<9:>[2-9]xxxxxx|<9:>1xxx[2-9]xxxxxxS0|9011x.|"
          "1900xxxxxxx!|[1-8]xxx|<00:+>xxxxxxxx.)")
EMERGENCY = ("911", "112")


def state(dm: DigitMap, digits: str) -> str:
    return dm.match(digits).state


# --- digit maps: the syntax ---------------------------------------------------------------

def test_the_linksys_default_map_parses():
    dm = DigitMap.parse(LINKSYS_DEFAULT)
    assert [p.text for p in dm.patterns] == ["*xx", "[3469]11", "0", "00", "[2-9]xxxxxx",
                                             "1xxx[2-9]xxxxxxS0", "xxxxxxxxxxxx."]
    assert str(dm) == LINKSYS_DEFAULT


def test_outer_parentheses_and_white_space_are_optional():
    for text in ("[2-9]xxx", " ( [2-9] x x x ) ", "([2-9]xxx)"):
        dm = DigitMap.parse(text)
        assert dm.match("2345").state == "complete"
        assert dm.match("1234").state == "impossible"


def test_x_is_any_digit_but_not_star_or_hash():
    dm = DigitMap.parse("xx")
    assert all(state(dm, f"{a}{b}") == "complete" for a in "0123456789" for b in "0123456789")
    assert state(dm, "*1") == state(dm, "1#") == "impossible"


@pytest.mark.parametrize("text, allowed", [
    ("[2-9]", "23456789"),
    ("[13-5]", "1345"),
    ("[235-8*]", "235678*"),
    ("[#*0]", "#*0"),
    ("[ 1 - 3 ]", "123"),
])
def test_sets_and_ranges(text, allowed):
    dm = DigitMap.parse(text)
    for key in "0123456789*#":
        assert state(dm, key) == ("complete" if key in allowed else "impossible"), key


def test_a_period_repeats_the_element_before_it_zero_or_more_times():
    dm = DigitMap.parse("01.")
    for digits in ("0", "01", "011", "0111111"):
        assert state(dm, digits) == "complete"
    for digits in ("", "1", "010", "02"):
        assert state(dm, digits) in ("partial", "impossible")
    assert state(dm, "010") == "impossible"


@pytest.mark.parametrize("text, position, reason", [
    ("", 1, "empty digit map"),
    ("(xx|[2-9]x", 1, "'(' is never closed"),
    ("xx)", 3, "')' without '('"),
    ("(xx||x)", 5, "empty alternative"),
    ("(xx|)", 5, "empty alternative"),
    ("()", 2, "empty alternative"),
    ("(x|(xx))", 4, "cannot be nested"),
    ("[9-2]x", 2, "bad range 9-2 goes backwards: write [2-9]"),
    ("x[2-9", 2, "'[' is never closed"),
    ("[]", 2, "empty set"),
    ("[2-*]", 2, "a range joins two digits"),
    ("[-9]", 2, "a range needs a digit on each side"),
    ("[2x]", 3, "'x' cannot be in a [set]"),
    ("(.x)", 2, "'.' repeats the key before it, and there is none"),
    ("x..", 3, "one is enough"),
    ("<9:>.", 5, "'.' cannot repeat a <substitution>"),
    ("xxS0.", 5, "'.' cannot repeat a timer"),
    ("xxS", 3, "bad timer: S needs seconds"),
    ("xxS99", 3, "bad timer: S99 is more than 60 seconds"),
    ("L:x,(xx)", 1, "bad timer: L: needs seconds"),
    ("(xx|S:3,x)", 5, "goes before '('"),
    ("(S0|x)", 2, "only a timer"),
    ("12a4", 3, "unknown character 'a'"),
    ("(1234;)", 6, "unknown character ';'"),
    ("<9>xx", 3, "needs ':'"),
    ("<9:x>x", 4, "'x' cannot be sent"),
    ("<9:12", 1, "'<' is never closed"),
    ("x<9", 2, "'<' is never closed"),
    ("<9S0:>x", 3, "'S' inside <...>"),
    ("x>", 2, "'>' without '<'"),
    ("x:1", 2, "':' outside <...>"),
    ("1900x!x", 6, "'!' bars a pattern and must come last"),
    ("(!|x)", 2, "nothing before it"),
    ("P5<:1000>", 1, "phone.hotline"),
    ("(xx) x", 6, "text after ')'"),
])
def test_a_syntax_error_says_where(text, position, reason):
    with pytest.raises(DigitMapError) as e:
        DigitMap.parse(text)
    assert e.value.position == position
    assert reason in e.value.reason
    assert str(e.value) == f"position {position}: {e.value.reason}"
    assert isinstance(e.value, ValueError)
    caret = e.value.caret(text).splitlines()[1]
    assert caret.index("^") == position - 1


def test_the_settings_check_accepts_an_empty_map_and_names_the_position():
    check_digit_map("")
    check_digit_map("   ")
    check_digit_map(LINKSYS_DEFAULT)
    with pytest.raises(ValueError, match=r"^position 6: bad range 9-2"):
        check_digit_map("(xx|[9-2])")


def test_no_character_outside_the_syntax_is_accepted():
    for ch in map(chr, range(32, 127)):
        text = f"1{ch}2"
        if ch in "0123456789*#xX[].<>:!|() ,SsLlPp":
            continue
        with pytest.raises(DigitMapError, match="position 2: unknown character"):
            DigitMap.parse(text)


@pytest.mark.parametrize("module", ["dialplan", "digitmap"])
def test_the_module_is_pure(module):
    """The dial plan (its two modules: digit map, and rules with the Dialler) imports
    nothing of the phone: only the standard library, the errors and each other."""
    tree = ast.parse(Path(f"firmware/call/{module}.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "ipaddress", "re", "dataclasses", "typing",
                         "firmware.errors", "firmware.call.digitmap"}, imported


# --- digit maps: what the keys mean ---------------------------------------------------------

def test_a_complete_match_dials_at_once():
    dm = DigitMap.parse("(*xx|[2-9]xxx)")
    m = dm.match("2345")
    assert (m.state, m.number, m.timeout, m.pattern) == ("complete", "2345", 0, "[2-9]xxx")
    assert Dialler(dm).digits("2345") == Decision("dial", "2345", 0, "Dial plan: [2-9]xxx")
    assert dm.match("*67").timeout == 0


def test_a_partial_match_waits_for_the_phones_dial_timeout():
    dm = DigitMap.parse("(*xx|[2-9]xxx)")
    for digits in ("", "2", "23", "234", "*", "*6"):
        m = dm.match(digits)
        assert (m.state, m.number, m.timeout) == ("partial", None, None), digits
    assert Dialler(dm).digits("23") == Decision("wait", "23", None, "")


def test_an_impossible_number_gives_re_order():
    dm = DigitMap.parse("(*xx|[2-9]xxx)")
    for digits in ("1", "23456", "*678", "#", "2#", "sip:alice@example.com"):
        assert dm.match(digits).state == "impossible", digits
    d = Dialler(dm).digits("1")
    assert (d.action, d.reason) == ("reorder", NO_SUCH) == ("reorder",
                                                            "No such number in the dial plan")


def test_a_complete_match_that_can_grow_dials_after_the_short_timer():
    """Linksys: 'If a candidate sequence is complete, but there exists one or more
    incomplete candidates, then the Interdigit_Short_Timeout applies.'"""
    dm = DigitMap.parse("(0|00|xxx.)")
    assert (dm.match("0").state, dm.match("0").timeout) == ("complete", 3)
    assert (dm.match("00").state, dm.match("00").timeout) == ("complete", 3)   # 00x still grows
    assert dm.match("123").timeout == 3
    assert dm.match("12345678").timeout == 3
    assert Dialler(dm).digits("0") == Decision("dial", "0", 3, "Dial plan: 0")


def test_several_patterns_prefer_complete_over_partial_only_when_none_can_continue():
    dm = DigitMap.parse("(12|1234)")
    assert (dm.match("1").state, dm.match("1").timeout) == ("partial", None)
    assert (dm.match("12").state, dm.match("12").timeout) == ("complete", 3)
    assert (dm.match("123").state, dm.match("123").number) == ("partial", None)
    assert (dm.match("1234").state, dm.match("1234").timeout) == ("complete", 0)


def test_s0_dials_at_once_s5_waits_five_seconds():
    dm = DigitMap.parse("(<9:>xxxxxxxS0|9xxxxxxxxxx|xxxxS5)")
    assert dm.match("95551234").timeout == 0          # 11-digit pattern still possible
    assert dm.match("95551234").number == "5551234"
    assert dm.match("1234").timeout == 5              # cannot grow, waits anyway
    assert Dialler(dm).digits("1234") == Decision("dial", "1234", 5, "Dial plan: xxxxS5")


def test_the_map_can_set_its_own_short_and_long_timers():
    dm = DigitMap.parse("L:8, S:4, (xxxx|xxxxxxx)")
    assert (dm.short_timer, dm.long_timer) == (4, 8)
    assert dm.match("12").timeout == 8
    assert dm.match("1234").timeout == 4
    assert dm.match("1234567").timeout == 0
    default = DigitMap.parse("(xxxx|xxxxxxx)")
    assert (default.short_timer, default.long_timer) == (3, None)


def test_an_l_timer_counts_from_where_it_stands():
    """Linksys 'local timer override': from that point of the sequence on."""
    dm = DigitMap.parse("(9L15 xxxxxxx|[2-8]xxx)")
    assert dm.match("").timeout is None
    assert dm.match("2").timeout is None
    assert dm.match("9").timeout == 15
    assert dm.match("955").timeout == 15


def test_lowercase_timers_and_capital_x_are_read_too():
    assert DigitMap.parse("XXXs0").match("123").timeout == 0
    assert DigitMap.parse("xl9 xx").match("1").timeout == 9


def test_the_outside_line_comma_is_accepted_and_changes_nothing():
    dm = DigitMap.parse("( <9,:> 1 xxx xxxxxxx | <8,:1212> xxxxxxx )")
    assert dm.match("915551234567").number == "15551234567"
    assert dm.match("85551234").number == "12125551234"


# --- substitutions ---------------------------------------------------------------------------

def test_9_strips_the_outside_line_prefix():
    dm = DigitMap.parse("(<9:>[2-9]xxxxxx|[2-8]xxx)")
    assert dm.match("95551234").number == "5551234"
    d = Dialler(dm).digits("95551234")
    assert (d.action, d.number, d.after) == ("dial", "5551234", 0)


@pytest.mark.parametrize("text, dialled, sent", [
    ("<:1>xxxxxxxxxx", "9725550112", "19725550112"),            # Linksys: inserts 1
    ("<8:1650>xxxxxxx", "85551212", "16505551212"),             # Linksys: replaces 8
    ("<00:+>x.", "0044201234", "+44201234"),
    ("1<23:>4", "1234", "14"),                                  # anywhere in the pattern
    ("xx<:*>xx", "1234", "12*34"),
    ("<0.:>[1-9]xx", "000123", "123"),                          # strips leading zeros
    ("<x:>xx", "123", "23"),
    ("<[13]:5>xx", "312", "512"),
    ("<9:>x.<#:>", "9123#", "123"),
])
def test_substitutions_send_what_the_pattern_says(text, dialled, sent):
    m = DigitMap.parse(text).match(dialled)
    assert m.state == "complete"
    assert m.number == sent


def test_a_substitution_only_pattern_matches_nothing_typed():
    """Linksys hot line '( S0 <:12125551234> )': complete before any key."""
    m = DigitMap.parse("( S0 <:12125551234> )").match("")
    assert (m.state, m.number, m.timeout) == ("complete", "12125551234", 0)


# --- barring and precedence ------------------------------------------------------------------

def test_a_barred_pattern_is_refused_even_when_sent():
    dm = DigitMap.parse("(1900xxxxxxx!|1xxxxxxxxxx)")
    m = dm.match("19005551234")
    assert (m.state, m.barred) == ("barred", True)
    dialler = Dialler(dm)
    assert dialler.digits("19005551234") == Decision("reorder", "19005551234", None,
                                                     NOT_ALLOWED)
    assert dialler.send("19005551234") == Decision("reorder", "19005551234", None,
                                                   "Number not allowed by the dial plan")
    assert dialler.digits("19005551234#").action == "reorder"
    assert dialler.send("18005551234").action == "dial"


def test_barring_does_not_depend_on_the_order_of_the_patterns():
    for text in ("(1947xxxxxxx!|1xxxxxxxxxx)", "(1xxxxxxxxxx|1947xxxxxxx!)"):
        dm = DigitMap.parse(text)
        assert state(dm, "19475551234") == "barred", text
        assert state(dm, "19485551234") == "complete", text


def test_the_most_specific_pattern_wins():
    assert state(DigitMap.parse("(1947xxxxxxx!|19475550100)"), "19475550100") == "complete"
    dm = DigitMap.parse("(<:1>xxxx|<:2>[2-9]xxx|<:3>23xx)")
    assert dm.match("1234").number == "11234"                   # only xxxx
    assert dm.match("5678").number == "25678"                   # a set beats x
    assert dm.match("2345").number == "32345"                   # literal keys beat a set
    assert DigitMap.parse("(<:1>x.|<:2>xx)").match("12").number == "212"   # x beats a repeat


def test_on_a_tie_barred_wins_then_the_earlier_pattern():
    assert state(DigitMap.parse("(xxxx|xxxx!)"), "1234") == "barred"
    assert DigitMap.parse("(<:1>xxxx|<:2>xxxx)").match("1234").number == "11234"
    assert DigitMap.parse("(<:2>xxxx|<:1>xxxx)").match("1234").number == "21234"


def test_a_barred_match_waits_while_an_allowed_one_may_still_come():
    dm = DigitMap.parse("(0!|0xxxx)")
    m = dm.match("0")
    assert (m.state, m.barred, m.timeout) == ("partial", True, None)
    dialler = Dialler(dm)
    assert dialler.digits("0").action == "wait"
    assert dialler.send("0") == Decision("reorder", "0", None, NOT_ALLOWED)
    assert dialler.digits("01234") == Decision("dial", "01234", 0, "Dial plan: 0xxxx")


def test_a_barred_prefix_with_only_barred_continuations_is_refused_at_once():
    dm = DigitMap.parse("(1900xx.!|[2-9]xxx)")
    assert state(dm, "1900") == "partial"
    assert state(dm, "19005") == "barred"
    assert state(dm, "190055512345") == "barred"


# --- properties with many examples ----------------------------------------------------------

MAPS = [
    LINKSYS_DEFAULT,
    OFFICE,
    "(0|00|[1-8]xx|9,1xxxxxxxxxx|011xx.|*[2-9]x|#xx#)",
    "([12]x.0|1*[0-3]x|x*x*|#.1)",
    "(<9:>x.<#:>|[3-5]x[6-8]|*#*|0xx.S4|11L5 x)",
]


def _oracle_regex(steps) -> str:
    out = []
    for kind, *rest in steps:
        if kind == "k":
            keys, repeat, _ = rest
            out.append("[" + "".join(re.escape(k) for k in sorted(keys)) + "]"
                       + ("*" if repeat else ""))
    return "".join(out)


def _prefix_regex(steps) -> str:
    """A regex for every prefix of a word of the pattern: e1(e2(e3)?)?..., nested."""
    out = ""
    for kind, *rest in reversed(steps):
        if kind == "k":
            keys, repeat, _ = rest
            cls = "[" + "".join(re.escape(k) for k in sorted(keys)) + "]"
            out = f"{cls}*(?:{out})?" if repeat else f"(?:{cls}(?:{out})?)"
    return out


def _oracle(dm: DigitMap, digits: str) -> str:
    """Linksys' rule, from regexes: a different road from the DFA to the same answer."""
    full = [re.compile(_oracle_regex(p.steps)) for p in dm.patterns]
    pref = [re.compile(_prefix_regex(p.steps)) for p in dm.patterns]
    done = [p for p, rx in zip(dm.patterns, full) if rx.fullmatch(digits)]
    live = [p for p, rx in zip(dm.patterns, pref)
            if any(rx.fullmatch(digits + k) for k in "0123456789*#")]
    if not done:
        return "partial" if live else "impossible"
    return "complete"


def _words(steps, rng, n):
    """Random numbers a pattern accepts, and what it sends for them."""
    for _ in range(n):
        typed, sent = [], []
        for kind, *rest in steps:
            if kind == "k":
                keys, repeat, keep = rest
                for _ in range(rng.randint(0, 3) if repeat else 1):
                    key = rng.choice(sorted(keys))
                    typed.append(key)
                    if keep:
                        sent.append(key)
            elif kind == "e":
                sent.append(rest[0])
        yield "".join(typed), "".join(sent)


def test_the_dfa_agrees_with_a_regex_oracle_on_every_short_number():
    dm = DigitMap.parse("([12]x.0|1*[0-3]x|x*x*|#.1|0[2-4]|00x)")
    for n in range(5):
        for t in itertools.product("0129*#", repeat=n):
            digits = "".join(t)
            assert dm.match(digits).state == _oracle(dm, digits), digits


def test_random_numbers_agree_with_the_oracle():
    rng = random.Random(3)
    for text in MAPS[2:4]:
        dm = DigitMap.parse(text)
        for _ in range(300):
            digits = "".join(rng.choice("0123456789*#") for _ in range(rng.randint(0, 13)))
            assert dm.match(digits).state == _oracle(dm, digits), (text, digits)


def test_every_number_a_pattern_accepts_matches_and_no_prefix_of_it_is_refused():
    rng = random.Random(7)
    for text in MAPS:
        dm = DigitMap.parse(text)
        for pat in dm.patterns:
            for typed, sent in _words(pat.steps, rng, 25):
                m = dm.match(typed)
                assert m.state in ("complete", "barred") or m.barred, (text, typed)
                assert m.number is not None
                if m.pattern == pat.text and "." not in pat.text:
                    assert m.number == sent, (pat.text, typed)
                for i in range(len(typed)):
                    assert dm.match(typed[:i]).state != "impossible", (text, typed[:i])


def test_what_a_lone_pattern_sends_is_what_it_says():
    rng = random.Random(11)
    for text in ("<9:>1xxx<:0>[2-9]xxxxxx", "<00:+>[1-9]x<0:>xx", "*<*:>[2-9]x<:#>",
                 "<#:*>x<12:21>"):
        dm = DigitMap.parse(text)
        for typed, sent in _words(dm.patterns[0].steps, rng, 50):
            assert dm.match(typed).number == sent, (text, typed)


def test_a_key_that_cannot_follow_stays_impossible():
    dm = DigitMap.parse(OFFICE)
    rng = random.Random(5)
    for _ in range(300):
        digits = "".join(rng.choice("0123456789*#") for _ in range(rng.randint(1, 14)))
        if dm.match(digits).state == "impossible":
            for key in "0123456789*#":
                assert dm.match(digits + key).state == "impossible"


def test_matching_a_ten_pattern_map_takes_microseconds():
    dm = DigitMap.parse(OFFICE)
    assert len(dm.patterns) == 10
    numbers = ["9", "95", "9555", "9555123", "95551234", "915552345678", "1234", "*12",
               "0", "0044201234567", "19005551234", "901144"]
    for n in numbers:
        dm.match(n)                               # the states are built once
    rounds = 500
    t0 = time.perf_counter()
    for _ in range(rounds):
        for n in numbers:
            dm.match(n)
    per_match = (time.perf_counter() - t0) / (rounds * len(numbers))
    assert per_match < 50e-6, f"{per_match * 1e6:.1f} µs per match"


# --- dial rules (manual §7, Dial Plan) ------------------------------------------------------

def test_a_rule_inserts_and_then_deletes():
    """Manual: 'add code first, after that base on the number you add, decide the
    position and length of the delete code.'"""
    rule = parse_rule("prefix=01 insert=1@2 delete=2@0")
    assert rule == Rule("01", insert=("1", 2), delete=(2, 0))
    assert apply_rules("01555", [rule]) == "1555"        # 01555 -> 011555 -> 1555
    assert apply_rules("01555", ["delete=2@0 insert=1@2 prefix=01"]) == "1555"


@pytest.mark.parametrize("rule, dialled, sent", [
    ("prefix=9 delete=1", "90123456", "0123456"),
    ("prefix=0 insert=00@0", "044201234", "00044201234"),
    ("prefix=0 insert=00", "044", "00044"),
    ("prefix=00 insert=+ delete=2@1", "0044201234", "+44201234"),
    ("prefix=6 insert=021@1", "6123", "6021123"),
    ("prefix=6 insert=9@99", "6123", "61239"),               # past the end = at the end
    ("prefix=6 delete=9@2", "6123", "61"),
    ("prefix=*7 delete=2@0", "*71001", "1001"),
    ("prefix=8 ip=192.168.1.20:5060", "8", "sip:192.168.1.20:5060"),
    ("prefix=8 ip=192.168.1.20", "81001", "sip:1001@192.168.1.20"),
    ("prefix=8 ip=192.168.1.20 insert=9", "81001", "sip:91001@192.168.1.20"),
    ("prefix=8 ip=[2001:db8::1]:5062", "8", "sip:[2001:db8::1]:5062"),
    ("prefix=8 ip=2001:db8::1", "82", "sip:2@[2001:db8::1]"),
    ("prefix=77 ip=phone2.office.lan", "77", "sip:phone2.office.lan"),
])
def test_dial_rules(rule, dialled, sent):
    assert apply_rules(dialled, [rule]) == sent


def test_a_prefix_maps_to_an_ip_address():
    """Manual: 'IP: the ip of a phone which you want to call; prefix: the number which
    you need to press actually if you want to call the phone'."""
    rules = ["prefix=8 ip=192.168.1.20:5060"]
    assert apply_rules("8", rules) == "sip:192.168.1.20:5060"
    d = Dialler(None, rules).send("8")
    assert (d.action, d.number) == ("dial", "sip:192.168.1.20:5060")


def test_the_longest_prefix_wins_whatever_the_order():
    rules = ["prefix=9 delete=1", "prefix=90 insert=0", "prefix=901 ip=10.0.0.9"]
    for order in itertools.permutations(rules):
        assert apply_rules("9123", order) == "123"
        assert apply_rules("9023", order) == "09023"
        assert apply_rules("9015", order) == "sip:5@10.0.0.9"
        assert apply_rules("5555", order) == "5555"
    assert apply_rules("91", ["prefix=9 delete=1", "prefix=9 insert=0"]) == "1"


def test_rules_leave_addresses_alone():
    rules = ["prefix=1 insert=0"]
    for target in ("sip:1001@example.com", "1001@10.0.0.1", "192.168.1.20", "alice"):
        assert apply_rules(target, rules) == target


def test_a_rule_reads_back_the_same():
    for text in ("prefix=9 delete=1@0", "prefix=0 insert=00@0", "prefix=01 insert=1@2 "
                 "delete=2@0", "prefix=8 ip=192.168.1.20:5060", "prefix=8 ip=[::1]"):
        assert str(parse_rule(text)) == text
        assert parse_rule(str(parse_rule(text))) == parse_rule(text)
    assert str(parse_rule("PREFIX=9 delete=1")) == "prefix=9 delete=1@0"


@pytest.mark.parametrize("text, reason", [
    ("", "empty rule"),
    ("   ", "empty rule"),
    ("delete=1", "needs prefix="),
    ("prefix=9", "needs insert=, delete= or ip="),
    ("prefix=9 delete=1 delete=2", "given twice"),
    ("prefix=9 strip=1", "unknown 'strip='"),
    ("prefix=9 delete", "is not key=value"),
    ("prefix= delete=1", "is not key=value"),
    ("prefix=9a delete=1", "a prefix is keys 0-9 * #"),
    ("prefix=9 delete=0", "the length must be a whole number from 1"),
    ("prefix=9 delete=x", "the length must be a whole number"),
    ("prefix=9 delete=1@-1", "the position must be a whole number"),
    ("prefix=9 insert=ab@0", "inserts keys 0-9 * #"),
    ("prefix=9 insert=1@x", "the position must be a whole number"),
    ("prefix=8 ip=300.1.1.1", "not an IP address or host name"),
    ("prefix=8 ip=192.168.1.20:0", "port must be 1-65535"),
    ("prefix=8 ip=192.168.1.20:sip", "port must be 1-65535"),
    ("prefix=8 ip=[::1", "write an IPv6 address as"),
    ("prefix=8 ip=fe80::zz", "not an IP address"),
    ("prefix=8 ip=a_b", "not an IP address"),
])
def test_a_bad_rule_says_what_is_wrong(text, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_rule(text)
    with pytest.raises(ValueError):
        check_rule(text)


def test_a_bad_rule_in_a_list_is_not_ignored():
    with pytest.raises(ValueError, match="needs prefix="):
        apply_rules("123", ["prefix=1 insert=0", "delete=1"])
    with pytest.raises(ValueError):
        Dialler(None, ["prefix=9"])


# --- emergency numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("number, patterns, expected", [
    ("911", EMERGENCY, True),
    ("112", EMERGENCY, True),
    ("9111", EMERGENCY, False),
    ("91", EMERGENCY, False),
    ("", EMERGENCY, False),
    ("110", ("11*",), True),
    ("11", ("11*",), True),
    ("1", ("11*",), False),
    ("999", (), False),
])
def test_is_emergency(number, patterns, expected):
    assert is_emergency(number, patterns) is expected


def test_911_always_dials_even_when_the_digit_map_would_bar_it():
    dialler = Dialler(DigitMap.parse("(9xx!|[2-8]xxx)"), emergency=EMERGENCY)
    assert dialler.digits("9") == Decision("wait", "9", None, "")
    assert dialler.digits("91") == Decision("wait", "91", None, "")
    assert dialler.digits("911") == Decision("dial", "911", 0, "Emergency number")
    assert dialler.send("911") == Decision("dial", "911", 0, "Emergency number")
    assert dialler.digits("922") == Decision("reorder", "922", None, NOT_ALLOWED)


def test_emergency_numbers_are_reached_through_a_map_that_does_not_list_them():
    dialler = Dialler(DigitMap.parse("([2-8]xxx)"), emergency=EMERGENCY)
    assert [dialler.digits(n).action for n in ("9", "91", "911")] == ["wait", "wait", "dial"]
    assert [dialler.digits(n).action for n in ("1", "11", "112")] == ["wait", "wait", "dial"]
    assert dialler.digits("93").action == "reorder"


def test_a_pattern_that_would_dial_at_once_waits_when_it_may_become_911():
    dm = DigitMap.parse("(91|[2-8]xxx)")
    assert Dialler(dm).digits("91") == Decision("dial", "91", 0, "Dial plan: 91")
    dialler = Dialler(dm, emergency=EMERGENCY)
    assert dialler.digits("91") == Decision("dial", "91", 3, "Dial plan: 91")
    assert dialler.digits("911") == Decision("dial", "911", 0, "Emergency number")


def test_emergency_numbers_skip_the_rules_and_the_maps_substitutions():
    dialler = Dialler(DigitMap.parse("(<:0>xxx)"), ["prefix=9 delete=1"], EMERGENCY)
    assert dialler.digits("911") == Decision("dial", "911", 0, "Emergency number")
    assert dialler.send("911").number == "911"


def test_an_outside_line_prefix_before_911_still_dials_at_once():
    dialler = Dialler(DigitMap.parse("(<9:>xxx.|[2-8]xxx)"), emergency=EMERGENCY)
    assert dialler.digits("9911") == Decision("dial", "911", 0, "Emergency number")
    by_rule = Dialler(None, ["prefix=9 delete=1"], EMERGENCY)
    assert by_rule.send("9911") == Decision("dial", "911", 0, "Emergency number")


# --- the Dialler: what the phone asks on each key ----------------------------------------------

def test_without_a_digit_map_the_phone_waits_for_send_or_its_timeout():
    dialler = Dialler(None, ["prefix=9 delete=1"], EMERGENCY)
    assert dialler.digits("1001") == Decision("wait", "1001", None, "")
    assert dialler.send("1001") == Decision("dial", "1001", 0, "")
    assert dialler.send("91001") == Decision("dial", "1001", 0, "")
    assert dialler.digits("1001#") == Decision("dial", "1001", 0, "")


def test_the_send_key_sends_unless_the_map_takes_it():
    dm = DigitMap.parse("(*xx#|[2-9]xxx)")
    dialler = Dialler(dm)
    assert dialler.digits("*12").action == "wait"
    assert dialler.digits("*12#") == Decision("dial", "*12#", 0, "Dial plan: *xx#")
    assert dialler.digits("23#") == Decision("dial", "23", 0, "Sent as dialled")
    assert dialler.digits("#").action == "reorder"            # nothing typed: a key, not Send
    star = Dialler(None, send_key="*")
    assert star.digits("1001*") == Decision("dial", "1001", 0, "")
    assert Dialler(None, send_key="none").digits("1001#").action == "wait"
    assert Dialler(None, send_key=None).digits("1001#").action == "wait"


def test_send_dials_a_number_the_map_does_not_know_as_typed():
    """Linksys: on an explicit send 'the digit sequence is accepted and transmitted as
    dialed if incomplete, or transformed as per the dial plan if complete'."""
    dialler = Dialler(DigitMap.parse("(<9:>[2-9]xxxxxx|[2-8]xxx)"), ["prefix=1 insert=0"])
    assert dialler.send("95551234") == Decision("dial", "5551234", 0,
                                                "Dial plan: <9:>[2-9]xxxxxx")
    assert dialler.send("955") == Decision("dial", "955", 0, "Sent as dialled")
    assert dialler.send("1") == Decision("dial", "01", 0, "Sent as dialled")
    assert dialler.send("123").number == "0123"            # the rules still apply
    assert dialler.send("") == Decision("wait", "", None, "Nothing to dial")


def test_the_rules_see_the_number_after_the_maps_substitutions():
    dialler = Dialler(DigitMap.parse("(<9:>xxxx)"), ["prefix=1 insert=55"])
    assert dialler.digits("91234") == Decision("dial", "551234", 0, "Dial plan: <9:>xxxx")
    ip = Dialler(DigitMap.parse("(8|[2-7]xxx)"), ["prefix=8 ip=192.168.1.20:5060"])
    assert ip.digits("8") == Decision("dial", "sip:192.168.1.20:5060", 0, "Dial plan: 8")


def test_addresses_are_sent_as_they_are():
    dialler = Dialler(DigitMap.parse("([2-8]xxx)"), ["prefix=1 insert=0"])
    for target in ("sip:alice@example.com", "1001@10.0.0.1", "192.168.1.20"):
        assert dialler.send(target) == Decision("dial", target, 0, "Address")


def test_ip_dialling_with_stars_is_not_refused_while_typed():
    dm = DigitMap.parse("([2-8]xxx)")
    on = Dialler(dm, ["prefix=1 insert=0"], ip_dialling=True)
    for typed in ("1", "19", "192", "192*", "192*168*1*20", "192*168*1*20*5060"):
        assert on.digits(typed).action == "wait", typed
    assert on.digits("1921").action == "reorder"
    assert on.send("192*168*1*20") == Decision("dial", "192*168*1*20", 0, "IP address")
    off = Dialler(dm, ["prefix=1 insert=0"])
    assert off.digits("1").action == "reorder"
    assert off.send("192*168*1*20") == Decision("dial", "192*168*1*20", 0, "IP address")
    assert Dialler(None, ["prefix=1 insert=0"]).send("10*0*0*1*5062").number == "10*0*0*1*5062"


def test_a_whole_call_typed_key_by_key_on_the_office_map():
    dialler = Dialler(DigitMap.parse(OFFICE), ["prefix=8 ip=192.168.1.20"], EMERGENCY)
    typed, decisions = "", []
    for key in "95551234":
        typed += key
        decisions.append(dialler.digits(typed).action)
    assert decisions == ["wait"] * 7 + ["dial"]
    assert dialler.digits(typed).number == "5551234"
    assert dialler.digits("0").after == 3
    assert dialler.digits("8123") == Decision("dial", "sip:123@192.168.1.20", 0,
                                              "Dial plan: [1-8]xxx")
