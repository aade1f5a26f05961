"""A test run that dies leaves nothing behind (issue 10, item 11), and neither does the
boot supervisor.

A pytest killed by a CI timeout (SIGKILL: no fixture teardown, no atexit) must not leave
its phones, supervisors or Kamailio (and its workers) running: tests/peers/_process.py.
A supervisor killed -9 takes its phone with it: firmware/__main__.py die_with_supervisor.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.peers._process import process_group, reaped, running, spawn, start_time, wait_gone
from tests.phone import PhoneProcess

ROOT = Path(__file__).resolve().parent.parent
CHILD = "tests/data/hygiene_child.py"


def test_a_killed_pytest_takes_its_phones_supervisor_and_kamailio_with_it(tmp_path):
    pids_file = tmp_path / "pids.json"
    started: dict[int, str] = {}
    child = spawn([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "--basetemp", str(tmp_path / "run"), CHILD], cwd=ROOT,
                  env=dict(os.environ, HYGIENE_PIDS=str(pids_file)),
                  stdout=open(tmp_path / "child.out", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not pids_file.exists():
            assert child.poll() is None, (tmp_path / "child.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the child run did not start its peers"
            time.sleep(0.1)
        pids = json.loads(pids_file.read_text())
        started.update({pid: start_time(pid) for group in pids.values() for pid in group
                        if pid})
        child.send_signal(signal.SIGKILL)           # as a CI timeout does
        child.wait(10)
        left = wait_gone(started, 15)
        assert not left, {name: [p for p in group if p in left]
                          for name, group in pids.items()}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        reaped(child)
        for pid, t in started.items():       # when it failed: leave nothing behind either
            if running(pid, t):
                os.kill(pid, signal.SIGKILL)


def test_a_phone_stops_when_its_supervisor_is_killed(tmp_path):
    phone: dict[int, str] = {}
    p = PhoneProcess(tmp_path / "a", module="firmware.boot",
                     module_args=["--slots", str(tmp_path / "slots"), "--"])
    try:
        p.start()
        phone = {pid: start_time(pid) for pid in process_group(p.proc.pid)
                 if pid != p.proc.pid}
        assert len(phone) == 1
        os.kill(p.proc.pid, signal.SIGKILL)         # the supervisor alone
        p.proc.wait(10)
        assert not wait_gone(phone, 15), "the phone ran on without its supervisor"
    finally:
        p.kill()
        for pid, t in phone.items():
            if running(pid, t):
                os.kill(pid, signal.SIGKILL)
