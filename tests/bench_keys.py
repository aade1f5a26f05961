"""make bench, part 4: key edge -> frame handed to the display, and bytes on the bus.

In one process: the whole phone (App, SIP thread included) on a board whose keypad is a
matrix on gpiozero mock pins (tests/mockmatrix.py, the same wiring the keypad tests use)
and whose display is a real LumaDisplay for each chip on a serial bus that only counts
bytes. A key is pressed on the pins; the time runs until display.show() is handed the
changed frame. Two screens: the pre-dial screen (eight digits then eight C's, over and
over: every press changes it, as typing a number does; the first digit and the last C
redraw it all) and the LCD menu (OK opens it, then 3 opens Function setting and C goes
back, over and over: each press draws another page, as walking the menu does), and the
fuzzy search at idle (issue 14: 300 personal and 800 enterprise contacts and 1000 call log
entries; eight digits spelling names then eight C's: each press searches again and draws
the hit, the first digit builds nothing new: the index is built once per book change).

    python -m tests.bench_keys [--presses N]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from tests.inproc import InProcessPhone
from tests.mockmatrix import MockMatrix

ROWS, COLS = [5, 6, 13, 19], [12, 16, 20, 21]
KEYS = [["1", "2", "3", "soft1"], ["4", "5", "6", "soft4"], ["7", "8", "9", "cancel"],
        ["*", "0", "#", "ok"]]
CHIPS = {"ssd1306": "i2c", "sh1106": "i2c", "st7567": "spi"}

BOARD = """
[board]
name = "bench: {chip}"
pins = "mock"
[keypad]
driver = "matrix"
rows = {rows}
cols = {cols}
keys = {keys}
[hook]
driver = "sim"
[leds]
driver = "sim"
[display]
driver = "{chip}"
interface = "{iface}"
{extra}
[audio]
driver = "sim"
"""


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def _dial_keys(i: int) -> str:
    return "cancel" if i % 16 >= 8 else "5"


def _menu_keys(i: int) -> str:
    return "ok" if i == 0 else ("3" if i % 2 else "cancel")


def _search_keys(i: int) -> str:
    return "cancel" if i % 16 >= 8 else "56423456"[i % 8]


SCREENS = {"pre-dial": _dial_keys, "menu": _menu_keys, "search": _search_keys}
SEARCH_SETTINGS = "[phone]\ncall_log_size = 400\n"
_SYLLABLES = ("jo", "kim", "an", "li", "mar", "ta", "ben", "sa", "lo", "ni", "ra", "de")


def _name(n: int) -> str:
    s = _SYLLABLES
    return (s[n % 12] + s[n // 12 % 12]).capitalize() + " " + \
        (s[n // 144 % 12] + s[n % 7]).capitalize()


def search_data(work: Path) -> None:
    """The issue's directory: 300 personal and 800 enterprise contacts (three numbers
    each), 1000 call log entries, as provisioning and the call log leave them."""
    from provisioning.phonebook import Contact, Phonebook
    (work / "phonebook").mkdir(parents=True, exist_ok=True)
    for which, count, base in (("personal", 300, 0), ("enterprise", 800, 300)):
        Phonebook(contacts=[Contact(*_name(base + n).split(), mobile=f"138{base + n:08d}",
                                    office=f"{2000 + base + n}", other=f"9{base + n:05d}")
                            for n in range(count)]).save(work / "phonebook" / f"{which}.json")
    calls = [{"number": f"7{n:05d}", "name": _name(2000 + n) if n % 2 else "",
              "start": 1.7e9 - n * 60} for n in range(1000)]
    (work / "calllog.json").write_text(json.dumps(
        {"version": 1, "missed": calls[:400], "received": calls[400:700],
         "dialled": calls[700:]}))


def measure(chip: str, presses: int, *, load=None, screen: str = "pre-dial") -> dict:
    """load(app): a context manager the presses run inside (e.g. a SIP flood at the
    phone: tests/bench_flood.py). screen: which keys are pressed (SCREENS)."""
    keys = SCREENS[screen]
    work = Path(tempfile.mkdtemp(prefix=f"bench-keys-{chip}-"))
    if screen == "search":
        search_data(work)
    hits: list[int] = []
    extra = 'dc = 24\nrst = 25' if CHIPS[chip] == "spi" else ""
    (work / "board.toml").write_text(BOARD.format(
        chip=chip, iface=CHIPS[chip], extra=extra, rows=ROWS, cols=COLS,
        keys=json.dumps(KEYS)))
    factory = MockFactory()
    matrix = MockMatrix(factory, rows=ROWS, cols=COLS, keys=KEYS)
    shown = threading.Event()
    latencies: list[float] = []
    sizes: list[int] = []
    with InProcessPhone(work / "board.toml", factory, work,
                        settings=SEARCH_SETTINGS if screen == "search" else "") as app:
        display = app.board.display
        real_show = display.show

        def show(image):
            real_show(image)
            hits.append(len(app.state.search))
            sizes.append(display.last_bytes)
            shown.set()
        display.show = show
        with load(app) if load else contextlib.nullcontext():
            for i in range(presses):
                key = keys(i)
                shown.clear()
                t0 = time.perf_counter()
                matrix.press(key)
                if not shown.wait(2.0):
                    raise RuntimeError(f"no frame after pressing {key}")
                latencies.append((time.perf_counter() - t0) * 1000)
                matrix.release(key)
                matrix.wait_idle(2.0)
                time.sleep(0.005)
            pages = [p.title for p in app.state.menu]
            if screen == "menu" and pages not in (["Menu"], ["Menu", "Function setting"]):
                raise RuntimeError(f"the menu walk ended on {pages}: keys went elsewhere")
            if screen == "search" and not any(hits):
                raise RuntimeError("the search found nothing: no hit was drawn")
    return {"chip": chip, "interface": CHIPS[chip], "presses": presses, "screen": screen,
            "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3),
            "max_ms": round(max(latencies), 3),
            "bytes_per_update": round(sum(sizes) / len(sizes), 1) if sizes else None,
            "full_frame_bytes": max(sizes) if sizes else None}


def run(presses: int = 200) -> list[dict]:
    return [measure(chip, presses, screen=screen) for screen in SCREENS for chip in CHIPS]


def print_results(results: list[dict]) -> None:
    print("| display | screen | key edge -> frame p50 | p99 | max | bytes on the bus per "
          "update |")
    print("|---------|--------|-----------------------|-----|-----|---------------------"
          "--------|")
    for r in results:
        print(f"| {r['chip']} ({r['interface']}) | {r.get('screen', 'pre-dial')} | "
              f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms"
              f" | {r['max_ms']:.2f} ms | {r['bytes_per_update']} (full frame "
              f"{r['full_frame_bytes']}) |")
    found = [r["p99_ms"] for r in results if r.get("screen") == "search"]
    if found:
        print(f"  {'met   ' if max(found) <= 10 else 'MISSED'} search (300 + 800 contacts, "
              f"1000 calls): key edge -> updated result frame p99 <= 10 ms: worst "
              f"{max(found):.2f} ms")
    results = [r for r in results if r.get("screen") != "search"] or results
    worst = max(r["p99_ms"] for r in results)
    print(f"  {'met   ' if worst <= 5 else 'MISSED'} key edge -> frame p99 <= 5 ms: worst "
          f"{worst:.2f} ms (includes the 2 ms a press must read down; releases wait "
          f"hardware.debounce_ms)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench_keys", description=__doc__)
    p.add_argument("--presses", type=int, default=200)
    args = p.parse_args(argv)
    print_results(run(args.presses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
