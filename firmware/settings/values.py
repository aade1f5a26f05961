"""Values in and out of the schema: checking one value, applying a set of them, the TOML
document of what differs from the factory, the API's view with secrets masked."""
from __future__ import annotations

from typing import Any

from firmware.errors import SettingError
from firmware.settings.schema import FIELDS, MAX_ITEMS, MAX_NUMBER_TEXT, Settings


def check(key: str, value: Any) -> Any:
    """Validate one value for `key`; returns it converted, or raises SettingError."""
    f = FIELDS.get(key)
    if f is None:
        raise SettingError(key if len(key) <= 80 else key[:80] + "...",
                           "unknown setting (see README for the list)")
    m = f.metadata
    want = type(f.default)
    if want is bool:
        if not isinstance(value, bool):
            raise SettingError(key, f"must be true or false (got {value!r})")
    elif want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT and \
                    value.strip().lstrip("-").isdigit():
                value = int(value.strip())
            else:
                raise SettingError(key, f"must be a whole number (got {_short(value)})")
    elif want is str:
        if not isinstance(value, str):
            # a secret's value is never repeated: the reason is read by the desk user too
            got = f"a {type(value).__name__}" if m["secret"] else _short(value)
            raise SettingError(key, f"must be a string in quotes (got {got})")
        _check_length(key, value, m["max_len"])
    elif want is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise SettingError(key, f'must be a list of strings, e.g. ["1005", "1900"] '
                                    f"(got {_short(value)})")
        value = tuple(value)
        most = m["max"] if m["max"] is not None else MAX_ITEMS
        if len(value) > most:
            raise SettingError(key, f"at most {most} entries (got {len(value)})")
        if m["min"] is not None and len(value) < m["min"]:
            raise SettingError(key, f"at least {m['min']} entries (got {len(value)})")
        for item in value:
            _check_length(key, item, m["max_len"])
        if m["check"] is not None:
            spelled = []
            for item in value:
                try:
                    canonical = m["check"](item)   # a check may give the one spelling
                except ValueError as e:
                    raise SettingError(key, f"{item!r}: {e}") from None
                spelled.append(item if canonical is None else canonical)
            value = tuple(spelled)
        return value
    if m["min"] is not None and value < m["min"]:
        raise SettingError(key, f"must be at least {m['min']} (got {value})")
    if m["max"] is not None and value > m["max"]:
        raise SettingError(key, f"must be at most {m['max']} (got {value})")
    if m["choices"] is not None and value not in m["choices"]:
        raise SettingError(key, f"must be one of {', '.join(map(str, m['choices']))} "
                                f"(got {value!r})")
    if m["check"] is not None:
        try:
            m["check"](value)
        except ValueError as e:
            raise SettingError(key, str(e)) from None
    return value


def _short(value: Any, limit: int = 60) -> str:
    """repr for an error message: a 10 MB value is named by its size, not repeated."""
    text = repr(value) if not isinstance(value, (list, tuple, dict)) or len(value) < 20 \
        else f"a {type(value).__name__} of {len(value)} entries"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_length(key: str, value: str, most: int) -> None:
    if len(value) > most:
        raise SettingError(key, f"at most {most} characters (got {len(value)})")


def flatten(doc: dict, prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """TOML document -> {"account.1.user": ...}. Tables nest; [account.1] is account -> 1.
    No key is deeper than account.1.user: a table below that is one (unknown) value, so
    nesting of any depth costs nothing here."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth > 1:
            out.update(flatten(v, key + ".", depth - 1))
        else:
            out[key] = v
    return out


def apply(base: Settings, values: dict[str, Any]) -> tuple[Settings, list[SettingError]]:
    """Settings = base with `values` applied; bad or unknown keys keep base's value."""
    new = base.copy()
    problems = []
    for key, value in values.items():
        try:
            value = check(key, value)
        except SettingError as e:
            problems.append(e)
            continue
        sec, _, name = key.rpartition(".")
        setattr(new.section(sec), name, value)
    return new, problems


def to_document(s: Settings, *, only_changed: bool = True) -> dict:
    """Nested dict for TOML: what differs from the defaults (or everything)."""
    defaults = Settings()
    doc: dict = {}
    for key, f in FIELDS.items():
        value = s.get(key)
        if only_changed and value == defaults.get(key):
            continue
        node = doc
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return doc


def factory_values() -> dict[str, Any]:
    """Every setting's factory default, dotted."""
    d = Settings()
    return {k: d.get(k) for k in FIELDS}


def settings_file(s: Settings, *, include_secrets: bool = True) -> bytes:
    """settings.toml as the phone writes it (what differs from the factory)."""
    doc = to_document(s)
    if not include_secrets:
        for key, f in FIELDS.items():
            if f.metadata["secret"]:
                *parts, last = key.split(".")
                node = doc
                for p in parts:
                    node = node.get(p, {})
                node.pop(last, None)
    import tomli_w          # writing: never on the way to the first REGISTER
    return HEADER + tomli_w.dumps(doc).encode()


def public(s: Settings) -> dict[str, Any]:
    """Every setting, dotted, secrets masked: what the API shows."""
    out = {}
    for key, f in FIELDS.items():
        value = s.get(key)
        if f.metadata["secret"]:
            value = "********" if value else ""
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


HEADER = (b"# deskphone settings: only what differs from the factory defaults.\n"
          b"# Every key is listed in README.md (or: python -m firmware settings).\n\n")


def assign(dst: Settings, src: Settings) -> None:
    """Copy every value of src into dst, so everyone holding dst sees the change."""
    for key in FIELDS:
        sec, _, name = key.rpartition(".")
        setattr(dst.section(sec), name, src.get(key))
