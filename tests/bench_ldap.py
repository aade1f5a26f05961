"""`make bench` step 9 (issue #14 "Done when"): INVITE -> 180 of our phone with the LDAP
lookup for incoming calls off, then on with an LDAP server that takes the connection and
never answers (the lookup of every caller waits out ldap.timeout in a worker thread), in the
same run, measured as step 2 measures it (sipp uac_ring_cancel straight at the phone).

The aim: p95 unchanged — the ring never waits for the directory (firmware/features/ldap.py).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable

from tests.peers.slapd import SilentServer

LOOKUP_TIMEOUT = 5      # s: longer than a whole call of the bench, so every lookup is pending


def run(work: Path, start: Callable[[Path, dict], object], ready: Callable[[object], None],
        measure: Callable[[object], dict]) -> dict:
    """start(dir, settings) -> our phone (tests/bench.py's UA); ready(ua) waits until it is
    registered and idle; measure(ua) -> step 2's INVITE -> 180 result."""
    server = SilentServer()
    out: dict = {"lookup_timeout_s": LOOKUP_TIMEOUT}
    try:
        for mode in ("off", "on"):
            settings = {"ldap.server": "127.0.0.1", "ldap.port": server.port,
                        "ldap.base": "dc=example,dc=com", "ldap.incoming": mode == "on",
                        "ldap.timeout": LOOKUP_TIMEOUT}
            ua = start(work / f"ldap-{mode}", settings)
            try:
                ready(ua)
                r = out[mode] = measure(ua)
            finally:
                ua.stop()
            print(f"  lookup {mode:3}  p50 {r.get('p50', float('nan')):.3f} ms  "
                  f"p95 {r.get('p95', float('nan')):.3f} ms  ({len(r['samples_ms'])} calls)"
                  + (f"  PROBLEM: {r['problem']}" if "problem" in r else ""), flush=True)
        out["lookups_connected"] = server.count
    finally:
        server.close()
    return out


def print_results(res: dict) -> None:
    off, on = res.get("off", {}), res.get("on", {})
    print("LDAP lookup for incoming calls, server silent (ours):")
    for name, r in (("off", off), ("on", on)):
        samples = r.get("samples_ms") or [float("nan")]
        print(f"  {name:3}  INVITE -> 180 p50 {statistics.median(samples):.3f} ms  "
              f"p95 {r.get('p95', float('nan')):.3f} ms")
    print(f"  lookups that reached the silent server: {res.get('lookups_connected', 0)}")
    if off.get("p95") and on.get("p95"):
        print(f"  p95 on / off: {on['p95'] / off['p95']:.2f}")
