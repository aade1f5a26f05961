"""`make bench`: our phone beside baresip and a bare pjsua2 UA, in one run, on one Kamailio.

    python -m tests.bench            # ~1 min: 3 starts each, 50 calls each, 30 s idle
    python -m tests.bench --quick    # smoke run: 2 starts, 10 calls, 5 s idle
    BENCH_IDLE_SECONDS=10 python -m tests.bench
    python -m tests.bench --steps 1,2 --starts 5   # only start-up and INVITE -> 180

Measured the same way for all three UAs (ours = `python -m firmware --board sim`, baresip
from Debian, tests/bench_bare_pjsua2.py = what any pjsua2 Python phone costs), everything on
127.0.0.1 with free ports, nobody's own reporting trusted:

1. process start -> REGISTERED: t0 = wall clock just before the process is started,
   t1 = Kamailio's wall-clock time ($TV in its xlog) of sending the 200 OK to the first
   REGISTER of that user with a non-zero expiry (ours sends REGISTER Contact:* Expires:0
   first: that one is not the end). Median of N starts, a fresh process each time, after
   one warm-up start each that is not counted (bytecode and page cache filled, as on a
   phone that has booted before: the Python UAs get a bytecode cache of their own in the
   work dir, so PYTHONDONTWRITEBYTECODE in the caller's environment changes nothing).
2. INVITE -> 180: sipp `uac_ring_cancel.xml` (INVITE, CANCEL after the 180), one call at a
   time, sent straight to each UA's SIP port (not through Kamailio); times from sipp's
   message trace (µs), p50 / p95. The calls in 4 parts taken in turns (ours, baresip, bare,
   ours...), so a drift of the machine over the minute falls on all three alike.
3. idle CPU (% of one core: utime+stime from /proc/PID/stat over the wall time) and RSS
   (VmRSS from /proc/PID/status, sampled every second: the max is reported) over
   BENCH_IDLE_SECONDS (default 30), all three registered and idle at the same time, after
   the calls of step 2.
4. key edge -> display frame (tests/bench_keys.py).
5. BLF: 204 dialog-event subscriptions on one phone and a NOTIFY storm of ~200/s from sipp
   (tests/bench_blf.py): NOTIFY -> lamp p50/p99, CPU %, NOTIFYs lost.
6. INVITE flood (tests/bench_flood.py): the highest rate each UA survives for 60 s, RSS
   before / right after / a minute after, key -> frame p99 under the flood against idle.
7. sequential short calls answered: each UA answering by itself (ours phone.auto_answer with
   delay 0, baresip answermode=auto, bare pjsua2 --answer), a fresh process each; sipp
   `uac_call.xml` calls it straight at its SIP port, N calls at R/s (default 150 at 4/s),
   100 ms of talk then BYE; sipp's own count of successful calls (issue #10 item 10).
8. web management (tests/bench_web.py): every management page's load p50/p95 on our phone,
   and key -> frame over the /ws stream alone and while another client saves settings
   (issue #13: page load p95 <= 100 ms; key -> frame p99 unchanged).
9. LDAP (tests/bench_ldap.py): our INVITE -> 180 with the lookup for incoming calls off,
   then on with an LDAP server that never answers (issue #14: p95 unchanged).

Prints a table with ratios and the issue's aims (met / missed: measured, never asserted),
and writes everything, raw samples included, to bench-results/bench-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests import bench_blf, bench_flood, bench_keys, bench_ldap, bench_web
from tests.bench_stats import percentile
from tests.peers import Baresip, Kamailio, PeerError, Sipp, free_port, free_port_block
from tests.peers._process import PeerProcess
from tests.peers.kamailio import DEFAULT_USERS
from tests.phone import PhoneError, PhoneProcess

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
BARE_SCRIPT = Path(__file__).with_name("bench_bare_pjsua2.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# the aims
AIM_RATIO = 1.10          # start->REGISTERED and INVITE->180 within 10 % of bare pjsua2
AIM_HOUSE = {"start": 1.5, "invite_p95": 1.3}   # issue #11's: at most these x bare pjsua2
AIM_CPU = 0.5             # idle CPU, % of one core
AIM_RSS = 80.0            # MB

REG_TIMEOUT = 15.0        # s, one start -> REGISTERED
NAMES = ("ours", "baresip", "bare")
TITLES = {"ours": "ours", "baresip": "baresip", "bare": "bare pjsua2"}
USERS = {"ours": "1001", "baresip": "1002", "bare": "1003"}


class BenchError(RuntimeError):
    pass


# --- the three UAs, each started and stopped the same way ---------------------------------

class _BaresipRegisteringAtStart(Baresip):
    """baresip with its account in the accounts file, so it registers by itself at start.

    tests/peers' Baresip creates the account over ctrl_tcp after connecting (so a test sees
    REGISTER_OK); here that would time the bench's own connect, not baresip. t0 is taken
    right after the config is written, i.e. just before Popen (PeerProcess.start).
    """

    t0 = 0.0

    def _write_config(self) -> None:
        super()._write_config()
        (self.workdir / "accounts").write_text(self._account_line() + "\n")
        self.t0 = time.time()

    def _ok(self, cmd: str, params: str = "") -> dict:
        if cmd == "uanew":
            return {"ok": True}   # the account is already in the accounts file
        return super()._ok(cmd, params)


@dataclass
class UA:
    """One running UA: where it listens, its PID, how to stop it."""
    name: str
    user: str
    addr: str
    pid: int
    t0: float                       # wall clock just before Popen
    stop: Callable[[], None]
    log: Path
    phone: PhoneProcess | None = None
    alive: Callable[[], bool] = lambda: True


def start_ours(workdir: Path, kam: Kamailio, auto_answer: bool = False,
               settings: dict | None = None) -> UA:
    user = USERS["ours"]
    p = PhoneProcess(workdir, account={"user": user, "password": DEFAULT_USERS[user],
                                       "server": kam.addr, "display_name": "Bench"},
                     settings={**({"phone.auto_answer": True, "phone.auto_answer_delay": 0}
                                  if auto_answer else {}), **(settings or {})})
    p.write_settings()
    t0 = time.time()
    p.start(write=False, wait=False)

    def stop() -> None:
        try:
            p.stop(timeout=10)
        except PhoneError as e:
            print(f"  warning: {e}".splitlines()[0], file=sys.stderr)
        finally:
            p.kill()

    return UA("ours", user, p.addr, p.proc.pid, t0, stop, workdir / "logs" / "phone.log",
              phone=p, alive=lambda: p.proc.poll() is None)


def start_baresip(workdir: Path, kam: Kamailio, auto_answer: bool = False) -> UA:
    user = USERS["baresip"]
    b = _BaresipRegisteringAtStart(workdir, user=user, password=DEFAULT_USERS[user],
                                   registrar=kam.addr, sip_trace=False,
                                   answermode="auto" if auto_answer else "manual")
    try:
        b.start()
    except PeerError:
        b.stop()
        raise
    return UA("baresip", user, b.addr, b.pid, b.t0, b.stop, b.log_path,
              alive=lambda: b._proc is not None and b._proc.alive())


def start_bare(workdir: Path, kam: Kamailio, auto_answer: bool = False) -> UA:
    user = USERS["bare"]
    port = free_port("udp")
    rtp = free_port_block(4)[0]
    proc = PeerProcess([sys.executable, BARE_SCRIPT, "--port", port, "--registrar", kam.addr,
                        "--user", user, "--password", DEFAULT_USERS[user], "--rtp-port", rtp,
                        "--quiet", *(["--answer"] if auto_answer else [])],
                       log=workdir / "bare.log", cwd=workdir, name="bare pjsua2")
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    proc.start()
    return UA("bare", user, f"127.0.0.1:{port}", proc.pid, t0,
              lambda: proc.stop(timeout=5.0), proc.log, alive=proc.alive)


STARTERS = {"ours": start_ours, "baresip": start_baresip, "bare": start_bare}


def start_ready(name: str, workdir: Path, kam: Kamailio) -> UA:
    """A UA started and registered (ours also idle, its API up); stopped if it is not."""
    ua = STARTERS[name](workdir, kam)
    try:
        wait_registered(kam, ua)
        if ua.phone is not None:
            wait_ours_idle(ua)
    except BaseException:
        ua.stop()
        raise
    return ua


# --- measuring ----------------------------------------------------------------------------

def wait_registered(kam: Kamailio, ua: UA, timeout: float = REG_TIMEOUT) -> dict:
    """The first REGISTER of ua.user since ua.t0 with expires > 0 answered 200 (Kamailio's
    log), with its predecessors (auth challenge, ours: the Contact:* unregister)."""
    deadline = time.monotonic() + timeout
    while True:
        regs = [r for r in kam.registers(ua.user) if r["time"] >= ua.t0 - 0.001]
        done = next((r for r in regs if r["code"] == 200 and (r["expires"] or 0) > 0), None)
        if done is not None:
            return {"t0": ua.t0, "t1": done["reply_time"],
                    "ms": (done["reply_time"] - ua.t0) * 1000.0,
                    "first_request_ms": (regs[0]["time"] - ua.t0) * 1000.0,
                    "register_sent_ms": (done["time"] - ua.t0) * 1000.0,
                    "steps": [{"at_ms": round((r["time"] - ua.t0) * 1000.0, 3),
                               "reply_ms": None if r["reply_time"] is None
                               else round((r["reply_time"] - ua.t0) * 1000.0, 3),
                               "expires": r["expires"], "contact": r["contact"],
                               "code": r["code"]} for r in regs]}
        if not ua.alive():
            raise BenchError(f"{ua.name} exited before REGISTERED; log {ua.log}")
        if time.monotonic() > deadline:
            raise BenchError(f"{ua.name} not REGISTERED {timeout} s after start; log {ua.log}"
                             f"\n{kam.log_tail(20)}")
        time.sleep(0.02)


def measure_starts(kam: Kamailio, work: Path, n: int) -> dict[str, list[dict]]:
    """n fresh starts of each UA, interleaved (ours, baresip, bare, ours, ...) so a drift of
    the machine's load hits all three alike; each stopped before the next starts.

    Round 0 is a warm-up that is not counted: it fills the bytecode cache (see main) and the
    page cache, as on a phone that has booted before."""
    out: dict[str, list[dict]] = {name: [] for name in NAMES}
    for i in range(n + 1):
        for name in NAMES:
            ua = STARTERS[name](work / f"start-{name}-{i}", kam)
            try:
                reg = wait_registered(kam, ua)
            finally:
                ua.stop()
            label = "warm-up" if i == 0 else f"start {i}/{n}"
            if i:
                out[name].append(reg)
            print(f"  {label:11} {TITLES[name]:12} {reg['ms']:8.1f} ms "
                  f"(first REGISTER out at {reg['first_request_ms']:.1f} ms)", flush=True)
    return out


def wait_ours_idle(ua: UA, timeout: float = 5.0) -> dict:
    """Our phone must be idle and registered before calls (it refuses with 486 when 3
    calls are up, or with reject_code in DND)."""
    ua.phone.wait_up(timeout)       # the web API may come up after the first REGISTER
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        try:
            state = ua.phone.state()
        except (OSError, PhoneError):
            state = {}
        acc = (state.get("accounts") or [{}])[0]
        if state and not state["calls"] and acc.get("status") == "registered" \
                and not state["dnd"]:
            return state
        time.sleep(0.05)
    raise BenchError(f"our phone not idle+registered in {timeout} s: calls={state.get('calls')}"
                     f" account={state.get('accounts', [{}])[0]} dnd={state.get('dnd')}")


def measure_invite_180(ua: UA, work: Path, calls: int, rate: float, part: int = 0) -> dict:
    s = Sipp(work / "sipp", scenario="uac_ring_cancel", remote=ua.addr, service=ua.user,
             calls=calls, limit=1, rate=rate, timeout=calls / rate + 20,
             name=f"invite180-{ua.name}" + (f"-{part}" if part else ""))
    rc = s.run(check=False)
    return invite_180_stats(rc, calls, s.message_rtds(), s.rundir)


ROUNDS_180 = 4      # step 2 takes turns: each UA's calls in this many parts, interleaved


def invite_180_rounds(uas: list[UA], work: Path, calls: int, rate: float,
                      before=lambda ua: None) -> dict[str, dict]:
    """INVITE -> 180 of each UA, the calls in ROUNDS_180 parts taken in turns (ours, baresip,
    bare, ours...): the machine's state drifts over a minute (another VM, the CPU clock), and
    measuring one UA after the other gave that drift to one of them. before(ua): run before
    each part (ours: wait until idle and registered)."""
    per = max(1, calls // ROUNDS_180)
    runs: dict[str, list[dict]] = {ua.name: [] for ua in uas}
    for part in range(1, ROUNDS_180 + 1):
        for ua in uas:
            before(ua)
            runs[ua.name].append(measure_invite_180(ua, work, per, rate, part))
    out = {}
    for ua in uas:
        parts = runs[ua.name]
        samples = [x for r in parts for x in r["samples_ms"]]
        rc = next((r["rc"] for r in parts if r["rc"]), 0)
        out[ua.name] = invite_180_stats(rc, per * len(parts), samples, work / "sipp")
    return out


def invite_180_stats(rc: int, calls: int, samples: list[float], where) -> dict:
    res = {"rc": rc, "calls": calls, "samples_ms": [round(x, 4) for x in samples]}
    if samples:
        res.update(p50=statistics.median(samples), p95=percentile(samples, 95),
                   max=max(samples), first=samples[0],
                   p50_without_first=statistics.median(samples[1:]) if len(samples) > 1
                   else samples[0])
    if rc != 0 or len(samples) < calls:
        res["problem"] = (f"sipp exit {rc}, {len(samples)}/{calls} calls got a 180 "
                          f"(traces in {where})")
    return res


SEQ_TALK_MS = 100          # step 7: talk time of each sequential call


def measure_sequential(kam: Kamailio, work: Path, calls: int, rate: float) -> dict[str, dict]:
    """Step 7: `calls` short calls in a row to each UA answering by itself; how many went
    through, by sipp's own count (and by its message trace: 200 to INVITE and to BYE)."""
    out: dict[str, dict] = {}
    for name in NAMES:
        ua = STARTERS[name](work / f"seq-{name}", kam, auto_answer=True)
        try:
            wait_registered(kam, ua)
            if ua.phone is not None:
                wait_ours_idle(ua)
            s = Sipp(work / "sipp", scenario="uac_call", remote=ua.addr, service=ua.user,
                     calls=calls, rate=rate, variables={"pause_ms": SEQ_TALK_MS},
                     timeout=calls / rate + 40, name=f"sequential-{name}")
            rc = s.run(check=False)
            counts = s.call_counts()
            r = out[name] = {"rc": rc, "calls": calls, "rate": rate,
                             "answered": counts.get("successful", 0),
                             "failed": counts.get("failed", 0),
                             "answered_on_the_wire": s.answered_calls()}
            if ua.phone is not None:
                r["ours_state_after"] = {k: v for k, v in ua.phone.state().items()
                                         if k in ("screen", "calls", "missed")}
        finally:
            ua.stop()
        print(f"  {TITLES[name]:12} {r['answered']}/{calls} answered "
              f"({r['failed']} failed, sipp exit {rc})", flush=True)
    return out


def proc_cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])     # utime, stime (fields 14, 15)


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def measure_idle(uas: list[UA], seconds: float) -> dict[str, dict]:
    """CPU % of one core and RSS over one window in which all of them idle together."""
    ticks0 = {ua.name: proc_cpu_ticks(ua.pid) for ua in uas}
    rss = {ua.name: [proc_rss_mb(ua.pid)] for ua in uas}
    t_start = time.monotonic()
    end = t_start + seconds
    while (now := time.monotonic()) < end:
        time.sleep(min(1.0, end - now))
        for ua in uas:
            rss[ua.name].append(proc_rss_mb(ua.pid))
    wall = time.monotonic() - t_start
    out = {}
    for ua in uas:
        ticks = proc_cpu_ticks(ua.pid) - ticks0[ua.name]
        out[ua.name] = {"cpu_pct": 100.0 * ticks / CLK_TCK / wall, "cpu_ticks": ticks,
                        "wall_s": wall, "rss_max_mb": max(rss[ua.name]),
                        "rss_start_mb": rss[ua.name][0], "rss_end_mb": rss[ua.name][-1]}
    return out


# --- report -------------------------------------------------------------------------------

def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def build_rows(res: dict) -> list[dict]:
    rows = []

    def row(metric: str, unit: str, get: Callable[[str], float | None], digits: int) -> None:
        vals = {n: get(n) for n in NAMES}
        rows.append({"metric": metric, "unit": unit, **vals, "digits": digits,
                     "ours/baresip": ratio(vals["ours"], vals["baresip"]),
                     "ours/bare": ratio(vals["ours"], vals["bare"])})

    if "start" in res:
        row("start -> REGISTERED (median)", "ms", lambda n: res["start"][n]["median_ms"], 1)
    if "invite_180" in res:
        row("INVITE -> 180 p50", "ms", lambda n: res["invite_180"][n].get("p50"), 3)
        row("INVITE -> 180 p95", "ms", lambda n: res["invite_180"][n].get("p95"), 3)
    if "idle" in res:
        row("idle CPU (% of one core)", "%", lambda n: res["idle"][n]["cpu_pct"], 2)
        row("RSS (max over idle window)", "MB", lambda n: res["idle"][n]["rss_max_mb"], 1)
    if "sequential" in res:
        row(f"sequential short calls answered (of {res['sequential']['ours']['calls']})",
            "calls", lambda n: res["sequential"][n]["answered"], 0)
    return rows


def print_table(rows: list[dict]) -> None:
    head = ["metric", "ours", "baresip", "bare pjsua2", "ours/baresip", "ours/bare"]
    lines = [head]
    for r in rows:
        cell = lambda v: "n/a" if v is None else f"{v:.{r['digits']}f} {r['unit']}"  # noqa: E731
        lines.append([r["metric"], cell(r["ours"]), cell(r["baresip"]), cell(r["bare"]),
                      fmt_ratio(r["ours/baresip"]), fmt_ratio(r["ours/bare"])])
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for j, l in enumerate(lines):
        print("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                for i, c in enumerate(l)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def aims(res: dict) -> list[dict]:
    out = []

    def within(metric: str, ours: float | None, bare: float | None, what: str,
               most: float = AIM_RATIO) -> None:
        r = ratio(ours, bare)
        met = r is not None and r <= most
        aim = (f"{metric} within 10% of bare pjsua2" if most == AIM_RATIO else
               f"{metric} at most {most:g}x bare pjsua2 (issue #11)")
        out.append({"aim": aim, "met": met,
                    "detail": (f"ours {ours:.3f} ms vs bare {bare:.3f} ms = {r:.2f}x "
                               f"({'+' if r >= 1 else ''}{(r - 1) * 100:.0f}%, {what})"
                               if r is not None else "not measured")})

    if "start" in res:
        st = res["start"]
        within("start->REGISTERED", st["ours"]["median_ms"], st["bare"]["median_ms"],
               "median")
        within("start->REGISTERED", st["ours"]["median_ms"], st["bare"]["median_ms"],
               "median", AIM_HOUSE["start"])
    if "invite_180" in res:
        inv = res["invite_180"]
        within("INVITE->180 p50", inv["ours"].get("p50"), inv["bare"].get("p50"), "p50")
        within("INVITE->180 p95", inv["ours"].get("p95"), inv["bare"].get("p95"), "p95")
        within("INVITE->180 p95", inv["ours"].get("p95"), inv["bare"].get("p95"), "p95",
               AIM_HOUSE["invite_p95"])
    if "idle" not in res:
        return out
    cpu = res["idle"]["ours"]["cpu_pct"]
    secs = res["idle"]["ours"]["wall_s"]
    out.append({"aim": f"idle CPU under {AIM_CPU}% of a core", "met": cpu < AIM_CPU,
                "detail": f"ours {cpu:.2f}% over {secs:.0f} s "
                          f"(resolution {100.0 / CLK_TCK / secs:.2f}%)"})
    seq = res.get("sequential")
    if seq:
        out.append({"aim": "sequential auto-answered calls: all answered, as baresip",
                    "met": seq["ours"]["answered"] == seq["ours"]["calls"]
                    and seq["ours"]["answered"] >= seq["baresip"]["answered"],
                    "detail": f"ours {seq['ours']['answered']}, baresip "
                              f"{seq['baresip']['answered']}, bare pjsua2 "
                              f"{seq['bare']['answered']} of {seq['ours']['calls']} at "
                              f"{seq['ours']['rate']:g}/s"})
    rss = res["idle"]["ours"]["rss_max_mb"]
    out.append({"aim": f"RSS under {AIM_RSS:.0f} MB", "met": rss < AIM_RSS,
                "detail": f"ours {rss:.1f} MB (max over the idle window, after the calls)"})
    return out


# --- environment --------------------------------------------------------------------------

def _cmd_out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=5,
                              cwd=ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def environment() -> dict:
    cpu = ""
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), "")
    except OSError:
        pass
    pjv = _pjsua2_version()
    kam = _cmd_out([shutil.which("kamailio") or "kamailio", "-v"]).splitlines()
    return {"python": platform.python_version(), "executable": sys.executable,
            "machine": platform.machine(), "cpu": cpu, "cpus": os.cpu_count(),
            "loadavg_before": os.getloadavg(), "pjsua2": pjv,
            "baresip": _dpkg_version("baresip"), "kamailio": kam[0] if kam else "",
            "sipp": _dpkg_version("sip-tester"),
            "git": _cmd_out(["git", "rev-parse", "--short", "HEAD"]),
            "git_dirty": bool(_cmd_out(["git", "status", "--porcelain", "--", "firmware",
                                        "ui", "board", "drivers"]))}


def _pjsua2_version() -> str:
    try:
        from importlib.metadata import version
        return version("pjsua2-python")
    except Exception:  # noqa: BLE001
        return ""


def _dpkg_version(pkg: str) -> str:
    return _cmd_out(["dpkg-query", "-W", "-f=${Version}", pkg])


# --- main ---------------------------------------------------------------------------------

def _steps(text: str) -> set[int]:
    """'1,2' or '1-3' or '1,4-7' -> the step numbers."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of steps: {text!r}") from None
    if not out or not out <= set(range(1, 10)):
        raise argparse.ArgumentTypeError(f"steps are 1 to 9: {text!r}")
    return out


def step_invite_180(res: dict, kam: Kamailio, work: Path, running: list[UA], calls: int,
                    rate: float) -> None:
    """Step 2: all three started and registered (they stay in `running` for step 3)."""
    print("2. INVITE -> 180 (all three started, registered)")
    for name in NAMES:
        running.append(STARTERS[name](work / f"run-{name}", kam))
    for ua in running:
        wait_registered(kam, ua)
    wait_ours_idle(running[0])
    res["invite_180"] = invite_180_rounds(
        running, work, calls, rate,
        before=lambda ua: wait_ours_idle(ua) if ua.phone is not None else None)
    for ua in running:
        r = res["invite_180"][ua.name]
        print(f"  {TITLES[ua.name]:12} p50 {r.get('p50', float('nan')):.3f} ms  "
              f"p95 {r.get('p95', float('nan')):.3f} ms  ({len(r['samples_ms'])} calls, "
              f"{ROUNDS_180} turns)"
              + (f"  PROBLEM: {r['problem']}" if "problem" in r else ""), flush=True)
        if ua.phone is not None:
            res["ours_state_after_calls"] = {
                k: v for k, v in wait_ours_idle(ua).items()
                if k in ("screen", "calls", "missed", "errors", "accounts")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 starts, 10 calls, 5 s idle")
    ap.add_argument("--starts", type=int, help="starts per UA (default 7; quick 2)")
    ap.add_argument("--calls", type=int, help="INVITE->180 calls per UA (default 100; quick 10)")
    ap.add_argument("--rate", type=float, default=10.0,
                    help="calls per second (one at a time; default 10: each INVITE finds "
                         "the UA idle)")
    ap.add_argument("--idle", type=float,
                    help="idle window in s (default $BENCH_IDLE_SECONDS or 30; quick 5)")
    ap.add_argument("--seq-calls", type=int,
                    help="step 7: sequential short calls per UA (default 150; quick 40)")
    ap.add_argument("--seq-rate", type=float, default=4.0,
                    help="step 7: calls per second (default 4)")
    ap.add_argument("--steps", default="1-9", type=_steps, metavar="LIST",
                    help="which steps run, e.g. 1 or 1,2 or 1-3 (default: all, 1-9); "
                         "step 3 needs step 2's running UAs")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, traces)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = ap.parse_args(argv)
    steps = args.steps
    if 3 in steps:
        steps.add(2)
    starts = args.starts or (2 if args.quick else 7)     # a median of 3 moved by 10 ms
    calls = args.calls or (10 if args.quick else 100)    # p95 of 50 is the 3rd worst
    idle = args.idle if args.idle is not None else (
        5.0 if args.quick else float(os.environ.get("BENCH_IDLE_SECONDS", "30")))

    # SIGTERM (e.g. make killed) unwinds like Ctrl-C, so every peer is stopped.
    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    work = Path(tempfile.mkdtemp(prefix="deskphone-bench-"))
    # Python UAs read their bytecode from a cache of this run (filled by the warm-up start),
    # never compile at every start, even where PYTHONDONTWRITEBYTECODE is set; nothing is
    # written into the source tree or the venv.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    began = time.time()
    res: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "env": environment(),
                 "params": {"steps": sorted(steps), "starts": starts, "calls": calls,
                            "rate": args.rate,
                            "idle_s": idle, "quick": args.quick,
                            "bytecode_cache": os.environ["PYTHONPYCACHEPREFIX"]}}
    ok = False
    kam = Kamailio(work / "kamailio")
    running: list[UA] = []
    try:
        kam.start()
        print(f"Kamailio on {kam.addr}; work dir {work}")
        load = res["env"]["loadavg_before"][0]
        if load > 0.5 * (os.cpu_count() or 1):
            print(f"  note: load average {load:.2f} on {os.cpu_count()} CPUs: "
                  f"other work may skew the numbers")

        if 1 in steps:
            print(f"1. process start -> REGISTERED (a warm-up, then {starts} fresh starts "
                  f"each)")
            starts_raw = measure_starts(kam, work, starts)
            res["start"] = {n: {"median_ms": statistics.median(s["ms"] for s in starts_raw[n]),
                                "samples_ms": [round(s["ms"], 3) for s in starts_raw[n]],
                                "runs": starts_raw[n]} for n in NAMES}
        if 2 in steps:
            step_invite_180(res, kam, work, running, calls, args.rate)
        if 3 in steps:
            print(f"3. idle CPU and RSS over {idle:g} s (all three at once)")
            time.sleep(min(2.0, idle))   # let the last call's screens and timers settle
            res["idle"] = measure_idle(running, idle)
            res["env"]["loadavg_after"] = os.getloadavg()
        for ua in reversed(running):
            ua.stop()
        running.clear()

        if 4 in steps:
            presses = 32 if args.quick else 200
            print(f"4. key edge -> frame on the display, in process ({presses} presses per "
                  f"chip)")
            res["keys"] = bench_keys.run(presses)
        if 5 in steps:
            print("5. BLF: 204 subscriptions, NOTIFY storm ~200/s from sipp")
            res["blf"] = bench_blf.run(work / "blf")
        if 6 in steps:
            print("6. INVITE flood: highest rate survived, RSS, key -> frame under the flood")
            res["flood"] = bench_flood.run(work / "flood",
                                           lambda n, d: start_ready(n, d, kam),
                                           proc_rss_mb, quick=args.quick)
        if 7 in steps:
            seq_calls = args.seq_calls or (40 if args.quick else 150)
            print(f"7. sequential short calls answered ({seq_calls} at {args.seq_rate:g}/s, "
                  f"{SEQ_TALK_MS} ms talk, each UA answering by itself)")
            res["sequential"] = measure_sequential(kam, work, seq_calls, args.seq_rate)
        if 8 in steps:
            print("8. web management: page loads, key -> frame while settings are saved")
            ua = start_ours(work / "web", kam)
            try:
                wait_registered(kam, ua)
                wait_ours_idle(ua)
                res["web"] = bench_web.run(ua.phone, loads=5 if args.quick else 20,
                                           presses=40 if args.quick else 200)
            finally:
                ua.stop()
        if 9 in steps:
            print("9. INVITE -> 180, LDAP lookup for incoming calls off / on (server silent)")
            res["ldap"] = bench_ldap.run(
                work / "ldap", lambda d, settings: start_ours(d, kam, settings=settings),
                lambda ua: (wait_registered(kam, ua), wait_ours_idle(ua)),
                lambda ua: measure_invite_180(ua, work, calls, args.rate))
        ok = True
    except (BenchError, PeerError, PhoneError) as e:
        print(f"bench failed: {e}", file=sys.stderr)
        res["error"] = str(e)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        res["error"] = "interrupted"
    except Exception as e:  # noqa: BLE001 - report, write what we have, stop the peers
        traceback.print_exc()
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        for ua in reversed(running):
            try:
                ua.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f"stopping {ua.name}: {e}", file=sys.stderr)
        kam.close()
        res["duration_s"] = round(time.time() - began, 1)

    if ok:
        rows = build_rows(res)
        res["table"] = [{k: v for k, v in r.items() if k != "digits"} for r in rows]
        res["aims"] = aims(res)
        print()
        print_table(rows)
        print()
        print("Aims (issue): measured, not asserted")
        for a in res["aims"]:
            print(f"  {'met   ' if a['met'] else 'MISSED'} {a['aim']}: {a['detail']}")
        print("  RSS is the max of 1 s samples over the idle window; CPU is utime+stime "
              "over that window.")
        if "keys" in res:
            print()
            bench_keys.print_results(res["keys"])
        if "blf" in res:
            print()
            bench_blf.print_results(res["blf"])
        if "flood" in res:
            print()
            bench_flood.print_results(res["flood"], TITLES)
        if "web" in res:
            print()
            print("Web management (ours):")
            bench_web.print_results(res["web"])
        if "ldap" in res:
            print()
            bench_ldap.print_results(res["ldap"])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=1, default=str))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({res['duration_s']} s)")
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work dir kept: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
