"""What a web page in the user's browser can make the gateway do (in-process, aiohttp test
client): non-JSON bodies are refused before anything runs, only the gateway's own names are
answered in the Host header (DNS rebinding), and a gateway without a key refuses other origins."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import FormData

from hermes.errors import ConfigError
from hermes.gateway.hosts import HostPolicy, host_of
from hermes.gateway.settings import GatewaySettings, load
from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.stores.keys import KeyStore
from tests.unit.test_gateway_app import Echo, GatewayClient, client_for

JSON = {"Content-Type": "application/json"}
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
async def keyless(aiohttp_client: Any, store: ProfileStore) -> tuple[GatewayClient, Counting]:
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
    keyless: tuple[GatewayClient, Counting], path: str, body: bytes, content_type: str
) -> None:
    client, provider = keyless
    r = await client.post(path, data=body, headers={"Content-Type": content_type})
    assert r.status == 415, await r.text()
    assert_error(await r.json(), "unsupported_media_type")
    assert "application/json" in (await r.json())["error"]["message"]
    assert r.headers["X-Request-Id"] and provider.calls == 0


async def test_multipart_and_a_missing_content_type_are_415(
    keyless: tuple[GatewayClient, Counting],
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
    keyless: tuple[GatewayClient, Counting], content_type: str
) -> None:
    client, provider = keyless
    r = await client.post("/v1/chat/completions", data=CHAT, headers={"Content-Type": content_type})
    assert r.status == 200 and (await r.json())["choices"][0]["message"]["content"] == "hi"
    assert provider.calls == 1


async def test_json_in_another_charset_is_415(keyless: tuple[GatewayClient, Counting]) -> None:
    client, provider = keyless
    headers = {"Content-Type": "application/json; charset=latin-1"}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 415 and provider.calls == 0


async def test_no_body_and_unknown_routes_keep_their_own_errors(
    keyless: tuple[GatewayClient, Counting],
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


# --- 403 host_not_allowed: DNS rebinding ---


def policy(host: str = "127.0.0.1", allowed: tuple[str, ...] = ()) -> HostPolicy:
    settings = GatewaySettings(
        "p", host, 8642, "k", (), "p", "inline", 1, 1024, allowed_hosts=allowed
    )
    return HostPolicy.for_settings(settings, machine=lambda: ["box.lan"])


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8642", "127.0.0.1"),
        ("LocalHost.", "localhost"),
        ("[::1]:8642", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("Agent.Example.COM.:443", "agent.example.com"),
        ("agent.example.com:", "agent.example.com"),
        ("http://evil.example", None),
        ("evil.example:80x", None),
        ("user@evil.example", None),
        ("[::1", None),
        ("[::1]80", None),
        ("", None),
    ],
)
def test_host_of_normalises_the_header(header: str, host: str | None) -> None:
    assert host_of(header) == host


def test_loopback_names_the_bind_address_and_allowed_hosts_are_the_gateways_own() -> None:
    hosts = policy("192.0.2.7", ("Agent.Example.com", "other.example:8443"))
    for header in (
        "localhost", "localhost:8642", "alice.localhost:8642", "127.0.0.1:1", "127.9.8.7",
        "[::1]:8642", "::1", "[0:0:0:0:0:0:0:1]", "192.0.2.7:8642", "agent.example.com",
        "AGENT.EXAMPLE.COM.:443", "other.example",
    ):  # fmt: skip
        assert hosts.allows(header), header
    for header in (
        "evil.example", "evil.example:8642", "localhost.evil.example", "127.0.0.1.evil.example",
        "192.0.2.8", "agent.example.com.evil.example", "[::2]", "0.0.0.0", "",
    ):  # fmt: skip
        assert not hosts.allows(header), header


def test_a_wildcard_bind_adds_the_machines_names_once_a_loopback_bind_never_asks() -> None:
    asked: list[int] = []

    def machine() -> list[str]:
        asked.append(1)
        return ["box", "box.lan", "192.0.2.2", "fe80::1"]

    settings = GatewaySettings("p", "0.0.0.0", 8642, "k", (), "p", "inline", 1, 1024)
    hosts = HostPolicy.for_settings(settings, machine=machine)
    assert all(hosts.allows(h) for h in ("box", "BOX.lan.", "192.0.2.2:8642", "[fe80::1]:1"))
    assert not hosts.allows("evil.example") and asked == [1]
    loopback = dataclasses.replace(settings, host="127.0.0.1")
    assert not HostPolicy.for_settings(loopback, machine=machine).allows("box")
    assert asked == [1]


def test_a_star_allows_any_host() -> None:
    assert policy(allowed=("*",)).allows("anything.example")


async def test_a_foreign_host_is_403_everywhere_with_the_setting_named(
    keyless: tuple[GatewayClient, Counting],
) -> None:
    client, provider = keyless
    evil = {"Host": "evil.example:8642"}
    for method, path in (("GET", "/health"), ("GET", "/v1/models"), ("OPTIONS", "/v1/models")):
        headers = {**evil, "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
        r = await client.request(method, path, headers=headers)
        assert r.status == 403, (method, path)
        body = await r.json()
        assert_error(body, "host_not_allowed", "permission_error")
        assert "'evil.example'" in body["error"]["message"]
        assert "api_server.allowed_hosts" in body["error"]["message"]
    r = await client.post("/v1/chat/completions", data=CHAT, headers={**evil, **JSON})
    assert r.status == 403 and provider.calls == 0
    r = await client.get("/health", headers={"Host": "<script>alert(1)</script>"})
    message = (await r.json())["error"]["message"]
    assert r.status == 403 and "<" not in message and "script" not in message


async def test_allowed_hosts_from_config_then_the_env_variable_which_wins(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    anyone = await client_for(
        aiohttp_client, store, Echo(), **{"api_server.allowed_hosts": "['*']"}
    )
    assert (await anyone.get("/health", headers={"Host": "c.example"})).status == 200
    client = await client_for(
        aiohttp_client, store, Echo(), API_SERVER_ALLOWED_HOSTS="agent.example.com, b.example"
    )
    for host, status in (("Agent.Example.com:443", 200), ("b.example", 200), ("c.example", 403)):
        assert (await client.get("/health", headers={"Host": host})).status == status, host


@pytest.mark.parametrize("entry", ["https://agent.example.com", "*.example.com", "a b"])
def test_an_allowed_host_that_could_never_match_is_refused_at_start(
    store: ProfileStore, entry: str
) -> None:
    with pytest.raises(ConfigError, match=r"api_server\.allowed_hosts"):
        load(store.get("default"), {"API_SERVER_ALLOWED_HOSTS": entry})


async def raw_request(client: GatewayClient, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(request)
    await writer.drain()
    try:
        return await reader.read()
    finally:
        writer.close()


async def test_without_a_host_header_only_health_answers(
    keyless: tuple[GatewayClient, Counting],
) -> None:
    client, _ = keyless
    health = await raw_request(client, b"GET /health HTTP/1.0\r\n\r\n")
    assert health.startswith(b"HTTP/1.0 200")
    models = await raw_request(client, b"GET /v1/models HTTP/1.0\r\n\r\n")
    assert models.startswith(b"HTTP/1.0 403") and b"host_not_allowed" in models


# --- 403 origin_not_allowed: web pages on a gateway without a key ---

EVIL = {"Origin": "http://evil.example"}


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:8642"])
async def test_a_keyless_gateway_refuses_other_origins(
    keyless: tuple[GatewayClient, Counting], origin: str
) -> None:
    client, provider = keyless
    headers = {"Origin": origin, **JSON}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 403
    assert_error(await r.json(), "origin_not_allowed", "permission_error")
    assert "api_server.cors_origins" in (await r.json())["error"]["message"]
    assert (await client.get("/v1/models", headers={"Origin": origin})).status == 403
    assert provider.calls == 0
    assert (await client.post("/v1/chat/completions", data=CHAT, headers=JSON)).status == 200


async def test_health_and_preflights_on_a_keyless_gateway_are_as_before(
    keyless: tuple[GatewayClient, Counting],
) -> None:
    client, _ = keyless
    assert (await client.get("/health", headers=EVIL)).status == 200
    preflight = {**EVIL, "Access-Control-Request-Method": "POST"}
    r = await client.options("/v1/chat/completions", headers=preflight)
    assert r.status == 204 and "Access-Control-Allow-Origin" not in r.headers


async def test_a_listed_origin_may_use_a_keyless_gateway(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(
        aiohttp_client,
        store,
        Echo(),
        API_SERVER_KEY="",
        API_SERVER_CORS_ORIGINS="https://ui.example",
    )
    headers = {"Origin": "https://ui.example", **JSON}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    r = await client.post("/v1/chat/completions", data=CHAT, headers={**EVIL, **JSON})
    assert r.status == 403


async def test_with_a_key_any_origin_needs_the_key_and_cors_decides_the_rest(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="")
    with KeyStore.for_profile(store.get("default")) as keys:
        _, key = keys.create("ui")  # a named key alone closes the gateway too
    r = await client.post("/v1/chat/completions", data=CHAT, headers={**EVIL, **JSON})
    assert r.status == 401
    headers = {**EVIL, **JSON, "Authorization": f"Bearer {key}"}
    r = await client.post("/v1/chat/completions", data=CHAT, headers=headers)
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
