"""Small predicates and moves the call tests share."""
from __future__ import annotations


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
