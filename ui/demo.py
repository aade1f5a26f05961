"""Phone states for every LCD screen, for `python -m ui.lcd --demo OUTDIR` and the tests."""
from __future__ import annotations

import calendar

from firmware.call.state import (Account, AudioDevice, Call, CallState, LineStatus, MenuPage,
                            PhoneState)

NOW = float(calendar.timegm((2024, 6, 3, 14, 5, 0)))   # Mon 03 Jun 2024 14:05:00 UTC
MONO = 5000.0


def _accounts(*statuses: LineStatus, labels=("2001", "2002", "2003")) -> list[Account]:
    return [Account(index=i + 1, enabled=True, label=labels[i], user=f"200{i + 1}",
                    status=st) for i, st in enumerate(statuses)]


def _state(**kw) -> PhoneState:
    kw.setdefault("accounts", _accounts(LineStatus.REGISTERED))
    return PhoneState(now=NOW, mono=MONO, **kw)


def _call(id: int, state: CallState, *, line: int = 1, direction: str = "out",
          number: str = "1002", name: str = "", connected: float = 0.0, **kw) -> Call:
    return Call(id=id, line=line, account=line, direction=direction, state=state,
                number=number, name=name, uri=f"sip:{number}@pbx.example.com",
                started=MONO - 60, connected_at=MONO - connected if connected else 0.0, **kw)


def states() -> dict[str, PhoneState]:
    talking = _call(1, CallState.CONNECTED, name="Alice Smith", number="1001",
                    direction="in", connected=42)
    return {
        "idle": _state(redial="1002", missed=2, voicemail=1),
        "idle_three_lines": _state(
            accounts=_accounts(LineStatus.REGISTERED, LineStatus.NOT_REGISTERED,
                               LineStatus.NO_NETWORK,
                               labels=("Reception", "Sales line", "Support desk")),
            auto_answer=True, missed=12, notice="Line 3: server unreachable, check network"),
        "idle_12h_dnd": _state(
            accounts=_accounts(LineStatus.DND, LineStatus.P2P), dnd=True, time_format=12,
            date_format="%d/%m/%Y", errors=["sip.port: must be 1-65535"]),
        "predial": _state(predial="0123456", predial_line=2,
                          accounts=_accounts(LineStatus.REGISTERED, LineStatus.REGISTERED)),
        "dialing": _state(calls=[_call(1, CallState.DIALING, number="10")], focus=1,
                          offhook=True, audio=AudioDevice.HANDSET),
        "dialing_long": _state(calls=[_call(1, CallState.DIALING,
                                            number="00441234567890123456789")],
                               focus=1, offhook=True, audio=AudioDevice.HANDSET),
        "calling": _state(calls=[_call(1, CallState.CALLING)], focus=1,
                          audio=AudioDevice.SPEAKER),
        "ringback": _state(calls=[_call(1, CallState.RINGBACK, name="Bob", number="1002")],
                           focus=1, offhook=True, audio=AudioDevice.HANDSET),
        "ringing": _state(calls=[_call(1, CallState.RINGING, name="Alice Smith",
                                       number="1001", direction="in")]),
        "ringing_two": _state(
            accounts=_accounts(LineStatus.REGISTERED, LineStatus.REGISTERED),
            calls=[_call(1, CallState.RINGING, name="Alice Smith", number="1001",
                         direction="in"),
                   _call(2, CallState.RINGING, line=2, number="+4930123456",
                         direction="in")]),
        "call_waiting_talking": _state(
            accounts=_accounts(LineStatus.REGISTERED, LineStatus.REGISTERED),
            calls=[_call(1, CallState.CONNECTED, number="1002", connected=300),
                   _call(2, CallState.RINGING, line=2, name="Carol", number="1003",
                         direction="in")],
            focus=1, offhook=True, audio=AudioDevice.HANDSET, mute=True),
        "call_waiting": _state(
            accounts=_accounts(LineStatus.REGISTERED, LineStatus.REGISTERED),
            calls=[_call(1, CallState.HELD, number="1002", connected=300),
                   _call(2, CallState.RINGING, line=2, name="Carol", number="1003",
                         direction="in")]),
        "talking": _state(calls=[talking], focus=1, offhook=True,
                          audio=AudioDevice.HANDSET),
        "talking_busy": _state(
            accounts=_accounts(LineStatus.REGISTERED, LineStatus.REGISTERED,
                               LineStatus.REGISTERED),
            calls=[_call(1, CallState.CONNECTED, name="Maximilian Mustermann-Schmidt",
                         number="+4930123456789", connected=3725, remote_hold=True),
                   _call(2, CallState.HELD, line=2, number="1002", connected=60),
                   _call(3, CallState.HELD, line=3, number="1003", connected=20)],
            focus=1, mute=True, audio=AudioDevice.SPEAKER),
        "talking_headset": _state(calls=[_call(1, CallState.CONNECTED, number="1002",
                                               connected=7)],
                                  focus=1, audio=AudioDevice.HEADSET, headset_mode=True),
        "held": _state(calls=[_call(1, CallState.HELD, name="Alice Smith", number="1001",
                                    connected=95)], focus=1),
        "ended_busy": _state(calls=[_call(1, CallState.ENDED, number="1002", code=486,
                                          reason="Busy")], focus=1, offhook=True,
                             audio=AudioDevice.HANDSET),
        "ended_not_found": _state(calls=[_call(1, CallState.ENDED, number="1999", code=404,
                                               reason="Not found (404)")], focus=1,
                                  offhook=True, audio=AudioDevice.HANDSET),
        "call_list": _state(menu=[MenuPage(
            "calllog.missed", "Missed calls", kind="calllog", index=1,
            items=["Alice Smith", "Maximilian Mustermann-Schmidt", "1002", "+4930123456789"],
            data=[NOW - 300, NOW - 2400, NOW - 2 * 86400 - 3600, NOW - 20 * 86400])]),
    }
