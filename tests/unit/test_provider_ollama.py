"""The Ollama provider against a scripted fake Ollama (a real local server), plus the pure wire
pieces it is built on."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hermes.agent import Agent, RunFinished, ToolFinished
from hermes.config.schema import ToolsConfig
from hermes.errors import UpstreamError, UpstreamTimeout
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
from hermes.providers.base import ModelParams
from hermes.providers.ollama import OllamaProvider
from hermes.tools import ToolContext, ToolRegistry, tool
from hermes.wire.ollama import (
    ChatAccumulator,
    NDJSONDecoder,
    WireError,
    encode_chat_request,
    encode_messages,
    parse_chat_response,
)
from tests.fakes.ollama_upstream import VERSION, FakeOllama

HELLO = [Message("user", "say hello please")]


@pytest.fixture
async def up() -> AsyncIterator[FakeOllama]:
    async with FakeOllama() as fake:
        yield fake


@pytest.fixture
async def provider(up: FakeOllama) -> AsyncIterator[OllamaProvider]:
    p = OllamaProvider(model="fake-model", base_url=up.base_url)
    yield p
    await p.close()


async def _collect(
    p: OllamaProvider, messages: list[Message] = HELLO, **kwargs: object
) -> list[StreamEvent]:
    return [e async for e in p.stream(messages, **kwargs)]  # type: ignore[arg-type]


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# -- answers ----------------------------------------------------------------------------------


async def test_text_whole(up: FakeOllama, provider: OllamaProvider) -> None:
    up.queue_text("hello there")
    events = await _collect(provider, incremental=False)
    assert events[0] == TextDelta("hello there")
    assert isinstance(events[1], UsageReport) and events[1].usage.completion_tokens >= 1
    assert events[2:] == [Finish("stop")]
    assert up.requests[0][0]["stream"] is False


async def test_stream_lines_split_at_odd_bytes(up: FakeOllama, provider: OllamaProvider) -> None:
    text = "héllo wörld, 🚀 lift-off ✓ done"
    up.queue_text(text, split_every=37)  # cuts every line, and some characters
    events = await _collect(provider)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and _text(events) == text
    assert isinstance(events[-2], UsageReport) and events[-1] == Finish("stop")
    assert up.requests[0][0]["stream"] is True


async def test_length_finish(up: FakeOllama, provider: OllamaProvider) -> None:
    up.queue_text("cut sho", done_reason="length")
    assert (await _collect(provider))[-1] == Finish("length")


@tool
async def add(ctx: ToolContext, a: int, b: int) -> str:
    """Add two integers.

    Args:
        a: the first
        b: the second
    """
    return str(a + b)


async def test_tool_call_round_trip_through_agent(
    up: FakeOllama, provider: OllamaProvider, tmp_path: Path
) -> None:
    up.queue_tool_call("add", {"a": 2, "b": 3})
    up.queue_text("2 + 3 = 5")
    ctx = ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})
    agent = Agent(provider, ToolRegistry([add]), ctx)
    events = [e async for e in agent.run([Message("user", "what is 2 + 3?")])]

    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert len(finished) == 1 and finished[0].result.output == "5"
    call = finished[0].call
    assert call.name == "add" and json.loads(call.arguments) == {"a": 2, "b": 3}
    assert call.id.startswith("call_")
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "stop"
    assert _text([e for e in events if isinstance(e, TextDelta)]) == "2 + 3 = 5"

    first, second = up.requests[0][0], up.requests[1][0]
    assert first["tools"][0] == {"type": "function", "function": add.schema()["function"]}
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}],
        },
        {"role": "tool", "content": "5", "tool_name": "add"},
    ]


async def test_tool_call_whole(up: FakeOllama, provider: OllamaProvider) -> None:
    up.queue_tool_calls([("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2})])
    events = await _collect(provider, incremental=False)
    ready = [e for e in events if isinstance(e, ToolCallsReady)]
    assert [json.loads(c.arguments) for c in ready[0].calls] == [{"a": 1, "b": 1}, {"a": 2, "b": 2}]
    assert len({c.id for c in ready[0].calls}) == 2
    assert events[-1] == Finish("tool_calls")


# -- errors -----------------------------------------------------------------------------------


async def test_unknown_model_is_not_retried(up: FakeOllama) -> None:
    p = OllamaProvider(model="llama9", base_url=up.base_url)
    try:
        with pytest.raises(UpstreamError) as caught:
            await _collect(p)
    finally:
        await p.close()
    assert not caught.value.retryable and caught.value.upstream_status == 404
    assert "ollama pull llama9" in caught.value.message
    assert len(up.requests) == 1


async def test_server_error_is_retried(up: FakeOllama, provider: OllamaProvider) -> None:
    up.queue_error(500, "llama runner process has terminated")
    up.queue_text("recovered")
    assert _text(await _collect(provider)) == "recovered"
    assert len(up.requests) == 2


async def test_bad_request_is_not_retried(up: FakeOllama, provider: OllamaProvider) -> None:
    up.queue_error(400, "fake-model does not support tools")
    with pytest.raises(UpstreamError, match="does not support tools") as caught:
        await _collect(provider)
    assert not caught.value.retryable and up.pending == 0


async def test_not_running_names_base_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    p = OllamaProvider(model="fake-model", base_url=base_url, connect_timeout=2)
    try:
        with pytest.raises(UpstreamError) as caught:
            await _collect(p)
    finally:
        await p.close()
    assert caught.value.retryable
    assert f"doesn't seem to be running at {base_url}" in caught.value.message


async def test_stall_mid_stream_times_out(up: FakeOllama) -> None:
    up.queue_stall(mid_stream=True)
    p = OllamaProvider(model="fake-model", base_url=up.base_url, timeout=1)
    seen: list[StreamEvent] = []
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            async for event in p.stream(HELLO):
                seen.append(event)
    finally:
        await p.close()
    assert seen == [TextDelta("la")] and not caught.value.retryable
    assert time.monotonic() - started < 5


async def test_stall_before_answer_is_not_retried(up: FakeOllama) -> None:
    up.queue_stall()
    p = OllamaProvider(model="fake-model", base_url=up.base_url, timeout=1)
    try:
        with pytest.raises(UpstreamTimeout, match=r"Ollama did not answer for 1 s"):
            await _collect(p)
    finally:
        await p.close()
    assert len(up.requests) == 1


# -- the request ------------------------------------------------------------------------------


async def test_request_body_and_headers(up: FakeOllama) -> None:
    up.queue_text("ok")
    p = OllamaProvider(
        model="fake-model",
        base_url=up.base_url + "/",
        defaults=ModelParams(max_tokens=64, temperature=0.2),
    )
    try:
        await _collect(
            p,
            [Message("system", "be brief"), *HELLO],
            params=ModelParams(temperature=0.7, top_p=0.9, stop=("END",)),
            incremental=False,
        )
    finally:
        await p.close()
    body, headers = up.requests[0]
    assert body == {
        "model": "fake-model",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "say hello please"},
        ],
        "stream": False,
        "options": {"num_predict": 64, "temperature": 0.7, "top_p": 0.9, "stop": ["END"]},
    }
    assert "Authorization" not in headers
    assert p.label == "ollama:fake-model"


def test_fake_in_thread_serves_tags_and_version() -> None:
    with FakeOllama.in_thread(models=("llama3.2", "qwen3")) as up:
        with urllib.request.urlopen(f"{up.base_url}/api/tags", timeout=5) as r:
            tags = json.load(r)
        with urllib.request.urlopen(f"{up.base_url}/api/version", timeout=5) as r:
            version = json.load(r)
    assert [m["name"] for m in tags["models"]] == ["llama3.2", "qwen3"]
    assert version == {"version": VERSION}


# -- wire, without I/O ------------------------------------------------------------------------


def test_ndjson_decoder_byte_by_byte() -> None:
    raw = '{"a": "ü"}\r\n\n{"b": 2}\n{"c": 3}'.encode()
    decoder, out = NDJSONDecoder(), []
    for i in range(len(raw)):
        out += decoder.feed(raw[i : i + 1])
    assert out == [{"a": "ü"}, {"b": 2}]
    assert decoder.flush() == [{"c": 3}]
    with pytest.raises(WireError):
        NDJSONDecoder().feed(b"not json\n")


def test_accumulator_errors_and_truncation() -> None:
    acc = ChatAccumulator()
    assert acc.feed({"message": {"role": "assistant", "content": "hi"}, "done": False}) == [
        TextDelta("hi")
    ]
    with pytest.raises(WireError, match="out of memory"):
        acc.feed({"error": "out of memory"})
    with pytest.raises(WireError, match="done"):
        ChatAccumulator().finish()


def test_parse_whole_keeps_ollama_ids_and_usage() -> None:
    body = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "abc", "function": {"name": "f", "arguments": {"x": "ü"}}}],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 7,
        "eval_count": 3,
    }
    assert parse_chat_response(body) == (
        ToolCallsReady((ToolCall("abc", "f", '{"x": "ü"}'),)),
        UsageReport(Usage(7, 3)),
        Finish("tool_calls"),
    )


def test_encode_messages_names_tools_and_repairs_arguments() -> None:
    history = [
        Message("assistant", None, (ToolCall("c1", "f", "{broken"), ToolCall("c2", "g", ""))),
        Message("tool", "r1", tool_call_id="c1"),
        Message("tool", "r2", tool_call_id="c2"),
        Message("tool", "r3", tool_call_id="unknown"),
    ]
    encoded = encode_messages(history)
    assert [c["function"]["arguments"] for c in encoded[0]["tool_calls"]] == [{}, {}]
    assert [m.get("tool_name") for m in encoded[1:]] == ["f", "g", None]


def test_the_window_is_sent_as_num_ctx_and_bounds_the_context(tmp_path: Path) -> None:
    from hermes.agent import ContextPolicy
    from hermes.config.loader import load_config
    from hermes.providers import build_provider

    path = tmp_path / "config.yaml"
    path.write_text("model:\n  provider: ollama\n  name: llama3.2\n")
    config = load_config(path)
    provider = build_provider(config, {}, profile="p")
    assert isinstance(provider, OllamaProvider) and provider.num_ctx == 8192
    assert ContextPolicy.from_config(config).budget == int(8192 * 0.75)
    body = encode_chat_request(HELLO, model="m", stream=True, num_ctx=provider.num_ctx)
    assert body["options"] == {"num_ctx": 8192}
    path.write_text("model:\n  provider: ollama\n  name: llama3.2\n  context_length: 32768\n")
    explicit = build_provider(load_config(path), {}, profile="p")
    assert isinstance(explicit, OllamaProvider) and explicit.num_ctx == 32768
