"""What a web page in the user's browser can make the gateway do (in-process, aiohttp test
client): non-JSON bodies are refused before anything runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from tests.unit.test_gateway_app import Echo, client_for

CHAT = b'{"messages": [{"role": "user", "content": "hi"}]}'
POST_ROUTES = [
    ("/v1/chat/completions", CHAT),
    ("/chat/completions", CHAT),
    ("/v1/responses", b'{"input": "hi"}'),
    ("/api/v1/chat", b'{"username": "u", "message": "hi", "stream": false}'),
    ("/api/v1/chat/new_session", b'{"username": "u"}'),
    ("/api/v1/acp", b'{"type": "chat.request", "payload": {"message": "hi"}, "user_id": "u"}'),
]


class Counting(Echo):
    """Echo that counts its model calls: a refused request must never reach the model."""

    label = "test:counting"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, messages: Sequence[Message], **_: Any) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        yield TextDelta(messages[-1].content or "")
        yield Finish("stop")


@pytest.fixture
async def keyless(aiohttp_client: Any, store: ProfileStore) -> tuple[TestClient, Counting]:
    provider = Counting()
    return await client_for(aiohttp_client, store, provider, API_SERVER_KEY=""), provider


def assert_error(body: dict[str, Any], code: str, kind: str = "invalid_request_error") -> None:
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code and body["error"]["type"] == kind
    assert body["error"]["param"] is None


# --- 415: bodies must be JSON ---


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "text/json"],
)
@pytest.mark.parametrize(("path", "body"), POST_ROUTES)
async def test_a_body_that_is_not_declared_json_is_415_and_runs_nothing(
    keyless: tuple[TestClient, Counting], path: str, body: bytes, content_type: str
) -> None:
    client, provider = keyless
    r = await client.post(path, data=body, headers={"Content-Type": content_type})
    assert r.status == 415, await r.text()
    assert_error(await r.json(), "unsupported_media_type")
    assert "application/json" in (await r.json())["error"]["message"]
    assert r.headers["X-Request-Id"] and provider.calls == 0


async def test_multipart_and_a_missing_content_type_are_415(
    keyless: tuple[TestClient, Counting],
) -> None:
    client, provider = keyless
    form = FormData()
    form.add_field("messages", CHAT.decode(), filename="x.json", content_type="application/json")
    r = await client.post("/v1/chat/completions", data=form)
    assert r.status == 415
    r = await client.post("/v1/chat/completions", data=CHAT, skip_auto_headers=["Content-Type"])
    assert r.status == 415 and "no Content-Type" in (await r.json())["error"]["message"]
    assert provider.calls == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"],
)
async def test_json_with_or_without_a_utf8_charset_is_served(
    keyless: tuple[TestClient, Counting], content_type: str
) -> None:
    client, provider = keyless
    r = await client.post("/v1/chat/completions", data=CHAT, headers={"Content-Type": content_type})
    assert r.status == 200 and (await r.json())["choices"][0]["message"]["content"] == "hi"
    assert provider.calls == 1


async def test_json_in_another_charset_is_415(keyless: tuple[TestClient, Counting]) -> None:
    client, provider = keyless
    headers = {"Content-Type": "application/json; charset=latin-1"}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 415 and provider.calls == 0


async def test_no_body_and_unknown_routes_keep_their_own_errors(
    keyless: tuple[TestClient, Counting],
) -> None:
    client, _ = keyless
    r = await client.post("/v1/chat/completions", skip_auto_headers=["Content-Type"])
    assert r.status == 400 and "empty" in (await r.json())["error"]["message"]
    r = await client.post("/v1/nope", data=b"x", headers={"Content-Type": "text/plain"})
    assert r.status == 404
    r = await client.post("/v1/models", data=b"x", headers={"Content-Type": "text/plain"})
    assert r.status == 405


async def test_a_wrong_key_is_401_before_the_media_type_is_looked_at(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Counting(), API_SERVER_KEY="k" * 32)
    headers = {"Content-Type": "text/plain", "Authorization": "Bearer wrong"}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 401
    headers["Authorization"] = "Bearer " + "k" * 32
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 415
