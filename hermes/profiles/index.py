"""A cache of what `profile list` shows about each profile.

Listing 50 profiles should not import YAML and the schema and parse 50 config files on every call
(that is most of the command's time). An entry is used only while the (mtime_ns, size, inode) of
the profile's config.yaml and .env, and of the schema's modules, are what they were when the entry
was written; atomic writes replace the inode, so every change made through hermes or an editor
invalidates it. The file is disposable: unreadable or stale, it is simply rebuilt."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hermes.fsutil import atomic_write
from hermes.profiles.paths import Profile

FORMAT = 1
# What decides whether a config is valid: an entry's `error` is stale once one of them changes.
_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
_SCHEMA_FILES = tuple(_CONFIG_DIR / name for name in ("schema.py", "known.py", "validate.py"))

Signature = list[list[int] | None]


def _stat(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def signature(profile: Profile) -> Signature:
    return [_stat(profile.config_path), _stat(profile.env_path)]


def _version() -> list[Any]:
    return [FORMAT, *(_stat(path) for path in _SCHEMA_FILES)]


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _version():
        return {}
    entries = data.get("profiles")
    return entries if isinstance(entries, dict) else {}


def save(path: Path, entries: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"version": _version(), "profiles": entries}), mode=0o600)
    except OSError:
        pass  # a cache that cannot be written costs time, not correctness
