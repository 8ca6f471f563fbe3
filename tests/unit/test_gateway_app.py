"""The gateway app in-process (aiohttp test client), with providers injected as seams."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeAlias

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from hermes.gateway.app import create_app
from hermes.gateway.protocol import GatewayRunner
from hermes.gateway.settings import load
from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from hermes.providers.base import ModelParams

# A client of the gateway app served by a test server (aiohttp's TestClient is generic).
GatewayClient: TypeAlias = TestClient[web.Request, web.Application]


class Exploding:
    """A provider whose failure is not a HermesError: an internal bug as far as hermes knows."""

    label = "test:exploding"

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        raise RuntimeError("secret internal detail")
        yield Finish("stop")  # pragma: no cover - makes this an async generator

    async def close(self) -> None:
        pass


class Echo(Exploding):
    label = "test:echo"

    async def stream(self, messages: Sequence[Message], **_: Any) -> AsyncIterator[StreamEvent]:
        yield TextDelta(messages[-1].content or "")
        yield Finish("stop")


class GatewayTestServer(TestServer):
    """The app served as the gateway process serves it (GatewayRunner's connection handler)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return GatewayRunner(self.app, **kwargs)


async def client_for(
    aiohttp_client: Any, store: ProfileStore, provider: Any, **settings: str
) -> GatewayClient:
    profile = store.get("default")
    for key, value in settings.items():
        set_value(store, profile, key, value)
    loaded = load(profile, {})
    app = create_app(profile, loaded.config, loaded.settings, provider=provider, environ={})
    server: BaseTestServer = GatewayTestServer(app)
    client: GatewayClient = await aiohttp_client(server)
    return client


async def test_unexpected_error_is_500_with_request_id_and_traceback_only_in_log(
    aiohttp_client: Any, store: ProfileStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = await client_for(aiohttp_client, store, Exploding(), API_SERVER_KEY="")
    with caplog.at_level(logging.ERROR, logger="hermes.gateway"):
        r = await client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
        )
    body = await r.json()
    request_id = r.headers["X-Request-Id"]
    assert r.status == 500 and request_id in body["error"]["message"]
    assert "secret internal detail" not in body["error"]["message"]
    assert "secret internal detail" in caplog.text and "Traceback" in caplog.text


async def test_no_key_on_loopback_is_open(aiohttp_client: Any, store: ProfileStore) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="")
    r = await client.post(
        "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status == 200
    assert (await r.json())["choices"][0]["message"]["content"] == "hi"
    assert r.headers["X-Hermes-Provider"] == "test:echo"


async def test_model_name_override(aiohttp_client: Any, store: ProfileStore) -> None:
    client = await client_for(
        aiohttp_client, store, Echo(), API_SERVER_KEY="", API_SERVER_MODEL_NAME="my-agent"
    )
    models = await (await client.get("/v1/models")).json()
    assert models["data"][0]["id"] == "my-agent"
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "whatever", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert (await r.json())["model"] == "my-agent"


async def test_a_path_cannot_forge_a_log_line(
    aiohttp_client: Any, store: ProfileStore, caplog: pytest.LogCaptureFixture
) -> None:
    """An unauthenticated request whose path carries %0a and a fake log line: the access log
    records it escaped, on its own line."""
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="k" * 40)
    forged = "/x%0a2026-12-01 23:00:00,000 WARNING hermes.supervisor: FORGED%00"
    with caplog.at_level(logging.INFO, logger="hermes.access"):
        r = await client.get(forged)
    assert r.status == 401
    (line,) = [rec.getMessage() for rec in caplog.records if rec.name == "hermes.access"]
    assert "\n" not in line and "\x00" not in line and "\\nFORGED" not in line
    assert "/x\\n2026-12-01 23:00:00,000 WARNING hermes.supervisor: FORGED\\x00" in line


async def test_health_checks_are_logged_at_debug_only(
    aiohttp_client: Any, store: ProfileStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="")
    with caplog.at_level(logging.DEBUG, logger="hermes.access"):
        assert (await client.get("/health")).status == 200
        assert (await client.get("/v1/models")).status == 200
    levels = {r.getMessage().split('"')[1]: r.levelno for r in caplog.records}
    assert levels == {"GET /health": logging.DEBUG, "GET /v1/models": logging.INFO}
