"""Logging to DIR/logs: phone.log for the firmware, sip.log for the SIP message trace.

Both rotate (log.max_kb, log.keep). The trace logger only gets messages when
log.sip_trace is on (pjsua2 is told to produce them then, see firmware/sip.py).
"""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def setup(log_dir: Path, *, level: str = "info", sip_trace: bool = False,
          max_kb: int = 1024, keep: int = 5, console: bool = True) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter(FORMAT, DATEFMT)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    main = logging.handlers.RotatingFileHandler(log_dir / "phone.log", maxBytes=max_kb * 1024,
                                                backupCount=keep, encoding="utf-8")
    main.setFormatter(fmt)
    root.addHandler(main)
    if console:
        err = logging.StreamHandler()
        err.setFormatter(fmt)
        err.setLevel(logging.WARNING)
        root.addHandler(err)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))

    trace = logging.getLogger("deskphone.sip.trace")
    for h in list(trace.handlers):
        trace.removeHandler(h)
        h.close()
    trace.propagate = False
    if sip_trace:
        th = logging.handlers.RotatingFileHandler(log_dir / "sip.log", maxBytes=max_kb * 1024,
                                                  backupCount=keep, encoding="utf-8")
        th.setFormatter(fmt)
        trace.addHandler(th)
        trace.setLevel(logging.DEBUG)
    else:
        trace.setLevel(logging.CRITICAL + 1)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
