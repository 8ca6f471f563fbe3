"""The ACP envelope around the session API: `{acp_version, type, payload, metadata}`.

A request is a `chat.request` envelope; every answer is an envelope too (`chat.response`, and in
a stream also `tool.call`, `tool.result` and `error`), with `metadata.timestamp` in ISO 8601.
Pure encode/decode: the gateway maps these onto the same session turn as /api/v1/chat."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hermes.errors import InvalidRequest
from hermes.wire.fastjson import MAX_DEPTH, dumps_text, preview

ACP_VERSION = "1.0"
REQUEST_TYPE = "chat.request"


@dataclass(frozen=True, slots=True)
class AcpRequest:
    user_id: str
    message: str
    session_id: str | None
    context: str | None  # extra context for this turn only, given to the model as instructions
    stream: bool


def parse_request(body: Any) -> AcpRequest:
    """The envelope's fields, or InvalidRequest naming the first bad one (as `param`)."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("the request body must be an ACP envelope (a JSON object)")
    if body.get("acp_version") != ACP_VERSION:
        raise _bad(
            "acp_version", f"must be {ACP_VERSION!r}, got {preview(body.get('acp_version'))!r}"
        )
    if body.get("type") != REQUEST_TYPE:
        raise _bad("type", f"must be {REQUEST_TYPE!r}, got {preview(body.get('type'))!r}")
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        raise _bad("payload", "is required: an object with `message` (and `session_id`)")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise _bad("metadata", "must be an object with `user_id`")
    user_id = metadata.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip():
        raise _bad("metadata.user_id", "is required: the user the session belongs to")
    if not isinstance(metadata.get("timestamp", ""), str):
        raise _bad("metadata.timestamp", "must be a string (ISO 8601)")
    message = payload.get("message")
    if not isinstance(message, str) or not message.strip():
        raise _bad("payload.message", "is required: a non-empty string")
    session_id = payload.get("session_id")
    if session_id is not None and not isinstance(session_id, str):
        raise _bad("payload.session_id", "must be a string")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("payload.stream", "must be true or false")
    return AcpRequest(user_id, message, session_id or None, _context(payload), stream)


def _context(payload: Mapping[str, Any]) -> str | None:
    context = payload.get("context")
    if context is None or context == {} or context == "":
        return None
    if isinstance(context, str):
        return context
    if not isinstance(context, Mapping):
        raise _bad("payload.context", "must be a string or an object")
    try:
        return dumps_text(context)
    except ValueError:
        raise _bad("payload.context", f"is nested more than {MAX_DEPTH} levels deep") from None


def _bad(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"invalid ACP envelope: `{field}` {problem}", param=field)


def envelope(kind: str, payload: dict[str, Any], user_id: str) -> dict[str, Any]:
    return {
        "acp_version": ACP_VERSION,
        "type": kind,
        "payload": payload,
        "metadata": {"timestamp": now_iso(), "user_id": user_id},
    }


def from_event(event: Mapping[str, Any], session_id: str, user_id: str) -> dict[str, Any] | None:
    """The envelope for one session-stream event (see hermes.gateway.session_chat), or None for
    the events ACP has no envelope for (the session id travels in every payload instead)."""
    kind, base = event["type"], {"session_id": session_id}
    if kind == "delta":
        return envelope("chat.response", {**base, "delta": event["text"]}, user_id)
    if kind == "tool_call":
        call = {"tool": event["tool"], "arguments": event["arguments"]}
        return envelope("tool.call", {**base, **call}, user_id)
    if kind == "tool_result":
        result = {"tool": event["tool"], "output": event["output"]}
        return envelope("tool.result", {**base, **result}, user_id)
    if kind == "complete":
        done = {"message": event["text"], "usage": event["usage"], "done": True}
        return envelope("chat.response", {**base, **done}, user_id)
    if kind == "error":
        return envelope("error", {**base, "message": event["message"]}, user_id)
    return None


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
