"""The JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of every body a gateway reads or
writes, built from the validators' own limits so the two cannot drift apart silently.

What a schema here says, the parser enforces: the Schemathesis run in the suite sends data that
breaks each constraint and expects a 4xx (`negative_data_rejection`), and a unit test sends each
documented request field with a wrong type and expects a 400 naming it. The request schemas
allow unknown fields (`additionalProperties` is left open): OpenAI clients send many (`user`,
`seed`, `logprobs`, ...) and the gateway ignores what it does not use."""

from __future__ import annotations

from typing import Final

from hermes.gateway.openapi_base import (
    BOOLEAN,
    NO_CONTROL,
    NON_EMPTY,
    STRING,
    UNIX_TIME,
    Schema,
    nullable,
    obj,
    ref,
    sse_event,
)
from hermes.gateway.openapi_files import FILE_COMPONENTS, IMAGE_AND_FILE_PARTS
from hermes.gateway.openapi_sessions import SESSION_COMPONENTS
from hermes.gateway.openapi_tools import (
    CHAT_TOOL_CHOICE,
    CHAT_TOOLS,
    PARALLEL_TOOL_CALLS,
    RESPONSES_TOOL_CHOICE,
    RESPONSES_TOOLS,
)
from hermes.wire.openai_chat_request import _MAX_STOP
from hermes.wire.openai_responses_request import (
    _MAX_ID,
    _MAX_METADATA,
    _MAX_METADATA_KEY,
    _MAX_METADATA_VALUE,
)
from hermes.wire.request_fields import MAX_TOKENS

TOKENS: Final[Schema] = {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS}
# A name for a stored thing (a response id, a conversation): bounded, no control characters.
STORED_NAME: Final[Schema] = {
    "type": "string",
    "minLength": 1,
    "maxLength": _MAX_ID,
    "pattern": NO_CONTROL,
}


def _number(low: float, high: float) -> Schema:
    return nullable({"type": "number", "minimum": low, "maximum": high})


# ---------------------------------------------------------------------------------------------
# Errors


ERROR: Final = obj(
    {
        "error": obj(
            {
                "message": {**STRING, "description": "what went wrong, safe to show a user"},
                "type": {
                    **STRING,
                    "description": "invalid_request_error, permission_error, rate_limit_error, "
                    "upstream_error or server_error",
                },
                "param": {
                    "type": ["string", "null"],
                    "description": "the request field at fault, as a path (messages[0].role)",
                },
                "code": {
                    "type": ["string", "null"],
                    "description": "a stable code: see the README's table of error codes",
                },
            },
            "message",
            "type",
            "param",
            "code",
        )
    },
    "error",
    description="Every error, in the OpenAI shape.",
)

# ---------------------------------------------------------------------------------------------
# Chat completions


_TEXT_PART: Final = obj(
    {"type": {"const": "text"}, "text": STRING}, "type", "text", additionalProperties=True
)
_MEDIA_TYPES: Final = ["image_url", "input_image", "file", "input_file"]
_OTHER_PART: Final = obj(
    {"type": {**STRING, "not": {"enum": _MEDIA_TYPES}}},
    "type",
    description="input_audio, refusal, ...: dropped",
)
_CHAT_CONTENT: Final[Schema] = {
    "anyOf": [
        STRING,
        {"type": "array", "items": {"anyOf": [_TEXT_PART, *IMAGE_AND_FILE_PARTS, _OTHER_PART]}},
    ],
    "description": "a string, or content parts; a `text` part needs its `text`; images and "
    "files only in user messages",
}
CHAT_TOOL_CALL: Final = obj(
    {
        "id": NON_EMPTY,
        "type": {"const": "function"},
        "function": obj(
            {"name": NON_EMPTY, "arguments": {"anyOf": [STRING, {"type": "object"}]}}, "name"
        ),
    },
    "id",
    "function",
)
_NAME: Final = nullable(STRING)
CHAT_MESSAGE: Final[Schema] = {
    "oneOf": [
        obj(
            {
                "role": {"enum": ["system", "developer", "user"]},
                "content": _CHAT_CONTENT,
                "name": _NAME,
            },
            "role",
            "content",
        ),
        obj(
            {
                "role": {"const": "assistant"},
                "content": nullable(_CHAT_CONTENT),
                "tool_calls": nullable({"type": "array", "items": CHAT_TOOL_CALL}),
                "name": _NAME,
            },
            "role",
        ),
        obj(
            {
                "role": {"const": "tool"},
                "content": _CHAT_CONTENT,
                "tool_call_id": NON_EMPTY,
                "name": _NAME,
            },
            "role",
            "content",
            "tool_call_id",
        ),
    ]
}
REASONING_EFFORT: Final = {
    **nullable({"enum": ["minimal", "low", "medium", "high"]}),
    "description": "how hard a reasoning model thinks; passed on to providers that take it",
}
CHAT_REQUEST: Final = obj(
    {
        "messages": {"type": "array", "minItems": 1, "items": ref("ChatMessage")},
        "model": {
            **nullable(STRING),
            "description": "the profile's model id (GET /v1/models); any value reaches it",
        },
        "stream": nullable(BOOLEAN),
        "stream_options": nullable(obj({"include_usage": nullable(BOOLEAN)})),
        "n": {**nullable({"const": 1}), "description": "one choice: the agent answers once"},
        "tools": CHAT_TOOLS,
        "tool_choice": CHAT_TOOL_CHOICE,
        "parallel_tool_calls": PARALLEL_TOOL_CALLS,
        "max_tokens": nullable(TOKENS),
        "max_completion_tokens": {
            **nullable(TOKENS),
            "description": "takes precedence over max_tokens",
        },
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "stop": nullable(
            {"anyOf": [STRING, {"type": "array", "maxItems": _MAX_STOP, "items": STRING}]}
        ),
        "reasoning_effort": REASONING_EFFORT,
    },
    "messages",
    description="OpenAI's chat completion request. The profile's own tools run in the gateway; "
    "`tools` are the client's, which end the turn with `finish_reason: tool_calls`.",
)
_INTEGER: Final[Schema] = {"type": "integer"}
_USAGE: Final = obj(
    {"prompt_tokens": _INTEGER, "completion_tokens": _INTEGER, "total_tokens": _INTEGER},
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)
FINISH_REASONS: Final = ("stop", "length", "tool_calls", "content_filter")


def _chat_object(kind: str, choice: Schema) -> Schema:
    """A `chat.completion` or `chat.completion.chunk`: the same envelope, its choices differ."""
    return obj(
        {
            "id": STRING,
            "object": {"const": kind},
            "created": UNIX_TIME,
            "model": STRING,
            "choices": {"type": "array", "items": choice},
            "usage": ref("Usage"),
        },
        "id",
        "object",
        "created",
        "model",
        "choices",
    )


CHAT_COMPLETION: Final = _chat_object(
    "chat.completion",
    obj(
        {
            "index": _INTEGER,
            "message": obj(
                {
                    "role": {"const": "assistant"},
                    "content": {"type": ["string", "null"]},
                    "refusal": {"type": ["string", "null"]},
                    "tool_calls": {"type": "array", "items": CHAT_TOOL_CALL},
                    "reasoning_content": {
                        **STRING,
                        "description": "the model's reasoning (api_server.show_reasoning)",
                    },
                },
                "role",
                "content",
            ),
            "logprobs": {"type": "null"},
            "finish_reason": {"enum": list(FINISH_REASONS)},
        },
        "index",
        "message",
        "finish_reason",
    ),
)

# ---------------------------------------------------------------------------------------------
# Responses


_RESPONSES_TEXT: Final = ("input_text", "output_text", "text")
_INPUT_PART: Final = {
    "anyOf": [
        obj({"type": {"enum": list(_RESPONSES_TEXT)}, "text": STRING}, "type"),
        *IMAGE_AND_FILE_PARTS,
        obj(
            {"type": {**STRING, "not": {"enum": [*_RESPONSES_TEXT, *_MEDIA_TYPES]}}},
            "type",
            description="refusal, ...: dropped",
        ),
    ],
    "description": "a text part (input_text, output_text, text) needs its `text`; images and "
    "files only in user messages (in a function_call_output they are dropped)",
}
_INPUT_CONTENT: Final = {"anyOf": [STRING, {"type": "array", "items": _INPUT_PART}]}
_ARGUMENTS: Final = {"anyOf": [STRING, {"type": "object"}]}
RESPONSES_INPUT_ITEM: Final[Schema] = {
    "oneOf": [
        obj(
            {
                "type": {"const": "message"},
                "role": {"enum": ["user", "assistant", "system", "developer"]},
                "content": _INPUT_CONTENT,
            },
            "role",
            "content",
        ),
        obj(
            {
                "type": {"const": "function_call"},
                "call_id": NON_EMPTY,
                "name": NON_EMPTY,
                "arguments": _ARGUMENTS,
            },
            "type",
            "call_id",
            "name",
            "arguments",
        ),
        obj(
            {"type": {"const": "function_call_output"}, "call_id": NON_EMPTY}
            | {"output": _INPUT_CONTENT},
            "type",
            "call_id",
            "output",
        ),
        obj(
            {
                "type": {"const": "mcp_call"},
                "id": NON_EMPTY,
                "name": NON_EMPTY,
                "arguments": _ARGUMENTS,
                "server_label": STRING,
                "output": nullable(STRING),
                "error": {"anyOf": [STRING, {"type": "object"}, {"type": "null"}]},
            },
            "type",
            "id",
            "name",
            "arguments",
            description="a tool the gateway ran, as its response gave it",
        ),
        obj(
            {"type": {"const": "item_reference"}},
            "type",
            description="history the gateway resolves from previous_response_id / conversation",
        ),
        obj(
            {"type": {"const": "reasoning"}},
            "type",
            description="reasoning from an earlier output: accepted and not sent to the model",
        ),
    ]
}
_METADATA: Final = nullable(
    {
        "type": "object",
        "maxProperties": _MAX_METADATA,
        "propertyNames": {"maxLength": _MAX_METADATA_KEY},
        "additionalProperties": {"type": "string", "maxLength": _MAX_METADATA_VALUE},
    }
)
RESPONSES_REQUEST: Final = obj(
    {
        "input": {
            "anyOf": [
                {**NON_EMPTY, "description": "one user message"},
                {"type": "array", "minItems": 1, "items": ref("ResponsesInputItem")},
            ]
        },
        "model": nullable(STRING),
        "instructions": nullable(STRING),
        "previous_response_id": nullable(STORED_NAME),
        "conversation": nullable(
            {"anyOf": [STORED_NAME, obj({"id": STORED_NAME}, "id")]},
        ),
        "tools": RESPONSES_TOOLS,
        "tool_choice": RESPONSES_TOOL_CHOICE,
        "parallel_tool_calls": PARALLEL_TOOL_CALLS,
        "store": nullable(BOOLEAN),
        "background": {
            **nullable(BOOLEAN),
            "description": "run on whatever the client does (needs store); GET and cancel by id",
        },
        "stream": nullable(BOOLEAN),
        "max_output_tokens": nullable(TOKENS),
        "temperature": _number(0, 2),
        "top_p": _number(0, 1),
        "metadata": _METADATA,
        "reasoning": nullable(obj({"effort": REASONING_EFFORT})),
    },
    "input",
    description="OpenAI's Responses request. `conversation` and `previous_response_id` "
    "exclude each other; `tools` are the client's function tools, offered beside the "
    "profile's own (a call of one ends the turn with `function_call` items); of `reasoning`, "
    "`effort` is passed on; `text` and `truncation` are ignored.",
)
_OUTPUT_ITEM: Final = obj(
    {
        "id": STRING,
        "type": {"enum": ["message", "mcp_call", "function_call", "reasoning"]},
        "status": {"enum": ["in_progress", "completed", "incomplete", "failed"]},
    },
    "id",
    "type",
    description="`message`: the agent's text; `mcp_call` (`server_label: hermes`, `name`, "
    "`arguments`, `output`, `error`): a tool the gateway ran itself, which the client shows "
    "and does not run; `function_call` (`call_id`, `name`, `arguments`): a call of one of the "
    "client's tools, for the client to run and answer with a `function_call_output`; "
    "`reasoning` (`summary`: one `summary_text`): the model's reasoning.",
)
RESPONSE: Final = obj(
    {
        "id": STRING,
        "object": {"const": "response"},
        "created_at": UNIX_TIME,
        "status": {
            "enum": ["queued", "in_progress", "completed", "failed", "incomplete", "cancelled"]
        },
        "model": STRING,
        "output": {"type": "array", "items": _OUTPUT_ITEM},
        "previous_response_id": {"type": ["string", "null"]},
        "conversation": {"anyOf": [obj({"id": STRING}, "id"), {"type": "null"}]},
        "error": {"anyOf": [obj({"code": STRING, "message": STRING}), {"type": "null"}]},
        "metadata": {"type": "object", "additionalProperties": STRING},
        "usage": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
    "id",
    "object",
    "created_at",
    "status",
    "model",
    "output",
)
RESPONSE_DELETED: Final = obj(
    {"id": STRING, "object": {"const": "response"}, "deleted": {"const": True}},
    "id",
    "object",
    "deleted",
)

# ---------------------------------------------------------------------------------------------
# Models, health


MODEL_LIST: Final = obj(
    {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": obj(
                {
                    "id": {**STRING, "description": "the profile's model id"},
                    "object": {"const": "model"},
                    "created": UNIX_TIME,
                    "owned_by": STRING,
                },
                "id",
                "object",
                "created",
                "owned_by",
            ),
        },
    },
    "object",
    "data",
)
HEALTH: Final = obj(
    {
        "status": {"const": "ok"},
        "profile": STRING,
        "model": STRING,
        "version": STRING,
    },
    "status",
    "profile",
    "model",
    "version",
)

# ---------------------------------------------------------------------------------------------
# Streams: each Server-Sent Event as Schemathesis and OpenAPI 3.1 read one, its `data` JSON.


CHAT_CHUNK: Final = _chat_object(
    "chat.completion.chunk",
    obj(
        {
            "index": _INTEGER,
            "delta": {"type": "object"},
            "finish_reason": {"enum": [*FINISH_REASONS, None]},
        },
        "index",
        "delta",
    ),
)
CHAT_STREAM_EVENT: Final = sse_event({"anyOf": [CHAT_CHUNK, ref("Error")]}, done=True)
RESPONSES_STREAM_EVENT: Final = sse_event(
    obj({"type": STRING, "sequence_number": {"type": "integer", "minimum": 0}}, "type")
)

COMPONENTS: Final[dict[str, Schema]] = {
    "Error": ERROR,
    "Usage": _USAGE,
    "ChatMessage": CHAT_MESSAGE,
    "ChatCompletionRequest": CHAT_REQUEST,
    "ChatCompletion": CHAT_COMPLETION,
    "ResponsesInputItem": RESPONSES_INPUT_ITEM,
    "ResponsesRequest": RESPONSES_REQUEST,
    "Response": RESPONSE,
    "ResponseDeleted": RESPONSE_DELETED,
    "ModelList": MODEL_LIST,
    "Health": HEALTH,
    "ChatCompletionChunk": CHAT_CHUNK,
    "ChatStreamEvent": CHAT_STREAM_EVENT,
    "ResponsesStreamEvent": RESPONSES_STREAM_EVENT,
    **SESSION_COMPONENTS,
    **FILE_COMPONENTS,
}
