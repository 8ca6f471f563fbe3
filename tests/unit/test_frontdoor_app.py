"""The front door's app in-process, in front of small fake gateways (real HTTP servers on port
0): what is forwarded, what is stripped, streaming as it arrives, disconnects passed on."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hermes.frontdoor.app import create_app, new_state
from hermes.frontdoor.keys import key_store, scope_of
from hermes.frontdoor.protocol import FrontdoorRunner
from hermes.frontdoor.routes import Router, Running
from hermes.profiles import ProfileStore
from hermes.stores.frontdoor_credential import DIGEST_FILE, credential_for

SECRET = b"s" * 64
Client = TestClient[web.Request, web.Application]


class FrontdoorTestServer(TestServer):
    """The app served as the front door's process serves it (its connection handler)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return FrontdoorRunner(self.app, **kwargs)


@dataclass
class FakeGateway:
    name: str
    seen: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/responses", self.respond)
        app.router.add_get("/v1/responses/{id}", self.stored)
        return app

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        body = await request.json()
        if not body.get("stream"):
            return web.json_response({"profile": self.name})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await response.write(b": keep-alive\n\n")
            await response.write(b'data: {"piece": 1}\n\n')
            await self.release.wait()
            await response.write(b"data: [DONE]\n\n")
        except (asyncio.CancelledError, ConnectionResetError):
            self.gone.set()
            raise
        return response

    async def respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            {"id": f"resp_{self.name}1", "previous": body.get("previous_response_id")}
        )

    async def stored(self, request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "profile": self.name})


@pytest.fixture
async def gateways(aiohttp_server: Any) -> dict[str, FakeGateway]:
    out = {}
    for name in ("alice", "bob"):
        fake = FakeGateway(name)
        fake.server = await aiohttp_server(fake.app())  # test servers cancel handlers
        out[name] = fake
    return out


Make = Callable[..., Awaitable[tuple[Client, dict[str, str]]]]


@pytest.fixture
def door(aiohttp_client: Any, store: ProfileStore, gateways: dict[str, FakeGateway]) -> Make:
    async def make(users: str | None = None) -> tuple[Client, dict[str, str]]:
        for name in gateways:
            store.create(name)
        if users is not None:
            (store.home / "hermes.yaml").write_text(f"frontdoor:\n  users: {users}\n")
        running = [Running(n, "127.0.0.1", _port(g)) for n, g in gateways.items()]

        async def source() -> list[Running]:
            return running

        state = new_state(store.home, Router(store, source, SECRET))
        keys = {}
        with key_store(store.home) as cli:
            for label, names, trusted in (
                ("all", None, False), ("alice", ["alice"], False), ("owui", None, True),
            ):  # fmt: skip
                keys[label] = cli.create(label, scope=scope_of(names, trust_identity=trusted))[1]
        server = FrontdoorTestServer(create_app(state))
        client: Client = await aiohttp_client(server)
        return client, keys

    return make


def _port(gateway: FakeGateway) -> int:
    assert gateway.server is not None and gateway.server.port is not None
    return gateway.server.port


def bearer(key: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **more}


async def test_the_gateway_gets_the_front_doors_credential_not_the_clients_key(
    door: Make, gateways: dict[str, FakeGateway], store: ProfileStore
) -> None:
    client, keys = await door()
    sent = bearer(keys["all"], **{"X-OpenWebUI-User-Email": "bob@x", "X-Hermes-User": "bob"})
    answer = await client.post("/v1/chat/completions", json={"model": "bob"}, headers=sent)
    assert (await answer.json()) == {"profile": "bob"}
    seen = gateways["bob"].seen[-1]
    credential = credential_for(SECRET, "bob")
    assert seen["Authorization"] == f"Bearer {credential}"
    assert keys["all"] not in str(seen)
    assert "X-OpenWebUI-User-Email" not in seen and "X-Hermes-User" not in seen
    published = (store.path("bob").state_dir / DIGEST_FILE).read_text().strip()
    assert published == hashlib.sha256(credential.encode()).hexdigest()
    assert credential_for(SECRET, "alice") != credential  # one credential per profile


async def test_a_trusted_key_forwards_the_mapped_user(
    door: Make, gateways: dict[str, FakeGateway]
) -> None:
    client, keys = await door(users="{Alice@X: [alice]}")
    sent = bearer(keys["owui"], **{"X-OpenWebUI-User-Email": "alice@x"})
    answer = await client.post("/v1/chat/completions", json={"model": "alice"}, headers=sent)
    assert answer.status == 200
    assert gateways["alice"].seen[-1]["X-Hermes-User"] == "alice@x"
    refused = await client.post("/v1/chat/completions", json={"model": "bob"}, headers=sent)
    body = await refused.json()
    assert refused.status == 404 and body["error"]["code"] == "model_not_found"
    assert "alice" not in body["error"]["message"]


async def test_streams_arrive_as_sent_keep_alives_included(
    door: Make, gateways: dict[str, FakeGateway]
) -> None:
    client, keys = await door()
    answer = await client.post(
        "/v1/chat/completions", json={"model": "alice", "stream": True}, headers=bearer(keys["all"])
    )
    first = await asyncio.wait_for(answer.content.readuntil(b"\n\n"), 5)
    assert first == b": keep-alive\n\n"  # while the gateway still holds the rest back
    assert await asyncio.wait_for(answer.content.readuntil(b"\n\n"), 5) == b'data: {"piece": 1}\n\n'
    gateways["alice"].release.set()
    assert await answer.content.read() == b"data: [DONE]\n\n"


async def test_a_client_that_goes_away_cancels_the_gateways_request(
    door: Make, gateways: dict[str, FakeGateway]
) -> None:
    client, keys = await door()
    answer = await client.post(
        "/v1/chat/completions", json={"model": "bob", "stream": True}, headers=bearer(keys["all"])
    )
    await asyncio.wait_for(answer.content.readuntil(b"\n\n"), 5)
    answer.close()  # mid-stream
    await asyncio.wait_for(gateways["bob"].gone.wait(), 5)


async def test_response_ids_route_back_and_previous_response_id_follows_them(
    door: Make, gateways: dict[str, FakeGateway]
) -> None:
    client, keys = await door()
    made = await client.post("/v1/responses", json={"model": "bob"}, headers=bearer(keys["all"]))
    rid = (await made.json())["id"]
    fetched = await client.get(f"/v1/responses/{rid}", headers=bearer(keys["all"]))
    assert (await fetched.json())["profile"] == "bob"
    # A later turn naming another model still goes where its history is.
    chained = await client.post(
        "/v1/responses",
        json={"model": "alice", "previous_response_id": rid},
        headers=bearer(keys["all"]),
    )
    assert (await chained.json())["id"] == "resp_bob1"
    other = await client.get(f"/v1/responses/{rid}", headers=bearer(keys["alice"]))
    assert other.status == 404 and (await other.json())["error"]["code"] == "response_not_found"


async def test_bad_requests_get_the_openai_error_shape(door: Make) -> None:
    client, keys = await door()
    for body, status, code in (
        (b"{not json", 400, "invalid_request"),
        (b'{"messages": []}', 400, "invalid_request"),
        (b'{"model": ["alice"]}', 400, "invalid_request"),
    ):
        answer = await client.post(
            "/v1/chat/completions",
            data=body,
            headers=bearer(keys["all"], **{"Content-Type": "application/json"}),
        )
        error = (await answer.json())["error"]
        assert (answer.status, error["code"]) == (status, code)
        assert set(error) == {"message", "type", "param", "code"}
    missing = await client.get("/v1/models")
    assert missing.status == 401 and (await missing.json())["error"]["code"] == "invalid_api_key"


async def test_a_gateway_that_is_down_is_503_not_500(
    door: Make, gateways: dict[str, FakeGateway]
) -> None:
    client, keys = await door()
    assert gateways["alice"].server is not None
    await gateways["alice"].server.close()
    answer = await client.post(
        "/v1/chat/completions", json={"model": "alice"}, headers=bearer(keys["all"])
    )
    assert answer.status == 503 and (await answer.json())["error"]["code"] == "model_unavailable"


async def test_a_revoked_key_is_refused_from_the_next_request(
    door: Make, store: ProfileStore
) -> None:
    client, keys = await door()
    assert (await client.get("/v1/models", headers=bearer(keys["alice"]))).status == 200
    with key_store(store.home) as cli:
        cli.revoke("alice")
    assert (await client.get("/v1/models", headers=bearer(keys["alice"]))).status == 401


async def test_huge_headers_are_refused_in_the_openai_shape(door: Make) -> None:
    client, keys = await door()
    huge = bearer(keys["all"], **{"X-OpenWebUI-User-Email": "a" * 20000})
    answer = await client.get("/v1/models", headers=huge)
    body = await answer.json()
    assert answer.status == 431 and body["error"]["code"] == "request_header_fields_too_large"
    many = {f"X-Many-{i}": "x" for i in range(200)}
    answer = await client.get("/v1/models", headers=bearer(keys["all"], **many))
    assert answer.status == 431


async def test_an_untrusted_key_never_reads_identities_not_even_to_refuse_them(
    door: Make,
) -> None:
    client, keys = await door(users="{a@x: [alice]}")
    odd = bearer(keys["all"], **{"X-OpenWebUI-User-Email": "x" * 1000})
    assert (await client.get("/v1/models", headers=odd)).status == 200
    trusted = bearer(keys["owui"], **{"X-OpenWebUI-User-Email": "x" * 1000})
    answer = await client.get("/v1/models", headers=trusted)
    assert answer.status == 400 and (await answer.json())["error"]["param"] == "user"


async def test_a_body_that_is_not_a_json_object_is_told_so(door: Make) -> None:
    client, keys = await door()
    for raw in (b"{", b"[1]", b"not json"):
        r = await client.post(
            "/v1/chat/completions",
            data=raw,
            headers=bearer(keys["all"], **{"Content-Type": "application/json"}),
        )
        assert r.status == 400
        error = (await r.json())["error"]
        assert "not a JSON object" in error["message"] and error["param"] == "model"
