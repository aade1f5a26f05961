"""Display drivers: an image in, pixels on glass out. Drawing lives in ui/lcd.py.

DummyDisplay is luma.core's dummy device: it keeps the last frame (sim board, tests).
"""
from __future__ import annotations

from luma.core.device import dummy
from PIL import Image


class DummyDisplay:
    width, height = 128, 64

    def __init__(self) -> None:
        self.device = dummy(width=self.width, height=self.height, mode="1")
        self.frames = 0

    def show(self, image: Image.Image) -> None:
        self.device.display(image)
        self.frames += 1

    @property
    def image(self) -> Image.Image:
        return self.device.image

    def close(self) -> None:
        pass
