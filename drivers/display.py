"""Display drivers: an image in, pixels on glass out. Drawing lives in ui/lcd.py.

DummyDisplay is luma.core's dummy device: it keeps the last frame (sim board, tests).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


class DummyDisplay:
    width, height = 128, 64

    def __init__(self) -> None:
        self._device = None
        self.frames = 0

    @property
    def device(self):
        if self._device is None:      # luma and PIL come with the first frame, not at boot
            from luma.core.device import dummy
            self._device = dummy(width=self.width, height=self.height, mode="1")
        return self._device

    def show(self, image: Image.Image) -> None:
        self.device.display(image)
        self.frames += 1

    @property
    def image(self) -> Image.Image:
        return self.device.image

    def close(self) -> None:
        pass
