"""Properties of the Anthropic Messages decoding (hermes.wire.anthropic and its provider): whatever
the upstream sends, the wire module raises only AnthropicWireError or, for an `error` event, an
UpstreamError, and the provider only UpstreamError; good streams decode the same at any chunking;
a history with any tool-call arguments encodes to a request body orjson can write."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from hermes.errors import UpstreamError
from hermes.messages import Finish, TextDelta, ToolCall, ToolCallsReady, Usage, UsageReport
from hermes.providers.anthropic import AnthropicProvider
from hermes.wire import fastjson
from hermes.wire.anthropic import (
    AnthropicWireError,
    StreamAccumulator,
    encode_request,
    parse_message_response,
)
from hermes.wire.sse import sse_event
from tests.untrusted import (
    SETTINGS,
    Deep,
    argument_texts,
    chunked,
    corrupted,
    encodable,
    encoded,
    history,
    json_values,
    mutated,
    recursion_limit,
    replaced,
    some_bytes,
    sse_body,
    status_error,
    stream_events,
    texts,
    to_json,
)

USAGE = {
    "input_tokens": 5,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 1,
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "."}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": USAGE,
}
TOOL_HEAD = {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}
EVENTS: tuple[dict[str, Any], ...] = (
    {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": TOOL_HEAD},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
    {"type": "message_stop"},
)
ERROR = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
# What a model may stream as a tool's input: JSON, broken JSON, surrogate escapes, deep nesting.
partial_json = st.sampled_from(
    ('{"path": ".', '"}', "", '{"a": "\\ud800"}', "[1, 2", "1" * 5000, to_json(Deep(1010, "[")))
) | st.text(max_size=10)


@st.composite
def event_scripts(draw: st.DrawFn) -> list[tuple[str, str]]:
    """The real event order with events left out, mutated, or repeated; each as (event name, data
    text), the name being the type the real event had."""
    script: list[tuple[str, str]] = []
    for shape in draw(st.lists(st.sampled_from(EVENTS), max_size=4)) or EVENTS:
        if shape["type"] == "content_block_delta" and shape["delta"]["type"] == "input_json_delta":
            shape = {**shape, "delta": {**shape["delta"], "partial_json": draw(partial_json)}}
        script.append((shape["type"], to_json(draw(mutated(shape)))))
    if draw(st.booleans()):
        script.insert(draw(st.integers(0, len(script))), ("error", to_json(draw(mutated(ERROR)))))
    return script


def tool_use(partial_json: str) -> list[tuple[str, str]]:
    """A script streaming one tool_use block whose input is `partial_json`."""
    delta = {"type": "input_json_delta", "partial_json": partial_json}
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": 0, "content_block": TOOL_HEAD},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "message_stop"},
    ]
    return [(str(e["type"]), to_json(e)) for e in events]


def unnamed_event(data: str) -> list[tuple[str, str]]:
    return [("", data)]


def error_body(error: Any) -> bytes:
    return encoded({"type": "error", "error": error})


def provider() -> AnthropicProvider:
    return AnthropicProvider(model="m", base_url="http://127.0.0.1:9", api_key="k")


@SETTINGS
@given(event_scripts() | st.lists(st.tuples(st.sampled_from(("ping", "x")), st.text(max_size=20))))
@example([("error", to_json({"type": "error", "error": {"type": ["overloaded_error"]}}))])
@example([("x", to_json({"type": Deep(1010, "[")}))])
@example([("error", to_json({"type": "error", "error": {"type": Deep(1010, "[")}}))])
@example(tool_use('{"a": "\\ud800"}'))  # a lone surrogate: the gateway cannot write it out
@example(tool_use(to_json(Deep(1010, "["))))  # deeper than the stdlib's parser gets
@example(
    [
        (
            "message_delta",
            to_json(
                {
                    "type": "message_delta",
                    "usage": {"input_tokens": 2**64 - 1, "cache_read_input_tokens": 1},
                }
            ),
        ),
        ("m", '{"type": "message_stop"}'),
    ]
)
def test_events_raise_only_wire_or_upstream_errors(script: list[tuple[str, str]]) -> None:
    acc = StreamAccumulator()
    events: list[Any] = []
    try:
        with recursion_limit():
            for name, data in script:
                events += acc.feed_data(name, data)
            events += acc.finish()
    except AnthropicWireError as exc:
        assert exc.message.startswith("Upstream ")
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider reported an error mid-answer: ")
    encodable(events)


@SETTINGS
@given(json_values | mutated(MESSAGE) | mutated(ERROR))
@example({**MESSAGE, "content": [{**TOOL_HEAD, "input": Deep(1010, "{")}]})
@example({"type": "error", "error": {"type": {"nested": "kind"}, "message": 5}})
@example({**MESSAGE, "usage": {"input_tokens": 2**64 - 1, "cache_read_input_tokens": 2**64 - 1}})
def test_whole_answers_raise_only_wire_or_upstream_errors(body: Any) -> None:
    try:
        body = fastjson.loads(to_json(body))
    except ValueError:
        return
    try:
        with recursion_limit():
            events = list(parse_message_response(body))
    except (AnthropicWireError, UpstreamError):
        return
    encodable(events)


@SETTINGS
@given(st.data(), event_scripts() | some_bytes.map(replaced).map(unnamed_event))
def test_streams_raise_only_upstream_errors(
    data: st.DataObject, script: list[tuple[str, str]]
) -> None:
    body = data.draw(corrupted(sse_body(script)))
    try:
        stream_events(provider(), data.draw(chunked(body)))
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider ")


@SETTINGS
@given(
    st.sampled_from((400, 401, 429, 500, 529)),
    some_bytes | json_values.map(error_body),
)
@example(529, b'{"type": "error", "error": {"type": "overloaded_error", "message": "\xff"}}')
def test_error_bodies_become_upstream_errors(status: int, body: bytes) -> None:
    error = status_error(provider(), status, body)
    assert isinstance(error, UpstreamError)


# -- good streams ------------------------------------------------------------------------


@SETTINGS
@given(
    st.data(),
    texts,
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_good_streams_decode_the_same_at_any_chunking(
    data: st.DataObject, pieces: list[str], args: dict[str, Any]
) -> None:
    frames: list[dict[str, Any]] = [{"type": "message_start", "message": {"usage": USAGE}}]
    for piece in pieces:
        frames.append(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
        )
    frames.append({"type": "content_block_start", "index": 1, "content_block": TOOL_HEAD})
    text = json.dumps(args)
    for start in range(0, len(text), 4):
        delta = {"type": "input_json_delta", "partial_json": text[start : start + 4]}
        frames.append({"type": "content_block_delta", "index": 1, "delta": delta})
    frames.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        }
    )
    frames.append({"type": "message_stop"})
    body = b"".join(sse_event(f, event=f["type"]) for f in frames)
    events = stream_events(provider(), data.draw(chunked(body)))
    call = ToolCall("toolu_1", "ls", json.dumps(args, ensure_ascii=False))
    assert events == [
        *(TextDelta(p) for p in pieces),
        ToolCallsReady((call,)),
        UsageReport(Usage(5, 7)),
        Finish("tool_calls"),
    ]


# -- requests built from an untrusted history ----------------------------------------------


@SETTINGS
@given(st.lists(argument_texts, min_size=1, max_size=3))
@example(['{"a": "\\ud800"}'])  # a lone surrogate: orjson cannot write it
@example([to_json(Deep(300, "{"))])  # past the 254 levels orjson writes
@example([to_json(Deep(1010, "["))])  # past what the stdlib's parser does within the stack
def test_any_tool_arguments_encode_to_a_body(args: list[str]) -> None:
    """A client's history (or a model's earlier answer) may hold any argument text: the request
    body built from it is always one orjson can send."""
    with recursion_limit():
        fastjson.dumps(encode_request(history(args), model="m"))
