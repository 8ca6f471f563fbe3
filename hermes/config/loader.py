"""Load a profile's config.yaml once into the typed schema, with errors that name file and line.

A gateway start may skip PyYAML altogether (its import alone is ~30 ms of CPU, mostly compiling
one large regular expression; 20 gateways start at once): `load_config(path, cache=…)` keeps
the parsed mapping as JSON keyed by the file's stat, and only parses YAML when the file changed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hermes.config import textfile
from hermes.config.schema import Config
from hermes.config.validate import KeyPath, SchemaError, build, dotted
from hermes.errors import ConfigError
from hermes.fsutil import atomic_write


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file ({} if missing or empty); ConfigError with the line if broken
    (invalid YAML, or bytes that are not UTF-8)."""
    import yaml

    text = textfile.read(path)
    if text is None:
        return {}
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(path, exc, "invalid YAML")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of keys at the top level")
    return data


def yaml_problem(path: Path, exc: Exception, what: str) -> str:
    """One line for a YAML parser's error (PyYAML's or ruamel's): `path:line:column: what: …`."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{where}: {what}: {problem}"


def load_config(path: Path, *, cache: Path | None = None) -> Config:
    """The typed config in `path`. With `cache`, the parsed mapping is reused from there while
    the file's stat is unchanged (and written there after a parse); validation always runs."""
    key = _stat_key(path) if cache is not None else None
    data = _cached(cache, key) if cache is not None and key is not None else None
    if data is None:
        data = read_yaml(path)
        if cache is not None and key is not None:
            _store(cache, key, data)
    try:
        config: Config = build(Config, data)
    except SchemaError as exc:
        line = line_of(path, exc.keypath)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {exc}", param=dotted(exc.keypath) or None) from None
    return config


def _stat_key(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _cached(cache: Path, key: list[int]) -> dict[str, Any] | None:
    try:
        entry = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    data = entry.get("data")
    return data if isinstance(data, dict) else None


def _store(cache: Path, key: list[int], data: dict[str, Any]) -> None:
    """Cache `data` if JSON holds it exactly (YAML also has dates, non-string keys…); a cache
    that cannot be written is only a slower next start."""
    try:
        text = json.dumps({"key": key, "data": data}, ensure_ascii=False)
        if json.loads(text)["data"] != data:
            return
        atomic_write(cache, text, mode=0o600)
    except (OSError, TypeError, ValueError):
        pass


def line_of(path: Path, keypath: KeyPath) -> int | None:
    """The 1-based line of the deepest node of `keypath` found in the file (error path only)."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_loader())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    line = None
    for key in keypath:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == key), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
