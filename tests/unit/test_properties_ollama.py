"""Properties of the Ollama decoding (hermes.wire.ollama's NDJSON decoder and chat accumulator,
and its provider): whatever Ollama sends, the wire module raises only its WireError and the
provider only UpstreamError; NDJSON cut anywhere decodes as the whole; a history with any
tool-call arguments encodes to a body orjson can write."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from hermes.errors import UpstreamError
from hermes.messages import Finish, TextDelta, ToolCall, ToolCallsReady, Usage, UsageReport
from hermes.providers.ollama import OllamaProvider
from hermes.wire import fastjson
from hermes.wire.ollama import (
    ChatAccumulator,
    NDJSONDecoder,
    WireError,
    encode_chat_request,
    parse_chat_response,
)
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
    ndjson_body,
    recursion_limit,
    some_bytes,
    status_error,
    stream_events,
    texts,
    to_json,
    tool_args,
    whole_events,
)

CALL = {"function": {"name": "f", "arguments": {"a": 1}}, "id": "x"}
PIECE = {
    "model": "m",
    "created_at": "2025-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": "hi", "tool_calls": [CALL]},
    "done": False,
}
FINAL = {
    **PIECE,
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "total_duration": 1000,
    "prompt_eval_count": 3,
    "eval_count": 4,
}
ERROR = {"error": "model 'm' not found, try pulling it first"}
objects = mutated(PIECE) | mutated(FINAL) | mutated(ERROR)


def provider() -> OllamaProvider:
    return OllamaProvider(model="m", base_url="http://127.0.0.1:9")


def ndjson_outcome(chunks: list[bytes]) -> list[Any] | str:
    decoder = NDJSONDecoder()
    try:
        return [o for c in chunks for o in decoder.feed(c)] + decoder.flush()
    except WireError as exc:
        assert exc.message.startswith("Ollama sent a line that is not JSON: ")
        return "error"


@SETTINGS
@given(st.data(), some_bytes | st.lists(objects, max_size=4).map(ndjson_body))
def test_ndjson_cut_anywhere_decodes_as_the_whole(data: st.DataObject, body: bytes) -> None:
    body = data.draw(corrupted(body))
    whole = ndjson_outcome([body])
    cut = ndjson_outcome(data.draw(chunked(body)))
    # Cut, a bad line may be met after good ones were already returned: the same failure.
    assert cut == whole or (cut == "error" and whole == "error")


@SETTINGS
@given(st.lists(objects | json_values, max_size=4))
@example([{"message": {"tool_calls": [{"function": {"name": "f", "arguments": Deep(1010, "{")}}]}}])
@example([{"error": Deep(1010, "[")}])
@example([{"error": 5}])
@example([{"done": True, "prompt_eval_count": 2**64 - 1, "eval_count": 2**64 - 1}])
def test_objects_raise_only_wire_errors(sent: list[Any]) -> None:
    acc = ChatAccumulator()
    events: list[Any] = []
    try:
        with recursion_limit():
            for obj in sent:
                events += acc.feed(fastjson.loads(to_json(obj)))
            events += acc.finish()
    except ValueError:
        return  # not JSON to orjson: the NDJSON decoder's WireError, tested above
    except WireError as exc:
        assert exc.message.startswith("Ollama") and not exc.message.endswith(": ")
    encodable(events)


@SETTINGS
@given(objects | json_values)
def test_whole_answers_raise_only_upstream_errors(body: Any) -> None:
    p = provider()
    try:
        events = whole_events(p, to_json(body).encode())
    except UpstreamError as exc:
        assert exc.message.startswith("Ollama sent a malformed answer: ")
        return
    assert list(events) == list(parse_chat_response(fastjson.loads(to_json(body))))


@SETTINGS
@given(st.data(), some_bytes | st.lists(objects, max_size=4).map(ndjson_body))
def test_streams_raise_only_upstream_errors(data: st.DataObject, body: bytes) -> None:
    chunks = data.draw(chunked(data.draw(corrupted(body))))
    try:
        stream_events(provider(), chunks)
    except UpstreamError as exc:
        assert exc.message.startswith("Ollama sent a malformed stream: Ollama")


@SETTINGS
@given(
    st.sampled_from((400, 401, 404, 429, 500)),
    some_bytes | objects.map(encoded),
)
@example(404, b'{"error": "model \xff not found"}')
@example(500, b"[" * 1500)
def test_error_bodies_become_upstream_errors(status: int, body: bytes) -> None:
    error = status_error(provider(), status, body)
    assert isinstance(error, UpstreamError)


def merged_text(events: list[Any]) -> list[Any]:
    """`events` with each run of TextDeltas joined into one: where text pieces break is the
    upstream's business (white space that may open a `<think>` block is held back a moment)."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, TextDelta) and out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + event.text)
        elif not (isinstance(event, TextDelta) and not event.text):
            out.append(event)
    return out


@SETTINGS
@given(
    st.data(),
    texts,
    st.lists(tool_args, max_size=2),
)
def test_good_streams_decode_the_same_at_any_chunking(
    data: st.DataObject, pieces: list[str], calls: list[dict[str, Any]]
) -> None:
    lines: list[Any] = [{**PIECE, "message": {"role": "assistant", "content": p}} for p in pieces]
    if calls:
        message = {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": a}} for a in calls],
        }
        lines.append({**PIECE, "message": message})
    lines.append(FINAL)
    body = b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)
    events = stream_events(provider(), data.draw(chunked(body)))
    text = "".join(pieces)
    expected: list[Any] = [TextDelta(text)] if text else []
    if calls:
        made = (
            ToolCall(f"call_{n}", "f", json.dumps(a, ensure_ascii=False))
            for n, a in enumerate(calls, 1)
        )
        expected.append(ToolCallsReady(tuple(made)))
    expected += [UsageReport(Usage(3, 4)), Finish("tool_calls" if calls else "stop")]
    assert merged_text(events) == expected


@SETTINGS
@given(st.lists(argument_texts, min_size=1, max_size=3))
@example(['{"a": "\\ud800"}'])  # a lone surrogate: orjson cannot write it
@example([to_json(Deep(300, "{"))])  # past the 254 levels orjson writes
@example([to_json(Deep(1010, "["))])  # past what the stdlib's parser does within the stack
def test_any_tool_arguments_encode_to_a_body(args: list[str]) -> None:
    """A client's history (or a model's earlier answer) may hold any argument text: the request
    body built from it is always one orjson can send."""
    with recursion_limit():
        fastjson.dumps(encode_chat_request(history(args), model="m", stream=True))
