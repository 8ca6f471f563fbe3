"""The OpenAI Chat Completions wire format, both directions, without I/O.

Server side (the gateway): `parse_chat_request`, and the answers built in
`openai_chat_answers` (`completion_response`, `chunk`, `usage_chunk`, `models_response`, ...).
Client side (an OpenAI-compatible provider): `encode_chat_request`,
`ChunkAccumulator`, `parse_completion_response`. Request validation lives in
`openai_chat_request` and SSE framing in `sse`; all are re-exported here, so callers import
only this module."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hermes.errors import HermesError, InvalidRequest
from hermes.messages import (
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolChoice,
    Usage,
    UsageReport,
)
from hermes.wire import fastjson
from hermes.wire.images import openai_content
from hermes.wire.openai_chat_answers import (
    choiceless_chunk,
    chunk,
    completion_response,
    encode_tool_call,
    models_response,
    tool_call_delta,
    usage_chunk,
    usage_dict,
)
from hermes.wire.openai_chat_request import ChatRequest, parse_chat_request, parse_tool_calls
from hermes.wire.sse import SSE_DONE, SSE_KEEPALIVE, SSEDecoder, SSEEvent, sse_event
from hermes.wire.think import ThinkSplitter, split_think

# Where OpenAI-compatible servers put reasoning: DeepSeek, vLLM, llama.cpp, LM Studio and SGLang
# say `reasoning_content`; OpenRouter and Ollama's compatible API say `reasoning`.
REASONING_FIELDS = ("reasoning_content", "reasoning")

__all__ = [
    "SSE_DONE",
    "SSE_KEEPALIVE",
    "ChatRequest",
    "ChunkAccumulator",
    "Completion",
    "SSEDecoder",
    "SSEEvent",
    "WireError",
    "choiceless_chunk",
    "chunk",
    "completion_response",
    "encode_chat_request",
    "encode_message",
    "encode_tool_call",
    "encode_tool_choice",
    "models_response",
    "parse_chat_request",
    "parse_completion_response",
    "sse_event",
    "tool_call_delta",
    "usage_chunk",
    "usage_dict",
]


class WireError(HermesError):
    """An upstream answered in a broken shape (not JSON, missing fields) or sent an error object
    inside a 200 stream. For the gateway's own client that is a bad gateway."""

    status = 502
    type = "server_error"
    code = "bad_upstream_response"


# ---------------------------------------------------------------------------------------------
# Client side: requests to an upstream


def encode_message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": openai_content(message)}
    if message.tool_calls:
        out["tool_calls"] = [encode_tool_call(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def encode_chat_request(
    messages: Iterable[Message],
    *,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    stream: bool,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Sequence[str] = (),
    include_usage: bool = False,
    tool_choice: ToolChoice | None = None,
    parallel_tool_calls: bool | None = None,
    reasoning_effort: str | None = None,
) -> dict[str, Any]:
    """A request body for an upstream. `tools` are function specs ({"name", "description",
    "parameters"}), wrapped as OpenAI wants; specs already shaped {"type": "function", ...} pass
    through. `max_tokens` (not max_completion_tokens) because every compatible server reads it."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [encode_message(m) for m in messages],
        "stream": stream,
    }
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = [
            dict(t) if "type" in t else {"type": "function", "function": dict(t)} for t in tools
        ]
        if tool_choice is not None:
            body["tool_choice"] = encode_tool_choice(tool_choice)
        if parallel_tool_calls is not None:
            body["parallel_tool_calls"] = parallel_tool_calls
    optional = {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "reasoning_effort": reasoning_effort,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if stop:
        body["stop"] = list(stop)
    return body


def encode_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "function":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


# ---------------------------------------------------------------------------------------------
# Client side: decoding an upstream's answer


@dataclass(slots=True)
class _PendingCall:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class ChunkAccumulator:
    """Turns an upstream's chat.completion.chunk stream into `hermes.messages` events.

    Text is yielded as it arrives, reasoning (a `reasoning_content` / `reasoning` field, or a
    leading `<think>` block in the text) as ReasoningDelta; tool-call fragments are assembled and
    yielded once as ToolCallsReady when a finish_reason arrives; usage (which some servers repeat
    cumulatively) and Finish come last, from `[DONE]` or `finish()`. Only choice 0 is read."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._think = ThinkSplitter()
        self._calls: dict[int, _PendingCall] = {}
        self._calls_sent = False
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self._saw_chunk = False
        self._done = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def usage(self) -> Usage | None:
        return self._usage

    @property
    def done(self) -> bool:
        return self._done

    def feed_data(self, data: str) -> list[StreamEvent]:
        """One SSE `data` payload: a JSON chunk or the `[DONE]` sentinel."""
        if self._done:
            return []
        if data.strip() == "[DONE]":
            return self._end(saw_done=True)
        try:
            parsed = fastjson.loads(data)
        except ValueError as exc:
            raise WireError(f"Upstream sent a chunk that is not JSON: {data[:200]!r}") from exc
        return self.feed(parsed)

    def feed(self, chunk: Any) -> list[StreamEvent]:
        """One decoded chunk object."""
        if self._done:
            return []
        if not isinstance(chunk, dict):
            raise WireError("Upstream sent a stream chunk that is not a JSON object.")
        if chunk.get("error") is not None:
            raise WireError(f"Upstream reported an error mid-stream: {_error_text(chunk['error'])}")
        self._saw_chunk = True
        if chunk.get("usage") is not None:
            self._usage = _parse_usage(chunk["usage"])
        choices = chunk.get("choices")
        choices = [] if choices is None else choices
        if not isinstance(choices, list):
            raise WireError("Upstream chunk 'choices' is not an array.")
        events: list[StreamEvent] = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise WireError("Upstream chunk choice is not an object.")
            if choice.get("index", 0) == 0:
                events.extend(self._feed_choice(choice))
        return events

    def finish(self) -> list[StreamEvent]:
        """The response body ended. Without `[DONE]` a finish_reason must have been seen, otherwise
        the stream was cut short."""
        return self._end(saw_done=False)

    def _feed_choice(self, choice: dict[str, Any]) -> list[StreamEvent]:
        delta = choice.get("delta")
        delta = {} if delta is None else delta
        if not isinstance(delta, dict):
            raise WireError("Upstream chunk 'delta' is not an object.")
        events: list[StreamEvent] = []
        reasoning = _reasoning_text(delta)
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content is not None:
            if not isinstance(content, str):
                raise WireError("Upstream chunk 'delta.content' is not a string.")
            events.extend(self._content(self._think.feed(content)))
        fragments = delta.get("tool_calls")
        if fragments is not None:
            if not isinstance(fragments, list):
                raise WireError("Upstream chunk 'delta.tool_calls' is not an array.")
            for fragment in fragments:
                self._add_fragment(fragment)
        reason = choice.get("finish_reason")
        if reason is not None:
            if not isinstance(reason, str):
                raise WireError("Upstream chunk 'finish_reason' is not a string.")
            self._finish_reason = reason
            events.extend(self._content(self._think.flush()))
            events.extend(self._take_calls())
        return events

    def _content(self, pieces: list[TextDelta | ReasoningDelta]) -> list[StreamEvent]:
        self._text.extend(p.text for p in pieces if isinstance(p, TextDelta))
        return list(pieces)

    def _add_fragment(self, fragment: Any) -> None:
        if not isinstance(fragment, dict):
            raise WireError("Upstream tool call fragment is not an object.")
        index = fragment.get("index")
        if index is None:
            index = self._guess_index(fragment.get("id"))
        elif isinstance(index, bool) or not isinstance(index, int):
            raise WireError("Upstream tool call fragment 'index' is not an integer.")
        function = fragment.get("function")
        function = {} if function is None else function
        if not isinstance(function, dict):
            raise WireError("Upstream tool call fragment 'function' is not an object.")
        call_id, name = fragment.get("id"), function.get("name")
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # a few servers send parsed arguments
            try:
                arguments = fastjson.dumps_text(arguments)
            except ValueError as exc:
                raise WireError(f"Upstream sent tool call arguments {exc}.") from exc
        if not all(v is None or isinstance(v, str) for v in (call_id, name, arguments)):
            raise WireError("Upstream tool call fragment has a malformed id, name or arguments.")
        slot = self._calls.setdefault(index, _PendingCall())
        # id and name arrive whole in the first fragment; later ones carry only arguments.
        slot.id = call_id or slot.id
        slot.name = name or slot.name
        if arguments:
            slot.arguments.append(arguments)

    def _guess_index(self, call_id: Any) -> int:
        # Some compatible servers omit `index`: a new id starts a call, no id continues the last.
        if call_id is None:
            return max(self._calls, default=0)
        for index, slot in self._calls.items():
            if slot.id == call_id:
                return index
        return max(self._calls, default=-1) + 1

    def _take_calls(self) -> list[StreamEvent]:
        if self._calls_sent or not self._calls:
            return []
        self._calls_sent = True
        calls: list[ToolCall] = []
        for position, index in enumerate(sorted(self._calls)):
            slot = self._calls[index]
            if not slot.name:
                raise WireError(f"Upstream tool call at index {index} has no function name.")
            arguments = "".join(slot.arguments) or "{}"
            calls.append(ToolCall(slot.id or f"call_{position}", slot.name, arguments))
        return [ToolCallsReady(tuple(calls))]

    def _end(self, *, saw_done: bool) -> list[StreamEvent]:
        if self._done:
            return []
        if not self._saw_chunk:
            raise WireError("Upstream stream ended without sending any chunk.")
        if not saw_done and self._finish_reason is None:
            raise WireError("Upstream stream ended before a finish_reason: the answer was cut.")
        self._done = True
        events = self._content(self._think.flush())
        events += self._take_calls()
        if self._usage is not None:
            events.append(UsageReport(self._usage))
        reason = self._finish_reason or "stop"
        if self._calls and reason == "stop":
            reason = "tool_calls"  # some servers (Ollama) say "stop" after tool calls
        events.append(Finish(reason))
        return events


@dataclass(frozen=True, slots=True)
class Completion:
    """A decoded non-streaming answer."""

    message: Message
    finish_reason: str
    usage: Usage | None = None
    id: str | None = None
    model: str | None = None

    def events(self) -> tuple[StreamEvent, ...]:
        """The same answer as the event sequence a stream would have produced."""
        out: list[StreamEvent] = []
        if self.message.reasoning is not None:
            out.append(ReasoningDelta(self.message.reasoning.text))
        if self.message.content:
            out.append(TextDelta(self.message.content))
        if self.message.tool_calls:
            out.append(ToolCallsReady(self.message.tool_calls))
        if self.usage is not None:
            out.append(UsageReport(self.usage))
        out.append(Finish(self.finish_reason))
        return tuple(out)


def parse_completion_response(body: Any) -> Completion:
    """Decode an upstream's non-streaming `chat.completion` object."""
    if not isinstance(body, dict):
        raise WireError("Upstream response is not a JSON object.")
    if body.get("error") is not None:
        raise WireError(f"Upstream reported an error: {_error_text(body['error'])}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise WireError("Upstream response has no choices.")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise WireError("Upstream response choice has no message object.")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise WireError("Upstream response 'message.content' is not a string.")
    if not fastjson.within(message.get("tool_calls")):
        # parse_tool_calls re-encodes parsed arguments with the stdlib, which gives up on these.
        raise WireError(f"Upstream sent tool calls nested more than {fastjson.MAX_DEPTH} levels.")
    try:
        tool_calls = parse_tool_calls(message.get("tool_calls"), "message.tool_calls")
    except InvalidRequest as exc:
        raise WireError(f"Upstream response has a malformed tool call: {exc.message}") from exc
    reason = choices[0].get("finish_reason")
    if reason is not None and not isinstance(reason, str):
        raise WireError("Upstream response 'finish_reason' is not a string.")
    thought, content = split_think(content) if content else ("", content)
    thought = _reasoning_text(message) or thought
    usage = body.get("usage")
    return Completion(
        message=Message(
            "assistant", content, tool_calls, reasoning=Reasoning(thought) if thought else None
        ),
        finish_reason=reason or ("tool_calls" if tool_calls else "stop"),
        usage=_parse_usage(usage) if usage is not None else None,
        id=body.get("id") if isinstance(body.get("id"), str) else None,
        model=body.get("model") if isinstance(body.get("model"), str) else None,
    )


def _reasoning_text(obj: dict[str, Any]) -> str:
    # Other shapes (OpenRouter's structured `reasoning_details`, say) are not read.
    values = (obj.get(key) for key in REASONING_FIELDS)
    return next((v for v in values if isinstance(v, str) and v), "")


def _parse_usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        raise WireError("Upstream 'usage' is not an object.")
    prompt, completion = raw.get("prompt_tokens") or 0, raw.get("completion_tokens") or 0
    if not (fastjson.is_count(prompt) and fastjson.is_count(completion)):
        raise WireError(
            f"Upstream sent 'usage' token counts that are not counts: {fastjson.preview(raw)}"
        )
    return Usage(prompt, completion)


def _error_text(error: Any) -> str:
    """An error's message, never empty (a message that ends in ": " tells the user nothing)."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        text = str(error["message"])
    else:
        text = fastjson.preview(error)
    return text.strip() or "no message"
