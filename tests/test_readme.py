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


def test_the_architecture_picture_names_files_that_exist():
    """docs/architecture.png is drawn from a list of files; each box must still be true."""
    done = subprocess.run([sys.executable, "docs/architecture.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_path_docs_architecture_names_exists():
    """A newcomer opens the files docs/architecture.md names: none may be gone."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:firmware|ui|drivers|board|provisioning|tests)/[\w/.]+\.py)`",
                           text))
    assert named, "the pattern no longer finds the paths"
    assert not [p for p in sorted(named) if not (ROOT / p).exists()]


def test_the_settings_table_says_where_each_desk_setting_is_changed():
    """Issue 13: the README's settings table says on which web page and LCD menu each
    setting lives (firmware.menus.where, from the one menu model)."""
    from firmware.menus import where
    assert where("phone.dnd") == ("LCD: Function setting > DND > All lines; "
                                  "web: Call (/settings/call)")
    assert where("account.1.password").startswith(
        "LCD: System setting > Advanced setting > SIP accounts > Account 1 > User password")
    assert where("provisioning.url") == "web: Auto Provision (/settings/provision)"
    text = (ROOT / "README.md").read_text()
    assert "| `forward.always` |" in text and "web: VOIP Call Forward (/settings/forward)" in text
