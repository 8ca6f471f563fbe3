"""Properties of the Gemini decoding (hermes.wire.gemini and its provider): whatever Google sends,
streamed, whole, or as an error body, the wire module raises only its WireError (parse_error
nothing at all) and the provider only UpstreamError; good streams decode the same at any
chunking; a history with any tool-call arguments encodes to a body orjson can write."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from hermes.errors import UpstreamError
from hermes.messages import Finish, TextDelta, ToolCallsReady, Usage, UsageReport
from hermes.providers.gemini import GeminiProvider
from hermes.wire import fastjson
from hermes.wire.gemini import GeminiAccumulator, WireError, encode_request, parse_error
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
    tool_args,
    whole_events,
)

CALL_PART = {"functionCall": {"name": "f", "args": {"a": 1}, "id": "x"}, "thoughtSignature": "s"}
RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [{"text": "hi"}, CALL_PART, {"text": "hmm", "thought": True}],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1,
        "candidatesTokenCount": 2,
        "thoughtsTokenCount": 1,
        "totalTokenCount": 4,
    },
    "promptFeedback": {"blockReason": "SAFETY"},
    "modelVersion": "gemini-x",
}
ERROR = {
    "error": {
        "code": 429,
        "message": "slow down",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    }
}
responses = mutated(RESPONSE) | mutated(ERROR)


def error_array(error: Any) -> str:
    """The error body the JSON-array stream sends."""
    return to_json([{"error": error}])


def provider() -> GeminiProvider:
    return GeminiProvider(model="gemini-3-pro", base_url="http://127.0.0.1:9", api_key="k")


@SETTINGS
@given(st.lists(responses.map(to_json) | st.text(max_size=10), max_size=4))
@example([to_json({"error": Deep(1010, "[")})])
@example(
    [
        to_json(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [{"functionCall": {"name": "f", "args": Deep(1010, "{")}}]
                        }
                    }
                ]
            }
        )
    ]
)
@example([to_json({"usageMetadata": {"promptTokenCount": 2**64 - 1, "candidatesTokenCount": 1}})])
def test_responses_raise_only_wire_errors(sent: list[str]) -> None:
    acc = GeminiAccumulator()
    events: list[Any] = []
    try:
        with recursion_limit():
            for data in sent:
                events += acc.feed_data(data)
            events += acc.finish()
    except WireError as exc:
        assert exc.message.startswith("Gemini")
    encodable(events)


@SETTINGS
@given(json_values | responses)
def test_whole_answers_raise_only_upstream_errors(body: Any) -> None:
    try:
        whole_events(provider(), to_json(body).encode())
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider sent a malformed answer: ")


@SETTINGS
@given(some_bytes.map(replaced) | mutated(ERROR).map(to_json) | json_values.map(error_array))
@example(to_json({"error": {"details": [{"retryDelay": Deep(1010, "[")}]}}))
@example("[" * 3000)
@example(to_json({"error": {"message": Deep(1010, "[")}}))
def test_error_bodies_always_parse(text: str) -> None:
    with recursion_limit():
        info = parse_error(text)
    assert len(info.message) <= 300
    assert info.retry_delay is None or info.retry_delay >= 0


@SETTINGS
@given(
    st.sampled_from((400, 403, 429, 500, 503)),
    some_bytes | mutated(ERROR).map(encoded),
)
@example(400, b'{"error": {"message": "key \xff", "details": [{"reason": "API_KEY_INVALID"}]}}')
def test_error_responses_become_upstream_errors(status: int, body: bytes) -> None:
    error = status_error(provider(), status, body)
    assert isinstance(error, UpstreamError)


@SETTINGS
@given(st.data(), st.lists(responses.map(to_json), max_size=4) | some_bytes)
def test_streams_raise_only_upstream_errors(data: st.DataObject, sent: list[str] | bytes) -> None:
    body = sent if isinstance(sent, bytes) else sse_body([(None, d) for d in sent], b"\r\n")
    chunks = data.draw(chunked(data.draw(corrupted(body))))
    try:
        stream_events(provider(), chunks)
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider sent a malformed stream: Gemini")


@SETTINGS
@given(
    st.data(),
    texts,
    st.lists(tool_args, max_size=2),
)
def test_good_streams_decode_the_same_at_any_chunking(
    data: st.DataObject, pieces: list[str], calls: list[dict[str, Any]]
) -> None:
    """Framed as Google frames it (CRLF line ends), text chunk by chunk, the calls whole in the
    last chunk with the finishReason and the usage."""
    frames: list[dict[str, Any]] = [
        {"candidates": [{"content": {"parts": [{"text": p}]}}]} for p in pieces
    ]
    last = [{"functionCall": {"name": "f", "args": a}} for a in calls]
    frames.append(
        {
            "candidates": [{"content": {"parts": last}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4},
        }
    )
    body = sse_body([(None, json.dumps(f)) for f in frames], b"\r\n")
    p = provider()
    events = stream_events(p, data.draw(chunked(body)))
    assert events[: len(pieces)] == [TextDelta(t) for t in pieces]
    rest = events[len(pieces) :]
    if calls:
        ready = rest.pop(0)
        assert isinstance(ready, ToolCallsReady)
        assert [(c.name, json.loads(c.arguments)) for c in ready.calls] == [("f", a) for a in calls]
    assert rest == [UsageReport(Usage(3, 4)), Finish("tool_calls" if calls else "stop")]


@SETTINGS
@given(st.lists(argument_texts, min_size=1, max_size=3))
@example(['{"a": "\\ud800"}'])  # a lone surrogate: orjson cannot write it
@example([to_json(Deep(300, "{"))])  # past the 254 levels orjson writes
@example([to_json(Deep(1010, "["))])  # past what the stdlib's parser does within the stack
def test_any_tool_arguments_encode_to_a_body(args: list[str]) -> None:
    """A client's history (or a model's earlier answer) may hold any argument text: the request
    body built from it is always one orjson can send."""
    with recursion_limit():
        fastjson.dumps(encode_request(history(args)))
