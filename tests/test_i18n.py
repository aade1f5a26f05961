"""Languages (issue 12 item 7): every string the LCD shows goes through one translation
layer (firmware/i18n.py, catalogs in firmware/locale/<code>.po); Chinese is complete, drawn
with a bitmap CJK font (xfonts-wqy) that is crisp on the 128x64 1-bit LCD; the language is
chosen on the phone (System setting > Phone setting > Language) and the screen changes at
once. English stays the default and its frames do not change.

Completeness is read from the code: the menu model's titles, labels, values and help
lines, every soft key label (as tests/test_lcd_longtext.py reads them), the words ui/lcd.py
draws and the notices and page texts the features write.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from firmware import i18n, menus
from firmware.call.state import Account, Call, CallState, LineStatus, PhoneState
from tests.fakes import build
from tests.test_lcd_longtext import soft_key_labels
from ui import faces
from ui.lcd import W, render

pytestmark = pytest.mark.usefixtures("utc")      # tests/conftest.py

ROOT = Path(__file__).resolve().parent.parent
ZH = "zh"

# the calls of ui/lcd.py whose string arguments are drawn
DRAWN = {"_title", "_header", "_info", "_party", "text", "text_right", "text_center", "tag",
         "fit", "_turn"}
# where features write what the LCD shows
FEATURE_SOURCES = ("firmware/features/*.py", "firmware/call/*.py", "firmware/*.py")


# the same in every language: names of keys, protocols, fields, the editor's letter modes
KEPT = {"AA", "ABC", "abc", "Sym", "IP", "GW", "LCD", "SIP1", "SIP2", "DNS1", "DNS2"}


def _words(text: str) -> bool:
    """A text a person reads (not a number, a format, a key name, a time zone)."""
    return bool(re.search(r"[A-Za-z]{2}", text)) and text not in KEPT and \
        not re.fullmatch(r"GMT[-+]\d\d:\d\d", text)


def _template(node) -> str | None:
    """A string constant as it is, an f-string as a catalog format ("{x}" for each field)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{x}" for v in node.values)
    return None


def _texts(node) -> list[str]:
    """The strings an expression may give: both sides of an `if`, a dict's values."""
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [t for v in node.values for t in _texts(v)]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
        return [t for v in node.value.values for t in _texts(v)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _texts(node.left), _texts(node.right)
        return [a + b for a in left for b in right] if left and right else left + right
    t = _template(node)
    return [t] if t is not None else []


def lcd_words() -> set[str]:
    """The words ui/lcd.py draws itself ("Incoming call", "No account", "{x} Missed")."""
    tree = ast.parse((ROOT / "ui/lcd.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in DRAWN:
                found.update(t for a in node.args for t in _texts(a))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in {"title", "missed", "mail", "name"}:
            found.update(_texts(node.value))
        elif isinstance(node, ast.Return) and node.value is not None:
            for elt in getattr(node.value, "elts", [node.value]):
                found.update(t for t in _texts(elt) if t in ("Unknown",))
    return {t for t in found if _words(t) and not t.startswith(("%", "L{x}", "{x}:"))}


def feature_words() -> set[str]:
    """Notices (`state.notice = ...`), pages (`MenuPage(key, title, items)`, `_edit(key,
    title, editor, lines)`) and refusals (`page.items[1:] = [...]`) of the features."""
    found = set()
    for pattern in FEATURE_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Assign):
                    target = node.targets[0]
                    if getattr(target, "attr", "") == "notice" or (
                            isinstance(target, ast.Subscript) and
                            getattr(target.value, "attr", "") == "items"):
                        values = node.value.elts if isinstance(node.value, ast.List) else \
                            [node.value]
                        found.update(t for v in values for t in _texts(v))
                elif isinstance(node, ast.Call) and getattr(
                        node.func, "id", getattr(node.func, "attr", "")) in ("MenuPage",
                                                                              "_edit"):
                    for a in node.args[1:]:
                        values = a.elts if isinstance(a, ast.List) else [a]
                        found.update(t for v in values for t in _texts(v))
    return {t for t in found if _words(t)}


def menu_words() -> set[str]:
    """The menu model: page titles, entry labels, what a value shows, the help lines."""
    found = set()
    for page in menus.TREE.values():
        found.add(page.title)
        for e in page.entries:
            found.add(e.label)
            # a language by its own name, a date format as today's date: not catalog words
            if e.setting and e.setting not in ("phone.language", "phone.date_format"):
                found.add(menus.help_text(e.setting))
                if menus.kind(e.setting) in ("bool", "choice"):
                    found.update(menus.shown(e.setting, v) for v in menus.choices(e.setting))
                else:
                    found.add(menus.shown(e.setting, ""))
    for title, question in menus.CONFIRM.values():
        found.update((title, question))
    for typed in getattr(menus, "TYPED", {}).values():
        found.add(typed.hint)
    return {t for t in found if _words(t)}


def shown_strings() -> dict[str, str]:
    """English text -> where it comes from, for every string the LCD can show."""
    out: dict[str, str] = {}
    for label, where in soft_key_labels().items():
        if label not in ("choice", "confirm"):       # MenuPage kinds beside the labels
            out.setdefault(label, where)
    for source, words in (("ui/lcd.py", lcd_words()), ("firmware/menus.py", menu_words()),
                          ("features", feature_words())):
        for w in words:
            out.setdefault(w, source)
    return {k: v for k, v in out.items() if _words(k)}


def _sample(template: str) -> str:
    return template.replace("{x}", "1")


def test_every_string_the_lcd_shows_has_a_chinese_translation():
    strings = shown_strings()
    assert len(strings) > 150            # the collection reads the code (not an empty set)
    missing = {text: where for text, where in strings.items()
               if i18n.tr(_sample(text), ZH) == _sample(text)}
    assert not missing, "not in firmware/locale/zh.po:\n" + "\n".join(
        f"  {t!r}  ({w})" for t, w in sorted(missing.items()))


def test_a_catalog_is_a_po_file_and_lookups_translate_fields_in_turn():
    messages, header = i18n.read_po('msgid ""\nmsgstr ""\n"X-LCD-Font: wqy\\n"\n\n'
                                    'msgid "Save"\nmsgstr "保存"\n\n'
                                    'msgid "Long"\n"er"\nmsgstr ""\n"更长"\n')
    assert messages == {"Save": "保存", "Longer": "更长"} and header["X-LCD-Font"] == "wqy"
    assert i18n.languages()[0] == "en" and ZH in i18n.languages()
    assert i18n.tr("Incoming call", ZH) == "来电"
    assert i18n.tr("Account 2 saved", ZH) == "账号 2 已保存"            # "{page} saved"
    assert i18n.tr("3 Missed", ZH) == "未接 3"
    assert i18n.tr("IP: 10.0.0.5", ZH) == "IP: 10.0.0.5"               # kept, not broken
    assert i18n.tr("Transfer failed: Bad Extension (484)", ZH) == \
        "转接失败: Bad Extension(484)"        # the far end's reason stays as it came
    assert i18n.tr("Incoming call", "en") == "Incoming call"
    assert i18n.tr("Incoming call", "xx") == "Incoming call"          # no catalog: English


# --- on the phone -------------------------------------------------------------------------------

def rows(rig) -> list[str]:
    return rig.lcd.splitlines()


def test_the_main_menu_in_chinese():
    rig = build(settings={"phone.language": ZH})
    rig.press("menu")
    assert rows(rig) == ["菜单 1/7", "> 1 电话簿", "2 通话记录", "3 功能设置", "进入 返回"]
    rig.press("down", "down", "down")                 # three rows: the list scrolls
    assert rows(rig)[0] == "菜单 4/7" and rows(rig)[3] == "> 4 系统设置"
    rig.press("cancel", "cancel")
    assert "无账号" not in rig.lcd                   # line 1 is registered: its label shows


def test_language_is_chosen_from_the_menu_and_the_screen_changes_at_once():
    rig = build()
    rig.walk("System setting").press("1")            # System setting > Phone setting
    assert "3 Language English" in rig.lcd
    rig.press("3")
    assert rows(rig)[:3] == ["Language 1/2", "> 1 English", "2 Chinese"]
    rig.press("down", "ok")
    assert rig.settings.phone.language == ZH and {"phone.language": ZH} in rig.saved
    assert rows(rig)[:2] == ["话机设置 3/7", "1 铃声类型"]  # back on Phone setting, in Chinese
    assert "> 3 语言 中文" in rig.lcd
    rig.press("3", "up", "ok")                       # and back to English
    assert rig.settings.phone.language == "en"
    assert rows(rig)[0] == "Phone setting 3/7" and "> 3 Language English" in rig.lcd


def test_a_call_screen_in_chinese():
    call = Call(id=1, line=1, account=1, direction="in", state=CallState.RINGING,
                number="1002", name="张三", uri="sip:1002@pbx", started=990.0)
    st = PhoneState(now=1717423500.0, mono=1000.0, language=ZH, calls=[call], focus=1,
                    accounts=[Account(index=1, enabled=True, user="2001",
                                      status=LineStatus.REGISTERED)])
    lines = render(st).lines
    assert "来电" in lines and "张三 1002" in lines and lines[-1] == "接听 拒接"


# --- pixels --------------------------------------------------------------------------------------

def _ink(img, box) -> int:
    return sum(1 for px in img.crop(box).getdata() if px == 0)


def test_a_cjk_screen_is_crisp_one_bit_with_the_glyphs_drawn():
    rig = build(settings={"phone.language": ZH})
    rig.press("menu")
    frame = render(rig.state.snapshot())
    img = frame.image
    assert img.mode == "1" and img.size == (128, 64)
    # the title 菜单 is two 12 px glyphs at the top left, above the rule at row 12
    title = faces.faces_for(ZH)[0].mask("菜单")
    assert title.size == (24, 12)
    assert img.crop((0, 0, 24, 12)).tobytes() == \
        _mask_on_paper(title).tobytes()              # exactly the font's bitmap
    assert _ink(img, (0, 0, 24, 12)) > 40
    assert _ink(img, (0, 12, W, 13)) == W            # the rule
    # the selected row (1 通话记录) is inverted: paper glyphs on ink
    assert _ink(img, (0, 14, W, 25)) > W * 11 // 2


def _mask_on_paper(mask):
    from PIL import Image
    out = Image.new("1", mask.size, 1)
    out.paste(0, (0, 0), mask)
    return out


def test_a_character_the_font_lacks_is_a_question_mark_not_a_crash():
    st = PhoneState(now=1717423500.0, mono=1000.0, language=ZH,
                    notice="\U00020000 \U0001F600 ไทย 中文 ok")
    frame = render(st)
    assert "? ? ??? 中文 ok" in frame.lines and "14:05" in frame.lines


def test_without_the_font_file_the_phone_shows_english_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(faces, "FONT_DIRS", (Path("/nonexistent"),))
    faces.faces_for.cache_clear()
    faces._mixed.cache_clear()              # the font files, opened once
    try:
        rig = build(settings={"phone.language": ZH})
        rig.press("menu")
        assert rows(rig)[:2] == ["Menu 1/7", "> 1 Phone book"]
        assert "no font for language 'zh'" in caplog.text
    finally:
        faces.faces_for.cache_clear()
        faces._mixed.cache_clear()


def test_english_frames_do_not_change():
    st = PhoneState(now=1717423500.0, mono=1000.0, notice="Incoming call")
    assert render(st).image.tobytes() == render(
        PhoneState(now=1717423500.0, mono=1000.0, notice="Incoming call",
                   language="en")).image.tobytes()
    assert "Incoming call" in render(st).lines


def test_chinese_soft_key_labels_fit_their_key():
    from ui.lcd import SOFT_LABEL
    small = faces.faces_for(ZH)[2]
    wide = {label: small.width(i18n.tr(label, ZH)) for label in soft_key_labels()}
    assert not {k: v for k, v in wide.items() if v > SOFT_LABEL}


SOFTWARE = ["Model ES330", "deskphone 0.2.0", "pjsua2 2.15.1", "Board Simulated desk phone",
            "Kernel 6.1.0", "Upgraded 2026-12-01", "Up 0d 1h 5m", "Time OS clock"]


@pytest.mark.parametrize("lang, shown", [(ZH, 3), ("en", 5)])
def test_view_status_scrolls_to_its_last_line_in_each_language(lang, shown):
    """A text page scrolls by the rows the LCD shows in the language (ui/lcd.py
    page_rows: three of CJK's taller rows, five in English): ↓ reaches the last line."""
    rig = build(settings={"phone.language": lang})
    rig.menus.status = lambda page: SOFTWARE if page == "status.software" else [page]
    rig.walk("View status", "Software")              # the model's names, in any language
    first = rows(rig)
    assert first[1] == "Model ES330"
    rig.press(*["down"] * 10)                        # more than enough: it stops at the end
    last = rows(rig)
    n = len(SOFTWARE)
    assert last[0].endswith(f"{n - shown + 1}-{n}/{n}"), last
    assert last[shown] == i18n.tr("Time OS clock", lang), last     # the last line, drawn
    rig.press("up")
    assert rows(rig)[shown] == SOFTWARE[-2]


def test_each_message_is_in_the_catalog_once():
    """A msgid twice is a broken catalog for gettext (msgfmt: "duplicate message
    definition"), and read_po would keep the last one silently."""
    text = (ROOT / "firmware/locale" / f"{ZH}.po").read_text()
    ids = [m for m in re.findall(r'^msgid (".*"(?:\n".*")*)', text, re.M) if m != '""']
    assert not {i for i in ids if ids.count(i) > 1}


def test_the_idle_date_and_a_registration_failure_in_chinese(tmp_path):
    """In Chinese the standby screen's date names its day and month in Chinese (strftime
    writes them in English), and a line's refusal reads in Chinese with what to check."""
    rig = build({"phone.language": "zh"}, data_dir=tmp_path)
    lines = rig.lcd.splitlines()
    assert "周四 01 1月" in lines and "Thu" not in rig.lcd        # 1970-01-01, the rig's clock
    en = build(data_dir=tmp_path / "en")
    assert "Thu 01 Jan" in en.lcd.splitlines()                     # English as it was
    said = i18n.tr("Wrong user or password (401): check Account 2's user name, "
                   "authentication name and password", "zh")
    assert said == "用户名或密码错误 (401):请检查账号 2 的用户名、认证名和密码"
    assert i18n.tr("No answer from pbx.example.com:5060: check Account 1's SIP server and "
                   "the network", "zh").startswith("pbx.example.com:5060 无应答")
    from firmware.sip.registration import explain
    for code in (401, 403, 404, 408):              # every reason explain() gives is in zh.po
        text = explain(code, "", "pbx.example.com:5060", 3)
        assert i18n.tr(text, "zh") != text, text
