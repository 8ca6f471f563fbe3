"""Building blocks of the OpenAPI schemas: the helpers and the common scalar schemas every
group of endpoints (openapi_schemas, openapi_sessions, openapi_files) uses."""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], *required: str, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def nullable(schema: Schema) -> Schema:
    """`schema` or JSON null: the parsers treat a null like an absent field."""
    return {"anyOf": [schema, {"type": "null"}]}


STRING: Final[Schema] = {"type": "string"}
NON_EMPTY: Final[Schema] = {"type": "string", "minLength": 1}
# Not only white space: what "a non-empty string" means for a message or a username.
SOME_TEXT: Final[Schema] = {"type": "string", "pattern": r"\S"}
NO_CONTROL: Final = r"^[^\u0000-\u001f\u007f-\u009f]*$"
BOOLEAN: Final[Schema] = {"type": "boolean"}
POSITIVE: Final[Schema] = {"type": "integer", "minimum": 1}
UNIX_TIME: Final[Schema] = {"type": "integer", "description": "seconds since the epoch"}


def sse_event(data: Schema, *, done: bool = False) -> Schema:
    """One event of a stream whose `data` is JSON matching `data` (or `[DONE]`, OpenAI's end
    marker, when `done`)."""
    json_data: Schema = {"type": "string", "contentMediaType": "application/json"}
    json_data["contentSchema"] = data
    return obj(
        {
            "event": STRING,
            "data": {"anyOf": [{"const": "[DONE]"}, json_data]} if done else json_data,
            "id": STRING,
        },
        "data",
    )
