"""Run by tests/test_test_hygiene.py in a pytest of its own, which it then kills -9.

Starts what a real test run starts — a Kamailio (which forks workers), a phone registered
there, a phone under the boot supervisor (firmware.boot, which starts the phone as its
child) — writes every PID they make up to $HYGIENE_PIDS and blocks until it is killed.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from tests.peers._process import process_group as group, reaper
from tests.peers.kamailio import DEFAULT_USERS, Kamailio
from tests.phone import PhoneProcess


def test_start_peers_and_block(tmp_path):
    kam = Kamailio(tmp_path / "kamailio").start()
    phone = PhoneProcess(tmp_path / "a", account={"user": "1001", "server": kam.addr,
                                                 "password": DEFAULT_USERS["1001"]})
    phone.start()
    phone.wait_registered(1)
    supervised = PhoneProcess(tmp_path / "b", module="firmware.boot",
                              module_args=["--slots", str(tmp_path / "slots"), "--"])
    supervised.start()
    pids = {"kamailio": group(kam.pid), "phone": group(phone.proc.pid),
            "supervised": group(supervised.proc.pid), "reaper": [reaper.pid]}
    assert len(pids["kamailio"]) > 1 and len(pids["supervised"]) == 2, pids
    out = Path(os.environ["HYGIENE_PIDS"])
    out.with_suffix(".tmp").write_text(json.dumps(pids))
    out.with_suffix(".tmp").rename(out)
    threading.Event().wait(120)       # the killed run: the test kills us long before
