"""Ollama's native chat API (`POST /api/chat`), client side, without I/O.

`encode_chat_request` builds the request body; `NDJSONDecoder` cuts a streamed body into JSON
objects (one per line, split anywhere between reads); `ChatAccumulator` turns those objects into
hermes stream events; `parse_chat_response` does the same for a non-streamed answer.

Differences from OpenAI's format that matter here: tool-call arguments are JSON objects, not
strings; tool calls arrive whole and carry no id (hermes makes one up); a tool result names its
tool (`tool_name`) instead of a call id; usage comes as `prompt_eval_count` / `eval_count` on the
final `done` object."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hermes.errors import HermesError
from hermes.messages import (
    Finish,
    Message,
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
from hermes.wire.images import ollama_images
from hermes.wire.think import ThinkSplitter

__all__ = [
    "ChatAccumulator",
    "NDJSONDecoder",
    "WireError",
    "encode_chat_request",
    "encode_messages",
    "error_text",
    "parse_chat_response",
]


class WireError(HermesError):
    """Ollama answered in a broken shape, or reported an error inside a 200 stream."""

    status = 502
    type = "server_error"
    code = "bad_upstream_response"


# ---------------------------------------------------------------------------------------------
# Requests


def _chosen(
    tools: Sequence[Mapping[str, Any]], choice: ToolChoice | None
) -> Sequence[Mapping[str, Any]]:
    if choice is None or choice.mode in ("auto", "required"):
        return tools
    if choice.mode == "none":
        return ()
    return [t for t in tools if t.get("function", t).get("name") == choice.name]


def encode_chat_request(
    messages: Iterable[Message],
    *,
    model: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
    stream: bool,
    num_predict: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: Sequence[str] = (),
    num_ctx: int | None = None,
    tool_choice: ToolChoice | None = None,
    think: bool = False,
) -> dict[str, Any]:
    """The body of `POST /api/chat`. `stream` is always written because Ollama streams by
    default. `tools` are function specs, wrapped as {"type": "function", "function": spec} unless
    already shaped that way. Ollama has no `tool_choice`: "none" offers no tools and a named
    function only that one; "required" cannot be enforced. `think` asks a thinking model for its
    thoughts apart (`thinking`)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": encode_messages(messages),
        "stream": stream,
    }
    tools = _chosen(tools or (), tool_choice)
    if think:
        body["think"] = True
    if tools:
        body["tools"] = [
            dict(t) if "type" in t else {"type": "function", "function": dict(t)} for t in tools
        ]
    options: dict[str, Any] = {
        k: v
        for k, v in {
            "num_predict": num_predict,
            "temperature": temperature,
            "top_p": top_p,
            "num_ctx": num_ctx,
        }.items()
        if v is not None
    }
    if stop:
        options["stop"] = list(stop)
    if options:
        body["options"] = options
    return body


def encode_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Ollama's message list. A tool result gets `tool_name` from the call it answers, looked up
    in the assistant messages before it (ids may repeat across turns: the latest one wins)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.images:
            item["images"] = ollama_images(m)
        if m.tool_calls:
            item["tool_calls"] = [_encode_call(c) for c in m.tool_calls]
            names.update((c.id, c.name) for c in m.tool_calls)
        if m.role == "tool":
            name = m.name or (names.get(m.tool_call_id) if m.tool_call_id else None)
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def _encode_call(call: ToolCall) -> dict[str, Any]:
    return {"function": {"name": call.name, "arguments": _arguments_object(call.arguments)}}


def _arguments_object(raw: str) -> dict[str, Any]:
    # Ollama only accepts an object here. Arguments that are not one (a client's history may hold
    # the model's broken JSON) become {}: the tool already answered that call with an error, and a
    # rejected request would end the whole conversation.
    try:
        # orjson refuses lone surrogates, and a depth bound keeps the body encodable.
        parsed = fastjson.loads_within(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# ---------------------------------------------------------------------------------------------
# Answers


class NDJSONDecoder:
    """Feed bytes as they arrive, split anywhere; get back the JSON value of each whole line.

    Lines are cut on bytes before decoding, so a UTF-8 character split between two reads is never
    decoded in halves. Blank lines are skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        self._buf += chunk
        end = self._buf.rfind(b"\n")
        if end < 0:
            return []
        lines = bytes(self._buf[:end]).split(b"\n")
        del self._buf[: end + 1]
        return [_parse_line(line) for line in lines if line.strip()]

    def flush(self) -> list[Any]:
        """The body ended: a last line without a newline still counts."""
        rest, self._buf = bytes(self._buf), bytearray()
        return [_parse_line(rest)] if rest.strip() else []


def _parse_line(line: bytes) -> Any:
    try:
        return fastjson.loads(line)
    except ValueError as exc:
        raise WireError(f"Ollama sent a line that is not JSON: {line[:200]!r}") from exc


class ChatAccumulator:
    """Ollama chat objects in, hermes stream events out, in the Provider order: text and
    reasoning (`message.thinking`, or a leading `<think>` block in the text) as they arrive; at
    `done`, ToolCallsReady (if any call was seen), UsageReport, Finish.

    `new_id` names the tool calls Ollama leaves unnamed (default: call_1, call_2, … per answer);
    an id Ollama does send is kept."""

    def __init__(self, new_id: Callable[[], str] | None = None) -> None:
        counter = itertools.count(1)
        self._new_id = new_id or (lambda: f"call_{next(counter)}")
        self._text: list[str] = []
        self._calls: list[ToolCall] = []
        self._think = ThinkSplitter()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, obj: Any) -> list[StreamEvent]:
        if self._done:
            return []
        if not isinstance(obj, dict):
            raise WireError("Ollama sent a chat object that is not a JSON object.")
        if obj.get("error") is not None:
            detail = error_text(obj).strip() or fastjson.preview(obj["error"]).strip("'\" ")
            raise WireError(f"Ollama reported an error: {detail or 'no message'}")
        events: list[StreamEvent] = []
        message = obj.get("message")
        if message is not None:
            events.extend(self._feed_message(message))
        if obj.get("done") is True:
            events.extend(self._end(obj))
        return events

    def finish(self) -> list[StreamEvent]:
        """The body ended. Without a `done` object the answer was cut short."""
        if not self._done:
            raise WireError("Ollama's answer ended before its final 'done' object.")
        return []

    def _feed_message(self, message: Any) -> list[StreamEvent]:
        if not isinstance(message, dict):
            raise WireError("Ollama chat 'message' is not an object.")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise WireError("Ollama chat 'message.content' is not a string.")
        raw_calls = message.get("tool_calls")
        if raw_calls is not None:
            if not isinstance(raw_calls, list):
                raise WireError("Ollama chat 'message.tool_calls' is not an array.")
            self._calls.extend(self._parse_call(c) for c in raw_calls)
        thinking = message.get("thinking")
        events: list[StreamEvent] = []
        if isinstance(thinking, str) and thinking:
            events.append(ReasoningDelta(thinking))
        if content:
            events.extend(self._pieces(self._think.feed(content)))
        return events

    def _pieces(self, pieces: list[TextDelta | ReasoningDelta]) -> list[StreamEvent]:
        self._text.extend(p.text for p in pieces if isinstance(p, TextDelta))
        return list(pieces)

    def _parse_call(self, raw: Any) -> ToolCall:
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise WireError("Ollama sent a tool call without a function name.")
        arguments = function.get("arguments")
        if arguments is None:
            arguments = {}
        if isinstance(arguments, dict):
            try:
                arguments = fastjson.dumps_text(arguments)
            except ValueError as exc:
                raise WireError(f"Ollama sent tool call arguments {exc}.") from exc
        elif not isinstance(arguments, str):
            raise WireError("Ollama tool call 'arguments' is not an object.")
        call_id = raw.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = self._new_id()
        return ToolCall(call_id, function["name"], arguments)

    def _end(self, obj: dict[str, Any]) -> list[StreamEvent]:
        self._done = True
        events = self._pieces(self._think.flush())
        if self._calls:
            events.append(ToolCallsReady(tuple(self._calls)))
        usage = _usage(obj)
        if usage is not None:
            events.append(UsageReport(usage))
        events.append(Finish(_finish_reason(obj.get("done_reason"), bool(self._calls))))
        return events


def parse_chat_response(
    body: Any, new_id: Callable[[], str] | None = None
) -> tuple[StreamEvent, ...]:
    """A non-streamed answer: one object with `message` and the `done` fields."""
    acc = ChatAccumulator(new_id)
    events = acc.feed(body)
    if not acc.done:
        raise WireError("Ollama's answer is not marked done.")
    return tuple(events)


def error_text(body: Any) -> str:
    """The message of an Ollama error object {"error": "..."}; "" if there is none."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error[:300]
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    return ""


def _usage(obj: Mapping[str, Any]) -> Usage | None:
    prompt, completion = obj.get("prompt_eval_count"), obj.get("eval_count")
    if prompt is None and completion is None:
        return None
    counts = (prompt or 0, completion or 0)
    if not all(fastjson.is_count(n) for n in counts):
        raise WireError(
            f"Ollama sent token counts that are not counts: {fastjson.preview(list(counts))}"
        )
    return Usage(*counts)


def _finish_reason(done_reason: Any, saw_calls: bool) -> str:
    if done_reason == "length":
        return "length"
    # "stop", and "load" / "unload" for requests that only (un)load the model.
    return "tool_calls" if saw_calls else "stop"
