"""Names on the LCD are data, never UI text (firmware/i18n.py `Verbatim`): on a Chinese LCD
a contact named "Back" is not the action 返回, a caller whose display name is "Missed calls"
is not the list 未接来电; the phone book's group names, a call list's callers, what a person
typed, a line's label stay as they are. The phone's own words around them are translated.
"""
from __future__ import annotations

import pytest

from firmware.phonebooks import Books
from provisioning.phonebook import Contact
from tests.fakes import build

ZH = {"phone.language": "zh"}


def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


@pytest.fixture
def zh(tmp_path):
    books = Books(tmp_path)
    books.add_group("Back")
    for name, office in (("Back", "2001"), ("Delete", "2002"), ("Missed", "2003")):
        books.add(Contact(name, office=office, group="Back" if name == "Back" else ""))
    return build(ZH, data_dir=tmp_path)


def test_contacts_named_like_actions_keep_their_names(zh):
    zh.walk("Phone book", "Personal phone book")
    assert rows(zh)[1:3] == ["> 1 查看全部", "2 Back/"]              # a group named Back
    zh.walk("View all")
    assert rows(zh)[1:4] == ["> 1 Back", "2 Delete", "3 Missed"]
    zh.press("ok")                                                   # Back's page
    assert rows(zh)[0].startswith("Back ") and rows(zh)[1] == "> 1 办公: 2001"
    zh.press("down", "down", "ok")                                   # its Delete entry
    assert "删除 Back?" in zh.lcd                                    # the question in Chinese


def test_a_group_named_like_an_action_keeps_its_name_on_its_page(zh):
    zh.walk("Phone book", "Personal phone book", "Back/")
    assert rows(zh)[0].startswith("Back ") and rows(zh)[1] == "> 1 Back"


def test_a_caller_named_like_a_list_rings_with_that_name_and_the_keys_in_chinese(tmp_path):
    rig = build(ZH, data_dir=tmp_path)
    call = rig.incoming("1002", name="Missed calls")
    assert "来电" in rows(rig)[1]
    assert "Missed calls" in rig.lcd and "未接来电" not in rig.lcd
    assert rows(rig)[-1].split() == ["接听", "拒接", "拉黑", "添加"]   # Answer Reject Ban Add
    rig.far(rig.sip.hangs_up, call)
    rig.walk("Phone book", "Call history", "Missed calls")
    assert rows(rig)[1].startswith("> Missed calls")                # the call list's row


def test_what_is_typed_on_a_contacts_field_stays_as_typed(zh):
    zh.walk("Phone book", "Personal phone book", "View all", "Back")
    zh.walk("Edit")
    assert rows(zh)[1] == "> 1 名 Back"


# --- names in another script: the CJK faces as a fallback in any language ----------------------

def test_a_chinese_name_on_an_english_lcd_is_drawn_not_question_marks(tmp_path):
    books = Books(tmp_path)
    books.add(Contact("张三", office="2001"))
    books.add(Contact("Ann", "Lee", office="2002"))
    rig = build(data_dir=tmp_path)
    rig.walk("Phone book", "Personal phone book", "View all")
    assert rows(rig)[1:3] == ["> 1 Ann Lee", "2 张三"]
    assert "Back" in rows(rig)[-1]                                  # the soft keys
    rig.press("menu")
    rig.incoming("2001")                                            # 张三's number rings
    assert rows(rig)[1:3] == ["Incoming call", "张三 2001"]       # one row: the taller faces


def test_what_no_face_has_stays_a_question_mark(tmp_path):
    rig = build(data_dir=tmp_path)
    rig.incoming("1002", name="Ann \U0001F600 Lee")                 # an emoji
    assert "Ann ? Lee" in rig.lcd


def test_an_english_lcd_opens_the_cjk_font_only_for_a_name_that_needs_it(tmp_path):
    from ui import faces
    faces._mixed.cache_clear()
    rig = build(data_dir=tmp_path)
    call = rig.incoming("1002", name="Zoë Smythe")                  # ë: the Latin face's
    assert "Zoe Smythe" in rig.lcd and faces._mixed.cache_info().currsize == 0
    rig.far(rig.sip.hangs_up, call)
    rig.incoming("1003", name="张三")
    assert "张三" in rig.seen and faces._mixed.cache_info().currsize == 1


def test_a_missed_callers_add_page_keeps_the_callers_name(tmp_path):
    rig = build(ZH, data_dir=tmp_path)
    rig.far(rig.sip.hangs_up, rig.incoming("1002", name="Delete"))
    rig.walk("Phone book", "Call history", "Missed calls")
    assert rows(rig)[1].startswith("> Delete")
    rig.press("soft3")                                               # Add
    assert rows(rig)[0].startswith("Delete")                        # not 删除


def test_a_settings_typed_value_stays_as_typed(tmp_path):
    """Advanced setting > Account 1: the display name and label are what was typed."""
    rig = build({**ZH, "account.1.display_name": "Back", "account.1.label": "Delete"},
                data_dir=tmp_path)
    rig.walk("System setting").press("2", "ok", "1", "1")           # the empty password
    assert "2 显示名称 Back" in rig.lcd
    rig.press(*["down"] * 5)
    assert "> 6 描述 Delete" in rig.lcd
