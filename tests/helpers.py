"""What the tests share: waiting (wait_for), and the predicates and moves of call tests.

The `utc` fixture (the clock's zone pinned to UTC) is in tests/conftest.py; the peers'
common parts (start, stop, port, log) in tests/peers/_process.py.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

POLL_S = 0.03


class TimedOut(AssertionError):
    """A bounded wait ran out; the message says what was awaited and what was seen."""


def wait_for(predicate: Callable[[], T], what: str, timeout: float = 10.0, *,
             detail: Callable[[], str] = lambda: "", poll: float = POLL_S) -> T:
    """Poll `predicate` until it returns something truthy, and return that. After
    `timeout` seconds raise TimedOut naming `what`, with `detail()` (a log tail, the
    state) so the failure says why. Every wait in the tests is bounded this way."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            more = detail()
            raise TimedOut(f"timed out after {timeout} s waiting for {what}"
                           + (f"\n{more}" if more else ""))
        time.sleep(poll)


def talking(s: dict) -> bool:
    return bool(s["calls"]) and s["calls"][0]["state"] == "connected" and s["audio"] != "none"


def idle(s: dict) -> bool:
    return not s["calls"] and s["audio"] == "none"


def call_states(s: dict) -> dict[int, str]:
    return {c["line"]: c["state"] for c in s["calls"]}


def states_by_number(s: dict) -> dict[str, str]:
    return {c["number"]: c["state"] for c in s["calls"]}


def connect(a, b, number: str = "1002"):
    """a dials `number` with the handset, b answers by lifting its handset."""
    a.hook(True)
    a.keys(number + "#")
    b.wait(lambda s: s["screen"] == "ringing", what="ringing")
    b.hook(True)
    a.wait(talking, what="a talking")
    b.wait(talking, what="b talking")
