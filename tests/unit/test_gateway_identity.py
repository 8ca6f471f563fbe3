"""The gateway's side of the front door: its credential, and per-user scope (memory, sessions)
from the front door's X-Hermes-User or a direct caller's `user` field, never from anyone else's
header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.stores.frontdoor_credential import credential_for, publish
from tests.unit.test_gateway_app import Echo, client_for

KEY = "k" * 32
FULL = {"model.provider": "openai", "model.name": "gpt-4o"}  # the full prompt, memory included
CREDENTIAL = credential_for(b"x" * 64, "default")


class SystemEcho(Echo):
    """Answers with the system prompt it was given: what the profile told the model."""

    async def stream(self, messages: Any, **_: Any) -> AsyncIterator[StreamEvent]:
        first: Message = messages[0]
        yield TextDelta(first.content or "")
        yield Finish("stop")


def _users(store: ProfileStore) -> Path:
    memory = store.get("default").memory_dir / "users"
    for user, fact in (("alice@x", "Alice likes tea"), ("bob@x", "Bob likes coffee")):
        (memory / user).mkdir(parents=True)
        (memory / user / "USER.md").write_text(f"- {fact}\n")
    return memory


async def _said(client: Any, headers: dict[str, str], **body: Any) -> str:
    payload = {"messages": [{"role": "user", "content": "hi"}], **body}
    answer = await client.post("/v1/chat/completions", json=payload, headers=headers)
    assert answer.status == 200, await answer.text()
    return str((await answer.json())["choices"][0]["message"]["content"])


async def test_the_front_doors_credential_opens_the_gateway_and_names_the_user(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, SystemEcho(), API_SERVER_KEY=KEY, **FULL)
    _users(store)
    door = {"Authorization": f"Bearer {CREDENTIAL}", "X-Hermes-User": "Alice@X"}
    assert (await client.get("/v1/models", headers=door)).status == 401  # not published yet
    publish(store.get("default"), CREDENTIAL)
    prompt = await _said(client, door, user="bob@x")  # the front door's word, not the field's
    assert "Alice likes tea" in prompt and "Bob likes coffee" not in prompt
    forged = {"Authorization": "Bearer hfd_" + "0" * 64, "X-Hermes-User": "alice@x"}
    assert (await client.get("/v1/models", headers=forged)).status == 401


async def test_another_caller_cannot_name_a_user_by_header(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, SystemEcho(), API_SERVER_KEY=KEY, **FULL)
    _users(store)
    prompt = await _said(client, {"Authorization": f"Bearer {KEY}", "X-Hermes-User": "alice@x"})
    assert "likes" not in prompt


async def test_a_direct_callers_user_field_scopes_memory(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, SystemEcho(), API_SERVER_KEY=KEY, **FULL)
    _users(store)
    headers = {"Authorization": f"Bearer {KEY}"}
    assert "Bob likes coffee" in await _said(client, headers, user="bob@x")
    hostile = await _said(client, headers, user="../../bob@x")
    assert "likes" not in hostile  # its own (empty) folder, never a path it names
    assert not (store.home / "bob@x").exists()


async def test_the_front_doors_user_owns_the_sessions_whatever_username_is_sent(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY=KEY)
    publish(store.get("default"), CREDENTIAL)
    as_alice = {"Authorization": f"Bearer {CREDENTIAL}", "X-Hermes-User": "alice@x"}
    made = await client.post(
        "/api/v1/chat/new_session", json={"username": "bob@x"}, headers=as_alice
    )
    session = (await made.json())["session_id"]
    direct = {"Authorization": f"Bearer {KEY}"}
    as_bob = await client.get("/api/v1/chat/sessions?username=bob@x", headers=direct)
    assert (await as_bob.json())["total"] == 0
    mine = await client.get("/api/v1/chat/sessions?username=ignored", headers=as_alice)
    assert [s["session_id"] for s in (await mine.json())["sessions"]] == [session]


async def test_the_memory_tool_keeps_each_users_facts_apart(tmp_path: Path) -> None:
    from hermes.config.schema import ToolsConfig
    from hermes.memory.users import current_user
    from hermes.tools import ToolContext
    from hermes.tools.memory import memory

    ctx = ToolContext(tmp_path, ToolsConfig(), "p", frozenset(), {}, memory_dir=tmp_path / "m")
    token = current_user.set("alice@x")
    try:
        await memory.fn(ctx, action="add", content="likes tea", file="user")
        assert "likes tea" in str(await memory.fn(ctx, action="list", file="user"))
    finally:
        current_user.reset(token)
    assert "empty" in str(await memory.fn(ctx, action="list", file="user"))  # no user: its own
    assert (tmp_path / "m" / "users" / "alice@x" / "USER.md").read_text().count("likes tea") == 1
    await memory.fn(ctx, action="add", content="shared fact")
    assert "shared fact" in (tmp_path / "m" / "MEMORY.md").read_text()


class UserTurns(Echo):
    """Answers with every user message it was given, joined: the history the model saw."""

    async def stream(self, messages: Any, **_: Any) -> AsyncIterator[StreamEvent]:
        said = [m.content for m in messages if m.role == "user"]
        yield TextDelta(" | ".join(str(s) for s in said))
        yield Finish("stop")


async def test_named_conversations_are_per_user(aiohttp_client: Any, store: ProfileStore) -> None:
    client = await client_for(aiohttp_client, store, UserTurns(), API_SERVER_KEY=KEY)
    publish(store.get("default"), CREDENTIAL)

    async def turn(user: str, text: str) -> str:
        headers = {"Authorization": f"Bearer {CREDENTIAL}", "X-Hermes-User": user}
        body = {"model": "m", "input": text, "conversation": "chat"}
        answer = await client.post("/v1/responses", json=body, headers=headers)
        assert answer.status == 200, await answer.text()
        data = await answer.json()
        return str(data["output"][-1]["content"][0]["text"])

    assert await turn("alice@x", "alice's secret") == "alice's secret"
    assert await turn("bob@x", "hello") == "hello"  # not alice's history
    assert await turn("alice@x", "again") == "alice's secret | again"
