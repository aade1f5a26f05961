"""settings.toml rewritten as the administrator left it: a save changes only the keys
whose value changed, and comments, blank lines, key order and quoting stay byte for byte.

After a save the file means what the phone runs: a changed key is set, or removed when it
went back to its default; a key the phone does not know goes, and a bad value becomes
the last good one in use (both were reported when the file was read); a key written out
with its default value stays. The file on disk is edited with tomlkit, a style-preserving
TOML parser/writer, imported here only, when a save happens: never on the way to the
first REGISTER (tests/test_record.py). A fresh file (none yet, or one that did not read,
kept as settings.toml.bad by the store) is written as before: what differs from the
factory, under a header.

Every edit is checked: the text must read back as exactly the settings saved; if tomlkit
ever produced something else, the store writes the file afresh (and the log says so).
"""
from __future__ import annotations

import json
import logging
import tomllib
from typing import Any

from firmware.settings.values import flatten

log = logging.getLogger("firmware.settings")

DEPTH = 3       # account.1.user: the deepest setting (values.flatten reads the file so too)


def keep_layout(text: str, values: dict[str, Any], defaults: dict[str, Any]) -> bytes | None:
    """`text` (settings.toml as it is on disk, valid TOML) edited to mean `values` (every
    setting, dotted); None when that cannot be done without changing what the file means
    (then write it afresh). A key whose line already means its value is left as it is (a
    default the administrator wrote out stays); one that changed is set, or removed when
    it went back to its default (`defaults`); a key the phone does not know goes (it was
    reported at load); a setting not in the file yet is added when it is not the default."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    want, factory = _plain(values), _plain(defaults)
    try:
        import tomlkit  # writing: never on the way to the first REGISTER; missing: afresh
        doc = tomlkit.parse(text)
        present = _keys(doc, (), DEPTH)
        for path in present:
            key = ".".join(path)
            parent = _node(doc, path[:-1])
            if key not in want or (_plain_value(parent[path[-1]]) != want[key]
                                   and want[key] == factory[key]):
                del parent[path[-1]]
            elif _plain_value(parent[path[-1]]) != want[key]:
                parent[path[-1]] = values[key]
        done = {".".join(p) for p in present}
        for key in want:
            if key not in done and want[key] != factory[key]:
                _add(doc, key.split("."), values[key])
        _prune(doc)
        out = tomlkit.dumps(doc)
    except Exception as e:  # noqa: BLE001 - tomlkit's own errors; the fresh file still works
        log.warning("settings.toml: cannot edit it in place (%s: %s); written afresh, its "
                    "comments are lost", type(e).__name__, e)
        return None
    try:
        means = {**factory, **_plain(flatten(tomllib.loads(out)))}
    except ValueError:
        means = {}
    if means != want:
        log.warning("settings.toml: an edit in place would not read back as the settings "
                    "saved; written afresh, its comments are lost")
        return None
    return out.encode()


def _keys(node, prefix: tuple, depth: int) -> list[tuple[str, ...]]:
    """Every setting's path in the document, as values.flatten walks it."""
    out = []
    for k, v in list(node.items()):
        if isinstance(v, dict) and depth > 1:
            out += _keys(v, prefix + (k,), depth - 1)
        else:
            out.append(prefix + (k,))
    return out


def _node(doc, path: tuple):
    for p in path:
        doc = doc[p]
    return doc


def _add(doc, parts: list[str], value: Any) -> None:
    """A key the file does not have yet: after the last key of its table (not after the
    comment that introduces the next table), or in a new table at the end."""
    import tomlkit
    node = doc
    for i, p in enumerate(parts[:-1]):
        if p not in node:
            deeper = i < len(parts) - 2
            node[p] = tomlkit.table(is_super_table=deeper)
        node = node[p]
    body = getattr(getattr(node, "value", node), "body", [])
    last = next((k for k, item in reversed(body) if k is not None
                 and not isinstance(item, dict)), None)
    container = getattr(node, "value", node)
    if last is not None and hasattr(container, "_insert_after"):
        container._insert_after(last, parts[-1], value)
    else:
        node[parts[-1]] = value


def _prune(node) -> None:
    """Tables left with no key, no sub-table and no comment go (a table the file had only
    for a key that is now back to its default)."""
    import tomlkit.items as items
    for k, v in list(node.items()):
        if isinstance(v, dict):
            _prune(v)
            container = getattr(v, "value", v)
            body = getattr(container, "body", [])
            if not v and not any(isinstance(item, items.Comment) for _, item in body):
                del node[k]


def _plain(values: dict[str, Any]) -> dict[str, str]:
    return {k: _plain_value(v) for k, v in values.items()}


def _plain_value(v: Any) -> str:
    """What a value means, comparable: a tomlkit item, a tuple or a list as JSON (so
    `true` and `1`, or a list and a tuple of the same strings, compare as TOML sees them)."""
    if hasattr(v, "unwrap"):
        v = v.unwrap()
    return json.dumps(v, default=repr, sort_keys=True)
