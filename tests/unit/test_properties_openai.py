"""Properties of the client-side decoding of OpenAI-compatible answers (hermes.wire.openai_chat and
the OpenAI provider): whatever an upstream sends, streamed or whole, and however its body is cut,
the only failures are WireError from the wire module and UpstreamError (a 502) from the
provider; good answers decode to the same events at any chunking."""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

import pytest
from aiohttp import web
from hypothesis import assume, example, given
from hypothesis import strategies as st

from hermes.errors import UpstreamError
from hermes.messages import Finish, Message, TextDelta, ToolCall, ToolCallsReady, Usage, UsageReport
from hermes.providers.openai import OpenAIProvider
from hermes.wire import fastjson
from hermes.wire.openai_chat import (
    SSE_DONE,
    ChunkAccumulator,
    WireError,
    chunk,
    parse_completion_response,
    usage_chunk,
)
from tests.untrusted import (
    SETTINGS,
    Deep,
    chunked,
    corrupted,
    encodable,
    encoded,
    json_values,
    mutated,
    recursion_limit,
    some_bytes,
    sse_body,
    status_error,
    stream_events,
    texts,
    to_json,
    whole_events,
)

CALL = {
    "index": 0,
    "id": "call_1",
    "type": "function",
    "function": {"name": "ls", "arguments": "{"},
}
CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "hi", "refusal": None, "tool_calls": [CALL]},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}
PARSED_ARGS = {"index": 0, "id": "c", "function": {"name": "f", "arguments": {"path": "a"}}}
ERROR_CHUNK = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hi",
                "tool_calls": [{"id": "c1", "type": "function", "function": CALL["function"]}],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}
shapes = (
    st.sampled_from(
        (CHUNK, {**CHUNK, "choices": [{"index": 0, "delta": {"tool_calls": [PARSED_ARGS]}}]})
    ).flatmap(mutated)
    | mutated(ERROR_CHUNK)
    | st.sampled_from(("[DONE]", " [DONE] "))
)


def as_text(payload: Any) -> str:
    return payload if isinstance(payload, str) else to_json(payload)


def error_body(error: Any) -> bytes:
    return encoded({"error": error})


payloads = shapes.map(as_text)


def provider() -> OpenAIProvider:
    return OpenAIProvider(model="m", base_url="http://127.0.0.1:9")


# -- the accumulator -----------------------------------------------------------------------


@SETTINGS
@given(st.lists(payloads, max_size=5), st.booleans())
@example(
    [
        to_json(
            {
                "choices": [
                    {
                        "delta": {
                            "tool_calls": [
                                {
                                    **PARSED_ARGS,
                                    "function": {"name": "f", "arguments": Deep(1010, "{")},
                                }
                            ]
                        },
                        "finish_reason": "stop",
                    }
                ]
            }
        )
    ],
    False,
)
@example([to_json({"error": Deep(1010, "[")})], False)
@example(
    [to_json({"usage": {"prompt_tokens": 2**64 - 1, "completion_tokens": 1}}), "[DONE]"], False
)
@example([to_json({"usage": {"prompt_tokens": -5}}), "[DONE]"], False)
def test_chunks_raise_only_wire_errors(sent: list[str], end: bool) -> None:
    acc = ChunkAccumulator()
    events: list[Any] = []
    try:
        with recursion_limit():
            for data in sent:
                events += acc.feed_data(data)
            if end:
                events += acc.finish()
    except WireError as exc:
        assert exc.message.startswith("Upstream ")
    encodable(events)


@SETTINGS
@given(json_values | mutated(COMPLETION))
@example(
    {
        "choices": [
            {
                "message": {
                    "tool_calls": [
                        {
                            "id": "c",
                            "function": {
                                "name": "f",
                                "arguments": Deep(1010, "{"),
                            },
                        }
                    ]
                }
            }
        ]
    }
)
@example({"error": Deep(1010, "[")})
def test_whole_answers_raise_only_wire_errors(body: Any) -> None:
    try:
        body = fastjson.loads(to_json(body))  # what orjson makes of it, as the provider reads it
    except ValueError:
        return  # not JSON to orjson either: test_whole_bodies_raise_only_upstream_errors
    try:
        with recursion_limit():
            events = list(parse_completion_response(body).events())
    except WireError:
        return
    encodable(events)


# -- the provider, from the bytes up ------------------------------------------------------


def stream_outcome(chunks: list[bytes]) -> list[Any] | str:
    try:
        return stream_events(provider(), chunks)
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider sent a malformed stream: Upstream ")
        return f"error: {exc.message}"


@SETTINGS
@given(st.data(), st.lists(payloads, max_size=5) | some_bytes)
def test_streams_raise_only_upstream_errors(data: st.DataObject, sent: list[str] | bytes) -> None:
    body = sent if isinstance(sent, bytes) else sse_body([(None, d) for d in sent])
    body = data.draw(corrupted(body))
    outcome = stream_outcome(data.draw(chunked(body)))
    assert outcome == stream_outcome([body])


@SETTINGS
@given(some_bytes | json_values.map(encoded))
@example(b"[" * 5000)  # deeper than orjson reads
@example(b'{"choices": [{"message": {"content": "\\ud800"}}]}')  # a lone surrogate
def test_whole_bodies_raise_only_upstream_errors(body: bytes) -> None:
    try:
        whole_events(provider(), body)
    except UpstreamError as exc:
        assert exc.message.startswith("the model provider sent a malformed answer")


@SETTINGS
@given(
    st.sampled_from((400, 401, 403, 404, 408, 429, 500, 503, 504)),
    some_bytes | json_values.map(error_body),
)
@example(500, b'{"error": {"message": "bad \xff byte"}}')
@example(500, b"[" * 1500)
def test_error_bodies_become_upstream_errors(status: int, body: bytes) -> None:
    error = status_error(provider(), status, body)
    assert isinstance(error, UpstreamError)
    assert error.upstream_status in (status, None)


# -- good streams ------------------------------------------------------------------------

calls = st.lists(
    st.builds(
        ToolCall,
        st.text("abc_", min_size=1, max_size=5).map("call_".__add__),
        st.sampled_from(("ls", "read_file", "web.search")),
        st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4)).map(json.dumps),
    ),
    max_size=3,
    unique_by=attrgetter("id"),
)


def good_stream(pieces: list[str], tool_calls: list[ToolCall], newline: bytes) -> bytes:
    frames = [chunk("c", 1, "m", {"role": "assistant", "content": ""})]
    frames += [chunk("c", 1, "m", {"content": p}) for p in pieces]
    for n, call in enumerate(tool_calls):
        head = {"index": n, "id": call.id, "type": "function"}
        frames.append(
            chunk("c", 1, "m", {"tool_calls": [{**head, "function": {"name": call.name}}]})
        )
        for start in range(0, len(call.arguments), 5):
            piece = {"index": n, "function": {"arguments": call.arguments[start : start + 5]}}
            frames.append(chunk("c", 1, "m", {"tool_calls": [piece]}))
    frames.append(chunk("c", 1, "m", {}, "tool_calls" if tool_calls else "stop"))
    frames.append(usage_chunk("c", 1, "m", Usage(3, 4)))
    body = sse_body([(None, fastjson.dumps(f).decode()) for f in frames], newline)
    return body + SSE_DONE.replace(b"\n", newline)


@SETTINGS
@given(st.data(), texts, calls, st.sampled_from((b"\n", b"\r\n", b"\r")))
def test_good_streams_decode_the_same_at_any_chunking(
    data: st.DataObject, pieces: list[str], tool_calls: list[ToolCall], newline: bytes
) -> None:
    text = "".join(pieces)
    assume(not text.lstrip().startswith("<think>"))  # reasoning: see test_think.py
    body = good_stream(pieces, tool_calls, newline)
    expected: list[Any] = [TextDelta(text)] if text else []
    if tool_calls:
        expected.append(ToolCallsReady(tuple(tool_calls)))
    expected += [UsageReport(Usage(3, 4)), Finish("tool_calls" if tool_calls else "stop")]
    outcome = stream_outcome(data.draw(chunked(body)))
    assert isinstance(outcome, list) and merged_text(outcome) == expected


def merged_text(events: list[Any]) -> list[Any]:
    """`events` with each run of TextDeltas joined into one: where text pieces break is the
    upstream's business (white space that may open a `<think>` block is held back a moment)."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, TextDelta) and out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + event.text)
        else:
            out.append(event)
    return out


# -- error bodies from a real server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"error": {"message": "bad \xff byte"}}'),
        ("text/plain; charset=hex", b"not hex at all"),  # a codec, but not a text one
        ("text/plain; charset=utf-16", b"\x00odd"),
    ],
)
async def test_error_bodies_any_charset_become_upstream_errors(
    aiohttp_server: Any, content_type: str, body: bytes
) -> None:
    """aiohttp's `text()` decodes strictly: before, these error pages raised UnicodeDecodeError
    or LookupError out of the provider: a 500 for the gateway's client instead of a 502."""

    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=400, body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", failing)
    server = await aiohttp_server(app)
    p = OpenAIProvider(model="m", base_url=str(server.make_url("/v1")))
    try:
        with pytest.raises(UpstreamError) as caught:
            async for _ in p.stream([Message("user", "hi")], incremental=False):
                pass
    finally:
        await p.close()
    assert caught.value.upstream_status == 400
