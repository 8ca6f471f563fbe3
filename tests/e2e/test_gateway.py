"""The real gateway process, driven by the official openai SDK and raw HTTP, in front of the
scripted fake upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import Stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.e2e.gateway_process import Gateway, alice_gateway
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gw-home")
    with alice_gateway(
        home, upstream.base_url, api_server__cors_origins="[https://ui.example]"
    ) as gateway:
        yield gateway


@pytest.fixture
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=20)


# With `**kw` mypy cannot pick one of create's overloads and calls the result Any: the
# typed local says which one it is.
def chat(client: openai.OpenAI, text: str = "hi", **kw: Any) -> ChatCompletion:
    reply: ChatCompletion = client.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": text}], **kw
    )
    return reply


def chat_stream(client: openai.OpenAI, text: str = "hi", **kw: Any) -> Stream[ChatCompletionChunk]:
    stream: Stream[ChatCompletionChunk] = client.chat.completions.create(
        model="anything", messages=[{"role": "user", "content": text}], stream=True, **kw
    )
    return stream


def test_ready_line_health_and_models(gw: Gateway, client: openai.OpenAI) -> None:
    assert gw.base_url in gw.ready_line and "profile=alice" in gw.ready_line
    health = httpx.get(f"{gw.url}/health").json()
    assert health["status"] == "ok" and health["profile"] == "alice" and health["model"] == "alice"
    assert httpx.get(f"{gw.url}/v1/health").status_code == 200
    models = client.models.list()
    assert [m.id for m in models.data] == ["alice"]
    raw = httpx.get(f"{gw.url}/models", headers=gw.headers()).json()
    assert raw["data"][0]["object"] == "model" and raw["data"][0]["owned_by"]


def test_chat_completion_non_streaming(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("Hello there!")
    result = chat(client, "hi", temperature=0.3, max_tokens=50, user="u1", metadata={"a": "b"})
    assert result.choices[0].message.content == "Hello there!"
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "alice" and result.id.startswith("chatcmpl-")
    assert result.usage and result.usage.total_tokens > 0
    sent, _ = up.requests[0]
    assert sent["messages"][0]["role"] == "system"  # the profile's core prompt comes first
    assert sent["messages"][-1] == {"role": "user", "content": "hi"}
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 50
    assert sent["model"] == "fake-model"
    assert any(t["function"]["name"] == "terminal" for t in sent["tools"])


def test_streaming_forwards_deltas_and_usage(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("one two three", chunks=["one ", "two ", "three"])
    stream = chat_stream(client, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert len({c.id for c in chunks}) == 1 and all(c.model == "alice" for c in chunks)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals[-1].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and usage.total_tokens > 0


def test_sse_framing_and_headers(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text("ok")
    with httpx.stream(
        "POST",
        f"{gw.base_url}/chat/completions",
        headers=gw.headers(),
        json={"messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-request-id"]
        body = r.read().decode()
    events = [e for e in body.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"


def test_two_step_tool_loop_really_runs_terminal(
    client: openai.OpenAI, up: FakeOpenAI, gw: Gateway
) -> None:
    up.queue_tool_call("terminal", {"command": "echo hermes-$((6*7)) && pwd"})
    up.queue_text("The answer is 42.")
    stream = chat_stream(client, "run it")
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "`💻 echo hermes-$((6*7)) && pwd`" in text
    assert text.endswith("The answer is 42.")
    second, _ = up.requests[1]
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool" and "hermes-42" in tool_msg["content"]
    assert "workspace" in tool_msg["content"]
    assistant = second["messages"][-2]
    assert assistant["tool_calls"][0]["function"]["name"] == "terminal"


def test_markers_are_stripped_from_history(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("fine")
    history = "`💻 ls`\n\nHere are the files."
    client.chat.completions.create(
        model="x",
        messages=[
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": history},
            {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        ],
    )
    sent, _ = up.requests[0]
    assert sent["messages"][2] == {"role": "assistant", "content": "Here are the files."}
    assert sent["messages"][3]["content"] == "thanks"


def test_client_system_messages_are_layered_not_replacing(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_text("ok")
    client.chat.completions.create(
        model="x",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "hi"},
        ],
    )
    sent, _ = up.requests[0]
    assert sent["messages"][0]["role"] == "system" and "Hermes" in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "system", "content": "Answer in French."}


@pytest.mark.parametrize(
    ("status", "expected_cls", "expected_status", "text"),
    [
        (401, openai.APIStatusError, 502, "upstream rejected the credentials"),
        (400, openai.APIStatusError, 502, "HTTP 400"),
    ],
)
def test_upstream_errors_map_to_openai_errors(
    client: openai.OpenAI,
    up: FakeOpenAI,
    status: int,
    expected_cls: type[openai.APIStatusError],
    expected_status: int,
    text: str,
) -> None:
    up.queue_error(status, "nope")
    with pytest.raises(expected_cls) as info:
        chat(client)
    assert info.value.status_code == expected_status and text in str(info.value)


def test_upstream_5xx_is_retried_then_succeeds(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_error(503, "busy")
    up.queue_error(500, "oops")
    up.queue_text("recovered")
    assert chat(client).choices[0].message.content == "recovered"
    assert len(up.requests) == 3


def test_upstream_429_exhausted_is_429_with_retry_after(gw: Gateway, up: FakeOpenAI) -> None:
    for _ in range(3):
        up.queue_error(429, "slow down", {"Retry-After": "0"})
    r = httpx.post(
        f"{gw.base_url}/chat/completions",
        headers=gw.headers(),
        json={"messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 429 and "retry-after" in r.headers
    assert r.json()["error"]["type"] == "rate_limit_error"


def test_streaming_upstream_failure_before_output_is_an_http_error(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_error(401, "bad key")
    with pytest.raises(openai.APIStatusError) as info:
        list(chat_stream(client))
    assert info.value.status_code == 502


def test_broken_chunk_mid_stream_becomes_an_error_event(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_broken_chunk()
    r = httpx.post(
        f"{gw.base_url}/chat/completions",
        headers=gw.headers(),
        json={"messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    events = [e.removeprefix("data: ") for e in r.text.split("\n\n") if e]
    assert r.status_code == 200 and '"content":"partial"' in r.text
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert "malformed" in error["message"] and set(error) == {"message", "type", "param", "code"}


def test_auth(gw: Gateway) -> None:
    url = f"{gw.base_url}/models"
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": gw.key},
    ):
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401, headers
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert r.headers["x-request-id"] and r.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(url, headers={"X-API-Key": gw.key}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"bearer {gw.key}"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, "max_tokens"),
    ],
)
def test_bad_requests_name_the_param(gw: Gateway, body: dict[str, Any], param: str) -> None:
    r = httpx.post(f"{gw.base_url}/chat/completions", headers=gw.headers(), json=body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param


def test_malformed_json_unknown_path_wrong_method(gw: Gateway) -> None:
    h = {**gw.headers(), "Content-Type": "application/json"}
    r = httpx.post(f"{gw.base_url}/chat/completions", headers=h, content=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
    r = httpx.get(f"{gw.base_url}/nope", headers=gw.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(f"{gw.base_url}/chat/completions", headers=gw.headers())
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_body_over_the_limit_is_413(gw: Gateway) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (11 * 1024 * 1024)}]}
    r = httpx.post(f"{gw.base_url}/chat/completions", headers=gw.headers(), json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_cors(gw: Gateway, up: FakeOpenAI) -> None:
    url = f"{gw.base_url}/chat/completions"
    pre = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(url, headers=pre)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://ui.example"
    assert r.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
    assert "Idempotency-Key" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "600" and r.headers["vary"] == "Origin"
    r = httpx.options(url, headers={**pre, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    up.queue_text("hi")
    r = httpx.post(
        url,
        headers={**gw.headers(), "Origin": "https://ui.example"},
        json={"messages": [{"role": "user", "content": "x"}], "stream": True},
    )
    assert r.headers["access-control-allow-origin"] == "https://ui.example"


def test_idempotency(gw: Gateway, up: FakeOpenAI) -> None:
    url = f"{gw.base_url}/chat/completions"
    body = {"messages": [{"role": "user", "content": "once"}]}
    h = {**gw.headers(), "Idempotency-Key": "k-123"}
    up.queue_text("only once")
    first = httpx.post(url, headers=h, json=body)
    second = httpx.post(url, headers=h, json=body)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("idempotency-replayed") == "true"
    assert second.json() == first.json() and len(up.requests) == 1
    other = httpx.post(url, headers=h, json={"messages": [{"role": "user", "content": "x"}]})
    assert other.status_code == 409


def test_client_disconnect_cancels_the_upstream_request(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_stall(30, mid_stream=True)
    before = up.disconnects
    with httpx.stream(
        "POST",
        f"{gw.base_url}/chat/completions",
        headers=gw.headers(),
        json={"messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as r:
        for line in r.iter_lines():
            if "la" in line:
                break
    up.wait_disconnects_blocking(before + 1, timeout=3)


def test_access_log_has_no_secrets_or_message_text(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text("secret answer text")
    httpx.post(
        f"{gw.base_url}/chat/completions",
        headers=gw.headers(),
        json={"messages": [{"role": "user", "content": "very private question"}]},
    )
    log = gw.log()
    assert '"POST /v1/chat/completions" 200' in log
    assert gw.key not in log and "very private question" not in log
    assert "sk-upstream-test-key" not in log
