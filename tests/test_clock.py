"""Manual §6 "Time & date" (MENU > Function setting > Time & date) and §7 "Set Time": the
time zone, daylight saving, 12/24 h and the time set by hand, walked in-process as a
person walks them; then SNTP (RFC 4330) against a real phone process and a small SNTP
server started here — one that answers an hour ahead, and one that forges its answers.

The OS clock is UTC in every test (tests/conftest.py `utc`; PhoneProcess runs with TZ=UTC).
"""
from __future__ import annotations

import calendar
import socket
import struct
import threading
import time

import pytest

from firmware import timeofday
from tests.fakes import build
from tests.peers.ports import HOST, free_port
from tests.phone import PhoneProcess

pytestmark = pytest.mark.usefixtures("utc")

NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))     # Mon 03 Jun 2024 14:05 UTC
TIME_PAGE = ("menu", "3", "5")          # MENU > Function setting > Time & date


def rows(rig) -> list[str]:
    rig.state.now = rig.state.now or NOW            # the snapshot's wall clock (presenter)
    return rig.lcd.splitlines()


def read(rig, row: int) -> str:
    """A row as read over its turns: the selected row shows a label and value too wide
    for it in turns (ui/lcd_menu.py), "> 7 Date format Sun 06" then "> Dec"."""
    from ui import lcd
    snap = rig.state.snapshot()
    turns = [lcd.render(snap, t).text.splitlines()[row] for t in range(lcd.render(snap).turns)]
    return " ".join([turns[0], *(t.removeprefix("> ") for t in turns[1:])])


def idle(rig) -> list[str]:
    """The standby screen: the menu closed, the LCD's rows."""
    if rig.state.menu:
        rig.press("menu")
    assert rig.screen == "idle"
    return rows(rig)


def choose(rig, entry: str, value: str) -> None:
    """On the Time & date page: open entry (its digit) and pick `value` from its list."""
    rig.press(entry)
    page = rig.state.menu[-1]
    assert page.kind == "choice", rows(rig)
    steps = page.items.index(value) - page.index
    rig.press(*(["down"] * steps if steps > 0 else ["up"] * -steps), "ok")


@pytest.fixture
def rig(tmp_path):
    r = build(data_dir=tmp_path)
    r.state.now = NOW
    return r


def test_the_time_and_date_page_lists_the_manuals_settings(rig):
    rig.press(*TIME_PAGE)
    shown = rows(rig)
    assert shown[0].startswith("Time & date")
    assert shown[1:6] == ["> 1 Mode system", "2 Server pool.ntp.org",
                          "3 Update interval 3600", "4 Time zone system", "5 DST Disable"]
    rig.press(*["down"] * 7)
    assert "> 8 Manual setting" in rows(rig)


def test_a_time_zone_from_the_list_moves_the_idle_clock(rig):
    """OS at UTC, zone GMT+08:00: the idle clock is 8 h ahead; daylight saving adds an
    hour; 12 h format shows PM; the date follows the zone too."""
    assert idle(rig)[1:3] == ["14:05", "Mon 03 Jun"]
    rig.press(*TIME_PAGE)
    choose(rig, "4", "GMT+08:00")
    assert rig.settings.time.time_zone == "GMT+08:00"
    assert rig.saved[-1] == {"time.time_zone": "GMT+08:00"}
    assert "> 4 Time zone GMT+08:00" in rows(rig)
    assert idle(rig)[1:3] == ["22:05", "Mon 03 Jun"]

    rig.press(*TIME_PAGE)
    choose(rig, "5", "Enable")                       # DST: daylight saving
    assert rig.settings.time.dst is True
    assert idle(rig)[1:3] == ["23:05", "Mon 03 Jun"]

    rig.press(*TIME_PAGE)
    choose(rig, "6", "12")                           # Time format
    assert idle(rig)[1] == "11:05 PM"

    rig.press(*TIME_PAGE)
    choose(rig, "4", "GMT-09:30")                    # a half hour, west: the day before
    assert idle(rig)[1:3] == ["5:35 AM", "Mon 03 Jun"]
    rig.press(*TIME_PAGE)
    choose(rig, "5", "Disable")
    assert idle(rig)[1:3] == ["4:35 AM", "Mon 03 Jun"]
    rig.press(*TIME_PAGE)
    choose(rig, "4", "GMT-12:00")
    assert idle(rig)[1:3] == ["2:05 AM", "Mon 03 Jun"]
    rig.press(*TIME_PAGE)
    choose(rig, "4", "GMT+14:00")
    assert idle(rig)[1:3] == ["4:05 AM", "Tue 04 Jun"]


def test_the_call_lists_show_times_in_the_zone_chosen(tmp_path):
    rig = build({"time.time_zone": "GMT+05:45"}, data_dir=tmp_path)
    assert rig.state.utc_offset == 5 * 3600 + 45 * 60
    rig.state.now = NOW
    from ui.lcd_menu import _when
    assert _when(rig.state.snapshot(), NOW - 60) == "19:49"


def test_manual_setting_sets_the_date_and_time_typed_and_keeps_it(tmp_path):
    """Time & date > Manual setting: the editor starts from the time shown; the date and
    time typed (the zone's: GMT+08:00 here) become the clock, saved, kept on restart."""
    rig = build({"time.time_zone": "GMT+08:00"}, data_dir=tmp_path)
    rig.state.now = time.time()
    rig.press(*TIME_PAGE, *["down"] * 7, "ok")       # 8 Manual setting
    editor = rig.state.menu[-1].data[0]
    shown = time.strftime("%Y-%m-%d %H:%M", time.gmtime(rig.state.now + 8 * 3600))
    assert editor.text == shown                       # the time shown now, to edit
    assert rig.softkeys == ["123", "Save", "<-", "Cancel"]
    rig.hold_key("cancel")                            # C held clears
    rig.press(*"203005010930", "soft2")               # 2030-05-01 09:30, Save
    assert rig.settings.time.mode == "manual"
    assert set(rig.saved[-1]) == {"time.mode", "time.manual_offset"}
    rig.press(*["up"] * 7)                           # back on the page: Mode says so
    assert "> 1 Mode manual" in rows(rig)
    rig.state.now = time.time()
    assert idle(rig)[1:3] == ["09:30", "Wed 01 May"]

    # a restart: the settings file's values, the OS clock a minute on
    kept = {k: rig.settings.get(k) for k in ("time.mode", "time.manual_offset",
                                             "time.time_zone")}
    again = build(kept, data_dir=tmp_path)
    again.state.now = time.time() + 60
    assert idle(again)[1:3] == ["09:31", "Wed 01 May"]


def test_a_date_that_does_not_exist_is_refused_and_says_why(rig):
    rig.press(*TIME_PAGE, *["down"] * 7, "ok")
    rig.hold_key("cancel")
    rig.press(*"202602301000", "soft2")               # 30 February
    text = " ".join(rows(rig))
    assert "No day 30 in February 2026" in text, text
    assert rig.settings.time.mode == "system" and rig.saved == []
    rig.hold_key("cancel")
    rig.press(*"20261", "soft2")                      # not a date at all
    assert "YYYY-MM-DD HH:MM" in " ".join(rows(rig))
    rig.hold_key("cancel")
    rig.press(*"202612062475", "soft2")
    assert "No time 24:75" in " ".join(rows(rig))
    assert rig.saved == []


def test_the_zone_list_is_the_manuals():
    assert timeofday.ZONES[0] == "GMT-12:00" and timeofday.ZONES[-1] == "GMT+14:00"
    for z in ("GMT-09:30", "GMT+05:30", "GMT+05:45", "GMT+08:45", "GMT+12:45", "GMT+00:00"):
        assert z in timeofday.ZONES
    assert timeofday.zone_offset("system", True) is None


# -- SNTP against a real phone ----------------------------------------------------------------

NTP_EPOCH = 2208988800


def _stamp(t: float) -> bytes:
    t += NTP_EPOCH
    return struct.pack("!II", int(t), int((t % 1) * 2**32))


class SntpServer:
    """A small SNTP server (RFC 4330) on 127.0.0.1: answers `offset` seconds ahead of this
    machine's clock. forge: first sends an answer with an originate timestamp that is not
    the client's, `forged_offset` ahead (a spoofer racing the server); forge_only: sends
    only that."""

    def __init__(self, offset: float, *, forge: bool = False, forge_only: bool = False,
                 forged_offset: float = 7200.0):
        self.offset, self.forge, self.forge_only = offset, forge or forge_only, forge_only
        self.forged_offset = forged_offset
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, free_port("udp")))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.asked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _answer(self, request: bytes, offset: float, originate: bytes) -> bytes:
        now = time.time() + offset
        return (bytes([0x24, 2, 6, 0xEC]) + bytes(8) + b"GPS\0" + _stamp(now - 10)
                + originate + _stamp(now) + _stamp(now))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if len(data) < 48 or data[0] & 7 != 3:
                continue
            self.asked.set()
            if self.forge:
                wrong = bytes(b ^ 0x5A for b in data[40:48])
                self.sock.sendto(self._answer(data, self.forged_offset, wrong), addr)
            if not self.forge_only:
                self.sock.sendto(self._answer(data, self.offset, data[40:48]), addr)

    def __enter__(self) -> SntpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _hhmm(shift: float) -> str:
    return time.strftime("%H:%M", time.gmtime(time.time() + shift))


def wait_clock(phone: PhoneProcess, shift: float, timeout: float = 10.0) -> str:
    """Until the idle screen's clock reads this machine's UTC time + shift (bounded)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = phone.screen()
        if _hhmm(shift) in screen.splitlines()[1:2]:
            return screen
        time.sleep(0.05)
    raise AssertionError(f"the clock never read {_hhmm(shift)} (OS + {shift:g} s):\n{screen}"
                         f"\nlog:\n{phone.log_tail()}")


def wait_log(phone: PhoneProcess, text: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in phone.log_tail(200):
            return
        time.sleep(0.1)
    raise AssertionError(f"the log never said {text!r}:\n{phone.log_tail()}")


def test_sntp_moves_the_idle_clock_and_forged_answers_are_ignored(tmp_path):
    with SntpServer(3600, forge_only=True) as spoofer, SntpServer(3600, forge=True) as server:
        settings = {"time.mode": "sntp", "time.sntp_server": f"{HOST}:{spoofer.port}"}
        with PhoneProcess(tmp_path / "phone", settings=settings) as phone:
            # only forged answers: not one is taken; the clock stays the OS's, and why is said
            assert spoofer.asked.wait(15), phone.log_tail()
            wait_log(phone, f"SNTP {HOST}:{spoofer.port}: no answer in 5 s")
            wait_clock(phone, 0)

            # a server a spoofer races (a forged answer 2 h ahead first): the real one counts
            phone.settings({"time.sntp_server": f"{HOST}:{server.port}"})
            assert server.asked.wait(10), phone.log_tail()
            screen = wait_clock(phone, 3600)
            assert _hhmm(7200) not in screen

            # View status > Software says where the time comes from
            phone.key("menu", "5", "3", *["down"] * 6)
            phone.wait_screen("+3600")


# -- the SIP server's time (manual §6 "Time & date": SIP server) -------------------------------

SERVER_DATE = "Wed, 21 Oct 2015 12:00:00 GMT"


def registered(rig, date: str, code: int = 200):
    """The registrar's answer to our REGISTER, carrying `date`, arriving at NOW."""
    from firmware.events import RegistrationChanged
    from tests.fakes.rig import SERVER
    rig.post(RegistrationChanged(1, SERVER, code, "OK" if code < 300 else "Unauthorized",
                                 code < 300, 600 if code < 300 else 0, date=date,
                                 received=NOW))


def test_time_mode_sip_server_shows_the_registrars_date(tmp_path, caplog):
    """time.mode sip: the Date of the 2xx to our REGISTER is the time shown (RFC 3261
    §20.17); another answer, or one without a good Date, changes nothing and is logged once."""
    rig = build({"time.mode": "sip"}, data_dir=tmp_path)
    rig.state.now = NOW
    assert idle(rig)[1:3] == ["14:05", "Mon 03 Jun"]        # no answer with a Date yet
    assert "waiting for a REGISTER answer" in rig.state.time_status
    registered(rig, SERVER_DATE)
    assert idle(rig)[1:3] == ["12:00", "Wed 21 Oct"]
    assert "SIP server 192.0.2.10 ok" in rig.state.time_status
    rig.state.now = NOW + 90                                   # the clock runs on from there
    assert idle(rig)[1] == "12:01"

    registered(rig, "Thu, 22 Oct 2015 08:00:00 GMT", code=401)  # not a 2xx: ignored
    for bad in ("", "yesterday", "Sat, 31 Feb 2015 08:00:00 GMT"):
        registered(rig, bad)                                   # kept, said, logged once
        assert idle(rig)[1:3] == ["12:01", "Wed 21 Oct"]
    assert "(last time kept)" in rig.state.time_status
    assert "is no date" in rig.state.time_status
    assert [r.getMessage() for r in caplog.records if "SIP server" in r.getMessage()] == [
        "SIP server 192.0.2.10: no Date header; the time shown stays as it is"]


def test_sip_server_is_chosen_on_the_time_and_date_page(rig):
    """A Date seen while the mode was system counts once the person picks SIP server."""
    registered(rig, SERVER_DATE)
    assert idle(rig)[1] == "14:05"                             # system: the OS clock
    rig.walk("Function setting", "Time & date", "Mode")
    assert rows(rig)[1:5] == ["> 1 system", "2 sntp", "3 sip", "4 manual"]
    rig.press("down", "down", "ok")
    assert rig.saved[-1] == {"time.mode": "sip"} and "> 1 Mode sip" in rows(rig)
    assert idle(rig)[1:3] == ["12:00", "Wed 21 Oct"]
    rig.walk("Function setting", "Time & date", "Mode")
    assert rows(rig)[3] == "> 3 sip"                          # the list opens at the mode
    rig.press("up", "up", "ok")                               # back to system
    assert idle(rig)[1:3] == ["14:05", "Mon 03 Jun"]


# -- Date format: the manual's list (§7 "Date Format ... you can select in the list") ------------

def test_date_format_is_picked_from_a_list_of_todays_date(rig):
    """The examples are the phone's today (Mon 03 Jun 2024 here), as the standby shows it."""
    rig.walk("Function setting", "Time & date").press(*["down"] * 6)
    assert read(rig, 5) == "> 7 Date format Mon 03 Jun"           # today, as shown
    rig.press("ok")
    page = rig.state.menu[-1]
    today = time.gmtime(NOW)
    assert page.kind == "choice" and page.items == [time.strftime(f, today)
                                                    for f in timeofday.DATE_FORMATS]
    assert page.items[page.index] == "Mon 03 Jun"                  # the one in use
    assert "03/06/2024" in page.items and "2024-06-03" in page.items
    rig.walk("2024-06-03")
    assert rig.saved[-1] == {"phone.date_format": "%Y-%m-%d"}
    assert idle(rig)[2] == "2024-06-03"


def test_date_format_examples_are_in_the_phones_time_zone(tmp_path):
    """GMT+14:00: 14:05 UTC on Mon 03 Jun is Tue 04 Jun on the phone; the list says so,
    as the standby screen does, whatever the PC's own zone."""
    rig = build({"time.time_zone": "GMT+14:00", "phone.date_format": "%Y-%m-%d"},
                data_dir=tmp_path)
    rig.state.now = NOW
    assert idle(rig)[2] == "2024-06-04"
    rig.walk("Function setting", "Time & date", "Date format")
    page = rig.state.menu[-1]
    assert page.items[page.index] == "2024-06-04" and "Tue 04 Jun" in page.items


def test_a_date_format_not_in_the_list_shows_as_it_is_and_stays(tmp_path):
    """Any strftime text is taken (the web, provisioning, the file); the LCD shows it as it
    is and Back leaves it."""
    rig = build({"phone.date_format": "%d.%m.%Y"}, data_dir=tmp_path)
    rig.state.now = NOW
    assert idle(rig)[2] == "03.06.2024"
    rig.walk("Function setting", "Time & date").press(*["down"] * 6)
    assert rows(rig)[5].startswith("> 7 Date") and rows(rig)[5].endswith("%d.%m.%Y")
    rig.press("ok", "cancel")
    assert rig.settings.phone.date_format == "%d.%m.%Y" and rig.saved == []


def test_the_sip_server_date_reaches_the_real_phone(tmp_path):
    """A real registrar (sipp) answers REGISTER 200 with a Date: the phone in time mode sip
    shows that date and time on its LCD."""
    from tests.peers.sipp import Sipp
    server = Sipp(tmp_path / "reg", scenario="uas_register_date.xml",
                  keys={"server_date": SERVER_DATE}, timeout=30, calls=20)
    server.start()
    try:
        settings = {"time.mode": "sip", "phone.date_format": "%Y-%m-%d"}
        with PhoneProcess(tmp_path / "p", account={"user": "1001", "server": server.addr},
                          settings=settings) as phone:
            phone.wait_registered(1)
            screen = phone.wait_screen("2015-10-21")
            assert screen.splitlines()[1] in ("12:00", "12:01"), screen
    finally:
        server.stop()
    assert "Date: " + SERVER_DATE in server.messages()
