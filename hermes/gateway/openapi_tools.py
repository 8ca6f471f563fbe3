"""The schemas of a client's own function tools in chat completions and Responses requests
(`tools`, `tool_choice`, `parallel_tool_calls`), from the limits `wire.client_tools` enforces."""

from __future__ import annotations

from typing import Any, Final

from hermes.wire.client_tools import MAX_DESCRIPTION, MAX_TOOLS

Schema = dict[str, Any]


def _obj(properties: dict[str, Schema], *required: str) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_NAME: Final[Schema] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_FUNCTION: Final[dict[str, Schema]] = {
    "name": _NAME,
    "description": _nullable({"type": "string", "maxLength": MAX_DESCRIPTION}),
    "parameters": _nullable(
        {
            "type": "object",
            "properties": {
                "type": {"type": ["string", "array"]},
                "properties": {
                    "type": "object",
                    "additionalProperties": {"type": ["object", "boolean"]},
                },
                "required": {"type": "array", "items": {"type": "string"}},
            },
            "description": "a JSON Schema; absent: no arguments",
        }
    ),
    "strict": _nullable({"type": "boolean"}),
}
_MODES: Final[Schema] = {"enum": ["none", "auto", "required"]}
_NOTE: Final = (
    "the client's own function tools, offered to the model beside the profile's (a name that "
    "clashes with one of the profile's is refused); a call of one ends the turn for the client "
    "to run it; tools of other types (OpenAI's hosted ones) are not offered"
)


def _tools(tool: Schema) -> Schema:
    return _nullable({"type": "array", "maxItems": MAX_TOOLS, "items": tool, "description": _NOTE})


CHAT_TOOLS: Final = _tools(
    _obj({"type": {"const": "function"}, "function": _obj(_FUNCTION, "name")}, "type", "function")
)
RESPONSES_TOOLS: Final = _tools(_obj({"type": {"const": "function"}, **_FUNCTION}, "type", "name"))
CHAT_TOOL_CHOICE: Final = _nullable(
    {
        "anyOf": [
            _MODES,
            _obj(
                {"type": {"const": "function"}, "function": _obj({"name": _NAME}, "name")},
                "type",
                "function",
            ),
        ]
    }
)
RESPONSES_TOOL_CHOICE: Final = _nullable(
    {"anyOf": [_MODES, _obj({"type": {"const": "function"}, "name": _NAME}, "type", "name")]}
)
PARALLEL_TOOL_CALLS: Final = _nullable({"type": "boolean"})
