"""GET /openapi.json: the gateway's OpenAPI 3.1 description, every endpoint with its request
and response schemas (openapi_schemas.py), the error shape and codes, the auth schemes, and
streamed answers described as `text/event-stream`.

Built once per process, on first request (nothing of it is imported at start-up). The examples
are real requests: a test sends each one to a gateway and expects it answered."""

from __future__ import annotations

import functools
from typing import Any, Final

from aiohttp import web

from hermes import __version__
from hermes.gateway import openapi_base as b
from hermes.gateway import openapi_files as f
from hermes.gateway import openapi_schemas as s
from hermes.gateway import openapi_sessions as ss
from hermes.gateway.requests import MAX_IDEMPOTENCY_KEY
from hermes.gateway.sessions import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE

Operation = dict[str, Any]

JSON: Final = "application/json"
SSE: Final = "text/event-stream"
BINARY: Final = "application/octet-stream"

# Status -> (component name, description). Which operation may answer which is listed per path.
ERRORS: Final[dict[int, tuple[str, str]]] = {
    400: ("BadRequest", "The request is malformed or a field is invalid (`param` names it)."),
    401: ("Unauthorized", "Missing or invalid API key (`invalid_api_key`)."),
    403: (
        "Forbidden",
        "`host_not_allowed` (Host is not one of the gateway's names), `origin_not_allowed` "
        "(a web page's request to a gateway without a key), or `forbidden`.",
    ),
    404: ("NotFound", "No such response, session or route (`not_found`)."),
    409: (
        "Conflict",
        "An Idempotency-Key reused with another body (`conflict`), or the profile's file store "
        "is full (`file_limit_reached`).",
    ),
    413: (
        "PayloadTooLarge",
        "The body is over api_server.max_request_bytes (decompressed), or an image or file "
        "over max_image_bytes / max_file_bytes (`file_too_large`).",
    ),
    414: ("UriTooLong", "A URL over 8,190 bytes (`uri_too_long`)."),
    415: (
        "UnsupportedMediaType",
        "A body that is not `Content-Type: application/json` (multipart/form-data for an "
        "upload), or an image or file of a type hermes does not read "
        "(`unsupported_file_type`).",
    ),
    429: (
        "TooManyRequests",
        "api_server.max_concurrent_runs reached (`rate_limit_exceeded`, with Retry-After), or "
        "the provider rate-limited this profile (`upstream_rate_limited`).",
    ),
    431: (
        "HeadersTooLarge",
        "A header line over 8,190 bytes or more than 128 headers "
        "(`request_header_fields_too_large`).",
    ),
    502: ("UpstreamError", "The model provider failed or sent something unusable."),
    504: (
        "UpstreamTimeout",
        "The model provider was silent for longer than model.timeout, or one request to it "
        "outlasted model.request_timeout.",
    ),
}
READ_ERRORS: Final = (400, 401, 403, 414, 431)
BODY_ERRORS: Final = (*READ_ERRORS, 409, 413, 415)
RUN_ERRORS: Final = (*BODY_ERRORS, 429, 502, 504)

_STREAM_NOTE: Final = (
    "With `stream: true` the answer is a `text/event-stream`: one `data: <json>` event per "
    "chunk, SSE comments (`: keep-alive`) while the agent works, and a failure after the "
    "first byte as an error event rather than a status."
)


def _idempotency_key() -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "The same caller, route, key and body get the first answer again "
        "(with `Idempotency-Replayed: true`) instead of a second run; another body is 409. "
        "Printable ASCII; empty is the same as none.",
        "schema": {
            "type": "string",
            "maxLength": MAX_IDEMPOTENCY_KEY,
            "pattern": "^[\\x20-\\x7e]*$",
        },
    }


def _query(name: str, schema: dict[str, Any], *, required: bool, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": doc}


def _path_id(schema: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": schema, "description": doc}


def _username() -> dict[str, Any]:
    return _query("username", ss.USERNAME, required=True, doc="whose sessions")


def _body(component: str, examples: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            JSON: {
                "schema": b.ref(component),
                "examples": {name: {"value": value} for name, value in examples.items()},
            }
        },
    }


def _answers(
    component: str, errors: tuple[int, ...], *, stream: str | None = None
) -> dict[str, Any]:
    """200 with `component` (or, with `stream`, the component of each event of a stream)."""
    content: dict[str, Any] = {JSON: {"schema": b.ref(component)}}
    if stream is not None:
        content[SSE] = {"schema": b.ref(stream)}
    out: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    for status in errors:
        out[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    return out


def _op(op_id: str, summary: str, tag: str, **fields: Any) -> Operation:
    return {"operationId": op_id, "summary": summary, "tags": [tag], **fields}


CHAT_EXAMPLES: Final = {
    "hello": {"model": "default", "messages": [{"role": "user", "content": "Say hello."}]},
    "streamed_with_usage": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
        "temperature": 0.2,
    },
}
RESPONSES_EXAMPLES: Final = {
    "text": {"input": "Say hello.", "instructions": "Be brief."},
    "items_in_a_conversation": {
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "conversation": "my-thread",
        "metadata": {"ticket": "42"},
    },
    "streamed": {"input": "Count to three.", "stream": True, "store": False},
}
SESSION_EXAMPLES: Final = {
    "whole": {"username": "ada", "message": "Hello!", "stream": False},
    "streamed": {"username": "ada", "message": "And again.", "session_id": "ada-1"},
}
NEW_SESSION_EXAMPLES: Final = {"named": {"username": "ada", "session_id": "ada-2"}}
ACP_EXAMPLES: Final = {
    "turn": {
        "acp_version": "1.0",
        "type": "chat.request",
        "payload": {"message": "Hello!", "context": {"page": "billing"}},
        "metadata": {"user_id": "ada"},
    }
}


def _paths() -> dict[str, Any]:
    session_id = _path_id(ss.SESSION_ID, "a session id")
    response_id = _path_id(b.NON_EMPTY, "a response id (`resp_…`)")
    return {
        "/v1/health": {
            "get": _op(
                "health",
                "Liveness: the profile and its model id; no key needed.",
                "meta",
                security=[],
                responses=_answers("Health", ()),
            )
        },
        "/v1/models": {
            "get": _op(
                "listModels",
                "The profile's model id (its name unless api_server.model_name says otherwise).",
                "openai",
                responses=_answers("ModelList", READ_ERRORS),
            )
        },
        "/v1/chat/completions": {
            "post": _op(
                "createChatCompletion",
                "One agent turn on the history the client sends.",
                "openai",
                description=_STREAM_NOTE,
                parameters=[_idempotency_key()],
                requestBody=_body("ChatCompletionRequest", CHAT_EXAMPLES),
                responses=_answers("ChatCompletion", (*RUN_ERRORS, 404), stream="ChatStreamEvent"),
            )
        },
        "/v1/chat/completions/{id}": {
            "get": _op(
                "getChatCompletion",
                "A chat completion kept because api_server.chat_on_disconnect is finish.",
                "openai",
                parameters=[_path_id(b.NON_EMPTY, "the completion's id (`chatcmpl-…`)")],
                responses=_answers("ChatCompletion", (*READ_ERRORS, 404)),
            )
        },
        "/v1/responses": {
            "post": _op(
                "createResponse",
                "One agent turn, continuing a stored response or conversation if named.",
                "openai",
                description=_STREAM_NOTE.replace("chunk", "Responses event"),
                parameters=[_idempotency_key()],
                requestBody=_body("ResponsesRequest", RESPONSES_EXAMPLES),
                responses=_answers(
                    "Response",
                    (*RUN_ERRORS, 404),
                    stream="ResponsesStreamEvent",
                ),
            )
        },
        "/v1/responses/{id}": {
            "get": _op(
                "getResponse",
                "A stored response, or a background response as it stands.",
                "openai",
                description="With `stream=true` (a background response only): its events "
                "after `starting_after`, replayed, then followed live to its end.",
                parameters=[
                    response_id,
                    _query(
                        "stream",
                        {"type": "string", "enum": ["true", "false", "1", "0"]},
                        required=False,
                        doc="stream a background response's events again",
                    ),
                    _query(
                        "starting_after",
                        {"type": "string", "pattern": "^-?[0-9]+$"},
                        required=False,
                        doc="the last sequence number seen (-1: from the start)",
                    ),
                ],
                responses=_answers(
                    "Response", (*READ_ERRORS, 400, 404), stream="ResponsesStreamEvent"
                ),
            ),
            "delete": _op(
                "deleteResponse",
                "Delete a stored response.",
                "openai",
                parameters=[response_id],
                responses=_answers("ResponseDeleted", (*READ_ERRORS, 404)),
            ),
        },
        "/v1/responses/{id}/cancel": {
            "post": _op(
                "cancelResponse",
                "Cancel a background response (its upstream request and tools too).",
                "openai",
                parameters=[response_id],
                responses=_answers("Response", (*READ_ERRORS, 400, 404)),
            )
        },
        **_file_paths(),
        "/api/v1/chat": {
            "post": _op(
                "sessionChat",
                "One message to a server-side session; its history lives in the profile.",
                "sessions",
                description="Streamed (the default) as `data: <json>` events: session_id, "
                "delta, tool_call, tool_result, complete, then end (error before end on "
                "failure).",
                parameters=[_idempotency_key()],
                requestBody=_body("SessionChatRequest", SESSION_EXAMPLES),
                responses=_answers("SessionTurn", (*RUN_ERRORS, 404), stream="SessionStreamEvent"),
            )
        },
        "/api/v1/chat/new_session": {
            "post": _op(
                "newSession",
                "Create a session (or open an existing one of the same username).",
                "sessions",
                requestBody=_body("NewSessionRequest", NEW_SESSION_EXAMPLES),
                responses=_answers("NewSession", BODY_ERRORS),
            )
        },
        "/api/v1/chat/sessions": {
            "get": _op(
                "listSessions",
                "A username's sessions, newest first.",
                "sessions",
                parameters=[
                    _username(),
                    _query("page", ss.PAGE, required=False, doc=f"1 to {MAX_PAGE}, default 1"),
                    _query(
                        "page_size",
                        ss.PAGE_SIZE,
                        required=False,
                        doc=f"1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}",
                    ),
                ],
                responses=_answers("SessionList", READ_ERRORS),
            )
        },
        "/api/v1/chat/sessions/{id}": {
            "get": _op(
                "getSession",
                "A session with its messages.",
                "sessions",
                parameters=[session_id, _username()],
                responses=_answers("Session", (*READ_ERRORS, 404)),
            ),
            "delete": _op(
                "deleteSession",
                "Delete a session and its messages.",
                "sessions",
                parameters=[session_id, _username()],
                responses=_answers("SessionDeleted", (*READ_ERRORS, 404)),
            ),
        },
        "/api/v1/acp": {
            "post": _op(
                "acpChat",
                "The session turn inside ACP envelopes.",
                "sessions",
                parameters=[_idempotency_key()],
                requestBody=_body("AcpRequest", ACP_EXAMPLES),
                responses=_answers("AcpEnvelope", (*RUN_ERRORS, 404), stream="AcpStreamEvent"),
            )
        },
        "/openapi.json": {
            "get": _op(
                "openapi",
                "This document; no key needed.",
                "meta",
                security=[],
                responses={
                    "200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}
                },
            )
        },
    }


def _file_paths() -> dict[str, Any]:
    file_id = _path_id(f.FILE_ID, "a file id (`file-…`)")
    one = (*READ_ERRORS, 404)
    return {
        "/v1/files": {
            "post": _op(
                "createFile",
                "Upload a file (multipart/form-data: `file`, `purpose`) for later `file_id`s.",
                "files",
                requestBody={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": b.ref("FileUpload")}},
                },
                responses=_answers("FileObject", BODY_ERRORS),
            ),
            "get": _op(
                "listFiles",
                "The caller's files, newest first.",
                "files",
                parameters=[
                    _query("purpose", b.STRING, required=False, doc="only files of this purpose"),
                    _query("limit", f.LIST_LIMIT, required=False, doc="at most this many"),
                    _query("order", f.LIST_ORDER, required=False, doc="by created_at"),
                    _query("after", b.STRING, required=False, doc="a file id: the page after it"),
                ],
                responses=_answers("FileList", READ_ERRORS),
            ),
        },
        "/v1/files/{id}": {
            "get": _op(
                "getFile",
                "One of the caller's files.",
                "files",
                parameters=[file_id],
                responses=_answers("FileObject", one),
            ),
            "delete": _op(
                "deleteFile",
                "Delete one of the caller's files.",
                "files",
                parameters=[file_id],
                responses=_answers("FileDeleted", one),
            ),
        },
        "/v1/files/{id}/content": {
            "get": _op(
                "getFileContent",
                "The file's bytes, as a download (application/octet-stream).",
                "files",
                parameters=[file_id],
                responses={
                    **_answers("FileObject", one),
                    "200": {
                        "description": "OK",
                        "content": {BINARY: {"schema": {"type": "string", "format": "binary"}}},
                    },
                },
            ),
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    components = dict(s.COMPONENTS)
    components["NewSession"] = b.obj({"session_id": b.STRING}, "session_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hermes gateway",
            "version": __version__,
            "description": "One profile's agent as an OpenAI-compatible API. Every path is "
            'also served without its /v1 prefix. Errors are `{"error": {message, type, '
            "param, code}}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "tags": [
            {"name": "openai", "description": "OpenAI's chat completions and Responses APIs"},
            {"name": "files", "description": "OpenAI's files API, for `file_id`s in requests"},
            {"name": "sessions", "description": "Server-side sessions, native and ACP"},
            {"name": "meta", "description": "Health and this description"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": components,
            "responses": {
                name: {"description": doc, "content": {JSON: {"schema": b.ref("Error")}}}
                for name, doc in ERRORS.values()
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API_SERVER_KEY or a named key (`hermes keys create`). A "
                    "gateway with neither answers on loopback without one.",
                },
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


@functools.cache
def _encoded() -> bytes:
    from hermes.wire import fastjson

    return fastjson.dumps(document())


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_encoded(), content_type=JSON)
