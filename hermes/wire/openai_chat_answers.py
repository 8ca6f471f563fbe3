"""The OpenAI Chat Completions wire format, server side: the answers a gateway sends (a whole
`chat.completion`, the `chat.completion.chunk`s of a stream, the model list), shaped exactly as
OpenAI's, without I/O. Re-exported by `hermes.wire.openai_chat`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hermes.messages import ToolCall, Usage


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_response(
    id: str,
    created: int,
    model: str,
    content: str | None,
    finish_reason: str,
    usage: Usage | None,
    *,
    tool_calls: Sequence[ToolCall] = (),
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object, shaped exactly like OpenAI's; `reasoning`, if
    any, as `message.reasoning_content`, where DeepSeek and vLLM put it and chat clients read it."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [encode_tool_call(c) for c in tool_calls]
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def chunk(
    id: str,
    created: int,
    model: str,
    delta: Mapping[str, Any],
    finish_reason: str | None = None,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk` with a single choice. OpenAI itself sends usage in a separate
    last chunk with no choices: see `usage_chunk`."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        body["usage"] = usage_dict(usage)
    return body


def usage_chunk(id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The final chunk sent when the client asked for stream_options.include_usage."""
    return {**choiceless_chunk(id, created, model), "usage": usage_dict(usage)}


def choiceless_chunk(id: str, created: int, model: str, **extra: Any) -> dict[str, Any]:
    """A chunk with `choices: []`: the envelope every client already reads (OpenAI's own usage
    chunk has it), so an extension field in it (`hermes_tool_progress`) trips none of them."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        **extra,
    }


def models_response(
    model_ids: Iterable[str], *, created: int, owned_by: str = "hermes"
) -> dict[str, Any]:
    """GET /v1/models."""
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": created, "owned_by": owned_by}
            for m in model_ids
        ],
    }


def encode_tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def tool_call_delta(index: int, call: ToolCall) -> dict[str, Any]:
    """A whole call in one streamed `delta.tool_calls` entry: id, name and all of its arguments
    at once, which every client's accumulator takes (OpenAI itself spreads the arguments)."""
    return {"index": index, **encode_tool_call(call)}
