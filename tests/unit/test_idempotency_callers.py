"""Idempotency-Key is scoped per caller and route (in-process, aiohttp test client): two API keys
that happen to send the same Idempotency-Key each get their own run, never the other's answer."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiohttp import ClientResponse

from hermes.gateway.runtime import RUNTIME
from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.stores.keys import KeyStore
from tests.unit.test_gateway_app import Echo, GatewayClient, client_for

SERVER_KEY = "Zq8#rT2!vL5@pW9$mN4^bX7&"
BODY = {"messages": [{"role": "user", "content": "what is the plan?"}]}


class Scripted(Echo):
    """Answers each model call with the next scripted text: a second run shows as a new text."""

    label = "test:scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = deque(replies)

    async def stream(self, messages: Sequence[Message], **_: Any) -> AsyncIterator[StreamEvent]:
        yield TextDelta(self.replies.popleft())
        yield Finish("stop")


async def ask(
    client: GatewayClient, key: str, path: str = "/v1/chat/completions", **body: Any
) -> ClientResponse:
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-1"}
    r = await client.post(path, json=body or BODY, headers=headers)
    assert r.status == 200, await r.text()
    return r


def text(body: dict[str, Any]) -> str:
    return str(body["choices"][0]["message"]["content"])


@pytest.fixture
async def two_keys(aiohttp_client: Any, store: ProfileStore) -> tuple[GatewayClient, str, str]:
    client = await client_for(
        aiohttp_client, store, Scripted("for alice", "for bob", "third"), API_SERVER_KEY=SERVER_KEY
    )
    with KeyStore.for_profile(store.get("default")) as keys:
        _, alice = keys.create("alice")
        _, bob = keys.create("bob")
    return client, alice, bob


async def test_two_named_keys_with_one_idempotency_key_each_get_their_own_answer(
    two_keys: tuple[GatewayClient, str, str],
) -> None:
    client, alice, bob = two_keys
    first = await ask(client, alice)
    other = await ask(client, bob)
    assert text(await first.json()) == "for alice" and text(await other.json()) == "for bob"
    assert "Idempotency-Replayed" not in other.headers
    again = await ask(client, alice)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert text(await again.json()) == "for alice"
    assert text(await (await ask(client, bob)).json()) == "for bob"  # bob's own replay


async def test_another_callers_body_under_the_same_key_is_not_a_conflict(
    two_keys: tuple[GatewayClient, str, str],
) -> None:
    client, alice, bob = two_keys
    await ask(client, alice)
    other = await ask(client, bob, messages=[{"role": "user", "content": "something else"}])
    assert text(await other.json()) == "for bob"


async def test_api_server_key_and_a_named_key_are_two_callers(
    two_keys: tuple[GatewayClient, str, str],
) -> None:
    client, alice, _ = two_keys
    assert text(await (await ask(client, SERVER_KEY)).json()) == "for alice"
    assert text(await (await ask(client, alice)).json()) == "for bob"
    assert (await ask(client, SERVER_KEY)).headers["Idempotency-Replayed"] == "true"


async def test_the_same_caller_on_another_route_runs_its_own_request(
    two_keys: tuple[GatewayClient, str, str],
) -> None:
    client, alice, _ = two_keys
    chat = await ask(client, alice)
    response = await ask(client, alice, "/v1/responses", input="what is the plan?")
    assert text(await chat.json()) == "for alice"
    assert "Idempotency-Replayed" not in response.headers
    assert (await response.json())["output"][0]["content"][0]["text"] == "for bob"


async def test_no_key_material_is_kept_in_the_cache(
    two_keys: tuple[GatewayClient, str, str],
) -> None:
    client, alice, bob = two_keys
    for key in (alice, bob, SERVER_KEY):
        await ask(client, key)
    scopes = list(client.app[RUNTIME].idempotency._entries)
    assert len(scopes) == 3
    assert not any(secret in scope for scope in scopes for secret in (alice, bob, SERVER_KEY))


async def test_a_keyless_gateway_still_replays(aiohttp_client: Any, store: ProfileStore) -> None:
    client = await client_for(aiohttp_client, store, Scripted("once"), API_SERVER_KEY="")
    first = await ask(client, "anything")
    again = await ask(client, "anything")
    assert text(await again.json()) == text(await first.json()) == "once"
    assert again.headers["Idempotency-Replayed"] == "true"
