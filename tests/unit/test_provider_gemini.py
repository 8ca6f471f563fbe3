"""The Gemini provider against a real local fake of the Gemini API, the agent loop on top of it,
and the pure encode / decode in hermes.wire.gemini."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hermes.agent import Agent
from hermes.agent.loop import RunFinished, ToolFinished
from hermes.config.schema import ToolsConfig
from hermes.errors import UpstreamAuthError, UpstreamError, UpstreamRateLimited, UpstreamTimeout
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
from hermes.providers.base import ModelParams
from hermes.providers.gemini import GeminiProvider
from hermes.tools import ToolContext, ToolRegistry, tool
from hermes.wire.gemini import (
    SKIP_SIGNATURE,
    GeminiAccumulator,
    WireError,
    clean_schema,
    encode_contents,
    parse_error,
)
from tests.fakes.gemini_upstream import FakeGemini

MODEL = "gemini-2.5-flash"
KEY = "AIza-test-key-0123"
HELLO = [Message("user", "say hello")]


@tool
async def add(ctx: ToolContext, a: int, b: int) -> str:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    return str(a + b)


@pytest.fixture
async def up() -> AsyncIterator[FakeGemini]:
    async with FakeGemini() as fake:
        yield fake


@pytest.fixture
async def provider(up: FakeGemini) -> AsyncIterator[GeminiProvider]:
    p = GeminiProvider(model=MODEL, base_url=up.base_url, api_key=KEY)
    yield p
    await p.close()


async def _collect(
    provider: GeminiProvider,
    messages: Sequence[Message] = HELLO,
    **kwargs: Any,
) -> list[StreamEvent]:
    return [e async for e in provider.stream(messages, **kwargs)]


def _text(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# -- answers ----------------------------------------------------------------------------------


async def test_whole_answer_uses_generate_content(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_text("hello there")
    events = await _collect(provider, incremental=False)
    assert events[0] == TextDelta("hello there")
    assert isinstance(events[1], UsageReport) and events[1].usage.completion_tokens == 2
    assert events[2:] == [Finish("stop")]
    request = up.requests[0]
    assert request.path == f"/v1beta/models/{MODEL}:generateContent"
    assert request.query == {}


async def test_stream_yields_deltas_in_order(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_text("hello brave world", chunks=["hel", "lo brave", " world"])
    events = await _collect(provider)
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("hel"),
        TextDelta("lo brave"),
        TextDelta(" world"),
    ]
    assert isinstance(events[-2], UsageReport) and events[-1] == Finish("stop")
    request = up.requests[0]
    assert request.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert request.query == {"alt": "sse"}


@pytest.mark.parametrize(
    ("reason", "expected"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter")]
)
async def test_finish_reasons(
    up: FakeGemini, provider: GeminiProvider, reason: str, expected: str
) -> None:
    up.queue_text("cut", finish_reason=reason)
    assert (await _collect(provider))[-1] == Finish(expected)


async def test_parallel_calls_get_distinct_ids(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_tool_calls([("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4})])
    events = await _collect(provider, incremental=False)
    ready = next(e for e in events if isinstance(e, ToolCallsReady))
    assert [json.loads(c.arguments) for c in ready.calls] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert len({c.id for c in ready.calls}) == 2
    assert all(c.id.startswith("call_") for c in ready.calls)
    assert events[-1] == Finish("tool_calls")


# -- the request the vendor receives ----------------------------------------------------------


async def test_request_shape(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_text("ok")
    messages = [
        Message("system", "Be brief."),
        Message("user", "hi"),
        Message("assistant", "hello"),
        Message("system", "Use tools."),
        Message("user", "add"),
        Message("user", "please"),
    ]
    tools = ToolRegistry([add]).schemas()
    params = ModelParams(max_tokens=64, temperature=0.2, top_p=0.9, stop=("END",))
    await _collect(provider, messages, tools=tools, params=params)
    request = up.requests[0]
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path and KEY not in json.dumps(request.query)
    assert "key" not in request.query and "Authorization" not in request.headers
    body = request.body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nUse tools."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "add"}, {"text": "please"}]},
    ]
    [declaration] = body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "add"
    assert declaration["description"] == "Add two numbers."
    assert declaration["parameters"]["properties"]["a"] == {
        "type": "integer",
        "description": "the first",
    }
    assert declaration["parameters"]["required"] == ["a", "b"]
    assert "additionalProperties" not in json.dumps(body["tools"])
    assert body["generationConfig"] == {
        "maxOutputTokens": 64,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


async def test_defaults_fill_in_and_base_url_may_carry_the_version(up: FakeGemini) -> None:
    up.queue_text("ok")
    p = GeminiProvider(
        model="models/gemini-x",
        base_url=f"{up.base_url}/v1beta/",
        api_key=KEY,
        defaults=ModelParams(max_tokens=10, temperature=0.5),
    )
    try:
        await _collect(p, params=ModelParams(temperature=0.1))
    finally:
        await p.close()
    request = up.requests[0]
    assert request.path == "/v1beta/models/gemini-x:streamGenerateContent"
    assert request.body["generationConfig"] == {"maxOutputTokens": 10, "temperature": 0.1}
    assert "systemInstruction" not in request.body and "tools" not in request.body
    assert p.label == "gemini:models/gemini-x"


# -- a tool-call round trip through the agent loop -------------------------------------------


@pytest.mark.parametrize("incremental", [True, False])
async def test_tool_round_trip_through_the_agent(
    up: FakeGemini, provider: GeminiProvider, tmp_path: Path, incremental: bool
) -> None:
    up.queue_tool_call("add", {"a": 2, "b": 3}, signature="sig-opaque-1")
    up.queue_text("The sum is 5.")
    ctx = ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})
    agent = Agent(provider, ToolRegistry([add]), ctx)
    events = [e async for e in agent.run([Message("user", "2+3?")], incremental=incremental)]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [(f.call.name, f.result.output) for f in finished] == [("add", "5")]
    assert _text(events) == "The sum is 5."
    done = events[-1]
    assert isinstance(done, RunFinished) and done.reason == "stop"
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    second = up.requests[1].body
    assert second["contents"] == [
        {"role": "user", "parts": [{"text": "2+3?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "add", "args": {"a": 2, "b": 3}},
                    "thoughtSignature": "sig-opaque-1",
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "add", "response": {"content": "5"}}}],
        },
    ]


async def test_gemini_3_replays_unknown_calls_with_the_skip_signature(up: FakeGemini) -> None:
    history = [
        Message("user", "2+3?"),
        Message("assistant", None, (ToolCall("from-another-model", "add", '{"a": 2, "b": 3}'),)),
        Message("tool", "5", tool_call_id="from-another-model"),
    ]
    for model in ("gemini-3-flash-preview", MODEL):
        up.queue_text("5")
        p = GeminiProvider(model=model, base_url=up.base_url, api_key=KEY)
        try:
            await _collect(p, history)
        finally:
            await p.close()
    signed, unsigned = (r.body["contents"][1]["parts"][0] for r in up.requests)
    assert signed["thoughtSignature"] == SKIP_SIGNATURE
    assert "thoughtSignature" not in unsigned
    assert up.requests[0].body["contents"][2]["parts"][0]["functionResponse"]["name"] == "add"


# -- errors -----------------------------------------------------------------------------------


async def test_403_is_an_auth_error(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_error(403, "Method doesn't allow unregistered callers.")
    with pytest.raises(UpstreamAuthError, match="upstream rejected the credentials") as info:
        await _collect(provider)
    assert info.value.upstream_status == 403 and not info.value.retryable
    assert len(up.requests) == 1


async def test_a_wrong_key_is_an_auth_error_not_a_bad_request() -> None:
    async with FakeGemini(api_key="AIza-right") as up:
        p = GeminiProvider(model=MODEL, base_url=up.base_url, api_key="AIza-wrong")
        try:
            with pytest.raises(UpstreamAuthError, match="API key not valid"):
                await _collect(p)
        finally:
            await p.close()
        assert up.requests[0].headers["x-goog-api-key"] == "AIza-wrong"


async def test_400_is_not_retried(up: FakeGemini, provider: GeminiProvider) -> None:
    up.queue_error(400, "Invalid JSON payload received.")
    up.queue_text("never sent")
    with pytest.raises(UpstreamError, match="INVALID_ARGUMENT Invalid JSON payload") as info:
        await _collect(provider)
    assert not info.value.retryable and info.value.upstream_status == 400
    assert up.pending == 1


@pytest.mark.parametrize("incremental", [True, False])
async def test_503_is_retried(up: FakeGemini, provider: GeminiProvider, incremental: bool) -> None:
    up.queue_error(503, "The model is overloaded.")
    up.queue_text("fine now")
    events = await _collect(provider, incremental=incremental)
    assert _text(events) == "fine now"
    assert len(up.requests) == 2


async def test_429_three_times_is_rate_limited(up: FakeGemini, provider: GeminiProvider) -> None:
    for _ in range(3):
        up.queue_error(429, "Resource has been exhausted.", retry_delay="0.01s")
    with pytest.raises(UpstreamRateLimited) as info:
        await _collect(provider)
    assert info.value.retry_after == pytest.approx(0.01)
    assert len(up.requests) == 3  # the first try and MAX_RETRIES more


async def test_a_stall_times_out_without_retries(up: FakeGemini) -> None:
    up.queue_stall(30)
    p = GeminiProvider(model=MODEL, base_url=up.base_url, api_key=KEY, timeout=1)
    try:
        with pytest.raises(UpstreamTimeout):
            await asyncio.wait_for(_collect(p), 8)
    finally:
        await p.close()
    assert len(up.requests) == 1


async def test_a_stall_mid_stream_times_out_without_retry(up: FakeGemini) -> None:
    up.queue_stall(30, mid_stream=True)
    p = GeminiProvider(model=MODEL, base_url=up.base_url, api_key=KEY, timeout=0.3)
    seen: list[StreamEvent] = []
    try:
        with pytest.raises(UpstreamTimeout, match="mid-answer"):
            async for event in p.stream(HELLO):
                seen.append(event)
    finally:
        await p.close()
    assert seen == [TextDelta("la")]
    await up.wait_disconnects(1)


@pytest.mark.parametrize("incremental", [True, False])
async def test_a_broken_answer_is_an_upstream_error(
    up: FakeGemini, provider: GeminiProvider, incremental: bool
) -> None:
    up.queue_broken_chunk()
    with pytest.raises(UpstreamError, match="malformed"):
        await _collect(provider, incremental=incremental)


def test_in_thread_mode() -> None:
    async def ask(base_url: str) -> list[StreamEvent]:
        p = GeminiProvider(model=MODEL, base_url=base_url, api_key=KEY)
        try:
            return await _collect(p)
        finally:
            await p.close()

    with FakeGemini.in_thread() as up:
        up.queue_text("from a thread")
        assert _text(asyncio.run(ask(up.base_url))) == "from a thread"
    assert len(up.requests) == 1


# -- pure wire --------------------------------------------------------------------------------


def test_clean_schema_keeps_only_what_gemini_accepts() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "tags": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
            "note": {"type": ["string", "null"], "const": "x", "description": "d"},
            "additionalProperties": {"type": "string"},  # a property may have that name
        },
        "required": [],
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "object"}},
            "note": {"type": "string", "nullable": True, "description": "d"},
            "additionalProperties": {"type": "string"},
        },
    }


def test_tool_results_find_their_name_by_the_latest_call_id() -> None:
    history = [
        Message("user", "go"),
        Message("assistant", "", (ToolCall("call_0", "ls", "{}"), ToolCall("call_1", "add", "{}"))),
        Message("tool", "a.txt", tool_call_id="call_0"),
        Message("tool", "3", tool_call_id="call_1"),
        Message("assistant", None, (ToolCall("call_0", "add", "not json"),)),
        Message("tool", "oops", tool_call_id="call_0"),
    ]
    contents = encode_contents(history, {"call_1": "s1"})
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[1]["parts"][1] == {
        "functionCall": {"name": "add", "args": {}},
        "thoughtSignature": "s1",
    }
    names = [p["functionResponse"]["name"] for p in contents[2]["parts"] + contents[4]["parts"]]
    assert names == ["ls", "add", "add"]
    assert contents[3]["parts"] == [
        {"functionCall": {"name": "add", "args": {"arguments": "not json"}}}
    ]


def test_accumulator_blocked_prompt_and_cut_stream() -> None:
    blocked = GeminiAccumulator().whole({"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked == [Finish("content_filter")]
    acc = GeminiAccumulator()
    assert acc.feed({"candidates": [{"content": {"parts": [{"text": "half"}]}}]}) == [
        TextDelta("half")
    ]
    with pytest.raises(WireError, match="cut short"):
        acc.finish()
    thinking = GeminiAccumulator().whole(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "hmm", "thought": True}, {"text": "4"}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 7,
                "candidatesTokenCount": 1,
                "thoughtsTokenCount": 20,
            },
        }
    )
    assert thinking == [
        ReasoningDelta("hmm"),
        TextDelta("4"),
        UsageReport(Usage(7, 21)),
        Finish("stop"),
    ]


def test_parse_error_reads_status_reason_and_retry_delay() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
            ],
        }
    }
    info = parse_error(json.dumps([body]))
    assert (info.message, info.status, info.reasons, info.retry_delay) == (
        "Quota exceeded",
        "RESOURCE_EXHAUSTED",
        ("RATE_LIMIT",),
        37.0,
    )
    assert parse_error("<html>bad gateway</html>").message == "<html>bad gateway</html>"


def test_a_history_starting_with_the_model_gets_a_user_turn_first() -> None:
    history = [Message("system", "summary"), Message("assistant", "Plan."), Message("user", "ok")]
    contents = encode_contents(history, {})
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"] == [{"text": "(continuing the conversation)"}]
