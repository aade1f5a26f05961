"""The phone book on the LCD (manual §5 "Using the phone book", "Call from phone book"),
walked in-process as a person walks it: MENU > Phone book > Enterprise phone book > View
all, or a group; a contact; Dial, and its numbers ("call options") when it has several.
DIRECTORY opens the same page. The books are what auto provisioning stored
(provisioning.phonebook writes them; firmware/features/directory.py reads them).
"""
from __future__ import annotations

import pytest

from provisioning.phonebook import Contact, Group, Phonebook
from tests.fakes import build

BOB = Contact("Bob", "Builder", office="2001", mobile="13800138000", other="3003",
              group="Sales")
ANA = Contact("Ana", "Lima", office="2002", group="Support", account=2)
ZOE = Contact("Zoë", "Quartermaine-Montgomery-Smythe", mobile="2004", group="Sales")
ENTERPRISE = Phonebook(groups=[Group("Sales"), Group("Support"), Group("Board")],
                       contacts=[BOB, ANA, ZOE])
LINE2 = {"account.2.enable": True, "account.2.user": "2001", "account.2.server": "192.0.2.10"}


def stored(data_dir, which: str, book: Phonebook) -> None:
    """What auto provisioning leaves: DATA/phonebook/<which>.json."""
    (data_dir / "phonebook").mkdir(exist_ok=True)
    book.save(data_dir / "phonebook" / f"{which}.json")


@pytest.fixture
def rig(tmp_path):
    stored(tmp_path, "enterprise", ENTERPRISE)
    return build(LINE2, data_dir=tmp_path)


def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


def test_menu_phone_book_lists_the_books_and_call_history(rig):
    rig.walk("Phone book")
    assert rows(rig)[:4] == ["Phone book 1/5", "> 1 Personal phone book",
                             "2 Enterprise phone bo…", "3 LDAP"]
    rig.press("down")                                   # the selected row shows it whole
    assert "> 2 Enterprise phone" in rig.seen and "> book" in rig.seen
    rig.press("4")                                      # the call logs, one press away
    assert rig.state.menu[-1].title == "Call history"


def test_view_all_shows_the_names_and_a_contact_with_three_numbers_is_dialled(rig):
    """MENU > Phone book > Enterprise phone book > View all > Bob > Dial: three numbers,
    so "call options"; the mobile one is chosen and called on the default line."""
    rig.walk("Phone book", "Enterprise phone book")
    assert rows(rig)[1:5] == ["> 1 View all", "2 Sales/", "3 Support/", "4 Board/"]
    assert "Enterprise phone 1/4" in rig.seen and "book 1/4" in rig.seen   # the title
    rig.walk("View all")
    assert rows(rig)[1:3] == ["> 1 Ana Lima", "2 Bob Builder"]        # by name
    assert rig.softkeys == ["Enter", "Dial", "", "Back"]
    rig.press("down").soft("Dial")                      # three numbers: call options
    assert rows(rig)[:4] == ["Bob Builder 1/3", "> 1 Office: 2001",
                             "2 Mobile: 13800138000", "3 Other: 3003"]
    assert rig.softkeys == ["Enter", "Dial", "", "Back"]   # Dial: the same key again
    rig.press("down").soft("Dial")
    call = rig.sip.invited("13800138000")
    assert rig.state.menu == [] and rig.screen == "calling"
    assert rig.state.calls[0].account == 1              # no line of its own: the default
    rig.far(rig.sip.answers, call)
    assert rig.calls() == {"13800138000": "connected"}


def test_dial_pressed_twice_on_a_contact_with_several_numbers_calls_the_first(rig):
    """Dial is the same soft key on the contacts and on a contact's numbers: pressed on
    Bob (three numbers) it shows them, pressed again it calls the one under the cursor."""
    rig.walk("Phone book", "Enterprise phone book", "View all")
    rig.press("down", "soft2")
    assert rig.state.menu[-1].title == "Bob Builder"
    rig.press("soft2")
    assert rig.sip.invited("2001") and rig.state.menu == []


def test_ok_on_a_contact_shows_its_numbers_and_ok_dials_one(rig):
    rig.walk("Phone book", "Enterprise phone book", "View all", "Bob Builder")
    assert rig.state.menu[-1].title == "Bob Builder"
    rig.press("3")                                      # a digit picks, as in every list
    assert rig.sip.invited("3003") and rig.state.menu == []


def test_a_group_shows_its_contacts_and_one_number_dials_at_once_on_its_line(rig):
    """Ana's accountid is line 2: Dial calls her office number there, no options."""
    rig.walk("Phone book", "Enterprise phone book", "Support/")
    assert rows(rig)[:2] == ["Support 1/1", "> 1 Ana Lima"]
    rig.soft("Dial")
    assert rig.sip.invited("2002") and rig.state.calls[0].account == 2


def test_send_dials_and_a_line_that_is_off_gives_the_default(tmp_path):
    stored(tmp_path, "enterprise", ENTERPRISE)
    rig = build(data_dir=tmp_path)                      # line 2 is off
    rig.walk("Phone book", "Enterprise phone book", "Support/")
    rig.press("send")
    assert rig.sip.invited("2002") and rig.state.calls[0].account == 1


def test_lifting_the_handset_on_a_number_calls_it(rig):
    rig.walk("Phone book", "Enterprise phone book", "Sales/", "Bob Builder")
    rig.press("down")
    rig.hook(True)
    assert rig.sip.invited("13800138000") and rig.state.menu == []
    assert rig.state.audio.value == "handset"


def test_an_empty_group_and_an_empty_book_say_so(rig):
    rig.walk("Phone book", "Enterprise phone book", "Board/")
    assert "No contacts in this" in rig.seen and "group." in rig.seen     # in turns
    rig.press("cancel", "cancel")
    rig.walk("Personal phone book", "View all")         # nothing provisioned nor added
    assert rows(rig)[:2] == ["View all", "No contacts."]
    assert rig.softkeys == ["", "", "", "Back"]
    rig.press("ok", "soft1", "send")                    # nothing to dial: nothing happens
    assert rig.sip.commands("make_call") == [] and rig.screen == "menu"
    rig.press("cancel", "cancel")
    assert rig.state.menu[-1].title == "Phone book"


def test_an_empty_enterprise_book_says_what_fills_it(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Enterprise phone book")
    assert "No contacts." in rig.lcd and "Auto provision loads" in rig.lcd
    assert "them." in rig.seen                         # the rest of the line, in turns


def test_a_damaged_book_says_what_brings_it_back(rig):
    (rig.data_dir / "phonebook" / "personal.json").write_text("{not json")
    rig.walk("Phone book", "Personal phone book")
    assert "Phone book unreadable." in rig.lcd


def test_a_long_name_turns_on_its_row_and_in_the_title(rig):
    rig.walk("Phone book", "Enterprise phone book", "View all")
    rig.press("up")                                     # round to Zoë, the last
    assert rows(rig)[3].startswith("> 3 Zoe") and "Smythe" not in rig.lcd   # one turn
    assert "Smythe" in rig.seen                        # ... and the rest in the next
    rig.press("ok")                                     # her number: the name is the title
    assert rows(rig)[:2] == ["Zoe 1/1", "> 1 Mobile: 2004"]    # (the LCD's face has no ë)
    assert rig.state.menu[-1].title == ZOE.name and "omery-Smythe 1/1" in rig.seen


def test_directory_opens_the_phone_book_and_closes_it_again(rig):
    rig.press("directory")
    assert rows(rig)[0] == "Phone book 1/5"
    rig.walk("Enterprise phone book", "View all")
    rig.press("directory")                              # pressed again: closed
    assert rig.screen == "idle" and rig.state.menu == []
    assert rig.state.modes == ()


def test_a_ringing_call_takes_the_screen_from_the_phone_book(rig):
    rig.walk("Phone book", "Enterprise phone book", "View all")
    rig.incoming("1002")
    assert rig.screen == "ringing" and rig.state.menu == []
    rig.soft("Answer")
    assert rig.calls() == {"1002": "connected"}


def test_the_phone_book_in_chinese(tmp_path):
    stored(tmp_path, "enterprise", ENTERPRISE)
    rig = build({"phone.language": "zh"}, data_dir=tmp_path)
    rig.press("menu")
    assert rows(rig)[1] == "> 1 电话簿"
    rig.walk("Phone book", "Enterprise phone book")
    assert rows(rig)[:2] == ["企业电话簿 1/4", "> 1 查看全部"]
    rig.walk("View all", "Bob Builder")
    assert rows(rig)[1:4] == ["> 1 办公: 2001", "2 手机: 13800138000", "3 其他: 3003"]
    assert rig.softkeys == ["Enter", "Dial", "", "Back"]   # labels: translated when drawn
    assert rows(rig)[-1].split()[1] == "拨号"
    rig.press("cancel", "cancel", "cancel")
    rig.walk("Personal phone book", "View all")
    assert "无联系人。" in rig.lcd


def test_a_contact_without_a_name_shows_its_number_one_without_a_number_says_so(tmp_path):
    stored(tmp_path, "personal", Phonebook(contacts=[Contact(mobile="5550"),
                                                     Contact("Nobody")]))
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book", "View all")
    assert rows(rig)[1:3] == ["> 1 5550", "2 Nobody"]
    rig.press("2")
    assert rows(rig)[:2] == ["Nobody", "No number"] and rig.softkeys == ["", "", "", "Back"]
    rig.press("send", "cancel", "up").soft("Dial")
    assert rig.sip.invited("5550")


def test_a_call_from_the_phone_book_locks_advanced_setting_again(rig):
    """The advanced password holds until the menu closes - also when a call from the
    phone book (or a call list) closed it."""
    rig.set({"lcd.advanced_password": "42"})
    rig.walk("System setting", "Advanced setting").press("soft1", "soft1", "4", "2", "ok")
    assert rig.state.menu[-1].title == "Advanced setting"
    rig.press("cancel", "cancel").walk("Phone book", "Enterprise phone book", "Support/")
    rig.soft("Dial")
    assert rig.state.menu == [] and rig.sip.invited("2002")
    rig.hook(True).hook(False)
    rig.walk("System setting", "Advanced setting")
    assert rig.state.menu[-1].title == "Advanced password"


def test_a_long_text_page_scrolls_to_its_last_line_in_chinese(tmp_path):
    """A phone book text page longer than the LCD scrolls by the rows it shows in the
    language (three in Chinese, five in English: ui/lcd_menu.py page_rows), so Down reaches
    its last line in every language."""
    from firmware.call.state import MenuPage
    rig = build({"phone.language": "zh"}, data_dir=tmp_path)
    lines = [f"{n} 号" for n in range(1, 7)]
    rig.features.get("directory")._push(MenuPage("directory.personal", "Personal phone book",
                                                 lines, text=True, kind="directory"))
    assert "6 号" not in rig.lcd
    rig.press(*["down"] * 6)
    assert "6 号" in rig.lcd and "4 号" in rig.lcd
