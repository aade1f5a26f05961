"""Issue 11's "Done when" about the house, kept: the Phone stays a small class, no file in
firmware/ grows past what a newcomer reads in one sitting, and no hook list comes back
(features talk through the mode stack and the Phone's public commands)."""
from __future__ import annotations

import re
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_phone_is_at_most_400_lines():
    assert lines(FIRMWARE / "call" / "phone.py") <= 400


def test_no_file_in_firmware_is_over_600_lines():
    big = {str(p.relative_to(FIRMWARE)): lines(p) for p in FIRMWARE.rglob("*.py")
           if lines(p) > 600}
    assert not big, f"split these (issue 11: no file in firmware/ over 600 lines): {big}"


def test_no_hook_lists():
    pattern = re.compile(r"\b\w+_hooks\s*(?::[^=]*)?=\s*\[")
    found = [str(p.relative_to(FIRMWARE)) for p in FIRMWARE.rglob("*.py")
             if pattern.search(p.read_text(encoding="utf-8"))]
    assert not found, f"a hook list is back (use the mode stack, firmware/call/controls.py): {found}"
