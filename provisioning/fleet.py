"""Provisioning files for a fleet of phones from one spreadsheet (CSV).

One row per phone: `mac`, optional `model` and `label`, lines as `line1_user`,
`line1_password`, `line1_server`, ... (any account setting: `line2_expires`), `keys` in a
compact form (`1:blf:1002:Bob;2:speed_dial:5000:Reception`) and any setting by its dotted
name as a column (`provisioning.url`, `phone.dial_timeout`). Written: `<mac>.xml` per
phone, `<line1_user>_Extern.xml` for phones with keys, and `sys_<model>.xml` from a
settings file for every model. All or nothing: any bad cell and nothing is written.
docs/provisioning-files.md describes the columns with an example.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware import record
from firmware.errors import SettingError
from firmware.system.identity import MODEL, parse_mac
from firmware.settings import ACCOUNTS, FIELDS, AccountSettings, check, flatten
from provisioning import crypto
from provisioning.errors import BadFile
from provisioning.escene import export_extern, render_config
from provisioning.keys import (MEMORY_KEYS, MEMORY_TYPES, MODULE_KEYS, MODULES,
                               PROGRAM_FUNCTIONS, PROGRAM_KEY_IDS, KeyLayout, MemoryKey,
                               ProgramKey)

FILE_MODE = 0o644          # tftpd and web servers read as another user
DIR_MODE = 0o755
_ACCOUNT_FIELDS = {f.name for f in record.fields(AccountSettings)}
_LINE_COLUMN = re.compile(r"line([0-9]+)_([a-z_]+)")
_MODEL = re.compile(r"[A-Za-z0-9_.-]{1,32}")


@dataclass
class Fleet:
    """What a CSV asks for: file name -> plain content."""
    files: dict[str, bytes] = field(default_factory=dict)


def _cell_value(key: str, text: str) -> Any:
    """A spreadsheet cell as the setting's type (bools: 1/0, yes/no, true/false, on/off;
    lists: separated by ';')."""
    kind = type(FIELDS[key].default)
    t = text.strip()
    if kind is bool:
        low = t.lower()
        if low in ("1", "yes", "true", "on", "y"):
            return True
        if low in ("0", "no", "false", "off", "n"):
            return False
        raise ValueError(f"must be 1 or 0 (got {text!r})")
    if kind is int:
        if not t.lstrip("-").isdigit():
            raise ValueError(f"must be a whole number (got {text!r})")
        return int(t)
    if kind is tuple:
        return tuple(x.strip() for x in t.split(";") if x.strip())
    return t


def _column_key(column: str) -> str | None:
    """'line2_user' -> 'account.2.user'; 'phone.dial_timeout' -> itself; else None."""
    m = _LINE_COLUMN.fullmatch(column)
    if m and m.group(2) in _ACCOUNT_FIELDS and 1 <= int(m.group(1)) <= ACCOUNTS:
        return f"account.{int(m.group(1))}.{m.group(2)}"
    return column if column in FIELDS else None


def parse_keys(spec: str) -> KeyLayout:
    """'1:blf:1002:Bob;e1.5:speed_dial:5000:Reception:2;soft4:dnd' -> KeyLayout.

    Each key: POSITION:TYPE[:NUMBER[:LABEL[:LINE]]]. POSITION is a memory key 1-12 (or
    p1-p12), an expansion key eM.N (module 1-6, key 1-32) or a fixed key (soft1-soft4,
    up, down, left, right, ok, conference, redial, transfer, hold, service, directory,
    menu, mute, message) whose TYPE is then a function (dnd, call_forward, ...). LINE is
    1-3 or empty for automatic. Raises ValueError naming the bad key.
    """
    layout = KeyLayout()
    seen: set[str] = set()
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        bits = [b.strip() for b in part.split(":")]
        if len(bits) < 2 or len(bits) > 5:
            raise ValueError(f"{part!r}: write POSITION:TYPE[:NUMBER[:LABEL[:LINE]]], "
                             f"e.g. 1:blf:1002:Bob")
        pos, kind, number, label, line = (bits + ["", "", ""])[:5]
        account = None
        if line and line.lower() != "auto":
            if not line.isdigit() or not 1 <= int(line) <= ACCOUNTS:
                raise ValueError(f"{part!r}: line must be 1-{ACCOUNTS} or empty (automatic)")
            account = int(line)
        pos = pos.lower()
        if pos in seen:
            raise ValueError(f"{part!r}: key {pos} is given twice")
        seen.add(pos)
        if pos in PROGRAM_KEY_IDS:
            if kind not in PROGRAM_FUNCTIONS:
                raise ValueError(f"{part!r}: {pos} can do {', '.join(PROGRAM_FUNCTIONS)}")
            layout.program.append(ProgramKey(pos, kind, number, label, account))
            continue
        m = re.fullmatch(r"p?([0-9]+)|e([0-9]+)\.([0-9]+)", pos)
        if not m:
            raise ValueError(f"{part!r}: position must be 1-{MEMORY_KEYS}, e1.1-e{MODULES}."
                             f"{MODULE_KEYS} or a fixed key name")
        module, index = (0, int(m.group(1))) if m.group(1) else (int(m.group(2)),
                                                                 int(m.group(3)))
        limit = MEMORY_KEYS if module == 0 else MODULE_KEYS
        if not (0 <= module <= MODULES and 1 <= index <= limit):
            raise ValueError(f"{part!r}: no such key (1-{MEMORY_KEYS}, or e1.1-e{MODULES}."
                             f"{MODULE_KEYS})")
        if kind not in MEMORY_TYPES.values():
            raise ValueError(f"{part!r}: unknown type {kind!r}; one of "
                             f"{', '.join(MEMORY_TYPES.values())}")
        if any(ch in number + label for ch in "\r\n"):
            raise ValueError(f"{part!r}: must be a single line")
        layout.memory.append(MemoryKey(index - 1, kind, number, label, account, module))
    return layout


def _load_global(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(Path(path).read_text("utf-8-sig"))
    except OSError as e:
        raise BadFile(f"{path}: cannot read ({e.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise BadFile(f"{path}: not valid TOML: {e}") from None
    values, errors = {}, []
    for key, value in flatten(doc).items():
        try:
            values[key] = check(key, value)
        except SettingError as e:
            errors.append(f"{path}: {e}")
    if errors:
        raise BadFile("\n".join(errors))
    return values


def build(csv_text: str, *, csv_name: str = "phones.csv", upper: bool = False,
          global_values: dict[str, Any] | None = None) -> Fleet:
    """The files a fleet CSV describes (not yet encrypted). BadFile lists every bad cell."""
    first = csv_text.lstrip("\ufeff").splitlines()[0] if csv_text.strip() else ""
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    errors: list[str] = []
    if "mac" not in columns:
        raise BadFile(f"{csv_name}: the first row must name the columns, one of them 'mac' "
                      f"(got {', '.join(columns) or 'nothing'})")
    for c in sorted({c for c in columns if columns.count(c) > 1}):
        errors.append(f"{csv_name}, column {c!r}: appears twice")
    for c in columns:
        if c not in ("mac", "model", "label", "keys") and _column_key(c) is None:
            errors.append(f"{csv_name}, column {c!r}: unknown column (use mac, model, label, "
                          f"keys, lineN_<account setting> or a setting such as "
                          f"provisioning.url)")
    if errors:
        raise BadFile("\n".join(errors))
    fleet = Fleet()
    case = "upper" if upper else "lower"
    models: set[str] = set()
    macs: dict[str, int] = {}
    externs: dict[str, tuple[int, bytes]] = {}
    for row in reader:
        rowno = reader.line_num
        if any(v.strip() for v in row.get(None) or []):
            errors.append(f"{csv_name} row {rowno}: more cells than columns")
            continue
        row = {k.strip(): (v or "") for k, v in row.items() if k is not None}
        if not any(v.strip() for v in row.values()):
            continue
        mac = parse_mac(row.get("mac", ""))
        where = f"{csv_name} row {rowno}" + (f" ({mac})" if mac else "")
        if not mac:
            errors.append(f"{where}, column mac: {row.get('mac', '')!r} is not a MAC address "
                          f"(e.g. 00:26:8b:01:02:03)")
            continue
        if mac in macs:
            errors.append(f"{where}, column mac: the same phone as row {macs[mac]}")
            continue
        macs[mac] = rowno
        model = row.get("model", "").strip() or MODEL
        if not _MODEL.fullmatch(model):
            errors.append(f"{where}, column model: {model!r} is not a model name")
        models.add(model)
        values: dict[str, Any] = {}
        for col, text in row.items():
            key = _column_key(col)
            if key is None or not text.strip():
                continue
            try:
                values[key] = check(key, _cell_value(key, text))
            except ValueError as e:
                errors.append(f"{where}, column {col}: {e}")
            except SettingError as e:
                errors.append(f"{where}, column {col}: {e.reason}")
        for n in range(1, ACCOUNTS + 1):
            a = f"account.{n}."
            if values.get(a + "user") and a + "enable" not in values:
                values[a + "enable"] = True
            if a + "server" in values:           # written as PBX generators do
                values.setdefault(a + "outbound_proxy", "")
        values["provisioning.filename_case"] = case
        stem = mac.replace(":", "")
        stem = stem.upper() if upper else stem
        fleet.files[f"{stem}.xml"] = render_config(
            values, comment=row.get("label", "").strip() or f"phone {mac}")
        spec = row.get("keys", "").strip()
        if spec:
            try:
                layout = parse_keys(spec)
            except ValueError as e:
                errors.append(f"{where}, column keys: {e}")
                continue
            owner = values.get("account.1.user", "")
            if not owner:
                errors.append(f"{where}, column keys: needs line1_user: the keys file is "
                              f"named after the first account (<line1_user>_Extern.xml)")
                continue
            data = export_extern(layout)
            name = f"{owner}_Extern.xml"
            if name in externs and externs[name][1] != data:
                errors.append(f"{where}, column keys: row {externs[name][0]} has the same "
                              f"line1_user {owner} with other keys; {name} can hold only one")
                continue
            externs[name] = (rowno, data)
    if not macs and not errors:
        errors.append(f"{csv_name}: no phones (one row per phone under the header row)")
    if errors:
        raise BadFile("\n".join(errors))
    fleet.files.update({name: data for name, (_, data) in externs.items()})
    if global_values is not None:
        values = dict(global_values)
        if upper:
            values.setdefault("provisioning.filename_case", "upper")
        for model in sorted(models):
            fleet.files[f"sys_{model}.xml"] = render_config(values,
                                                            comment=f"all {model} phones")
    return fleet


def write(fleet: Fleet, outdir: Path, *, aes_key: str = "") -> list[Path]:
    """Write every file into `outdir` (created if missing), encrypted when `aes_key` is
    given. Staged in a temporary directory first: a failure leaves `outdir` as it was."""
    outdir = Path(outdir)
    fresh = not outdir.exists()
    stage_parent = outdir.parent if fresh else outdir
    stage_parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.fleet-", dir=stage_parent))
    try:
        for name, data in fleet.files.items():
            path = stage / name
            path.write_bytes(crypto.encrypt(data, aes_key) if aes_key else data)
            os.chmod(path, FILE_MODE)
        os.chmod(stage, DIR_MODE)
        if fresh:
            os.rename(stage, outdir)
        else:
            for name in fleet.files:
                os.replace(stage / name, outdir / name)
            stage.rmdir()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return [outdir / name for name in fleet.files]


def run(csv_path: Path, outdir: Path, *, aes_key: str = "", upper: bool = False,
        global_path: Path | None = None) -> list[Path]:
    """The CLI's `fleet` command: read, check everything, then write everything."""
    try:
        raw = Path(csv_path).read_bytes()
    except OSError as e:
        raise BadFile(f"{csv_path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadFile(f"{csv_path}: not UTF-8; save the spreadsheet as 'CSV UTF-8'") from None
    global_values = _load_global(global_path) if global_path else None
    fleet = build(text, csv_name=Path(csv_path).name, upper=upper,
                  global_values=global_values)
    return write(fleet, outdir, aes_key=aes_key)
