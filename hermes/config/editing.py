"""`config set / unset`: change one key of config.yaml or .env, validated, atomically, and safe
against a concurrent writer (the caller holds the profile's lock around read-modify-write).

config.yaml is edited with ruamel.yaml's round-trip mode so the user's comments and key order
survive; this module is imported only by the commands that write."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from hermes.config import textfile
from hermes.config.loader import load_config, yaml_problem
from hermes.config.schema import Config
from hermes.config.validate import (
    SchemaError,
    build,
    check_value,
    coerce,
    dotted,
    field_hint,
    field_metadata,
    takes_text,
    to_plain,
)
from hermes.errors import ConfigError
from hermes.fsutil import atomic_write


def parse_cli_value(key: str, raw: str, *, schema: type = Config) -> Any:
    """A CLI string typed the YAML way (`true`, `3`, `[a, b]`) and checked against the schema:
    its type, and the range or names the schema declares for the key. Plain string fields take
    the text as given, so `model.name 3` stays the string "3"."""
    try:
        hint = field_hint(schema, key)
        if takes_text(hint):
            value: Any = raw
        else:
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
        keypath = tuple(key.split("."))
        typed = coerce(value, hint, keypath)
        check_value(typed, field_metadata(schema, key), keypath)
    except SchemaError as exc:
        raise ConfigError(str(exc), param=key) from None
    return to_plain(typed)


def _yaml() -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096
    return rt


def _load_rt(path: Path, key: str, schema: type) -> CommentedMap:
    """config.yaml for editing `key`. A file that does not load is refused (the error names the
    line) unless what is wrong is `key` itself: the edit may be what fixes it, and the result is
    checked before it is written."""
    try:
        _check_file(path, schema)
    except ConfigError as exc:
        if exc.param is None or not (exc.param == key or exc.param.startswith(key + ".")):
            raise
    data = _load_editable(path)
    return data if isinstance(data, CommentedMap) else CommentedMap()


def _load_editable(path: Path) -> Any:
    """config.yaml through the round-trip editor, which refuses some files PyYAML reads (a
    duplicate key, nesting deeper than it recurses): a ConfigError naming the line, if any."""
    from ruamel.yaml.error import YAMLError

    text = textfile.read(path) or ""
    try:
        return _yaml().load(text) if text.strip() else None
    except (YAMLError, ValueError) as exc:
        raise ConfigError(yaml_problem(path, exc, "cannot edit")) from None
    except RecursionError:
        raise ConfigError(f"{path}: cannot edit: nested too deeply") from None


def _check_file(path: Path, schema: type) -> None:
    """The file as it is loads into `schema` (ConfigError naming the line otherwise)."""
    if schema is Config:
        load_config(path)
        return
    from hermes.config.loader import read_yaml

    try:
        build(schema, read_yaml(path))
    except SchemaError as exc:
        raise ConfigError(f"{path}: {exc}", param=dotted(exc.keypath) or None) from None


def _dump(path: Path, data: CommentedMap, schema: type) -> None:
    buf = io.StringIO()
    _yaml().dump(data, buf)
    try:
        build(schema, yaml.safe_load(buf.getvalue()))
    except SchemaError as exc:  # belt and braces: never write a file that would not load
        raise ConfigError(f"{path}: {exc}", param=dotted(exc.keypath)) from None
    atomic_write(path, buf.getvalue(), mode=0o644)


def set_yaml_key(path: Path, key: str, value: Any, *, schema: type = Config) -> None:
    data = _load_rt(path, key, schema)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = CommentedMap()
            node[part] = child
        node = child
    node[parts[-1]] = _quoted(value)
    _dump(path, data, schema)


def _quoted(value: Any) -> Any:
    """Quote strings a YAML 1.1 reader (PyYAML, which loads config.yaml) would read as something
    else: ruamel writes YAML 1.2, where `off` or `yes` are plain strings."""
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value or '""') == value
        except yaml.YAMLError:
            plain = False
        return value if plain else DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return [_quoted(v) for v in value]
    if isinstance(value, dict):
        return {k: _quoted(v) for k, v in value.items()}
    return value


def unset_yaml_key(path: Path, key: str, *, schema: type = Config) -> bool:
    """Remove `key`; True if it was present. Emptied parent mappings are removed too."""
    field_hint(schema, key)
    data = _load_rt(path, key, schema)
    if not _remove(data, key.split(".")):
        return False
    _dump(path, data, schema)
    return True


def drop_yaml_keys(path: Path, keys: list[str]) -> None:
    """Remove each dotted key of `keys` that is present, keeping comments and order, without
    checking the file against this version's schema before or after: it may come from
    elsewhere (a profile archive) and hold keys this version does not know yet, such as a newer
    hermes's sections. Removing keys only brings defaults back, so a file that loaded still
    does. A file ruamel cannot read (duplicate keys, for one) is a ConfigError."""
    data = _load_editable(path)
    if not isinstance(data, CommentedMap):
        return
    removed = [key for key in keys if _remove(data, key.split("."))]
    if removed:
        buf = io.StringIO()
        _yaml().dump(data, buf)
        atomic_write(path, buf.getvalue(), mode=0o644)


def _remove(data: CommentedMap, parts: list[str]) -> bool:
    """Delete the node at `parts` and any mapping the removal left empty; False if absent."""
    chain: list[tuple[Any, str]] = []
    node: Any = data
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        chain.append((node, part))
        node = node[part]
    parent, last = chain[-1]
    trailing, prev = _trailing_comment(parent, last), _previous(parent, last)
    try:
        del parent[last]
    except KeyError:  # present only through a YAML merge key (`<<: *anchor`)
        return False
    for above, part in reversed(chain[:-1]):  # drop mappings the removal left empty
        if isinstance(above[part], dict) and not above[part]:
            parent, prev = above, _previous(above, part)
            del above[part]
        else:
            break
    if trailing and prev is not None:
        _append_comment(parent, prev, trailing)
    return True


def _previous(mapping: Any, key: str) -> str | None:
    keys = list(mapping)
    index = keys.index(key)
    return str(keys[index - 1]) if index > 0 else None


def _trailing_comment(mapping: Any, key: str) -> str:
    """The comment and blank lines after `key`'s value (not its own end-of-line comment):
    ruamel keeps them on the key, and would drop them with it."""
    value = mapping[key]
    if isinstance(value, CommentedMap) and value:
        return _trailing_comment(value, list(value)[-1])
    token = mapping.ca.items.get(key, [None] * 4)[2] if isinstance(mapping, CommentedMap) else None
    if token is None or "\n" not in token.value:
        return ""
    return str(token.value.split("\n", 1)[1])


def _append_comment(mapping: Any, key: str, text: str) -> None:
    """Put `text` back after `key`'s value (after its last leaf, if it holds a mapping)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    while isinstance(mapping[key], CommentedMap) and mapping[key]:
        mapping = mapping[key]
        key = list(mapping)[-1]
    if not isinstance(mapping, CommentedMap):
        return
    slot = mapping.ca.items.setdefault(key, [None, None, None, None])
    if slot[2] is None:
        slot[2] = CommentToken("\n" + text, CommentMark(0), None)
    else:
        slot[2].value = slot[2].value + text
