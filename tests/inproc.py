"""The whole phone in this process, on a board of mock pins: for tests and the bench
that work the GPIO drivers (a real `python -m firmware` cannot share mock pins).

    with InProcessPhone(board_file, factory, tmp_path) as app:
        ...   # drive factory pins; read app.state, app.presenter.frame, app.board
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from tests.helpers import wait_for
from tests.peers.ports import free_port


class CountingSerial:
    """Stands in for luma's i2c/spi interface (no /dev/i2c-1 here): counts the bytes."""

    def __init__(self, *a, **kw):
        self.bytes = 0

    def command(self, *cmd):
        self.bytes += len(cmd)

    def data(self, data):
        self.bytes += len(data)

    def cleanup(self):
        pass


class InProcessPhone:
    def __init__(self, board: Path | str, factory, work: Path, *, settings: str = ""):
        self.board, self.factory, self.work = str(board), factory, Path(work)
        self.settings = settings
        self.app = None
        self._thread: threading.Thread | None = None
        self._saved = None

    def __enter__(self):
        from luma.core.interface import serial as luma_serial

        from firmware.app import App
        self._saved = luma_serial.i2c, luma_serial.spi
        luma_serial.i2c = luma_serial.spi = CountingSerial
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "settings.toml").write_text(
            f'[sip]\nport = {free_port("udp")}\nbind = "127.0.0.1"\n'
            f'[account.1]\nenable = true\nuser = "1001"\n' + self.settings)
        self.app = App(board=self.board, data_dir=self.work, http="", console_log=False,
                       pin_factory=self.factory)
        failed: list[BaseException] = []

        def run():
            try:
                asyncio.run(self.app.run())
            except BaseException as e:   # noqa: BLE001 - reported to the caller
                failed.append(e)
        self._thread = threading.Thread(target=run, name="phone", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not (self.app.presenter is not None and self.app.presenter.frame is not None):
            if failed:
                raise failed[0]
            if time.monotonic() > deadline:
                raise RuntimeError("the phone did not come up in 15 s")
            time.sleep(0.01)
        return self.app

    def __exit__(self, *exc):
        from luma.core.interface import serial as luma_serial
        try:
            if self.app is not None:
                self.app.stop()
            if self._thread is not None:
                self._thread.join(15)
        finally:
            luma_serial.i2c, luma_serial.spi = self._saved

    def wait(self, pred, timeout: float = 5.0, what: str = "") -> None:
        def frame() -> str:
            shown = self.app.presenter.frame
            return f"the LCD shows {shown.lines if shown else None}"

        wait_for(pred, what or str(pred), timeout, detail=frame, poll=0.01)
