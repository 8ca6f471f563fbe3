"""A real gateway process against what a web page can send: non-JSON bodies, foreign Host
headers (DNS rebinding) and, without a key, foreign origins are refused before the agent runs
(the scripted fake upstream sees nothing), while the openai SDK, which sends JSON to
127.0.0.1:PORT, keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.gateway_process import Gateway, alice_gateway
from tests.fakes.openai_upstream import FakeOpenAI

JSON = {"Content-Type": "application/json"}
CHAT = '{"messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("browsers-home")
    with alice_gateway(home, upstream.base_url) as gateway:
        yield gateway


def test_a_text_plain_post_is_415_and_never_reaches_the_model(gw: Gateway, up: FakeOpenAI) -> None:
    headers = {**gw.headers(), "Content-Type": "text/plain"}
    r = httpx.post(f"{gw.base_url}/chat/completions", headers=headers, content=CHAT)
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert up.requests == []


def test_the_openai_sdk_still_works(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text("hello from upstream")
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=20)
    reply = client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "hello from upstream"


def test_a_foreign_host_header_is_403(gw: Gateway, up: FakeOpenAI) -> None:
    for path in ("/health", "/v1/models"):
        r = httpx.get(f"{gw.url}{path}", headers={**gw.headers(), "Host": "evil.example"})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "host_not_allowed"
        assert "api_server.allowed_hosts" in r.json()["error"]["message"]
    headers = {**gw.headers(), "Host": "evil.example"}
    r = httpx.post(f"{gw.base_url}/chat/completions", headers=headers, content=CHAT)
    assert r.status_code == 403 and up.requests == []
    for own in ("localhost", "127.0.0.1", "alice.localhost"):
        assert httpx.get(f"{gw.url}/health", headers={"Host": own}).status_code == 200


def test_a_keyless_gateway_refuses_a_foreign_origin(
    upstream: FakeOpenAI, up: FakeOpenAI, tmp_path: Path
) -> None:
    with alice_gateway(tmp_path / "home", upstream.base_url, API_SERVER_KEY="") as gw:
        url = f"{gw.base_url}/chat/completions"
        r = httpx.post(url, headers={**JSON, "Origin": "http://evil.example"}, content=CHAT)
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
        assert up.requests == []
        up.queue_text("no origin, no browser")
        r = httpx.post(url, headers=JSON, content=CHAT)
        assert r.json()["choices"][0]["message"]["content"] == "no origin, no browser"
