"""The Anthropic provider against the scripted fake (a real local server): text, streaming, a tool
round trip through the real agent loop, errors and retries, and the request the vendor receives.
Then the pure wire layer's edge cases."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hermes.agent import Agent
from hermes.agent.loop import RunFinished, ToolFinished
from hermes.config.schema import ToolsConfig
from hermes.errors import UpstreamAuthError, UpstreamError, UpstreamTimeout
from hermes.messages import (
    Finish,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
    UsageReport,
)
from hermes.providers.anthropic import AnthropicProvider
from hermes.providers.base import ModelParams
from hermes.tools import ToolContext, ToolRegistry, tool
from hermes.wire.anthropic import (
    AnthropicWireError,
    StreamAccumulator,
    encode_request,
    parse_message_response,
)
from tests.fakes.anthropic_upstream import FakeAnthropic

HELLO = [Message("user", "say hello please")]


@pytest.fixture
async def up() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(api_key="sk-ant-test") as fake:
        yield fake


@pytest.fixture
async def provider(up: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(model="claude-test", base_url=up.base_url, api_key="sk-ant-test")
    yield p
    await p.close()


async def collect(
    provider: AnthropicProvider,
    messages: Sequence[Message] = HELLO,
    **kwargs: Any,
) -> list[StreamEvent]:
    return [e async for e in provider.stream(messages, **kwargs)]


@tool
async def add(ctx: ToolContext, a: int, b: int) -> str:
    """Add two integers.

    Args:
        a: the first
        b: the second
    """
    return str(a + b)


# -- answers -----------------------------------------------------------------------------------


async def test_plain_text_non_incremental(up: FakeAnthropic, provider: AnthropicProvider) -> None:
    up.queue_text("hello there")
    events = await collect(provider, incremental=False)
    assert events == [TextDelta("hello there"), UsageReport(Usage(4, 2)), Finish("stop")]
    body, headers = up.requests[0]
    assert "stream" not in body
    assert headers["Accept"] == "application/json"


async def test_streaming_deltas_arrive_in_order(
    up: FakeAnthropic, provider: AnthropicProvider
) -> None:
    up.queue_text("hello brave new world", chunks=["hel", "lo brave", " new", " world"])
    events = await collect(provider)
    assert events == [
        TextDelta("hel"),
        TextDelta("lo brave"),
        TextDelta(" new"),
        TextDelta(" world"),
        UsageReport(Usage(4, 5)),
        Finish("stop"),
    ]
    assert up.requests[0][0]["stream"] is True


@pytest.mark.parametrize("incremental", [True, False])
async def test_stop_reasons_map_to_finish_reasons(
    up: FakeAnthropic, provider: AnthropicProvider, incremental: bool
) -> None:
    up.queue_text("cut", stop_reason="max_tokens")
    up.queue_text("done", stop_reason="stop_sequence")
    first = await collect(provider, incremental=incremental)
    second = await collect(provider, incremental=incremental)
    assert (first[-1], second[-1]) == (Finish("length"), Finish("stop"))


@pytest.mark.parametrize("incremental", [True, False])
async def test_tool_call_round_trip_through_the_agent(
    up: FakeAnthropic, provider: AnthropicProvider, tmp_path: Path, incremental: bool
) -> None:
    up.queue_tool_call("add", {"a": 2, "b": 3}, call_id="toolu_01", text="Let me add.")
    up.queue_text("2 + 3 = 5")
    ctx = ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})
    agent = Agent(provider, ToolRegistry([add]), ctx)
    history = [Message("system", "You add numbers."), Message("user", "what is 2 + 3?")]

    events = [e async for e in agent.run(history, incremental=incremental)]

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(f.call.name, f.call.arguments, f.result.output) for f in finished] == [
        ("add", '{"a": 2, "b": 3}', "5")
    ]
    done = events[-1]
    assert isinstance(done, RunFinished) and done.reason == "stop"
    assert done.usage == Usage(7 + 10, 7 + 2)  # both model calls, as the fake counts them
    assert [m.role for m in done.transcript] == ["assistant", "tool", "assistant"]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me add.2 + 3 = 5"

    second, _ = up.requests[1]
    assert second["system"] == "You add numbers."
    assert second["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "what is 2 + 3?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me add."},
                {"type": "tool_use", "id": "toolu_01", "name": "add", "input": {"a": 2, "b": 3}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "5"}],
        },
    ]
    roles = [m["role"] for m in second["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))


async def test_several_tool_calls_in_one_turn(
    up: FakeAnthropic, provider: AnthropicProvider
) -> None:
    up.queue_tool_calls([("add", {"a": 1, "b": 2}), ("now", {})])
    events = await collect(provider)
    assert isinstance(events[0], ToolCallsReady)
    calls = events[0].calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("add", {"a": 1, "b": 2}),
        ("now", {}),
    ]
    assert calls[0].id.startswith("toolu_") and calls[0].id != calls[1].id
    assert events[-1] == Finish("tool_calls")


# -- errors and retries ------------------------------------------------------------------------


async def test_401_is_an_auth_error_and_not_retried(up: FakeAnthropic) -> None:
    p = AnthropicProvider(model="claude-test", base_url=up.base_url, api_key="sk-ant-wrong")
    try:
        with pytest.raises(UpstreamAuthError, match="upstream rejected the credentials") as info:
            await collect(p)
    finally:
        await p.close()
    assert "invalid x-api-key" in info.value.message
    assert info.value.upstream_status == 401 and not info.value.retryable
    assert len(up.requests) == 1


async def test_429_is_retried_then_succeeds(up: FakeAnthropic, provider: AnthropicProvider) -> None:
    up.queue_error(
        429, "Number of request tokens has exceeded your rate limit", {"retry-after": "0"}
    )
    up.queue_text("after the wait")
    events = await collect(provider)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "after the wait"
    assert len(up.requests) == 2


async def test_529_overloaded_three_times_is_a_retryable_502(
    up: FakeAnthropic, provider: AnthropicProvider
) -> None:
    for _ in range(3):
        up.queue_error(529, "Overloaded")
    with pytest.raises(UpstreamError) as info:
        await collect(provider)
    assert info.value.retryable and info.value.status == 502
    assert info.value.upstream_status == 529 and "Overloaded" in info.value.message
    assert len(up.requests) == 3 and up.pending == 0


async def test_400_is_not_retried(up: FakeAnthropic, provider: AnthropicProvider) -> None:
    up.queue_error(400, "prompt is too long")
    with pytest.raises(UpstreamError, match="prompt is too long") as info:
        await collect(provider)
    assert not info.value.retryable and len(up.requests) == 1


async def test_overloaded_event_before_any_text_is_retried(
    up: FakeAnthropic, provider: AnthropicProvider
) -> None:
    up.queue_stream_error("overloaded_error", "Overloaded")
    up.queue_text("second try")
    events = await collect(provider)
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("second "),
        TextDelta("try"),
    ]
    assert len(up.requests) == 2


async def test_overloaded_event_after_text_is_final(
    up: FakeAnthropic, provider: AnthropicProvider
) -> None:
    up.queue_stream_error("overloaded_error", "Overloaded", after="half an")
    up.queue_text("never fetched")
    seen: list[StreamEvent] = []
    with pytest.raises(UpstreamError, match="overloaded_error: Overloaded") as info:
        async for event in provider.stream(HELLO):
            seen.append(event)
    assert seen == [TextDelta("half "), TextDelta("an")]
    assert not info.value.retryable and up.pending == 1


async def test_stall_mid_stream_times_out(up: FakeAnthropic) -> None:
    up.queue_stall(30, mid_stream=True)
    p = AnthropicProvider(model="m", base_url=up.base_url, api_key="sk-ant-test", timeout=1)
    seen: list[StreamEvent] = []
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as info:
            async for event in p.stream(HELLO):
                seen.append(event)
    finally:
        await p.close()
    assert seen == [TextDelta("la")]
    assert not info.value.retryable and info.value.status == 504
    assert 0.9 < time.monotonic() - started < 3
    await up.wait_disconnects(1)


async def test_stall_before_answering_times_out_without_retries(up: FakeAnthropic) -> None:
    up.queue_stall(30)
    p = AnthropicProvider(model="m", base_url=up.base_url, api_key="sk-ant-test", timeout=0.3)
    try:
        with pytest.raises(
            UpstreamTimeout, match=r"did not answer for 0.3 s \(model.timeout"
        ) as info:
            await collect(p)
    finally:
        await p.close()
    # Not tried again here (the client hears after model.timeout), but a fallback may take over.
    assert info.value.retryable and len(up.requests) == 1
    await up.wait_disconnects(1)


# -- the request the vendor receives -----------------------------------------------------------


async def test_request_body_and_headers(up: FakeAnthropic, provider: AnthropicProvider) -> None:
    up.queue_text("ok")
    up.queue_text("ok")
    messages = [
        Message("system", "You are terse."),
        Message("system", "Answer in French."),
        Message("user", "hi"),
        Message("assistant", "bonjour"),
        Message("user", "again"),
        Message("user", "please"),
    ]
    tools = ToolRegistry([add]).schemas()
    params = ModelParams(temperature=0.2, top_p=0.9, stop=("END",))
    await collect(provider, messages, tools=tools, params=params)
    await collect(provider, messages, params=ModelParams(max_tokens=50))

    body, headers = up.requests[0]
    assert body["model"] == "claude-test" and body["max_tokens"] == 4096
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [
        {"type": "text", "text": "again"},
        {"type": "text", "text": "please"},
    ]
    assert body["tools"] == [
        {
            "name": "add",
            "description": "Add two integers.",
            "input_schema": tools[0]["function"]["parameters"],
        }
    ]
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (0.2, 0.9, ["END"])
    assert headers["x-api-key"] == "sk-ant-test"
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers
    later, _ = up.requests[1]
    assert later["max_tokens"] == 50 and "tools" not in later and "temperature" not in later


async def test_defaults_apply_when_params_are_unset(up: FakeAnthropic) -> None:
    up.queue_text("ok")
    defaults = ModelParams(max_tokens=777, temperature=1.7)
    p = AnthropicProvider(model="m", base_url=up.base_url, api_key="sk-ant-test", defaults=defaults)
    try:
        await collect(p)
    finally:
        await p.close()
    body, _ = up.requests[0]
    assert body["max_tokens"] == 777
    assert body["temperature"] == 1.0  # OpenAI's scale reaches 2, Anthropic's stops at 1
    assert p.label == "anthropic:m"


def test_in_thread_mode_serves_a_sync_test() -> None:
    with FakeAnthropic.in_thread() as up:
        up.queue_text("from a thread")

        async def main() -> list[StreamEvent]:
            p = AnthropicProvider(model="m", base_url=up.base_url, api_key="k", name="claude")
            try:
                assert p.label == "claude:m"
                return await collect(p)
            finally:
                await p.close()

        events = asyncio.run(main())
    assert events[0] == TextDelta("from ") and events[-1] == Finish("stop")
    assert len(up.requests) == 1


# -- the wire layer ----------------------------------------------------------------------------


def test_encode_merges_roles_and_drops_empty_text() -> None:
    calls = (
        ToolCall("call_1", "add", '{"a": 1, "b": 2}'),
        ToolCall("call.2", "now", ""),
        ToolCall("call_3", "bad", "{not json"),
    )
    body = encode_request(
        [
            Message("user", "go"),
            Message("assistant", "", tool_calls=calls),
            Message("tool", "3", tool_call_id="call_1"),
            Message("tool", "12:00", tool_call_id="call.2"),
            Message("tool", "", tool_call_id="call_3"),
            Message("user", "thanks"),
            Message("assistant", ""),
        ],
        model="m",
    )
    assert "system" not in body and "stream" not in body
    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": [{"type": "text", "text": "go"}]}
    assert [b["input"] for b in assistant["content"]] == [
        {"a": 1, "b": 2},
        {},
        {"_raw": "{not json"},
    ]
    assert assistant["content"][1]["id"] == "call_2"  # Anthropic allows only [a-zA-Z0-9_-]
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "3"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "12:00"},
        {"type": "tool_result", "tool_use_id": "call_3"},
        {"type": "text", "text": "thanks"},
    ]


def test_accumulator_assembles_split_tool_input_and_cumulative_usage() -> None:
    acc = StreamAccumulator()
    feed = [
        (
            "message_start",
            {
                "message": {
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}
                }
            },
        ),
        (
            "content_block_start",
            {"index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        (
            "content_block_delta",
            {"index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        ),
        (
            "content_block_start",
            {
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "ls", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"pa'}},
        ),
        (
            "content_block_delta",
            {"index": 1, "delta": {"type": "input_json_delta", "partial_json": 'th": "é"}'}},
        ),
        ("content_block_stop", {"index": 1}),
        ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}),
        ("message_delta", {"delta": {}, "usage": {"output_tokens": 7}}),
        ("some_future_event", {}),
    ]
    out: list[StreamEvent] = []
    for kind, data in feed:
        out += acc.feed_data(kind, json.dumps(data))
    assert out == [ReasoningDelta("hm")] and not acc.done
    out = acc.feed_data("message_stop", '{"type": "message_stop"}')
    assert out == [
        ToolCallsReady((ToolCall("toolu_9", "ls", '{"path": "é"}'),)),
        UsageReport(Usage(15, 7)),
        Finish("tool_calls"),
    ]
    assert acc.done


def test_accumulator_rejects_a_cut_stream_and_reports_error_events() -> None:
    acc = StreamAccumulator()
    acc.feed_data("message_start", '{"type": "message_start", "message": {}}')
    with pytest.raises(AnthropicWireError, match="before message_stop"):
        acc.finish()
    with pytest.raises(AnthropicWireError, match="not JSON"):
        StreamAccumulator().feed_data("message_start", "{oops")
    error = '{"type": "error", "error": {"type": "api_error", "message": "Internal"}}'
    with pytest.raises(UpstreamError, match="api_error: Internal") as info:
        StreamAccumulator().feed_data("error", error)
    assert info.value.retryable


def test_non_streaming_answer_with_text_and_tool_use() -> None:
    events = parse_message_response(
        {
            "type": "message",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"path": "."}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    )
    assert events == (
        TextDelta("Checking."),
        ToolCallsReady((ToolCall("toolu_1", "ls", '{"path": "."}'),)),
        UsageReport(Usage(3, 4)),
        Finish("tool_calls"),
    )
    with pytest.raises(AnthropicWireError, match="content"):
        parse_message_response({"type": "message"})


def test_a_history_starting_with_the_assistant_gets_a_user_turn_first() -> None:
    # A condensed history (summary in the system prompt, then the kept turns) can start there.
    body = encode_request(
        [
            Message("system", "core"),
            Message("system", "[Summary …] the user asked for a plan"),
            Message("assistant", "Here is the plan."),
            Message("user", "thanks"),
        ],
        model="m",
    )
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][0]["text"] == "(continuing the conversation)"
    assert "the user asked for a plan" in body["system"]
