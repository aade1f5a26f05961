"""README stays true: its settings table is the schema's, its API key list is ours."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from firmware.keys import KEYS

ROOT = Path(__file__).resolve().parent.parent


def test_the_settings_table_in_readme_is_the_schema():
    table = subprocess.run([sys.executable, "-m", "firmware", "settings", "--markdown"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert table.strip() in (ROOT / "README.md").read_text(), \
        "README settings table is stale: paste `python -m firmware settings --markdown`"


def test_every_key_name_is_listed_in_readme():
    text = (ROOT / "README.md").read_text()
    for key in KEYS:
        if re.fullmatch(r"\d|(soft|line|p)\d+", key):
            continue        # given as ranges: 0-9, soft1-soft4, line1-line3, p1-p12
        assert f"`{key}`" in text, key
