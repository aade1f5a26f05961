"""DIR/logs: phone.log and sip.log stay under log.max_kb, the older ones kept as .1 ... .keep."""
from __future__ import annotations

import logging
import re

import pytest

from firmware import logs


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    trace = logging.getLogger("deskphone.sip.trace")
    saved = (list(root.handlers), root.level, list(trace.handlers), trace.level,
             trace.propagate)
    yield
    for logger in (root, trace):
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
    root.handlers[:], root.level = saved[0], saved[1]
    trace.handlers[:], trace.level, trace.propagate = saved[2], saved[3], saved[4]


def test_phone_log_rotates_at_max_kb_and_keeps_keep_files(tmp_path, restore_logging):
    logs.setup(tmp_path, max_kb=1, keep=2, console=False)
    log = logging.getLogger("deskphone.test")
    for i in range(200):
        log.info("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["phone.log", "phone.log.1", "phone.log.2"]
    for p in tmp_path.iterdir():
        assert 0 < p.stat().st_size <= 1024, p
    text = (tmp_path / "phone.log").read_text()
    assert "line 199" in text                       # the newest line is in phone.log
    assert "line 199" not in (tmp_path / "phone.log.1").read_text()
    numbers = {name: [int(n) for n in re.findall(r"line (\d+)", (tmp_path / name).read_text())]
               for name in names}
    # oldest in .2, then .1, then phone.log, nothing lost between them
    assert max(numbers["phone.log.2"]) + 1 == min(numbers["phone.log.1"])
    assert max(numbers["phone.log.1"]) + 1 == min(numbers["phone.log"])


def test_sip_trace_rotates_too_and_an_odd_character_is_kept(tmp_path, restore_logging):
    logs.setup(tmp_path, max_kb=1, keep=1, sip_trace=True, console=False)
    trace = logging.getLogger("deskphone.sip.trace")
    trace.debug("INVITE from \udcff lone surrogate")        # no UnicodeEncodeError
    for i in range(60):
        trace.debug("packet %02d %s", i, "y" * 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phone.log", "sip.log", "sip.log.1"]
    assert "packet 59" in (tmp_path / "sip.log").read_text()
    assert (tmp_path / "sip.log").stat().st_size <= 1024
