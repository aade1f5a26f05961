"""The time the phone shows (manual §6 "Time & date", §7 "Set Time"): the time zones of the
manual's list, and the date and time a person types on the LCD's Manual setting.

The phone never sets the OS clock. What it shows is the OS clock moved by a shift
(PhoneState.clock_shift: the SNTP offset of firmware/features/clock.py, or the Manual
setting's time.manual_offset) in a zone (PhoneState.utc_offset: the chosen GMT zone plus
an hour of daylight saving, or None for the OS's own local time). `local` turns a shifted
time into what the LCD draws; firmware/present.py `local_time` is what ui/lcd.py calls.
Nothing here is imported before the first REGISTER but ZONES (the schema's choices).
DATE_FORMATS is the date formats' pick list; `sip_date` reads a SIP server's Date header.
"""
from __future__ import annotations

import math
import re
import time

# the manual's "Time Zone-GMT" list, half and quarter hours too: name -> minutes east of UTC
_MINUTES = (-720, -660, -600, -570, -540, -480, -420, -360, -300, -270, -240, -210, -180,
            -120, -60, 0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480,
            525, 540, 570, 600, 630, 660, 720, 765, 780, 840)
ZONE_MINUTES = {f"GMT{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}": m
                for m in _MINUTES}
ZONES = tuple(ZONE_MINUTES)          # "GMT-12:00" ... "GMT+14:00"

MANUAL_FORMAT = "%Y-%m-%d %H:%M"     # what Manual setting shows and takes
# the manual's "Date Format ... you can select in the list" (§7), in the Escene order that
# its DateFormat 0..8 numbers (provisioning/escene.py): the LCD's pick list; phone.date_format
# still takes any strftime text (the web, provisioning, the file)
DATE_FORMATS = ("%d %m %a", "%m %d %a", "%a %b %d", "%d-%b-%y", "%Y-%m-%d", "%d/%m/%Y",
                "%m/%d/%y", "%d %b %Y", "%a %d %b")
YEARS = (2000, 2099)


def zone_offset(zone: str, dst: bool) -> int | None:
    """Seconds east of UTC of the time shown: the zone, an hour more with daylight saving.
    None for "system": the OS's local time, whose own rules already move it for summer."""
    if zone not in ZONE_MINUTES:
        return None
    return ZONE_MINUTES[zone] * 60 + (3600 if dst else 0)


def local(t: float, utc_offset: int | None) -> time.struct_time:
    """A (shifted) wall clock time as the phone shows it; OverflowError, OSError or
    ValueError for a time the C library cannot show."""
    if utc_offset is None:
        return time.localtime(t)
    return time.gmtime(t + utc_offset)


def parse_manual(text: str) -> tuple[int, int, int, int, int]:
    """"2026-12-06 14:05" (any separators) or twelve digits "202612061405" -> (year,
    month, day, hour, minute); ValueError saying what is wrong, in words for the LCD."""
    groups = re.findall(r"\d+", text)
    if len(groups) == 1 and len(groups[0]) == 12:
        g = groups[0]
        groups = [g[:4], g[4:6], g[6:8], g[8:10], g[10:]]
    if len(groups) != 5 or re.search(r"[^\d\s:./-]", text):
        raise ValueError("Type the date and time as YYYY-MM-DD HH:MM")
    year, month, day, hour, minute = (int(g) for g in groups)
    if not YEARS[0] <= year <= YEARS[1]:
        raise ValueError(f"Year {year}? It must be {YEARS[0]}-{YEARS[1]}")
    if not 1 <= month <= 12:
        raise ValueError(f"Month {month}? It must be 1-12")
    import calendar
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(f"No day {day} in {calendar.month_name[month]} {year} (1-{last})")
    if hour > 23 or minute > 59:
        raise ValueError(f"No time {hour:02d}:{minute:02d}: hours 0-23, minutes 0-59")
    return year, month, day, hour, minute


def manual_shift(text: str, utc_offset: int | None, now: float) -> int:
    """The seconds to add to the OS clock (`now`) so that the phone shows the date and
    time typed, in the zone it shows (utc_offset as `local` takes it); whole seconds, rounded
    up so the minute typed is the minute shown from the moment it is saved."""
    import calendar
    year, month, day, hour, minute = parse_manual(text)
    if utc_offset is None:
        t = time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))
    else:
        t = calendar.timegm((year, month, day, hour, minute, 0)) - utc_offset
    return math.ceil(t - now)


def sip_date(text: str) -> float:
    """A SIP Date header (RFC 3261 §20.17, "Sat, 13 Nov 2010 23:29:00 GMT") -> Unix time;
    ValueError saying what is wrong (no header, not a date, a day that does not exist, a
    year outside YEARS: a server with a dead clock battery must not move the phone)."""
    from email.utils import mktime_tz, parsedate_tz
    if not text:
        raise ValueError("no Date header")
    parts = parsedate_tz(text)
    if parts is None or parts[9] is None:
        raise ValueError(f"Date {text!r} is no RFC 1123 date")
    if not YEARS[0] <= parts[0] <= YEARS[1]:
        raise ValueError(f"Date {text!r}: year outside {YEARS[0]}-{YEARS[1]}")
    try:
        import calendar
        if not 1 <= parts[2] <= calendar.monthrange(parts[0], parts[1])[1] or \
                parts[3] > 23 or parts[4] > 59 or parts[5] > 60:
            raise ValueError
        return float(mktime_tz(parts))
    except (ValueError, OverflowError, calendar.IllegalMonthError):
        raise ValueError(f"Date {text!r} is no date") from None
