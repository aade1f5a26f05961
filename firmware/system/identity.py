"""Who this phone is: vendor, model, firmware version and MAC.

Servers see it in the SIP User-Agent, the HTTP User-Agent of provisioning requests and the
provisioning file names (`<MAC>.xml`, `sys_<model>.xml`, the version file `F0DP330.cfg`).
The version lives in `firmware/VERSION` so that a firmware image carries its own.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from firmware.system import netinfo

log = logging.getLogger(__name__)

VENDOR = "deskphone"
MODEL = "DP330"                # three lines, like the ES330 it is modelled on
_VERSION_FILE = Path(__file__).resolve().parent.parent / "VERSION"      # firmware/VERSION
VERSION = _VERSION_FILE.read_text().strip() if _VERSION_FILE.exists() else "0.0.0"


def version_file_name(model: str = MODEL) -> str:
    """The software version file of our model (manual appendix 2.1: F000XXX.cfg, F0WS620.cfg
    for a model with letters): F0DP330.cfg."""
    return f"F0{model}.cfg"


def parse_mac(text: str) -> str:
    """'00-26-8B-01-02-03' / '00268b010203' -> '00:26:8b:01:02:03' ('' if not a MAC)."""
    hexes = "".join(ch for ch in text.lower() if ch in "0123456789abcdef")
    if len(hexes) != 12 or len(text.strip()) not in (12, 14, 17):
        return ""
    return ":".join(hexes[i:i + 2] for i in range(0, 12, 2))


def mac_for(board_kind: str, data_dir: Path, configured: str = "") -> str:
    """The MAC provisioning uses, as aa:bb:cc:dd:ee:ff.

    A setting (hardware.mac) wins. The sim board has no network card of its own: it makes up
    a locally administered address once and keeps it in DATA/mac, so every data dir is a
    different, stable phone. A real board uses its wired interface's address.
    """
    if configured and parse_mac(configured):
        return parse_mac(configured)
    if board_kind != "sim":
        real = parse_mac(netinfo.mac())
        if real:
            return real
    path = Path(data_dir) / "mac"
    try:
        kept = parse_mac(path.read_text())
        if kept:
            return kept
    except OSError:
        pass
    raw = bytearray(os.urandom(6))    # what secrets.token_bytes reads, without its import
    raw[0] = (raw[0] | 0x02) & 0xFE            # locally administered, unicast
    made = ":".join(f"{b:02x}" for b in raw)
    try:
        from firmware.settings import atomic_write
        atomic_write(path, made.encode() + b"\n")
    except OSError as e:
        log.warning("cannot keep the made-up MAC in %s: %s", path, e)
    return made


def user_agent(mac: str) -> str:
    """HTTP User-Agent as commercial phones send it: vendor model version MAC."""
    return f"{VENDOR} {MODEL} {VERSION} {mac}".strip()
