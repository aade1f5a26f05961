"""Logging to DIR/logs: phone.log for the firmware, sip.log for the SIP message trace.

Both rotate (log.max_kb, log.keep). The trace logger only gets messages when
log.sip_trace is on (pjsua2 is told to produce them then, see firmware/sip/engine.py).
"""
from __future__ import annotations

import logging
import logging.handlers
import time
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
                                                backupCount=keep, encoding="utf-8",
                                                errors="backslashreplace")
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
                                                  backupCount=keep, encoding="utf-8",
                                                  errors="backslashreplace")
        th.setFormatter(fmt)
        trace.addHandler(th)
        trace.setLevel(logging.DEBUG)
    else:
        trace.setLevel(logging.CRITICAL + 1)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class Limited:
    """First few of a kind at their level, the rest at DEBUG with a count once a minute: a
    flood of bad packets must not flood the log and push out what matters."""

    def __init__(self, logger: logging.Logger, per_minute: int = 5):
        self.log, self.per_minute = logger, per_minute
        self.window = 0.0
        self.seen = 0
        self.hidden = 0

    def warning(self, fmt: str, *args) -> None:
        self._emit(logging.WARNING, fmt, args)

    def info(self, fmt: str, *args) -> None:
        self._emit(logging.INFO, fmt, args)

    def _emit(self, level: int, fmt: str, args: tuple) -> None:
        now = time.monotonic()
        if now - self.window >= 60:
            if self.hidden:
                self.log.log(level, "... and %d more like it in the last minute (at DEBUG)",
                             self.hidden)
            self.window, self.seen, self.hidden = now, 0, 0
        self.seen += 1
        if self.seen <= self.per_minute:
            self.log.log(level, fmt, *args)
        else:
            self.hidden += 1
            self.log.debug(fmt, *args)
