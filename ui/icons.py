"""7x7 icons for the LCD, drawn as text so a reader sees the picture in the source.

Each icon has a token: the word the frame's text lines show where the icon is
drawn (``[reg] 2001``), so tests and ``/api/screen.txt`` read the screen without
looking at pixels.
"""
from __future__ import annotations

from PIL import Image

from firmware.call.state import AudioDevice, LineStatus

_ART = {
    # Line status, the manual's five icons (§3 "Understanding Phone Screen").
    "nonet": """
        #.....#
        .#...#.
        ..#.#..
        ...#...
        ..#.#..
        .#...#.
        #.....#
    """,
    "p2p": """
        .......
        ..#.#..
        .#...#.
        #######
        .#...#.
        ..#.#..
        .......
    """,
    "unreg": """
        .#####.
        #.....#
        ##...##
        ..#.#..
        .#...#.
        .#...#.
        .#####.
    """,
    "reg": """
        .#####.
        #######
        ##...##
        ..###..
        .#####.
        .#####.
        .#####.
    """,
    "dnd": """
        ..###..
        .#####.
        #######
        #.....#
        #######
        .#####.
        ..###..
    """,
    # The keys are locked (firmware/features/keylock.py): a padlock.
    "lock": """
        ..###..
        .#...#.
        .#...#.
        #######
        ###.###
        ###.###
        #######
    """,
    # Audio path of the call.
    "handset": """
        ###....
        ###....
        .#.....
        .##....
        ..##.##
        ...####
        ....###
    """,
    "speaker": """
        ...#...
        ..##.#.
        ####..#
        ####..#
        ####..#
        ..##.#.
        ...#...
    """,
    "headset": """
        ..###..
        .#...#.
        #.....#
        #.....#
        ##...##
        ##...##
        .......
    """,
}

SIZE = 7

LINE_TOKEN = {
    LineStatus.NO_NETWORK: "nonet",
    LineStatus.P2P: "p2p",
    LineStatus.NOT_REGISTERED: "unreg",
    LineStatus.REGISTERED: "reg",
    LineStatus.DND: "dnd",
}

AUDIO_TOKEN = {
    AudioDevice.HANDSET: "handset",
    AudioDevice.SPEAKER: "speaker",
    AudioDevice.HEADSET: "headset",
}


def _mask(art: str) -> Image.Image:
    rows = [r.strip() for r in art.strip().splitlines()]
    assert len(rows) == SIZE and all(len(r) == SIZE for r in rows), rows
    data = bytes(255 if c == "#" else 0 for r in rows for c in r)
    return Image.frombytes("L", (SIZE, SIZE), data).convert("1")


MASKS: dict[str, Image.Image] = {name: _mask(art) for name, art in _ART.items()}
