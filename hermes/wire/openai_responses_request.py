"""Validation of a client's POST /v1/responses body (the gateway's side of the OpenAI Responses
format). Public through `hermes.wire.openai_responses`; split out to keep each module readable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from hermes.errors import InvalidRequest
from hermes.messages import Message, ReasoningEffort, Role, ToolCall
from hermes.wire.client_tools import ClientTools, check_tool_name, parse_client_tools
from hermes.wire.content_parts import Attachment, FilePart, ImagePart, parse_parts
from hermes.wire.fastjson import preview
from hermes.wire.request_fields import (
    arguments_text,
    opt_reasoning,
    opt_tokens,
)

__all__ = ["ResponsesRequest", "parse_responses_request"]

# "developer" is OpenAI's newer name for the system role; upstreams that predate it reject it.
_ROLES: Final[dict[str, Role]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
# Input parts carry "input_text"; an assistant turn echoed back from a previous output carries
# "output_text"; some clients send chat-style "text".
_TEXT_PARTS: Final = frozenset({"input_text", "output_text", "text"})
_MAX_METADATA: Final = 16
_MAX_METADATA_KEY: Final = 64
_MAX_METADATA_VALUE: Final = 512
# Conversation names and response ids are looked up and stored: bounded like OpenAI's own
# free-form identifiers (`user`, `prompt_cache_key`) are.
_MAX_ID: Final = 256


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    input: tuple[Message, ...]
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: str | None = None
    store: bool = True
    stream: bool = False
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, str] | None = None
    model: str | None = None
    tools: ClientTools = field(default_factory=ClientTools)
    reasoning_effort: ReasoningEffort | None = None
    background: bool = False  # the run goes on whatever the client does (gateway/background.py)
    # Image and file parts of `input`, for the gateway to resolve (see wire.content_parts).
    attachments: tuple[Attachment, ...] = ()


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Validate a POST /v1/responses body. Unknown fields (`text`, `truncation`, ...) are
    ignored; `tools` are the client's own function tools (see `client_tools`), offered beside
    the profile's. A JSON null counts as absent.
    `input` may come out empty when it held only `item_reference` items; whether that is enough
    is the caller's call (it knows the history)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    messages, attachments = _parse_input(body.get("input"))
    previous = _bounded_id(
        _opt_str(body, "previous_response_id", non_empty=True), "previous_response_id"
    )
    conversation = _parse_conversation(body.get("conversation"))
    tools = parse_client_tools(body, "responses")
    if conversation is not None and previous is not None:
        raise InvalidRequest(
            "'conversation' and 'previous_response_id' cannot be used together.",
            param="conversation",
        )
    return ResponsesRequest(
        input=messages,
        instructions=_opt_str(body, "instructions"),
        previous_response_id=previous,
        conversation=conversation,
        store=_opt_bool(body, "store", default=True),
        background=_opt_bool(body, "background", default=False),
        stream=_opt_bool(body, "stream", default=False),
        max_output_tokens=opt_tokens(body, "max_output_tokens"),
        temperature=_opt_number(body, "temperature", 0.0, 2.0),
        top_p=_opt_number(body, "top_p", 0.0, 1.0),
        metadata=_parse_metadata(body.get("metadata")),
        model=_opt_str(body, "model"),
        tools=tools,
        reasoning_effort=opt_reasoning(body),
        attachments=attachments,
    )


def _parse_input(raw: Any) -> tuple[tuple[Message, ...], tuple[Attachment, ...]]:
    if raw is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    if isinstance(raw, str) and raw:
        return (Message("user", raw),), ()
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(
            "'input' must be a non-empty string or a non-empty array.", param="input"
        )
    out: list[Message] = []
    attachments: list[Attachment] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            message, parts = _parse_message(item, where)
            attachments.extend(Attachment(len(out), p) for p in parts)
            out.append(message)
        elif kind == "function_call":
            call = _parse_function_call(item, where)
            # One model turn may say something and call several functions: in the neutral
            # (chat-shaped) history that is one assistant message carrying every call.
            if out and out[-1].role == "assistant":
                out[-1] = replace(out[-1], tool_calls=(*out[-1].tool_calls, call))
            else:
                out.append(Message("assistant", None, (call,)))
        elif kind == "function_call_output":
            call_id = _req_str(item, "call_id", f"{where}.call_id")
            output = _parse_content(item.get("output"), f"{where}.output")
            out.append(Message("tool", output, tool_call_id=call_id))
        elif kind == "mcp_call":
            # A tool the server ran, sent back by a client that keeps the history itself: the
            # call and its result, as the model saw them.
            call, result = _parse_mcp_call(item, where)
            turn = _calling_turn(out)
            if turn is not None:  # another call of the same model turn
                out[turn] = replace(out[turn], tool_calls=(*out[turn].tool_calls, call))
            else:
                out.append(Message("assistant", None, (call,)))
            out.append(Message("tool", result, tool_call_id=call.id))
        elif kind == "item_reference":
            continue  # history the caller resolves through previous_response_id / conversation
        elif kind == "reasoning":
            # A reasoning item sent back by a client that keeps the history itself: whose model
            # produced it is unknown, and reasoning goes back only to the model that produced it.
            continue
        else:
            raise InvalidRequest(
                f"Invalid value for '{where}.type': {preview(kind)!r}. Supported values are: "
                "'message', 'function_call', 'function_call_output', 'mcp_call', 'reasoning' "
                "and 'item_reference'.",
                param=f"{where}.type",
            )
    return tuple(out), tuple(attachments)


def _parse_message(
    item: Mapping[str, Any], where: str
) -> tuple[Message, list[ImagePart | FilePart]]:
    role_raw = item.get("role")
    if role_raw is None:
        raise InvalidRequest(f"Missing required parameter: '{where}.role'.", param=f"{where}.role")
    role = _ROLES.get(role_raw) if isinstance(role_raw, str) else None
    if role is None:
        raise InvalidRequest(
            f"Invalid value for '{where}.role': {preview(role_raw)!r}. Supported values are: "
            "'user', 'assistant', 'system' and 'developer'.",
            param=f"{where}.role",
        )
    text, parts = _parse_parts(item.get("content"), f"{where}.content")
    return Message(role, text), parts


def _parse_content(raw: Any, where: str) -> str:
    """Text only: a function_call_output's `output` (its image or file parts are dropped)."""
    return _parse_parts(raw, where)[0]


def _parse_parts(raw: Any, where: str) -> tuple[str, list[ImagePart | FilePart]]:
    if raw is None:
        raise InvalidRequest(f"Missing required parameter: '{where}'.", param=where)
    if isinstance(raw, str):
        return raw, []
    if not isinstance(raw, list):
        raise InvalidRequest(
            f"'{where}' must be a string or an array of content parts.", param=where
        )
    return parse_parts(raw, where, _TEXT_PARTS)


def _parse_function_call(item: Mapping[str, Any], where: str, id_key: str = "call_id") -> ToolCall:
    arguments = item.get("arguments")
    if isinstance(arguments, dict):  # a few clients send parsed arguments
        arguments = arguments_text(arguments, f"{where}.arguments")
    if not isinstance(arguments, str):
        raise InvalidRequest(f"'{where}.arguments' must be a string.", param=f"{where}.arguments")
    return ToolCall(
        id=_req_str(item, id_key, f"{where}.{id_key}"),
        name=check_tool_name(_req_str(item, "name", f"{where}.name"), f"{where}.name"),
        arguments=arguments,
    )


def _calling_turn(out: list[Message]) -> int | None:
    """The index of the assistant message the history ends in, past only the results of its
    calls (so one turn's calls stay one message, as the model made them); None if none."""
    k = len(out) - 1
    while k >= 0 and out[k].role == "tool":
        k -= 1
    if k >= 0 and out[k].role == "assistant" and (out[k].tool_calls or k == len(out) - 1):
        return k
    return None


def _parse_mcp_call(item: Mapping[str, Any], where: str) -> tuple[ToolCall, str]:
    call = _parse_function_call(item, where, id_key="id")
    output, error = item.get("output"), item.get("error")
    if output is not None and not isinstance(output, str):
        raise InvalidRequest(f"'{where}.output' must be a string.", param=f"{where}.output")
    if error is not None and not isinstance(error, str | dict):
        raise InvalidRequest(
            f"'{where}.error' must be a string or an object.", param=f"{where}.error"
        )
    if output is not None:
        return call, output
    if isinstance(error, dict):  # OpenAI's error object: its message, else its text blocks
        content = error.get("content")
        blocks: list[Any] = content if isinstance(content, list) else []
        texts = [
            b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
        ]
        message = error.get("message")
        error = message if isinstance(message, str) else "\n".join(texts)
    return call, f"error: {error or 'no output'}"


def _parse_conversation(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        return _bounded_id(_req_str(raw, "id", "conversation.id"), "conversation.id")
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest(
            "'conversation' must be a non-empty string or an object with an 'id'.",
            param="conversation",
        )
    return _bounded_id(raw, "conversation")


def _bounded_id(value: str | None, param: str) -> str | None:
    if value is not None and (len(value) > _MAX_ID or not value.isprintable()):
        raise InvalidRequest(
            f"'{param}' must be at most {_MAX_ID} characters, none of them control characters.",
            param=param,
        )
    return value


def _parse_metadata(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > _MAX_METADATA:
        raise InvalidRequest(
            f"'metadata' must be an object of at most {_MAX_METADATA} pairs.", param="metadata"
        )
    for key, value in raw.items():
        if len(key) > _MAX_METADATA_KEY:
            raise InvalidRequest(
                f"'metadata' keys must be at most {_MAX_METADATA_KEY} characters.",
                param="metadata",
            )
        if not isinstance(value, str) or len(value) > _MAX_METADATA_VALUE:
            raise InvalidRequest(
                f"'metadata.{key}' must be a string of at most {_MAX_METADATA_VALUE} characters.",
                param="metadata",
            )
    return dict(raw)


def _req_str(obj: Mapping[str, Any], key: str, param: str, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if not isinstance(value, str) or (not value and not allow_empty):
        kind = "a string" if allow_empty else "a non-empty string"
        raise InvalidRequest(f"'{param}' must be {kind}.", param=param)
    return value


def _opt_str(obj: Mapping[str, Any], key: str, *, non_empty: bool = False) -> str | None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, str) or (non_empty and not value)):
        kind = "a non-empty string" if non_empty else "a string"
        raise InvalidRequest(f"'{key}' must be {kind}.", param=key)
    return value


def _opt_bool(obj: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{key}' must be a boolean.", param=key)
    return value


def _opt_number(obj: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"'{key}' must be a number between {low:g} and {high:g}.", param=key)
    return float(value)
