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


def _features() -> dict[str, str]:
    """The feature modules (a `setup(ctx)` entry: firmware/features/__init__.py) by name."""
    return {p.stem: p.read_text(encoding="utf-8")
            for p in (FIRMWARE / "features").glob("*.py")
            if "\ndef setup(" in p.read_text(encoding="utf-8")}


def test_no_feature_imports_another():
    """docs/architecture.md "Features as modules": a feature never imports another; what
    two share lives outside firmware/features (firmware/pages.py, firmware/call/...)."""
    features = _features()
    wrong = {name: sorted(set(re.findall(
        r"^\s*(?:from firmware\.features\.(\w+) import|import firmware\.features\.(\w+))",
        text, re.M)))
        for name, text in features.items()}
    wrong = {name: [m for pair in found for m in pair if m in features]
             for name, found in wrong.items()}
    wrong = {name: found for name, found in wrong.items() if found}
    assert not wrong, f"a feature imports another (share through firmware/, not a feature): {wrong}"


def test_no_feature_keeps_a_list_of_callables_others_fill():
    """A list of functions other modules append to is a hook list by another name (the
    menu's `keep_open` was one): ask the modes on the stack instead (Mode.holding...)."""
    pattern = re.compile(r"self\.\w+\s*:\s*list\[(?:Callable|tuple\[[^\]]*Callable)")
    found = [name for name, text in _features().items() if pattern.search(text)]
    assert not found, f"a list of callables in a feature (use the mode stack): {found}"
