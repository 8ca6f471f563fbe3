"""A tool's JSON schema, derived from its signature and its Google-style docstring, and the check
of a model's arguments against it."""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from hermes.tools.errors import ToolArgumentError

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SECTION_RE = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):$")
_ARG_RE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class Param:
    """One model-facing parameter of a tool."""

    name: str
    schema: dict[str, Any]
    required: bool
    nullable: bool


def describe(fn: Callable[..., Any]) -> tuple[str, list[Param]]:
    """The description (the docstring's first paragraph) and the parameters after `ctx`."""
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = get_type_hints(fn)
    except Exception as exc:
        raise TypeError(f"tool {fn.__name__}: cannot resolve annotations: {exc}") from exc
    params: list[Param] = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise TypeError(f"tool {fn.__name__}: parameter {p.name!r} must be a named parameter")
        if p.name not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter {p.name!r} needs a type annotation")
        schema, nullable = type_schema(hints[p.name], where=f"{fn.__name__}.{p.name}")
        if p.name in arg_docs:
            schema["description"] = arg_docs[p.name]
        params.append(Param(p.name, schema, p.default is p.empty, nullable))
    return summary, params


def parameters_schema(params: list[Param]) -> dict[str, Any]:
    """The OpenAI function-calling `parameters` object."""
    return {
        "type": "object",
        "properties": {p.name: p.schema for p in params},
        "required": [p.name for p in params if p.required],
        "additionalProperties": False,
    }


def type_schema(annotation: Any, *, where: str) -> tuple[dict[str, Any], bool]:
    """JSON schema for one annotation, and whether it admits None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"{where}: only `X | None` unions are supported")
        return type_schema(rest[0], where=where)[0], True
    if origin is Literal:
        kinds = {type(a) for a in args}
        if len(kinds) != 1 or next(iter(kinds)) not in _SCALARS:
            raise TypeError(f"{where}: Literal values must share one of str/int/float/bool")
        return {"type": _SCALARS[next(iter(kinds))], "enum": list(args)}, False
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return {"type": "array", "items": {"type": _SCALARS[args[0]]}}, False
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}, False
    raise TypeError(f"{where}: unsupported annotation {annotation!r}")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each `name: description` of the `Args:` section."""
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()):
            break
        summary.append(line.strip())
    return " ".join(summary), _parse_args(lines)


def _parse_args(lines: list[str]) -> dict[str, str]:
    docs: dict[str, str] = {}
    start = next((i for i, ln in enumerate(lines) if ln.strip() in ("Args:", "Arguments:")), None)
    if start is None:
        return docs
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        match = _ARG_RE.match(line.strip())
        if match and (entry_indent is None or indent <= entry_indent):
            entry_indent, current = indent, match.group(1)
            docs[current] = match.group(2)
        elif current is not None:
            docs[current] = f"{docs[current]} {line.strip()}".strip()
    return docs


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def validate_args(params: list[Param], args: Mapping[str, Any]) -> dict[str, Any]:
    """Checked keyword arguments for the tool; every problem at once in one ToolArgumentError.

    A null for a parameter with a default means "use the default": models send those often."""
    known = {p.name: p for p in params}
    problems = [f"unknown argument {name!r}" for name in args if name not in known]
    out: dict[str, Any] = {}
    for p in params:
        value = args.get(p.name)
        if value is None:
            if p.required and not (p.nullable and p.name in args):
                problems.append(f"missing required argument {p.name!r}")
            elif p.required:
                out[p.name] = None
            continue
        try:
            out[p.name] = check_value(p.name, p.schema, value)
        except ToolArgumentError as exc:
            problems.append(exc.message)
    if problems:
        expected = ", ".join(p.name for p in params) or "none"
        raise ToolArgumentError(f"{'; '.join(problems)} (arguments: {expected})")
    return out


def check_value(name: str, schema: Mapping[str, Any], value: Any) -> Any:
    """`value` converted to the schema's Python type, or ToolArgumentError."""
    kind = schema["type"]
    if kind == "array":
        if not isinstance(value, list):
            raise _wrong(name, "an array", value)
        return [check_value(f"{name}[{i}]", schema["items"], v) for i, v in enumerate(value)]
    checked = _scalar(name, kind, value)
    if "enum" in schema and checked not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        raise ToolArgumentError(f"argument {name!r} must be one of {choices}, got {value!r}")
    return checked


def _scalar(name: str, kind: str, value: Any) -> Any:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "number" and is_number:
        return float(value)
    if kind == "integer" and is_number and float(value).is_integer():
        return int(value)
    article = "an" if kind == "integer" else "a"
    raise _wrong(name, f"{article} {kind}", value)


def _wrong(name: str, expected: str, value: Any) -> ToolArgumentError:
    return ToolArgumentError(f"argument {name!r} must be {expected}, got {json_type(value)}")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)
