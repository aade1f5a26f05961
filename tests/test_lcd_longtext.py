"""Long texts on the 128x64 LCD (issue 12 item 5): a status or error that does not fit its
row is wrapped over the rows it may use, and what still does not fit is shown in turns
(`render(state, step)`; the presenter steps it with a timer), so the part that says what to
do is never cut off. Soft key labels fit their key: every label the code can produce is
read from the code and measured.

The messages are the ones a person met cut at the edge ("No server for this lin…",
"SIP: SIP port 5060 on 0…", "Transfer failed: Bad E…", soft key "Cons…").
"""
from __future__ import annotations

import ast
import calendar
from pathlib import Path

import pytest
from PIL import Image

from firmware.call.state import Account, Call, CallState, LineStatus, MenuPage, PhoneState
from firmware.present import softkeys
from firmware.presenter import MARQUEE_SECONDS, NOTICE_SECONDS, Presenter
from tests.fakes import build
from ui import textentry
from ui.font import CONDENSED, ELLIPSIS, SMALL
from ui.lcd import H, KEYS_Y, SOFT_BOX, SOFT_LABEL, W, render
from ui.lcd_menu import MENU_ROWS

pytestmark = pytest.mark.usefixtures("utc")      # tests/conftest.py

ROOT = Path(__file__).resolve().parent.parent
NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))
MONO = 1000.0

NO_SERVER = "No server for this line: set account.1.server"
PORT = "SIP: SIP port 5060 on 0.0.0.0 is in use: set sip.port to a free port"
XFER = "Transfer failed: Bad Extension - check the number and try again"


def phone(**kw) -> PhoneState:
    kw.setdefault("accounts", [Account(index=1, enabled=True, user="2001",
                                       status=LineStatus.REGISTERED)])
    return PhoneState(now=NOW, mono=MONO, **kw)


def talking(**kw) -> PhoneState:
    c = Call(id=1, line=1, account=1, direction="out", state=CallState.CONNECTED,
             number="1002", uri="sip:1002@pbx.example.com", started=MONO - 30,
             connected_at=MONO - 5)
    return phone(calls=[c], focus=1, **kw)


def frames(st: PhoneState) -> list:
    """Every frame until each text shown in turns has come round once."""
    first = render(st)
    return [first] + [render(st, k) for k in range(1, first.turns)]


def words_read(st: PhoneState) -> list[str]:
    """The words a person reads on the screen across its frames."""
    return " ".join(line for f in frames(st) for line in f.lines).split()


def readable(message: str, st: PhoneState) -> None:
    """Every word of `message` is on the screen, whole, in some frame; nothing is cut."""
    seen = words_read(st)
    missing = [w for w in message.split() if w not in seen]
    assert not missing, (missing, [f.lines for f in frames(st)])
    assert not any(ELLIPSIS in line for f in frames(st) for line in f.lines)


def row_image(text: str, x: int = 0) -> bytes:
    """An 8 px row of the LCD showing only `text` at `x`, as the frame should draw it."""
    img = Image.new("1", (W, 8), 1)
    img.paste(0, (x, 0), SMALL.mask(text))
    return img.tobytes()


# --- the idle screen's notice and error rows -------------------------------------------------

def test_a_notice_that_does_not_fit_wraps_over_two_rows_above_the_soft_keys():
    st = phone(notice=NO_SERVER)
    frame = render(st)
    assert frame.paged == ()                     # two rows are enough: nothing moves
    assert frame.lines[-3:-1] == ["No server for this line:", "set account.1.server"]
    # pixels: the two rows are exactly those words, nothing past the edge
    assert frame.image.crop((0, 37, W, 45)).tobytes() == row_image(frame.lines[-3])
    assert frame.image.crop((0, 46, W, 54)).tobytes() == row_image(frame.lines[-2])
    assert "14:05" in frame.lines                # the clock still shows


def test_a_settings_error_is_readable_whole():
    readable(PORT, phone(errors=[PORT, "other"]))


def test_under_the_missed_calls_row_a_long_notice_shows_in_turns_on_its_one_row():
    st = phone(errors=[PORT], missed=2, voicemail=1)
    frame = render(st)
    assert frame.turns > 1 and frame.paged == ((PORT, frame.turns),)
    assert "2 Missed 1 Voicemail" in frame.lines and "14:05" in frame.lines
    readable(PORT, st)
    for f in frames(st):                         # each turn: whole words on one row
        row = f.lines[-2]
        assert SMALL.width(row) <= W and row in PORT
        assert f.image.crop((0, 46, W, 54)).tobytes() == row_image(row)


def test_a_word_longer_than_a_row_is_broken_never_cut():
    uri = "sip:reception-desk-second-floor@pbx.branch-office.example.com"
    st = phone(notice=f"Cannot reach {uri}", missed=1)
    pieces = [f.lines[-2] for f in frames(st)]
    assert "".join(pieces).replace("Cannot reach", "").strip() == uri


# --- call screens ------------------------------------------------------------------------------

def test_a_failed_transfer_says_why_and_what_to_do_on_the_talking_screen():
    st = talking(notice=XFER, mute=True)
    assert render(st).screen == "talking"
    readable(XFER, st)
    for f in frames(st):                         # beside the Mute tag, inside the screen
        assert f.lines[-2].startswith("Mute ")


def test_an_ended_calls_reason_is_readable_whole():
    reason = "Service Unavailable: the server did not answer, check the network"
    c = Call(id=1, line=1, account=1, direction="out", state=CallState.ENDED, number="1002",
             code=503, reason=reason, started=MONO - 3, ended_at=MONO)
    st = phone(calls=[c], focus=1)
    assert render(st).screen == "ended"
    readable(reason, st)


def test_a_text_that_fits_never_moves():
    for st in (phone(notice="Check the cable"), talking(notice="Volume 5"), talking()):
        assert render(st).paged == () and render(st).turns == 1
        assert render(st, 3).image.tobytes() == render(st).image.tobytes()


# --- menus ---------------------------------------------------------------------------------------

def test_a_long_line_on_view_status_lines_is_shown_whole_in_turns():
    line = "L1 2001: Not registered: No server for this line: set account.1.server"
    st = phone(menu=[MenuPage("status.lines", "Lines", [line, "L2 disabled"], text=True)])
    readable(line, st)
    assert "L2 disabled" in render(st).lines


def test_the_selected_menu_row_shows_a_cut_label_whole_the_others_stay_cut():
    long = "Outbound proxy for the second line"
    items = [long, long]
    st = phone(menu=[MenuPage("x", "Test", items, index=0, data=["", ""])])
    frame = render(st)
    assert frame.lines[2].endswith(ELLIPSIS)                 # not selected: cut
    seen = " ".join(f.lines[1] for f in frames(st))          # selected: in turns
    for word in f"1 {long}".split():
        assert word in seen.replace(">", "").split()


def test_a_refusal_on_the_editor_longer_than_its_three_rows_is_shown_whole():
    editor = textentry.TextEntry("5060", kind="number")
    why = ("must be a port number from 1024 to 65535 that no other program on this phone "
           "uses; the web page shows which ones are taken, ask your administrator")
    st = phone(menu=[MenuPage("sip.port", "SIP port", ["help", why], kind="edit",
                              data=[editor, ""])])
    readable(why, st)
    for f in frames(st):
        assert len(f.lines) <= len(MENU_ROWS) + 3         # header, field, 3 rows, keys


# --- soft keys -----------------------------------------------------------------------------------

SOFT_SOURCES = ["firmware/present.py", "firmware/features/*.py", "firmware/call/*.py"]


def _str_pairs(node) -> list[str]:
    """Labels of the (label, action) cells under `node`: tuples of two strings."""
    return [n.elts[0].value for n in ast.walk(node)
            if isinstance(n, ast.Tuple) and len(n.elts) == 2
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in n.elts)
            and n.elts[0].value]


def soft_key_labels() -> dict[str, str]:
    """label -> where: every soft key label the code has, read from the code: the cells of
    the soft key rows (present.py's `_ROWS` and `*softkeys` functions, the features' Mode
    `softkeys`), `add_soft_key` calls, and the text editor's mode key (ui/textentry.py)."""
    found: dict[str, str] = {}
    files = [p for pattern in SOFT_SOURCES for p in sorted(ROOT.glob(pattern))]
    for path in files:
        tree = ast.parse(path.read_text())
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and "softkeys" in node.name:
                scopes = [node]
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "_ROWS" for t in node.targets):
                scopes = [node.value]
            elif isinstance(node, ast.keyword) and node.arg == "softkeys":
                scopes = [node.value]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == \
                    "add_soft_key" and len(node.args) >= 3:
                scopes = []
                if isinstance(node.args[2], ast.Constant):
                    found[node.args[2].value] = f"{where}:{node.lineno}"
            else:
                continue
            for scope in scopes:
                for label in _str_pairs(scope):
                    found.setdefault(label, f"{where}:{scope.lineno}")
    for label in textentry.LABELS.values():
        found.setdefault(label, "ui/textentry.py LABELS")
    return found


def test_the_labels_are_read_from_the_code():
    labels = soft_key_labels()
    # a few that every phone shows, found where they live (not listed here to be measured)
    assert {"Answer", "Reject", "Hold", "End", "Save", "Back", "Xfer", "Conf", "B Xfer",
            "abc", "123"} <= set(labels)
    assert "red" not in labels and "ring" not in labels        # LED colours, tones: not keys


def test_every_soft_key_label_the_code_can_produce_fits_its_key():
    too_wide = {label: (CONDENSED.width(label), where)
                for label, where in soft_key_labels().items()
                if CONDENSED.width(label) > SOFT_LABEL}
    assert not too_wide, f"wider than {SOFT_LABEL} px (shorten the word): {too_wide}"


@pytest.mark.parametrize("st", [
    phone(redial="1002", dnd=True),                                   # Redial, No DND
    phone(calls=[Call(id=1, line=1, account=1, direction="in", state=CallState.RINGING,
                      number="1002", started=MONO)]),                  # Answer, Reject
    talking(soft={"talking": (None, ("Xfer", "xfer"), ("Conf", "conf"), None)}),
], ids=["idle", "ringing", "talking"])
def test_each_label_is_drawn_whole_inside_its_own_key(st):
    frame = render(st)
    cells = softkeys(st)
    assert frame.lines[-1] == " ".join(label for label, _ in cells if label)
    px = frame.image.load()
    for i, (label, _) in enumerate(cells):
        x0, x1 = 32 * i, 32 * i + SOFT_BOX - 1
        if not label:
            assert all(px[x, y] for x in range(x0, x0 + 32) for y in range(KEYS_Y, H))
            continue
        # the box is ink from edge to edge in the middle row; the label (paper on ink) has a
        # column of ink on each side, and nothing of it is outside the box
        assert px[x0, KEYS_Y + 4] == 0 and px[x1, KEYS_Y + 4] == 0
        paper = [x for x in range(x0, x1 + 1) if any(px[x, y] for y in range(KEYS_Y + 1, H - 1))]
        assert paper and paper[0] > x0 and paper[-1] < x1, (label, paper)
        assert paper[-1] - paper[0] + 1 == CONDENSED.width(label)     # whole, not cut
        if i < 3:                                                     # the gap to the next
            assert all(px[x1 + 1, y] for y in range(KEYS_Y, H))



# --- the marquee: the presenter steps the turns with a timer, only while something moves --------

class _Board:
    """What the presenter drives: the display keeps the frames it was shown."""

    class _Any:
        def __getattr__(self, name):
            return lambda *a, **k: None

    def __init__(self):
        self.shown: list = []
        self.display = self._Any()
        self.display.show = self.shown.append
        self.leds = self._Any()
        self.audio = self._Any()
        self.audio.device = "none"
        self.spec: dict = {}


def presented(tmp_path):
    """The in-process phone (tests/fakes) with the presenter drawing its frames."""
    rig = build(data_dir=tmp_path)
    presenter = Presenter(bus=rig.bus, timers=rig.timers, state=rig.state, board=_Board(),
                          sip=_Board._Any(), settings=rig.settings, board_name="sim",
                          started_mono=0.0)
    presenter.start()
    return rig, presenter


def test_the_presenter_moves_a_long_text_on_with_a_timer_and_stops_when_it_fits(tmp_path):
    rig, presenter = presented(tmp_path)
    assert not rig.timers.active("marquee")          # nothing moves: no timer at all
    rig.state.missed = 1                             # the notice gets one row
    rig.state.errors = [PORT]
    presenter.present()
    assert rig.timers.active("marquee")
    turns = presenter.frame.turns
    rows = [presenter.frame.lines[-2]]
    for _ in range(turns - 1):
        rig.advance(MARQUEE_SECONDS)
        rows.append(presenter.frame.lines[-2])
    assert " ".join(rows) == PORT                    # read whole, part after part
    rig.advance(MARQUEE_SECONDS)
    assert presenter.frame.lines[-2] == rows[0]      # and again from the start
    rig.state.errors = []
    presenter.present()
    assert not rig.timers.active("marquee")          # fits again: the timer is gone


def test_a_long_notice_stays_until_every_part_was_shown(tmp_path):
    rig, presenter = presented(tmp_path)
    rig.state.missed = 1
    rig.state.notice = XFER + " " + XFER
    presenter.present()
    turns = presenter.frame.turns
    assert turns * MARQUEE_SECONDS > NOTICE_SECONDS
    rig.advance(turns * MARQUEE_SECONDS - 0.1)
    assert rig.state.notice                          # still there for its last part
    rig.advance(1.0)
    assert not rig.state.notice and not rig.timers.active("marquee")


def test_a_notice_that_changes_gets_its_own_time(tmp_path):
    """"Account 1 saved; Line 1: registering..." then, a second later, "Line 1: registered":
    the second is shown its full time, not what was left of the first's."""
    rig, presenter = presented(tmp_path)
    rig.state.notice = "Account 1 saved"
    presenter.present()
    rig.advance(NOTICE_SECONDS - 0.5)
    rig.state.notice = "Line 1: registered"
    presenter.present()
    rig.advance(1.0)                                 # past the first notice's end
    assert rig.state.notice == "Line 1: registered"
    rig.advance(NOTICE_SECONDS)
    assert not rig.state.notice
