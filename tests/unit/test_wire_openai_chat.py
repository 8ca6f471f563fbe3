"""The OpenAI chat wire format: request validation, answer shapes, SSE framing, chunk decoding."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from hermes.errors import HermesError, InvalidRequest
from hermes.messages import (
    Finish,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
    UsageReport,
)
from hermes.wire.openai_chat import (
    SSE_DONE,
    SSE_KEEPALIVE,
    ChunkAccumulator,
    SSEDecoder,
    SSEEvent,
    WireError,
    chunk,
    completion_response,
    encode_chat_request,
    models_response,
    parse_chat_request,
    parse_completion_response,
    sse_event,
    usage_chunk,
)
from tests.media import PNG_URL

USER = {"role": "user", "content": "hi"}

# -- parse_chat_request ------------------------------------------------------------------------


def test_minimal_request_gets_defaults() -> None:
    req = parse_chat_request({"messages": [USER]})
    assert req.messages == (Message("user", "hi"),)
    assert (req.model, req.stream, req.include_usage, req.max_tokens) == (None, False, False, None)
    assert (req.temperature, req.top_p, req.stop) == (None, None, ())


def test_full_request_is_parsed_and_unknown_fields_ignored() -> None:
    req = parse_chat_request(
        {
            "model": "alice",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": PNG_URL}},
                        {"type": "text", "text": "here"},
                    ],
                    "name": "bob",
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "ls", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 10,
            "max_completion_tokens": 20,
            "temperature": 0,
            "top_p": 0.5,
            "stop": ["\n\n", "END"],
            "tools": [{"type": "function", "function": {"name": "x"}}],
            "tool_choice": "auto",
            "user": "someone",
            "frequency_penalty": 1,
        }
    )
    assert req.messages == (
        Message("system", "be brief"),
        Message("user", "look\nhere", name="bob"),
        Message("assistant", None, (ToolCall("c1", "ls", "{}"),)),
        Message("tool", "a.txt", tool_call_id="c1"),
    )
    assert (req.model, req.stream, req.include_usage) == ("alice", True, True)
    assert (req.max_tokens, req.temperature, req.top_p) == (20, 0.0, 0.5)
    assert req.stop == ("\n\n", "END")


def test_include_usage_needs_stream_and_stop_may_be_a_string() -> None:
    req = parse_chat_request(
        {"messages": [USER], "stream_options": {"include_usage": True}, "stop": "x"}
    )
    assert (req.include_usage, req.stop) == (False, ("x",))


def test_nulls_count_as_absent_and_empty_assistant_content_is_kept_as_text() -> None:
    req = parse_chat_request(
        {
            "messages": [USER, {"role": "assistant", "content": None}],
            "stream": None,
            "temperature": None,
            "stop": None,
            "model": None,
        }
    )
    assert req.messages[1] == Message("assistant", "")
    assert req.stream is False


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([USER], None),
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [USER, "hi"]}, "messages[1]"),
        ({"messages": [USER, USER, {"role": "robot", "content": "x"}]}, "messages[2].role"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x", "name": 3}]}, "messages[0].name"),
        ({"messages": [{"role": "assistant", "tool_calls": {}}]}, "messages[0].tool_calls"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}]},
            "messages[0].tool_calls[0].id",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
            "messages[0].tool_calls[0].function.name",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 1}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [USER], "stream": "yes"}, "stream"),
        ({"messages": [USER], "stream_options": []}, "stream_options"),
        (
            {"messages": [USER], "stream": True, "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
        ),
        ({"messages": [USER], "max_tokens": 0}, "max_tokens"),
        ({"messages": [USER], "max_tokens": 1.5}, "max_tokens"),
        ({"messages": [USER], "max_completion_tokens": True}, "max_completion_tokens"),
        ({"messages": [USER], "temperature": 2.5}, "temperature"),
        ({"messages": [USER], "temperature": "1"}, "temperature"),
        ({"messages": [USER], "top_p": -0.1}, "top_p"),
        ({"messages": [USER], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": [USER], "stop": [1]}, "stop"),
        ({"messages": [USER], "model": 7}, "model"),
    ],
)
def test_invalid_requests_name_the_param(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body)
    assert info.value.param == param
    assert info.value.status == 400
    assert info.value.to_openai()["error"]["param"] == param


# -- encoding ------------------------------------------------------------------------------------


def test_encode_request_round_trips_through_parse() -> None:
    messages = [
        Message("system", "sys"),
        Message("user", "q", name="bob"),
        Message("assistant", None, (ToolCall("c1", "ls", '{"p": "."}'),)),
        Message("tool", "ok", tool_call_id="c1"),
    ]
    body = encode_chat_request(
        messages,
        model="gpt",
        tools=[
            {"name": "ls", "description": "list", "parameters": {"type": "object"}},
            {"type": "function", "function": {"name": "cat"}},
        ],
        stream=True,
        max_tokens=5,
        temperature=0.2,
        top_p=None,
        stop=["x"],
        include_usage=True,
    )
    assert body["messages"][2]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": '{"p": "."}'}}
    ]
    assert body["tools"][0] == {
        "type": "function",
        "function": {"name": "ls", "description": "list", "parameters": {"type": "object"}},
    }
    assert body["tools"][1] == {"type": "function", "function": {"name": "cat"}}
    assert body["stream_options"] == {"include_usage": True}
    assert "top_p" not in body
    req = parse_chat_request(json.loads(json.dumps(body)))
    assert req.messages == tuple(messages)
    assert (req.max_tokens, req.temperature, req.stop, req.include_usage) == (5, 0.2, ("x",), True)


def test_encode_non_streaming_request_has_no_stream_options() -> None:
    body = encode_chat_request([Message("user", "q")], model="m", stream=False, include_usage=True)
    assert body == {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": False}


def test_completion_response_shape() -> None:
    body = completion_response("id1", 123, "alice", "hi", "stop", Usage(3, 2))
    assert body == {
        "id": "id1",
        "object": "chat.completion",
        "created": 123,
        "model": "alice",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    calls = completion_response(
        "i", 1, "m", None, "tool_calls", None, tool_calls=[ToolCall("c", "f", "{}")]
    )
    assert "usage" not in calls
    assert calls["choices"][0]["message"]["tool_calls"][0]["function"] == {
        "name": "f",
        "arguments": "{}",
    }


def test_chunk_and_usage_chunk_shapes() -> None:
    assert chunk("id1", 5, "m", {"content": "x"}) == {
        "id": "id1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"content": "x"}, "logprobs": None, "finish_reason": None}
        ],
    }
    assert chunk("i", 5, "m", {}, "stop", Usage(1, 1))["usage"]["total_tokens"] == 2
    last = usage_chunk("i", 5, "m", Usage(4, 1))
    assert last["choices"] == [] and last["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 1,
        "total_tokens": 5,
    }
    assert models_response(["alice"], created=9)["data"] == [
        {"id": "alice", "object": "model", "created": 9, "owned_by": "hermes"}
    ]


def test_sse_event_framing() -> None:
    assert sse_event({"a": "é", "b": [1, 2]}) == 'data: {"a":"é","b":[1,2]}\n\n'.encode()
    assert sse_event("one\ntwo", event="note") == b"event: note\ndata: one\ndata: two\n\n"
    assert SSE_DONE == b"data: [DONE]\n\n"
    assert SSE_KEEPALIVE == b": keep-alive\n\n"
    with pytest.raises(ValueError):
        sse_event("x", event="a\nb")


def test_usage_adds() -> None:
    total = Usage(1, 2) + Usage(3, 4)
    assert total == Usage(4, 6) and total.total_tokens == 10


# -- SSEDecoder ----------------------------------------------------------------------------------

STREAM = (
    b"\xef\xbb\xbf: hello comment\r\n"
    + sse_event({"text": "héllo 🌍 wörld"})
    + b"event: note\r\ndata: line one\r\ndata:line two\r\n\r\n"
    + SSE_KEEPALIVE
    + b"id: 7\rretry: 100\rdata: cr only\r\r"
    + SSE_DONE
)
EXPECTED = [
    SSEEvent(None, '{"text":"héllo 🌍 wörld"}'),
    SSEEvent("note", "line one\nline two"),
    SSEEvent(None, "cr only"),
    SSEEvent(None, "[DONE]"),
]


def _decode(parts: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for part in parts for e in decoder.feed(part)]
    return events + decoder.flush()


def test_sse_decoder_whole() -> None:
    assert _decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_sse_decoder_split_at_every_byte(cut: int) -> None:
    assert _decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_sse_decoder_byte_by_byte_and_random_splits() -> None:
    assert _decode([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 12)))
        parts = [STREAM[a:b] for a, b in zip([0, *cuts], [*cuts, len(STREAM)], strict=True)]
        assert _decode(parts) == EXPECTED


def test_sse_decoder_flush_dispatches_an_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [SSEEvent(None, "tail")]
    assert decoder.flush() == []


# -- ChunkAccumulator ----------------------------------------------------------------------------


def _run(chunks: list[dict[str, Any] | str], *, done: bool = True) -> list[StreamEvent]:
    acc = ChunkAccumulator()
    events: list[StreamEvent] = []
    for c in chunks:
        events += acc.feed_data(c if isinstance(c, str) else json.dumps(c))
    events += acc.feed_data("[DONE]") if done else acc.finish()
    assert acc.done
    return events


def _c(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return chunk("id", 1, "m", delta, finish)


def test_accumulator_text_usage_and_finish_order() -> None:
    events = _run(
        [
            _c({"role": "assistant", "content": ""}),
            _c({"content": "Hel"}),
            _c({"content": "lo"}),
            _c({}, "stop"),
            usage_chunk("id", 1, "m", Usage(10, 2)),
        ]
    )
    assert events == [TextDelta("Hel"), TextDelta("lo"), UsageReport(Usage(10, 2)), Finish("stop")]


def test_accumulator_assembles_fragmented_parallel_tool_calls() -> None:
    head = {"type": "function", "function": {"name": "read", "arguments": ""}}
    events = _run(
        [
            _c(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"index": 0, "id": "a", **head}],
                }
            ),
            _c({"tool_calls": [{"index": 0, "function": {"arguments": '{"pa'}}]}),
            _c({"tool_calls": [{"index": 1, "id": "b", **head}]}),
            _c({"tool_calls": [{"index": 0, "function": {"arguments": 'th": "x"}'}}]}),
            _c({"tool_calls": [{"index": 1, "function": {"arguments": '{"path": "y"}'}}]}),
            _c({}, "tool_calls"),
        ]
    )
    calls = (ToolCall("a", "read", '{"path": "x"}'), ToolCall("b", "read", '{"path": "y"}'))
    assert events == [ToolCallsReady(calls), Finish("tool_calls")]


def test_accumulator_tolerates_missing_index_ids_and_a_stop_reason() -> None:
    events = _run(
        [
            _c({"tool_calls": [{"function": {"name": "now"}}]}),
            _c({"tool_calls": [{"id": "x", "function": {"name": "ls", "arguments": {"p": 1}}}]}),
            _c({}, "stop"),
        ],
        done=False,
    )
    calls = (ToolCall("call_0", "now", "{}"), ToolCall("x", "ls", '{"p": 1}'))
    assert events == [ToolCallsReady(calls), Finish("tool_calls")]


def test_accumulator_emits_tool_calls_at_done_without_finish_reason() -> None:
    events = _run([_c({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]})])
    assert events == [ToolCallsReady((ToolCall("a", "f", "{}"),)), Finish("tool_calls")]


def test_accumulator_keeps_the_last_cumulative_usage_and_ignores_other_choices() -> None:
    first = _c({"content": "a"})
    first["usage"] = {"prompt_tokens": 5, "completion_tokens": 1}
    other = _c({"content": "ignored"}, "length")
    other["choices"][0]["index"] = 1
    last = _c({}, "length")
    last["usage"] = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    events = _run([first, other, last], done=False)
    assert events == [TextDelta("a"), UsageReport(Usage(5, 2)), Finish("length")]


@pytest.mark.parametrize(
    ("chunks", "done"),
    [
        (["{not json"], True),
        (["[1, 2]"], True),
        ([{"error": {"message": "overloaded"}}], True),
        ([{"choices": {}}], True),
        ([_c({"content": 5})], True),
        ([{"choices": [{"delta": []}]}], True),
        ([_c({"tool_calls": {}})], True),
        ([_c({"tool_calls": [{"index": "0", "function": {"name": "f"}}]})], True),
        ([_c({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})], True),
        ([_c({"content": "x"}, finish=None) | {"usage": {"prompt_tokens": "1"}}], True),
        ([_c({"content": "cut"})], False),
        ([], True),
    ],
)
def test_accumulator_rejects_malformed_streams(chunks: list[Any], done: bool) -> None:
    with pytest.raises(WireError) as info:
        _run(chunks, done=done)
    assert isinstance(info.value, HermesError) and info.value.status == 502


def test_accumulator_ignores_anything_after_done() -> None:
    acc = ChunkAccumulator()
    acc.feed_data(json.dumps(_c({"content": "x"}, "stop")))
    assert acc.feed_data("[DONE]") == [Finish("stop")]
    assert acc.feed_data("not json, but the stream is over") == []
    assert acc.finish() == [] and acc.text == "x"


# -- parse_completion_response -------------------------------------------------------------------


def test_parse_completion_text_and_tool_calls() -> None:
    text = parse_completion_response(completion_response("i", 1, "m", "hi", "stop", Usage(2, 1)))
    assert text.message == Message("assistant", "hi")
    assert text.events() == (TextDelta("hi"), UsageReport(Usage(2, 1)), Finish("stop"))
    assert (text.id, text.model) == ("i", "m")
    body = completion_response(
        "i", 1, "m", None, "tool_calls", None, tool_calls=[ToolCall("c", "f", "{}")]
    )
    calls = parse_completion_response(body)
    assert calls.events() == (ToolCallsReady((ToolCall("c", "f", "{}"),)), Finish("tool_calls"))


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"error": {"message": "nope"}},
        {"choices": []},
        {"choices": [{"message": "hi"}]},
        {"choices": [{"message": {"content": 3}}]},
        {"choices": [{"message": {"content": None, "tool_calls": [{"id": "c"}]}}]},
        {"choices": [{"message": {"content": "x"}, "finish_reason": 1}]},
        {"choices": [{"message": {"content": "x"}}], "usage": []},
    ],
)
def test_parse_completion_rejects_malformed(body: Any) -> None:
    with pytest.raises(WireError):
        parse_completion_response(body)
