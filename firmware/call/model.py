"""The call model: a call's states and the moves between them, as in the manual's diagram.

    DIALING  --send-->       CALLING      (the INVITE goes out)
    CALLING  --early-->      RINGBACK     (18x: the far end rings)
    RINGBACK --early-->      RINGBACK     (another 18x)
    CALLING | RINGBACK | RINGING --confirmed--> CONNECTED   (2xx / ACK)
    RINGING  --answer-->     CONNECTED    (we answer: 200)
    CONNECTED --hold-->      HELD
    HELD     --resume-->     CONNECTED    (also: joined into a conference)
    any but ENDED --end-->   ENDED        (the "call ended" screen, with the reason)

A call is born in DIALING (we lift the handset), RINGING (an INVITE came), or, when the
far end moved our call (REFER / Replaces), CALLING or CONNECTED. Every change of
`Call.state` goes through `move()`: a move the table does not have is logged and not
taken, so a confused SIP event or a feature's mistake cannot put a call in a state the
screen, the LEDs and the tones have no row for.
"""
from __future__ import annotations

import logging

from firmware.call.state import Call, CallState

log = logging.getLogger("deskphone.call")

D, C, RB, RG, T, H, E = (CallState.DIALING, CallState.CALLING, CallState.RINGBACK,
                         CallState.RINGING, CallState.CONNECTED, CallState.HELD,
                         CallState.ENDED)

# move -> (the states it may start from, the state it leads to)
MOVES: dict[str, tuple[frozenset[CallState], CallState]] = {
    "send":      (frozenset({D}), C),
    "early":     (frozenset({C, RB}), RB),
    "confirmed": (frozenset({C, RB, RG}), T),
    "answer":    (frozenset({RG}), T),
    "hold":      (frozenset({T}), H),
    "resume":    (frozenset({H}), T),
    "end":       (frozenset({D, C, RB, RG, T, H}), E),
}


def can(call: Call, move: str) -> bool:
    """Whether `move` is a move of the table from the call's state now."""
    return call.state in MOVES[move][0]


def move(call: Call, move_: str) -> bool:
    """Take `move_`; False (and a warning) when the table has no such move from here."""
    start, to = MOVES[move_]
    if call.state not in start:
        log.warning("call %d: no move %r from %s (kept %s)", call.id, move_,
                    call.state.value, call.state.value)
        return False
    call.state = to
    return True


class Endings:
    """How a call's end is to be told, decided when we end it: ended by us (no "ended by
    far end" notice, no screen when it was not on show) and refused by us (a ringing call we
    rejected, redirected or could not take is not a missed call). The Phone notes both here
    and `close` reads them when pjsua reports the end."""

    def __init__(self) -> None:
        self._ours: set[int] = set()
        self._refused: set[int] = set()

    def ours(self, call_id: int) -> None:
        self._ours.add(call_id)

    def refused(self, call_id: int) -> None:
        self._refused.add(call_id)

    def close(self, call_id: int) -> tuple[bool, bool]:
        """(ended by us, refused by us) for a call that has ended; forgotten after."""
        mine, refused = call_id in self._ours, call_id in self._refused
        self._ours.discard(call_id)
        self._refused.discard(call_id)
        return mine, refused
