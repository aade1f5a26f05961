"""The personal phone book edited on the phone (issue 14 items 1 and 7; manual §5 "Add
Contacts", "View/Edit Contacts", "Add group", "Modify group", "Delete group"), walked
in-process as a person walks it: MENU > Phone book > Personal phone book > Add contact,
the multi-tap editor, Save; a contact's Edit and Delete (asked first); the groups; the
capacity; what was saved (DATA/phonebook/own.json, firmware/phonebooks.py) and that a
provisioned book never overwrites it. Names: a ringing call from a contact's number shows
the contact's name, and the call log keeps it (firmware/names.py).
"""
from __future__ import annotations

import json

import pytest

from firmware.phonebooks import Books
from provisioning.phonebook import Contact, Group, Phonebook
from tests.fakes import build
from tests.test_directory_lcd import rows, stored
from ui.textentry import LETTERS

ENTERPRISE = Phonebook(groups=[Group("Sales")],
                       contacts=[Contact("Kim", "Lee", office="2002", group="Sales")])


@pytest.fixture
def rig(tmp_path):
    stored(tmp_path, "enterprise", ENTERPRISE)
    return build(data_dir=tmp_path)


def type_text(rig, text: str) -> None:
    """Type `text` on the editor as a person does: multi-tap letters (a pause between two
    letters of one key), ABC for a capital, 123 for digits."""
    mode = rig.state.menu[-1].data[0].mode
    last = ""
    for ch in text:
        want = "123" if ch.isdigit() else "ABC" if ch.isupper() else "abc"
        while mode != want:
            rig.press("soft1")
            mode = rig.state.menu[-1].data[0].mode
        key = ch if ch.isdigit() else next(k for k, v in LETTERS.items() if ch.lower() in v)
        if key == last:
            rig.advance(1.1)                      # the letter stays, the next one starts
        taps = 1 if ch.isdigit() else LETTERS[key].index(ch.lower()) + 1
        rig.press(*[key] * taps)
        last = key
    rig.advance(1.1)


def own(rig) -> dict:
    return json.loads((rig.data_dir / "phonebook" / "own.json").read_text())


def add_contact(rig, first: str, office: str = "", mobile: str = "") -> None:
    rig.walk("Add contact", "First name")
    type_text(rig, first)
    rig.press("ok")
    for label, number in (("Office", office), ("Mobile", mobile)):
        if number:
            rig.walk(label)
            type_text(rig, number)
            rig.press("ok")
    rig.walk("Save")


def test_add_a_contact_with_the_keypad_then_dial_it(rig):
    rig.walk("Phone book", "Personal phone book")
    assert rig.state.menu[-1].items == ["View all", "Add contact", "Add group",
                                        "Modify group", "Delete group"]
    rig.walk("Add contact")
    assert rig.state.menu[-1].title == "Add contact"
    assert rig.state.menu[-1].items[:7] == ["First name", "Last name", "Mobile", "Office",
                                            "Other", "Group", "Line"]
    rig.walk("First name")
    type_text(rig, "Joanna")
    rig.press("ok")
    assert rig.state.menu[-1].data[0] == "Joanna"           # shown on the right
    rig.walk("Office")
    type_text(rig, "2001")
    rig.press("ok").walk("Save")
    assert rig.state.notice == "Saved: Joanna"
    assert rig.state.menu[-1].title == "Personal phone book"  # back on the book, afresh
    assert own(rig)["contacts"][0]["first_name"] == "Joanna"
    assert own(rig)["contacts"][0]["office"] == "2001"
    rig.walk("View all")
    assert rig.state.menu[-1].items == ["Joanna"]
    rig.soft("Dial")                                        # one number: at once
    assert rig.sip.invited("2001")


def test_edit_then_delete_a_contact_asked_first(rig):
    rig.walk("Phone book", "Personal phone book")
    add_contact(rig, "Bob", office="2001")
    rig.walk("View all", "Bob")
    assert rig.state.menu[-1].items == ["Office: 2001", "Edit", "Delete"]
    rig.walk("Edit", "Mobile")
    type_text(rig, "13800138000")
    rig.press("ok").walk("Save")
    assert own(rig)["contacts"][0]["mobile"] == "13800138000"
    rig.walk("View all", "Bob", "Delete")
    assert "Delete Bob?" in rig.lcd
    rig.press("cancel")                                     # C keeps it
    assert len(own(rig)["contacts"]) == 1
    rig.walk("Delete").press("ok")
    assert own(rig)["contacts"] == [] and rig.state.notice == "Deleted"
    assert rig.state.menu[-1].title == "Personal phone book"


def test_leaving_a_contact_with_changes_asks_and_refuses_a_bad_number(rig):
    rig.walk("Phone book", "Personal phone book", "Add contact", "Office")
    type_text(rig, "12345678901234567890")                  # 20 digits: 19 kept
    rig.press("ok")
    assert rig.state.menu[-1].data[3] == "1234567890123456789"
    rig.press("cancel")                                     # changes: asked first
    assert "Submit changes?" in rig.lcd
    rig.press("ok")                                         # saved: a number, no name
    assert own(rig)["contacts"][0]["office"] == "1234567890123456789"


def test_groups_add_rename_delete_and_the_contacts_follow(rig):
    rig.walk("Phone book", "Personal phone book", "Add group")
    type_text(rig, "Family")
    rig.press("ok")
    assert rig.state.notice == "Group saved: Family"
    assert rig.state.menu[-1].items[:2] == ["View all", "Family/"]
    rig.walk("Add contact", "First name")
    type_text(rig, "Ann")
    rig.press("ok").walk("Group", "Family").walk("Save")
    assert own(rig)["contacts"][0]["group"] == "Family"
    rig.walk("Add group")
    type_text(rig, "Family")
    rig.press("ok")                                         # the same name: refused
    assert "Group 'Family' exists" in rig.lcd
    rig.press("soft4")
    rig.walk("Modify group", "Family")
    rig.hold_key("cancel")                                  # C held clears it
    type_text(rig, "Kin")
    rig.press("ok")
    assert [g["name"] for g in own(rig)["groups"]] == ["Kin"]
    assert own(rig)["contacts"][0]["group"] == "Kin"
    rig.walk("Kin/")
    assert rig.state.menu[-1].items == ["Ann"]
    rig.press("cancel").walk("Delete group", "Kin")
    assert "Delete Kin?" in rig.lcd
    rig.press("ok")
    assert own(rig)["groups"] == [] and own(rig)["contacts"][0]["group"] == ""


def test_a_group_named_like_the_pages_entries_is_marked_as_a_group(rig):
    """A group called "View all" or "Add contact" read exactly as the page's own entries:
    a group's row has a / after its name, as a folder has; its page is titled without."""
    books = rig.features.get("phonebooks")
    for name in ("View all", "Add contact"):
        books.add_group(name)
    books.add(Contact("Ann", office="2001", group="View all"))
    rig.walk("Phone book", "Personal phone book")
    assert rows(rig)[1:5] == ["> 1 View all", "2 View all/", "3 Add contact/",
                              "4 Add contact"]
    rig.walk("View all/")
    assert rig.state.menu[-1].title == "View all" and rig.state.menu[-1].items == ["Ann"]
    rig.press("cancel").walk("Add contact/")
    assert "No contacts in this" in rig.seen               # the group, empty
    rig.press("cancel").walk("Add contact")
    assert rig.state.menu[-1].title == "Add contact"       # the editor


def test_a_full_book_says_so(tmp_path):
    stored(tmp_path, "personal", Phonebook(contacts=[Contact(f"P{i}", office=str(1000 + i))
                                                     for i in range(300)]))
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book", "Add contact")
    assert "Phone book full: 300" in rig.seen
    assert not (tmp_path / "phonebook" / "own.json").exists()


def test_provisioned_contacts_are_read_only_and_a_new_provisioning_keeps_own(rig):
    stored(rig.data_dir, "personal", Phonebook(groups=[Group("Team")],
                                               contacts=[Contact("Pat", office="3001")]))
    rig.walk("Phone book", "Personal phone book")
    add_contact(rig, "Eve", office="3002")
    rig.walk("View all", "Pat")
    assert rig.state.menu[-1].items == ["Office: 3001"]     # no Edit, no Delete
    stored(rig.data_dir, "personal", Phonebook(contacts=[Contact("Sam", office="3003")]))
    rig.press("cancel", "cancel", "cancel").walk("Personal phone book", "View all")
    assert rig.state.menu[-1].items == ["Eve", "Sam"]        # Pat replaced, Eve kept
    rig.press("cancel").walk("Modify group")
    assert "No groups of your own." in rig.lcd


def test_a_damaged_own_book_is_kept_aside(tmp_path, caplog):
    (tmp_path / "phonebook").mkdir()
    (tmp_path / "phonebook" / "own.json").write_text("{half")
    books = Books(tmp_path)
    assert books.count("personal") == 0
    assert (tmp_path / "phonebook" / "own.json.bad").read_text() == "{half"
    assert "kept as own.json.bad" in caplog.text


def test_a_ringing_call_from_a_contact_shows_its_name_and_the_log_keeps_it(rig):
    rig.walk("Phone book", "Personal phone book")
    add_contact(rig, "Joanna", mobile="1002")
    rig.press("menu")
    rig.incoming("1002", name="SIP Name")
    assert rig.screen == "ringing" and "Joanna" in rig.lcd and "SIP Name" not in rig.lcd
    rig.soft("Answer")
    assert "Joanna" in rig.lcd                               # talking
    rig.incoming("2002")                                     # the enterprise book's Kim
    assert rig.state.calls[-1].name == "Kim Lee"
    rig.far(rig.sip.hangs_up, rig.state.calls[-1].id)
    rig.far(rig.sip.hangs_up, rig.state.calls[0].id)
    log = rig.features.get("calllog")
    assert log.lists["received"][0].name == "Joanna"
    assert log.lists["missed"][0].name == "Kim Lee"


def test_the_editor_pages_in_chinese(tmp_path):
    rig = build({"phone.language": "zh"}, data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book")
    assert "添加联系人" in rig.seen and "添加群组" in rig.seen
    rig.walk("Add contact")
    assert "名" in rig.lcd and "姓" in rig.lcd
    rig.walk("Office")
    type_text(rig, "2001")
    rig.press("ok").walk("Save")
    assert "已保存: 2001" in rig.seen
