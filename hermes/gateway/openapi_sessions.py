"""The OpenAPI schemas of the session API (/api/v1/chat…) and ACP (/api/v1/acp)."""

from __future__ import annotations

from typing import Final

from hermes.gateway.openapi_base import (
    BOOLEAN,
    NO_CONTROL,
    POSITIVE,
    SOME_TEXT,
    STRING,
    Schema,
    nullable,
    obj,
    ref,
    sse_event,
)
from hermes.gateway.sessions import MAX_PAGE, MAX_PAGE_SIZE
from hermes.stores.sessions import MAX_USERNAME

SESSION_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
PAGE: Final[Schema] = {**POSITIVE, "maximum": MAX_PAGE}
PAGE_SIZE: Final[Schema] = {**POSITIVE, "maximum": MAX_PAGE_SIZE}


USERNAME: Final = {
    "type": "string",
    "maxLength": MAX_USERNAME,
    "allOf": [{"pattern": r"\S"}, {"pattern": NO_CONTROL}],
}
SESSION_ID: Final = {"type": "string", "pattern": SESSION_ID_PATTERN}
SESSION_CHAT_REQUEST: Final = obj(
    {
        "username": USERNAME,
        "message": SOME_TEXT,
        "session_id": nullable(SESSION_ID),
        "stream": {**BOOLEAN, "default": True},
    },
    "username",
    "message",
    description="One message to a session of `username` (a new one without `session_id`).",
)
NEW_SESSION_REQUEST: Final = obj(
    {"username": USERNAME, "session_id": nullable(SESSION_ID)}, "username"
)
_TURN_USAGE: Final = ref("Usage")
_TOOL_CALL_SEEN: Final = obj(
    {"tool": STRING, "arguments": {}, "output": STRING}, "tool", "arguments"
)
SESSION_TURN: Final = obj(
    {
        "session_id": STRING,
        "text": STRING,
        "usage": _TURN_USAGE,
        "tool_calls": {"type": "array", "items": _TOOL_CALL_SEEN},
        "reasoning": {**STRING, "description": "the model's reasoning, when it gave any"},
    },
    "session_id",
    "text",
    "usage",
    "tool_calls",
)
SESSION_INFO: Final = obj(
    {
        "session_id": STRING,
        "title": {"type": ["string", "null"]},
        "created_at": {**STRING, "format": "date-time"},
        "updated_at": {**STRING, "format": "date-time"},
        "message_count": {"type": "integer", "minimum": 0},
    },
    "session_id",
    "title",
    "created_at",
    "updated_at",
    "message_count",
)
SESSION_LIST: Final = obj(
    {
        "sessions": {"type": "array", "items": ref("SessionInfo")},
        "page": PAGE,
        "page_size": PAGE_SIZE,
        "total": {"type": "integer", "minimum": 0},
    },
    "sessions",
    "page",
    "page_size",
    "total",
)
SESSION: Final = {
    "allOf": [
        ref("SessionInfo"),
        obj(
            {
                "messages": {
                    "type": "array",
                    "items": obj({"role": STRING, "created_at": STRING}, "role", "created_at"),
                }
            },
            "messages",
        ),
    ]
}
SESSION_DELETED: Final = obj(
    {"session_id": STRING, "deleted": {"const": True}}, "session_id", "deleted"
)
ACP_REQUEST: Final = obj(
    {
        "acp_version": {"const": "1.0"},
        "type": {"const": "chat.request"},
        "payload": obj(
            {
                "message": SOME_TEXT,
                "session_id": {"anyOf": [{"const": ""}, SESSION_ID, {"type": "null"}]},
                "stream": BOOLEAN,
                "context": {
                    "anyOf": [STRING, {"type": "object"}, {"type": "null"}],
                    "description": "extra context for this turn only (given as instructions)",
                },
            },
            "message",
        ),
        "metadata": obj(
            {"user_id": USERNAME, "timestamp": {**STRING, "description": "ISO 8601"}}, "user_id"
        ),
    },
    "acp_version",
    "type",
    "payload",
    "metadata",
)
ACP_ENVELOPE: Final = obj(
    {
        "acp_version": {"const": "1.0"},
        "type": {"enum": ["chat.response", "tool.call", "tool.result", "error"]},
        "payload": {"type": "object"},
        "metadata": obj({"timestamp": STRING, "user_id": STRING}, "timestamp", "user_id"),
    },
    "acp_version",
    "type",
    "payload",
    "metadata",
)
SESSION_STREAM_EVENT: Final = sse_event(
    obj(
        {
            "type": {
                "enum": [
                    "session_id",
                    "reasoning",
                    "delta",
                    "tool_call",
                    "tool_result",
                    "complete",
                    "error",
                    "end",
                ]
            }
        },
        "type",
    )
)
ACP_STREAM_EVENT: Final = sse_event(ref("AcpEnvelope"))

SESSION_COMPONENTS: Final[dict[str, Schema]] = {
    "SessionChatRequest": SESSION_CHAT_REQUEST,
    "NewSessionRequest": NEW_SESSION_REQUEST,
    "SessionTurn": SESSION_TURN,
    "SessionInfo": SESSION_INFO,
    "SessionList": SESSION_LIST,
    "Session": SESSION,
    "SessionDeleted": SESSION_DELETED,
    "AcpRequest": ACP_REQUEST,
    "AcpEnvelope": ACP_ENVELOPE,
    "SessionStreamEvent": SESSION_STREAM_EVENT,
    "AcpStreamEvent": ACP_STREAM_EVENT,
}
