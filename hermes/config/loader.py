"""Load a profile's config.yaml once into the typed schema, with errors that name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hermes.config.schema import Config
from hermes.config.validate import KeyPath, SchemaError, build
from hermes.errors import ConfigError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file ({} if missing or empty); ConfigError with the line if broken."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of keys at the top level")
    return data


def load_config(path: Path) -> Config:
    data = read_yaml(path)
    try:
        config: Config = build(Config, data)
    except SchemaError as exc:
        line = line_of(path, exc.keypath)
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {exc}") from None
    return config


def line_of(path: Path, keypath: KeyPath) -> int | None:
    """The 1-based line of the deepest node of `keypath` found in the file (error path only)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
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
