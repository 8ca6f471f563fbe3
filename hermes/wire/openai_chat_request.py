"""Validation of a client's POST /v1/chat/completions body (the gateway's side of the OpenAI chat
format). Public through `hermes.wire.openai_chat`; split out to keep each module readable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hermes.errors import InvalidRequest
from hermes.messages import Message, ReasoningEffort, Role, ToolCall
from hermes.wire.client_tools import (
    ClientTools,
    check_tool_name,
    check_tool_results,
    parse_client_tools,
)
from hermes.wire.content_parts import Attachment, FilePart, ImagePart, parse_parts
from hermes.wire.fastjson import preview
from hermes.wire.request_fields import (
    arguments_text,
    opt_effort,
    opt_tokens,
)
from hermes.wire.think import strip_reasoning

__all__ = ["ChatRequest", "parse_chat_request", "parse_tool_calls"]

# "developer" is OpenAI's newer name for the system role; upstreams that predate it reject it.
_ROLES: Final[dict[str, Role]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_MAX_STOP: Final = 4


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: ClientTools = field(default_factory=ClientTools)
    reasoning_effort: ReasoningEffort | None = None
    # Image and file parts of `messages`, for the gateway to resolve (see wire.content_parts).
    attachments: tuple[Attachment, ...] = ()


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a POST /v1/chat/completions body. Unknown fields are ignored; `tools` are the
    client's own function tools (see `client_tools`); `n` may only ask for the one choice the
    agent gives. A JSON null counts as absent."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    raw_messages = body.get("messages")
    if raw_messages is None:
        raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InvalidRequest("'messages' must be a non-empty array.", param="messages")
    stream = _opt_bool(body, "stream", "stream") or False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    include_usage = _opt_bool(options or {}, "include_usage", "stream_options.include_usage")
    max_completion = opt_tokens(body, "max_completion_tokens")
    max_tokens = opt_tokens(body, "max_tokens")
    _check_n(body.get("n"))
    tools = parse_client_tools(body, "chat")
    messages: list[Message] = []
    attachments: list[Attachment] = []
    for i, m in enumerate(raw_messages):
        message, parts = _parse_message(m, f"messages[{i}]")
        messages.append(message)
        attachments.extend(Attachment(i, p) for p in parts)
    check_tool_results(messages)
    return ChatRequest(
        messages=tuple(messages),
        model=_opt_str(body, "model", "model"),
        stream=stream,
        include_usage=stream and bool(include_usage),
        max_tokens=max_completion if max_completion is not None else max_tokens,
        temperature=_opt_number(body, "temperature", 0.0, 2.0),
        top_p=_opt_number(body, "top_p", 0.0, 1.0),
        stop=_parse_stop(body.get("stop")),
        tools=tools,
        reasoning_effort=opt_effort(body.get("reasoning_effort"), "reasoning_effort"),
        attachments=tuple(attachments),
    )


def _parse_message(raw: Any, where: str) -> tuple[Message, list[ImagePart | FilePart]]:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{where}' must be an object.", param=where)
    role_raw = raw.get("role")
    if role_raw is None:
        raise InvalidRequest(f"Missing required parameter: '{where}.role'.", param=f"{where}.role")
    role = _ROLES.get(role_raw) if isinstance(role_raw, str) else None
    if role is None:
        raise InvalidRequest(
            f"Invalid value for '{where}.role': {preview(role_raw)!r}. Supported values are: "
            "'system', 'developer', 'user', 'assistant' and 'tool'.",
            param=f"{where}.role",
        )
    content, parts = _parse_content(raw.get("content"), f"{where}.content")
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    if role == "assistant":
        tool_calls = parse_tool_calls(raw.get("tool_calls"), f"{where}.tool_calls")
        # Reasoning a client shows in the answer is not the answer; a `reasoning_content` field
        # it sends back is ignored like any unknown one: reasoning never goes to a model again.
        content = strip_reasoning(content) if content else content
        if content is None and not tool_calls:
            content = ""  # an empty assistant turn; strict upstreams reject a null content here
    elif content is None:
        raise InvalidRequest(
            f"Missing required parameter: '{where}.content'.", param=f"{where}.content"
        )
    if role == "tool":
        tool_call_id = _req_str(raw, "tool_call_id", f"{where}.tool_call_id")
    name = _opt_str(raw, "name", f"{where}.name")
    return Message(role, content, tool_calls, tool_call_id, name), parts


_TEXT_PARTS: Final = frozenset({"text"})


def _parse_content(raw: Any, where: str) -> tuple[str | None, list[ImagePart | FilePart]]:
    if raw is None or isinstance(raw, str):
        return raw, []
    if not isinstance(raw, list):
        raise InvalidRequest(
            f"'{where}' must be a string, null, or an array of content parts.", param=where
        )
    return parse_parts(raw, where, _TEXT_PARTS)


def parse_tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    """An assistant message's `tool_calls` array; `where` prefixes the param named in errors."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidRequest(f"'{where}' must be an array.", param=where)
    calls: list[ToolCall] = []
    for j, item in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{at}' must be an object.", param=at)
        if item.get("type", "function") != "function":
            raise InvalidRequest(f"'{at}.type' must be 'function'.", param=f"{at}.type")
        function = item.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest(f"'{at}.function' must be an object.", param=f"{at}.function")
        arguments = function.get("arguments", "")
        if isinstance(arguments, dict):
            arguments = arguments_text(arguments, f"{at}.function.arguments")
        if not isinstance(arguments, str):
            raise InvalidRequest(
                f"'{at}.function.arguments' must be a string.", param=f"{at}.function.arguments"
            )
        calls.append(
            ToolCall(
                id=_req_str(item, "id", f"{at}.id"),
                name=check_tool_name(
                    _req_str(function, "name", f"{at}.function.name"), f"{at}.function.name"
                ),
                arguments=arguments,
            )
        )
    return tuple(calls)


def _parse_stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if (
        not isinstance(raw, list)
        or len(raw) > _MAX_STOP
        or not all(isinstance(s, str) for s in raw)
    ):
        raise InvalidRequest(
            f"'stop' must be a string or an array of at most {_MAX_STOP} strings.", param="stop"
        )
    return tuple(raw)


def _req_str(obj: Mapping[str, Any], key: str, param: str, *, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    if not isinstance(value, str) or (not value and not allow_empty):
        kind = "a string" if allow_empty else "a non-empty string"
        raise InvalidRequest(f"'{param}' must be {kind}.", param=param)
    return value


def _opt_str(obj: Mapping[str, Any], key: str, param: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"'{param}' must be a string.", param=param)
    return value


def _opt_bool(obj: Mapping[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"'{param}' must be a boolean.", param=param)
    return value


def _check_n(n: Any) -> None:
    if n is not None and (isinstance(n, bool) or n != 1):
        raise InvalidRequest(
            f"Invalid value for 'n': {preview(n)!r}. This agent answers with one choice: "
            "'n' must be 1.",
            param="n",
        )


def _opt_number(obj: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"'{key}' must be a number between {low:g} and {high:g}.", param=key)
    return float(value)
