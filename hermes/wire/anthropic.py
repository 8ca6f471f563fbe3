"""The Anthropic Messages API wire format, client side, without I/O.

`encode_request` turns hermes messages into a `POST /v1/messages` body: system messages become
the top-level `system`, tool results become user `tool_result` blocks, and consecutive messages of
one role are merged so roles alternate. `StreamAccumulator` reads the named SSE events of a
streamed answer and `parse_message_response` a whole one; both produce `hermes.messages` events in
the provider order (TextDelta*, ToolCallsReady?, UsageReport?, Finish)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hermes.errors import UpstreamError
from hermes.messages import (
    Finish,
    Message,
    ReasoningEffort,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolChoice,
    Usage,
    UsageReport,
)
from hermes.wire import fastjson
from hermes.wire.anthropic_thinking import (
    THINKING_TYPES,
    AnthropicWireError,
    ThinkingStream,
    decode_whole,
    encode_block,
    thinking_param,
)
from hermes.wire.images import anthropic_blocks

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicWireError",
    "StreamAccumulator",
    "encode_messages",
    "encode_request",
    "encode_tools",
    "error_from_event",
    "finish_reason",
    "parse_message_response",
]

ANTHROPIC_VERSION: Final = "2023-06-01"
DEFAULT_MAX_TOKENS: Final = 4096

_STOP_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error types whose cause is on Anthropic's side and passes: another try may succeed.
_TRANSIENT_ERRORS: Final = {
    "overloaded_error": 529,
    "api_error": 500,
    "rate_limit_error": 429,
    "timeout_error": 504,
}
_TOOL_ID_UNSAFE: Final = re.compile(r"[^a-zA-Z0-9_-]")


# ---------------------------------------------------------------------------------------------
# Requests


def encode_request(
    messages: Iterable[Message],
    *,
    model: str,
    max_tokens: int | None = None,
    tools: Sequence[Mapping[str, Any]] = (),
    stream: bool = False,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Sequence[str] = (),
    tool_choice: ToolChoice | None = None,
    parallel_tool_calls: bool | None = None,
    reasoning_effort: ReasoningEffort | None = None,
    producer: str | None = None,
) -> dict[str, Any]:
    """A `POST /v1/messages` body. `max_tokens` is required by the API, so it is always sent.
    `producer` is the label of the provider sending it: the thinking blocks that one produced go
    back with their assistant turns (the API wants them in a tool-use turn), nobody else's."""
    system, encoded = encode_messages(messages, producer)
    thinking = thinking_param(reasoning_effort, max_tokens, encoded)
    if tools and tool_choice is not None and tool_choice.mode in ("required", "function"):
        thinking = None  # the API refuses thinking with a forced tool choice: the choice wins
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = system
    body["messages"] = encoded
    if tools:
        body["tools"] = encode_tools(tools)
        if tool_choice is not None or parallel_tool_calls is False:
            body["tool_choice"] = encode_tool_choice(tool_choice, parallel_tool_calls)
    if thinking is not None:
        body["thinking"] = thinking
        # The answer still needs room beside the thinking budget.
        body["max_tokens"] = max_tokens or thinking["budget_tokens"] + DEFAULT_MAX_TOKENS
        # Thinking refuses a changed temperature, and a top_p below 0.95.
        temperature = None
        top_p = None if top_p is None or top_p < 0.95 else top_p
    if temperature is not None:
        # OpenAI's scale goes to 2, Anthropic's stops at 1 (it rejects anything above).
        body["temperature"] = min(max(temperature, 0.0), 1.0)
    if top_p is not None:
        body["top_p"] = top_p
    if stop:
        body["stop_sequences"] = list(stop)
    if stream:
        body["stream"] = True
    return body


# Stands in for the user turn a history that starts with the assistant lacks.
LEADING_USER_TEXT = "(continuing the conversation)"


def encode_messages(
    messages: Iterable[Message], producer: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages). The API rejects empty text blocks and empty messages, so those
    are dropped, and wants user/assistant turns to alternate, so neighbours of one role merge.
    Thinking blocks go back only with the assistant turns `producer` wrote."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, producer)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if out and out[0]["role"] == "assistant":
        # The API wants a user turn first; a condensed history can start with the assistant.
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": LEADING_USER_TEXT}]})
    return "\n\n".join(system), out


def _blocks(message: Message, producer: str | None) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": _tool_id(message.tool_call_id or ""),
        }
        if message.content:  # optional in the API; an empty one is refused as an empty block
            block["content"] = message.content
        return [block]
    blocks: list[dict[str, Any]] = []
    reasoning = message.reasoning
    if reasoning is not None and producer is not None and reasoning.producer == producer:
        blocks.extend(encode_block(b) for b in reasoning.blocks)  # thinking comes first
    blocks += anthropic_blocks(message)
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    if message.role == "assistant":
        blocks.extend(
            {
                "type": "tool_use",
                "id": _tool_id(call.id),
                "name": call.name,
                "input": _tool_input(call.arguments),
            }
            for call in message.tool_calls
        )
    return blocks


def _tool_id(raw: str) -> str:
    # Anthropic accepts only [a-zA-Z0-9_-] in tool ids; ids minted by another provider may not
    # comply. The same mapping is applied to the tool_use and its tool_result, so they still pair.
    return _TOOL_ID_UNSAFE.sub("_", raw) or "call"


def _tool_input(arguments: str) -> dict[str, Any]:
    """`input` must be an object: the model's argument text parsed, {} when empty. Text that is
    not a JSON object is kept under `_raw`, so the conversation can still be replayed."""
    if not arguments.strip():
        return {}
    try:
        # orjson refuses lone surrogates, and a depth bound keeps the body encodable.
        parsed = fastjson.loads_within(arguments)
    except ValueError:
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw": arguments}


def encode_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style specs ({"type": "function", "function": {...}} or the bare function object)
    as Anthropic tools: {name, description, input_schema}."""
    out: list[dict[str, Any]] = []
    for spec in tools:
        fn = spec.get("function") if spec.get("type") == "function" else spec
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise ValueError(f"not a function tool spec: {dict(spec)!r}")
        tool: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            tool["description"] = fn["description"]
        tool["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(tool)
    return out


def encode_tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any]:
    """OpenAI's tool_choice in Anthropic's words: auto, none, any (= required), tool + name;
    one call per answer is its `disable_parallel_tool_use`."""
    mode = choice.mode if choice is not None else "auto"
    out: dict[str, Any] = {"type": {"required": "any", "function": "tool"}.get(mode, mode)}
    if mode == "function" and choice is not None:
        out["name"] = choice.name
    if parallel is False and mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


# ---------------------------------------------------------------------------------------------
# Answers


def finish_reason(stop_reason: Any) -> str:
    """Anthropic's stop_reason in the OpenAI finish_reason vocabulary."""
    return _STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def error_from_event(error: Any, *, yielded: bool) -> UpstreamError:
    """An `{"type": "error", "error": {...}}` sent inside a 200 answer. A transient one (overloaded,
    for one) is worth another try only while nothing of the answer has been passed on."""
    fields = error if isinstance(error, dict) else {}
    kind, message = fields.get("type"), fields.get("message")
    kind = kind if isinstance(kind, str) and kind else None  # any JSON: a list is not hashable
    if not isinstance(message, str) or not message:
        message = kind or ("unknown error" if error is None else fastjson.preview(error))
    return UpstreamError(
        f"the model provider reported an error mid-answer: {kind or 'error'}: {message[:300]}",
        retryable=kind in _TRANSIENT_ERRORS and not yielded,
        upstream_status=_TRANSIENT_ERRORS.get(kind or ""),
    )


def parse_message_response(data: Any) -> tuple[StreamEvent, ...]:
    """A non-streamed `message` object as the events a stream of it would have produced."""
    if not isinstance(data, dict):
        raise AnthropicWireError("Upstream answer is not a JSON object.")
    if data.get("type") == "error":
        raise error_from_event(data.get("error"), yielded=False)
    content = data.get("content")
    if not isinstance(content, list):
        raise AnthropicWireError("Upstream answer has no 'content' array.")
    text: list[str] = []
    calls: list[ToolCall] = []
    events: list[StreamEvent] = []
    for block in content:
        if not isinstance(block, dict):
            raise AnthropicWireError("Upstream content block is not an object.")
        if block.get("type") == "text":
            text.append(_str(block, "text"))
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block, block.get("input")))
        elif block.get("type") in THINKING_TYPES:
            events.extend(decode_whole(block))
    if "".join(text):
        events.append(TextDelta("".join(text)))
    if calls:
        events.append(ToolCallsReady(tuple(calls)))
    usage = data.get("usage")
    if isinstance(usage, dict):
        events.append(UsageReport(_usage(usage)))
    events.append(Finish(_final_reason(data.get("stop_reason"), bool(calls))))
    return tuple(events)


@dataclass(slots=True)
class _ToolBlock:
    head: dict[str, Any]
    json_parts: list[str] = field(default_factory=list)


class StreamAccumulator:
    """Turns a streamed answer's SSE events into `hermes.messages` events.

    Text is yielded as it arrives, and thinking (see `ThinkingStream`); tool-use blocks are
    assembled from their `input_json_delta` fragments and yielded together as ToolCallsReady at
    `message_stop`, followed by the usage and Finish. Unknown event and block types (citations,
    new ones) are skipped, as the API's versioning policy asks of clients."""

    def __init__(self) -> None:
        self._tools: dict[int, _ToolBlock] = {}
        self._thinking = ThinkingStream()
        self._counts: dict[str, int] = {}
        self._stop_reason: Any = None
        self._started = False
        self._yielded = False
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def yielded(self) -> bool:
        """Whether any event has been produced: after that a retry would repeat output."""
        return self._yielded

    def feed_data(self, event: str | None, data: str) -> list[StreamEvent]:
        """One SSE event: its `event:` name and its JSON `data`."""
        if self._done:
            return []
        try:
            parsed = fastjson.loads(data)
        except ValueError as exc:
            raise AnthropicWireError(
                f"Upstream sent a stream event that is not JSON: {data[:200]!r}"
            ) from exc
        if not isinstance(parsed, dict):
            raise AnthropicWireError("Upstream sent a stream event that is not a JSON object.")
        kind = parsed.get("type")
        events = self.feed(kind if isinstance(kind, str) and kind else event or "", parsed)
        self._yielded = self._yielded or bool(events)
        return events

    def feed(self, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
        if kind == "error":
            raise error_from_event(data.get("error"), yielded=self._yielded)
        if kind == "message_start":
            self._started = True
            message = data.get("message")
            if isinstance(message, dict):
                self._count(message.get("usage"))
        elif kind == "content_block_start":
            return self._block_start(_index(data), data.get("content_block"))
        elif kind == "content_block_delta":
            return self._block_delta(_index(data), data.get("delta"))
        elif kind == "content_block_stop":
            return self._thinking.stop(_index(data))
        elif kind == "message_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._count(data.get("usage"))
        elif kind == "message_stop":
            return self._end()
        return []  # ping, and event types added after this was written

    def finish(self) -> list[StreamEvent]:
        """The body ended. Without `message_stop` the answer was cut short."""
        if self._done:
            return []
        if not self._started:
            raise AnthropicWireError("Upstream stream ended without sending any event.")
        raise AnthropicWireError("Upstream stream ended before message_stop: the answer was cut.")

    def _count(self, usage: Any) -> None:
        # Counts are cumulative: a later report of a field replaces the earlier one.
        if isinstance(usage, dict):
            self._counts.update((k, v) for k, v in usage.items() if fastjson.is_count(v))

    def _block_start(self, index: int, block: Any) -> list[StreamEvent]:
        if not isinstance(block, dict):
            raise AnthropicWireError("Upstream content_block_start has no content_block object.")
        if block.get("type") == "tool_use":
            self._tools[index] = _ToolBlock(block)
        elif block.get("type") == "text" and _str(block, "text"):
            return [TextDelta(block["text"])]
        elif block.get("type") in THINKING_TYPES:
            return self._thinking.start(index, block)
        return []

    def _block_delta(self, index: int, delta: Any) -> list[StreamEvent]:
        if not isinstance(delta, dict):
            raise AnthropicWireError("Upstream content_block_delta has no delta object.")
        if delta.get("type") == "text_delta":
            text = _str(delta, "text")
            return [TextDelta(text)] if text else []
        if delta.get("type") in ("thinking_delta", "signature_delta"):
            return self._thinking.delta(index, delta)
        if delta.get("type") == "input_json_delta":
            slot = self._tools.get(index)
            if slot is None:
                raise AnthropicWireError(f"Upstream sent tool input for unknown block {index}.")
            slot.json_parts.append(_str(delta, "partial_json"))
        return []

    def _end(self) -> list[StreamEvent]:
        self._done = True
        events: list[StreamEvent] = []
        if self._tools:
            calls = [self._assemble(self._tools[i]) for i in sorted(self._tools)]
            events.append(ToolCallsReady(tuple(calls)))
        if self._counts:
            events.append(UsageReport(_usage(self._counts)))
        events.append(Finish(_final_reason(self._stop_reason, bool(self._tools))))
        return events

    @staticmethod
    def _assemble(slot: _ToolBlock) -> ToolCall:
        text = "".join(slot.json_parts)
        if not text.strip():
            return _tool_call(slot.head, slot.head.get("input") or {})
        try:
            parsed = fastjson.loads_exact(text)
        except ValueError:
            # Passed on as written: the tool layer tells the model its arguments were bad JSON.
            return ToolCall(*_tool_head(slot.head), text)
        return _tool_call(slot.head, parsed)


def _final_reason(stop_reason: Any, has_calls: bool) -> str:
    reason = finish_reason(stop_reason)
    return "tool_calls" if has_calls and reason == "stop" else reason


def _tool_call(block: dict[str, Any], tool_input: Any) -> ToolCall:
    try:
        arguments = fastjson.dumps_text(tool_input if tool_input is not None else {})
    except ValueError as exc:
        raise AnthropicWireError(f"Upstream sent a tool_use input {exc}.") from exc
    return ToolCall(*_tool_head(block), arguments)


def _tool_head(block: dict[str, Any]) -> tuple[str, str]:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
        raise AnthropicWireError("Upstream tool_use block has a malformed id or name.")
    return call_id, name


def _usage(counts: Mapping[str, Any]) -> Usage:
    """Cached prompt tokens are counted apart from `input_tokens`; OpenAI's prompt_tokens include
    them."""
    fields = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    output = counts.get("output_tokens")
    return Usage(
        sum(v for k in fields if fastjson.is_count(v := counts.get(k))),
        output if fastjson.is_count(output) else 0,
    )


def _index(data: dict[str, Any]) -> int:
    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise AnthropicWireError("Upstream content block event has no integer 'index'.")
    return index


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise AnthropicWireError(f"Upstream field {key!r} is not a string.")
    return value
