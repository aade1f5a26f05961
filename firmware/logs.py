"""Logging to DIR/logs: phone.log for the firmware, sip.log for the SIP message trace.

Both rotate (log.max_kb, log.keep). The trace logger only gets messages when
log.sip_trace is on (pjsua2 is told to produce them then, see firmware/sip/engine.py).
"""
from __future__ import annotations

import logging
import os
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
    main = RotatingFile(log_dir / "phone.log", max_kb * 1024, keep)
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
        th = RotatingFile(log_dir / "sip.log", max_kb * 1024, keep)
        th.setFormatter(fmt)
        trace.addHandler(th)
        trace.setLevel(logging.DEBUG)
    else:
        trace.setLevel(logging.CRITICAL + 1)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class RotatingFile(logging.FileHandler):
    """A log file kept under `max_bytes`: when a line would pass it, the file becomes
    NAME.1 (NAME.1 becomes NAME.2 ... up to NAME.`keep`, the oldest is dropped). What
    logging.handlers.RotatingFileHandler does; that module, with pickle and the rest it
    imports, costs ~3 ms on the way to the first REGISTER (`make bench`)."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        super().__init__(path, encoding="utf-8", errors="backslashreplace")
        self.max_bytes, self.keep = max_bytes, keep

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._full(record):
                self._rotate()
        except Exception:  # noqa: BLE001 - as logging does: a log line never stops the phone
            self.handleError(record)
            return
        super().emit(record)

    def _full(self, record: logging.LogRecord) -> bool:
        if self.max_bytes <= 0 or self.keep <= 0 or not os.path.isfile(self.baseFilename):
            return False
        if self.stream is None:
            self.stream = self._open()
        line = self.format(record) + self.terminator
        return self.stream.tell() + len(line.encode("utf-8", "backslashreplace")) \
            > self.max_bytes and self.stream.tell() > 0

    def _rotate(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        for i in range(self.keep - 1, 0, -1):
            older = f"{self.baseFilename}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{self.baseFilename}.{i + 1}")
        os.replace(self.baseFilename, f"{self.baseFilename}.1")
        self.stream = self._open()


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
