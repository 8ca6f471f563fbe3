"""The scripted fake upstream, checked with the official openai SDK (and with hermes' own decoder,
since the OpenAI-compatible provider will read it that way)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from hermes.messages import Finish, StreamEvent, TextDelta, ToolCall, ToolCallsReady, UsageReport
from hermes.wire.openai_chat import ChunkAccumulator, SSEDecoder, WireError
from tests.fakes.openai_upstream import NO_TURN_LEFT, FakeOpenAI

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say hello please"}]


@pytest.fixture
async def up() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def client(up: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with _client(up) as sdk:
        yield sdk


def _client(up: FakeOpenAI, timeout: float = 10.0) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=up.base_url, api_key="sk-test", max_retries=0, timeout=timeout)


async def _raw_events(up: FakeOpenAI, body: dict[str, object]) -> list[StreamEvent]:
    """POST with aiohttp and decode with hermes.wire, as the provider will."""
    decoder, acc = SSEDecoder(), ChunkAccumulator()
    events: list[StreamEvent] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{up.base_url}/chat/completions", json=body) as resp,
    ):
        async for data in resp.content.iter_any():
            for sse in decoder.feed(data):
                events += acc.feed_data(sse.data)
    for sse in decoder.flush():
        events += acc.feed_data(sse.data)
    return events + acc.finish()


async def test_text_non_streaming(up: FakeOpenAI, client: AsyncOpenAI) -> None:
    up.queue_text("hello there")
    answer = await client.chat.completions.create(model="fake-model", messages=HELLO)
    assert answer.choices[0].message.content == "hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 2)


async def test_text_streaming_with_usage(up: FakeOpenAI, client: AsyncOpenAI) -> None:
    up.queue_text("hello", chunks=["hel", "lo"])
    stream = await client.chat.completions.create(
        model="fake-model", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["", "hel", "lo", None]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 5


async def test_tool_call_streaming_and_non_streaming(up: FakeOpenAI, client: AsyncOpenAI) -> None:
    up.queue_tool_call("read_file", {"path": "notes/today.md"}, call_id="call_1")
    up.queue_tool_calls([("ls", {}), ("now", "{}")])
    stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
    fragments = [tc async for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
    answer = await client.chat.completions.create(model="m", messages=HELLO)
    assert fragments[0].id == "call_1" and fragments[0].function is not None
    assert fragments[0].function.name == "read_file"
    arguments = "".join(f.function.arguments or "" for f in fragments if f.function)
    assert json.loads(arguments) == {"path": "notes/today.md"}
    assert len(fragments) > 2  # the arguments really came in pieces
    calls = answer.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls if c.type == "function"] == ["ls", "now"]
    assert answer.choices[0].finish_reason == "tool_calls"


async def test_hermes_decoder_reads_the_fake_stream(up: FakeOpenAI) -> None:
    up.queue_tool_calls([("ls", {"path": "."}), ("now", "{}")])
    up.queue_text("hi there")
    body = {"model": "m", "messages": HELLO, "stream": True}
    calls = await _raw_events(up, body)
    text = await _raw_events(up, body | {"stream_options": {"include_usage": True}})
    ids = [c.id for e in calls if isinstance(e, ToolCallsReady) for c in e.calls]
    assert calls == [
        ToolCallsReady((ToolCall(ids[0], "ls", '{"path": "."}'), ToolCall(ids[1], "now", "{}"))),
        Finish("tool_calls"),
    ]
    assert [e for e in text if isinstance(e, TextDelta)] == [TextDelta("hi "), TextDelta("there")]
    assert isinstance(text[-2], UsageReport) and text[-1] == Finish("stop")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
    ],
)
async def test_error_status(
    up: FakeOpenAI, client: AsyncOpenAI, status: int, error: type[openai.APIStatusError]
) -> None:
    up.queue_error(status, "scripted failure", headers={"Retry-After": "7"})
    with pytest.raises(error) as info:
        await client.chat.completions.create(model="m", messages=HELLO)
    assert info.value.status_code == status
    assert "scripted failure" in info.value.message
    assert info.value.response.headers["Retry-After"] == "7"


async def test_empty_queue_answers_500_and_requests_are_recorded(
    up: FakeOpenAI, client: AsyncOpenAI
) -> None:
    with pytest.raises(openai.InternalServerError, match=NO_TURN_LEFT):
        await client.chat.completions.create(model="m", messages=HELLO, temperature=0.5)
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    body, headers = up.requests[0]
    assert body["messages"] == HELLO and body["temperature"] == 0.5
    assert headers["Authorization"] == "Bearer sk-test"


async def test_api_key_is_enforced_when_set() -> None:
    async with FakeOpenAI(api_key="sk-right") as up, _client(up) as client:
        up.queue_text("never sent")
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="m", messages=HELLO)
        assert up.pending == 1


async def test_broken_chunk_is_a_wire_error(up: FakeOpenAI) -> None:
    up.queue_broken_chunk()
    with pytest.raises(WireError, match="not JSON"):
        await _raw_events(up, {"model": "m", "messages": HELLO, "stream": True})


async def test_stall_times_out_and_counts_the_disconnect(up: FakeOpenAI) -> None:
    up.queue_stall(30)
    async with _client(up, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=HELLO)
    await up.wait_disconnects(1)


async def test_client_hanging_up_mid_stream_counts_as_disconnect(up: FakeOpenAI) -> None:
    up.queue_stall(30, mid_stream=True)
    body = {"model": "m", "messages": HELLO, "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{up.base_url}/chat/completions", json=body) as resp,
    ):
        first = await resp.content.readuntil(b"\n\n")
        assert b'"role":"assistant"' in first
    await up.wait_disconnects(1)
    assert up.disconnects == 1


async def test_slow_chunks_arrive_in_order(up: FakeOpenAI) -> None:
    up.queue_text("a b c", chunk_delay=0.01)
    body = {"model": "m", "messages": HELLO, "stream": True}
    events = await asyncio.wait_for(_raw_events(up, body), 5)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "a b c"


def test_in_thread_with_the_sync_client() -> None:
    with (
        FakeOpenAI.in_thread() as up,
        OpenAI(base_url=up.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        up.queue_text("from a thread")
        up.queue_stall(30)
        answer = client.chat.completions.create(model="m", messages=HELLO)
        assert answer.choices[0].message.content == "from a thread"
        with pytest.raises(openai.APITimeoutError):
            client.with_options(timeout=0.3).chat.completions.create(model="m", messages=HELLO)
        up.wait_disconnects_blocking(1)
    assert len(up.requests) == 2


def test_chunks_must_join_to_the_text() -> None:
    with pytest.raises(ValueError, match="do not join"):
        FakeOpenAI().queue_text("hello", chunks=["he", "lo"])
