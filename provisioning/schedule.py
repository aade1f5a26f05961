"""When the next timed provisioning check runs (manual appendix 3.2, "Timing Auto Provision").

The manual's rule, from its worked examples: after `frequency` hours have passed since the
timing was set (or since the last timed check), wait for the nearest `time` of day.

- Frequency 24 h, time 2:00, set at 8:00 on 1 Jan: 24 h pass (8:00 on 2 Jan), then the nearest
  2:00 is on 3 Jan.
- Frequency 0, time 23:00, set at 8:00: at once the nearest 23:00, tonight.
- Time "none" (empty): just `frequency` hours after the anchor.

A timed check is never due at its own anchor again (frequency 0 at 23:00, run at 23:00 →
tomorrow 23:00), so a check never repeats itself in a loop.
"""
from __future__ import annotations

import datetime as dt


def next_run(anchor: dt.datetime, frequency_hours: int, time_of_day: str) -> dt.datetime | None:
    """The next timed check after `anchor` (naive local time), or None when the settings give
    no schedule at all (frequency 0 and no time of day)."""
    base = anchor + dt.timedelta(hours=frequency_hours)
    if not time_of_day:
        return base if frequency_hours > 0 else None
    hour, minute = (int(x) for x in time_of_day.split(":"))
    candidate = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate < base:
        candidate += dt.timedelta(days=1)
    if candidate <= anchor:
        candidate += dt.timedelta(days=1)
    return candidate


def describe(when: dt.datetime | None, now: dt.datetime) -> str:
    """'02:00 3 Jan' style text for the LCD (short) and the web."""
    if when is None:
        return "none"
    if when.date() == now.date():
        return when.strftime("%H:%M today")
    if when.date() == now.date() + dt.timedelta(days=1):
        return when.strftime("%H:%M tomorrow")
    return f"{when:%H:%M} {when.day} {when:%b}"
