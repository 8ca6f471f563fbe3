"""Turn plain YAML data into the typed schema, and resolve dotted keys for `config set`.

Errors name the dotted key and, for unknown keys, the valid choices ("did you mean …"). The
rules a field's metadata declares (schema.bounded, one_of, required) are checked here, the one
place: by `build` when a config is loaded, and by `check_value` for a value `config set` or an
API_SERVER_* variable gives."""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

KeyPath = tuple[str | int, ...]


class SchemaError(ValueError):
    """A value does not fit the schema; `keypath` says where."""

    def __init__(self, keypath: KeyPath, message: str) -> None:
        super().__init__(message)
        self.keypath = keypath
        self.message = message

    def __str__(self) -> str:
        where = dotted(self.keypath)
        return f"{where}: {self.message}" if where else self.message


def dotted(keypath: KeyPath) -> str:
    return ".".join(str(k) for k in keypath)


@functools.cache
def hints(cls: Any) -> dict[str, Any]:
    return get_type_hints(cls)


def suggest(word: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; valid keys: {', '.join(choices)}"


def describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(hint))
    if origin is list:
        inner = describe(get_args(hint)[0]).removeprefix("a ").removeprefix("an ")
        return f"a list of {inner}s"
    if origin is dict:
        return f"a mapping of names to {describe(get_args(hint)[1])}"
    names = {
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        str: "a string",
        type(None): "null",
    }
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def takes_text(hint: Any) -> bool:
    """True for fields whose values are strings (str, str | None, a Literal of strings): a CLI or
    env value for them is taken as typed, so `off` stays "off" rather than YAML's false."""
    if hint is str:
        return True
    args = get_args(hint)
    if get_origin(hint) is Literal:
        return all(isinstance(a, str) for a in args)
    if get_origin(hint) in (Union, types.UnionType):
        return all(a is type(None) or takes_text(a) for a in args)
    return False


def build(cls: Any, data: Any, keypath: KeyPath = ()) -> Any:
    """An instance of dataclass `cls` from a mapping, validating every value."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SchemaError(keypath, f"expected a mapping, got {_show(data)}")
    fields = hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    metadata = metadata_of(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise SchemaError((*keypath, str(key)), "unknown key" + suggest(str(key), names))
        values[key] = coerce(value, fields[key], (*keypath, key))
        check_value(values[key], metadata[key], (*keypath, key))
    for name in names:
        if metadata[name].get("required") and values.get(name) in (None, ""):
            raise SchemaError((*keypath, name), f"required ({metadata[name].get('doc', name)})")
    built = cls(**values)
    if not keypath:  # the whole config: names that refer to other parts of it
        check_names(built, built, ())
    return built


@functools.cache
def metadata_of(cls: Any) -> dict[str, Mapping[str, Any]]:
    return {f.name: f.metadata for f in dataclasses.fields(cls)}


def check_value(value: Any, metadata: Mapping[str, Any], keypath: KeyPath) -> None:
    """A field's declared range, and the names it may take. Names that may also be those of
    entries elsewhere in the config (`names_of`) wait for check_names and the whole config."""
    check_bounds(value, metadata, keypath)
    if "choices" in metadata and "names_of" not in metadata:
        check_choices(value, metadata["choices"], keypath)
    pattern = metadata.get("pattern")
    if pattern is not None and isinstance(value, str) and not pattern.fullmatch(value):
        raise SchemaError(keypath, f"{_show(value)} is not {metadata['pattern_doc']}")


def check_names(obj: Any, root: Any, keypath: KeyPath) -> None:
    """Every `names_of` field in the built config `obj` (model.provider, model.fallbacks): one
    of its choices or the name of an entry of the list it names (`providers`)."""
    for f in dataclasses.fields(obj):
        value, where = getattr(obj, f.name), (*keypath, f.name)
        source = f.metadata.get("names_of")
        if source is not None:
            entries = [getattr(e, "name", None) for e in getattr(root, source, ())]
            choices = tuple(f.metadata.get("choices", ()))
            check_choices(value, choices, where, source, tuple(n for n in entries if n))
        if dataclasses.is_dataclass(value):
            check_names(value, root, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    check_names(item, root, (*where, i))


def check_choices(
    value: Any,
    choices: tuple[str, ...],
    keypath: KeyPath,
    source: str | None = None,
    names: tuple[str, ...] = (),
) -> None:
    """`value` (or each item of a list) is one of `choices` or of `names` (the entries of the
    list `source`); None passes."""
    items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
    for i, item in items:
        if item is None or item in choices or item in names:
            continue
        wanted = [f"one of {', '.join(choices)}"] if choices else []
        if source is not None:
            defined = f"{', '.join(names)}" if names else "none defined"
            wanted.append(f"the name of an entry of `{source}` ({defined})")
        where = keypath if i is None else (*keypath, i)
        raise SchemaError(
            where,
            f"unknown {_show(item)}; expected {' or '.join(wanted)}"
            + _close(item, (*choices, *names)),
        )


def check_bounds(value: Any, metadata: Mapping[str, Any], keypath: KeyPath) -> None:
    """The range a field's metadata declares (schema.bounded); values of other types pass."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    rules = (("above", ">", operator.gt), ("least", ">=", operator.ge), ("most", "<=", operator.le))
    wanted = [(sym, lim, ok) for key, sym, ok in rules if (lim := metadata.get(key)) is not None]
    if not all(ok(value, limit) for _, limit, ok in wanted):
        terms = " and ".join(f"{sym} {limit}" for sym, limit, _ in wanted)
        raise SchemaError(keypath, f"expected a number {terms}, got {_show(value)}")


def coerce(value: Any, hint: Any, keypath: KeyPath) -> Any:
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, keypath)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, keypath)
            except SchemaError:
                continue
        raise SchemaError(keypath, f"expected {describe(hint)}, got {_show(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(keypath, f"expected {describe(hint)}, got {_show(value)}")
        (item,) = get_args(hint)
        return [coerce(v, item, (*keypath, i)) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(keypath, f"expected {describe(hint)}, got {_show(value)}")
        key_hint, item = get_args(hint)
        return {
            coerce(k, key_hint, keypath): coerce(v, item, (*keypath, str(k)))
            for k, v in value.items()
        }
    if origin is Literal:
        choices = get_args(hint)
        if isinstance(value, bool) and ("on" if value else "off") in choices:
            return "on" if value else "off"  # YAML 1.1 reads a bare on / off as true / false
        if value not in choices:
            raise SchemaError(
                keypath, f"expected {describe(hint)}, got {_show(value)}" + _close(value, choices)
            )
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    raise SchemaError(keypath, f"expected {describe(hint)}, got {_show(value)}")


def _close(value: Any, choices: tuple[Any, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def field_hint(root: type, key: str) -> Any:
    """The type of dotted `key` in the schema rooted at `root`; SchemaError if there is none."""
    cls: Any = root
    hint: Any = root
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            raise SchemaError(tuple(parts[:i]), f"{describe(hint)} has no sub-keys")
        fields = hints(root if i == 0 else hint)
        if part not in fields:
            names = list(fields)
            raise SchemaError(tuple(parts[: i + 1]), "unknown key" + suggest(part, names))
        hint = fields[part]
        cls = hint
    return hint


def field_metadata(root: type, key: str) -> Mapping[str, Any]:
    """The metadata (doc, bounds, choices) of dotted `key`; SchemaError if there is no such key."""
    field_hint(root, key)
    parent, _, name = key.rpartition(".")
    return metadata_of(field_hint(root, parent) if parent else root)[name]


def field_default(root: type, key: str) -> Any:
    """The schema default of dotted `key`."""
    obj: Any = root()
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts and lists (for JSON / YAML output)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    return obj
