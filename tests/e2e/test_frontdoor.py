"""The front door end to end: `hermes up` with three profiles and the front door, the fake
upstream, the openai SDK as the client. One supervisor serves the whole module; the test that
kills the front door runs last."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from tests.e2e.gateway_process import free_port
from tests.e2e.supervisor_process import (
    add_profile,
    disable_default,
    hermes,
    status,
    supervisor,
    wait_for,
)
from tests.fakes.openai_upstream import FakeOpenAI

PROFILES = ("alice", "bob", "research")
USERS = "{alice@example.com: [alice, research], bob@example.com: [bob, research]}"
OWUI_EMAIL = "X-OpenWebUI-User-Email"


@dataclass
class Door:
    home: Path
    port: int
    keys: dict[str, str]
    upstream: FakeOpenAI

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, key: str, **headers: str) -> OpenAI:
        return OpenAI(
            base_url=self.url, api_key=self.keys[key], max_retries=0, default_headers=headers
        )

    def get(self, path: str, key: str, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.keys[key]}", **headers}
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers=auth, timeout=30)


def _profiles(home: Path, upstream: FakeOpenAI) -> None:
    store = ProfileStore(home)
    for name in PROFILES:
        store.create(name)
        profile = store.get(name)
        values = {
            "API_SERVER_PORT": str(free_port()),
            "model.provider": "openai",
            "model.base_url": upstream.base_url,
            "model.name": "gpt-4o-mini",
            "OPENAI_API_KEY": "sk-test-0000000000",
        }
        for key, value in values.items():
            set_value(store, profile, key, value)


def _key(home: Path, label: str, *args: str) -> str:
    made = hermes(home, "frontdoor", "keys", "create", label, *args)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    home = tmp_path_factory.mktemp("frontdoor") / "home"
    port = free_port()
    with FakeOpenAI.in_thread() as upstream:
        disable_default(home)
        _profiles(home, upstream)
        for key, value in (
            ("frontdoor.enabled", "true"),
            ("frontdoor.port", str(port)),
            ("frontdoor.users", USERS),
        ):
            assert hermes(home, "config", "set", "--global", key, value).returncode == 0
        keys = {
            "all": _key(home, "all", "--all"),
            "alice": _key(home, "alice-only", "--profiles", "alice"),
            "owui": _key(home, "owui", "--all", "--trust-identity"),
            "expired": _key(home, "expired", "--all", "--expires-days", "0"),
            "revoked": _key(home, "revoked", "--all"),
        }
        assert hermes(home, "frontdoor", "keys", "revoke", "revoked").returncode == 0
        with supervisor(home):
            wait_for(lambda: (status(home).get("frontdoor") or {}).get("state") == "running")
            found = Door(home, port, keys, upstream)
            wait_for(lambda: len(found.get("/v1/models", "all").json()["data"]) == 3)
            yield found


@pytest.fixture
def fresh(door: Door) -> Iterator[Door]:
    door.upstream.reset()
    yield door
    assert door.upstream.pending == 0, "a scripted turn was never used"


def test_status_names_the_front_door_with_its_port_and_url(door: Door) -> None:
    entry = status(door.home)["frontdoor"]
    assert entry["name"] == "frontdoor" and entry["state"] == "running"
    assert entry["port"] == door.port and entry["url"] == door.url
    table = hermes(door.home, "status").stdout
    assert "(front door)" in table


def test_models_are_filtered_per_key_with_metadata(door: Door) -> None:
    every = {m.id for m in door.client("all").models.list()}
    assert every == set(PROFILES)
    assert [m.id for m in door.client("alice").models.list()] == ["alice"]
    card = door.get("/v1/models", "alice").json()["data"][0]
    assert card["owned_by"] == "hermes" and card["context_length"] == 128000
    assert card["capabilities"] == {"images": True, "tools": True, "reasoning": False}
    assert door.get("/models", "alice").json()["data"][0]["id"] == "alice"


def test_chat_is_routed_by_model_streamed_and_not(fresh: Door) -> None:
    fresh.upstream.queue_text("hi from bob")
    fresh.upstream.queue_text("streamed hello", chunks=["stream", "ed ", "hello"])
    client = fresh.client("all")
    reply = client.chat.completions.create(
        model="bob", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "hi from bob" and reply.model == "bob"
    stream = client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "streamed hello" and len([p for p in pieces if p]) >= 3
    # The gateway saw the front door's own credential, never the client's key.
    sent = fresh.upstream.requests[-1][1]
    assert fresh.keys["all"] not in json.dumps(sent)


def test_foreign_and_unknown_models_are_404_without_naming_others(fresh: Door) -> None:
    client = fresh.client("alice")
    for name in ("bob", "nobody", "../alice"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model=name, messages=[{"role": "user", "content": "x"}])
        error = caught.value.body
        assert isinstance(error, dict) and error["code"] == "model_not_found"
        assert "research" not in json.dumps(error) and "alice" not in error["message"].replace(
            name, ""
        )
    # The header names a profile too, and is held to the same rule.
    answer = fresh.get("/api/v1/chat/sessions?username=u", "alice", **{"X-Hermes-Profile": "bob"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"


def test_expired_revoked_and_made_up_keys_are_refused(door: Door) -> None:
    for key in ("expired", "revoked"):
        with pytest.raises(openai.AuthenticationError):
            door.client(key).models.list()
    bad = httpx.get(f"{door.url}/models", headers={"Authorization": "Bearer hfk_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_api_key"
    # A gateway's own key does not open the front door either.
    assert httpx.get(f"{door.url}/models").status_code == 401


def test_responses_chain_and_get_delete_by_id_reach_the_profile_that_made_them(
    fresh: Door,
) -> None:
    fresh.upstream.queue_text("first")
    fresh.upstream.queue_text("second")
    client = fresh.client("all")
    first = client.responses.create(model="research", input="remember 7")
    second = client.responses.create(
        model="research", input="what number?", previous_response_id=first.id
    )
    assert second.output_text == "second"
    assert "remember 7" in json.dumps(fresh.upstream.requests[-1][0])  # the chain's history
    assert client.responses.retrieve(first.id).output_text == "first"
    # Another key does not learn the id exists.
    with pytest.raises(openai.NotFoundError):
        fresh.client("alice").responses.retrieve(first.id)
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)


def test_streamed_responses_are_routable_by_id(fresh: Door) -> None:
    fresh.upstream.queue_text("streamed", chunks=["str", "eamed"])
    client = fresh.client("all")
    events = list(client.responses.create(model="bob", input="hi", stream=True))
    created = next(e for e in events if e.type == "response.created")
    assert client.responses.retrieve(created.response.id).output_text == "streamed"


def test_a_background_response_is_followed_and_cancelled_through_the_front_door(
    fresh: Door,
) -> None:
    fresh.upstream.queue_stall(30, mid_stream=True)
    client = fresh.client("all")
    run = client.responses.create(model="bob", input="wait", background=True)
    assert client.responses.retrieve(run.id).status in ("queued", "in_progress")
    with pytest.raises(openai.NotFoundError):
        fresh.client("alice").responses.cancel(run.id)  # another key does not reach it
    assert client.responses.cancel(run.id).status == "cancelled"
    events = list(client.responses.retrieve(run.id, stream=True, starting_after=-1))
    assert events[0].type == "response.created"


def test_the_session_api_through_the_front_door(fresh: Door) -> None:
    fresh.upstream.queue_text("session reply")
    headers = {"Authorization": f"Bearer {fresh.keys['all']}", "X-Hermes-Profile": "bob"}
    base = f"http://127.0.0.1:{fresh.port}/api/v1/chat"
    made = httpx.post(f"{base}/new_session", json={"username": "u1"}, headers=headers)
    session = made.json()["session_id"]
    turn = {"username": "u1", "session_id": session, "message": "hi", "stream": False}
    answer = httpx.post(base, json=turn, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    listed = httpx.get(f"{base}/sessions", params={"username": "u1"}, headers=headers)
    assert [s["session_id"] for s in listed.json()["sessions"]] == [session]


def test_a_trusted_user_mapped_to_alice_cannot_reach_bob(fresh: Door) -> None:
    alice = fresh.client("owui", **{OWUI_EMAIL: "Alice@Example.com"})
    assert {m.id for m in alice.models.list()} == {"alice", "research"}
    with pytest.raises(openai.NotFoundError):
        alice.chat.completions.create(model="bob", messages=[{"role": "user", "content": "x"}])
    stranger = fresh.client("owui", **{OWUI_EMAIL: "eve@example.com"})
    assert list(stranger.models.list()) == []
    # The `user` field is an identity on a trusted key too.
    nobody = fresh.client("owui")
    with pytest.raises(openai.NotFoundError):
        nobody.chat.completions.create(
            model="bob", user="alice@example.com", messages=[{"role": "user", "content": "x"}]
        )


def test_identity_headers_on_an_untrusted_key_have_no_effect(fresh: Door) -> None:
    fresh.upstream.queue_text("ok")
    client = fresh.client("alice", **{OWUI_EMAIL: "bob@example.com", "X-Hermes-User": "bob"})
    assert [m.id for m in client.models.list()] == ["alice"]
    client.chat.completions.create(model="alice", messages=[{"role": "user", "content": "x"}])
    user_dirs = fresh.home / "profiles" / "alice" / "memory" / "users"
    assert not user_dirs.exists()  # no per-user scope was set up for a header it ignored


def test_per_user_memory_in_a_shared_profile(fresh: Door) -> None:
    memory = fresh.home / "profiles" / "research" / "memory" / "users"
    (memory / "alice@example.com").mkdir(parents=True)
    (memory / "alice@example.com" / "USER.md").write_text("- Alice likes tea\n")
    (memory / "bob@example.com").mkdir(parents=True)
    (memory / "bob@example.com" / "USER.md").write_text("- Bob likes coffee\n")

    def system_prompt(body: dict[str, Any]) -> str:
        return str(body["messages"][0]["content"])

    fresh.upstream.responder = lambda body: (
        "tea"
        if "likes tea" in system_prompt(body)
        else "coffee"
        if "likes coffee" in system_prompt(body)
        else "nothing"
    )
    said = {}
    for user in ("alice@example.com", "bob@example.com"):
        client = fresh.client("owui", **{OWUI_EMAIL: user})
        reply = client.chat.completions.create(
            model="research", messages=[{"role": "user", "content": "what do I like?"}]
        )
        said[user] = reply.choices[0].message.content
    assert said == {"alice@example.com": "tea", "bob@example.com": "coffee"}


def test_two_keys_on_one_profile_never_share_files_conversations_or_sessions(
    fresh: Door,
) -> None:
    """Two front-door keys reach a gateway with one credential: the gateway must still tell
    them apart (found by a hostile run: one key listed and read the other's uploads)."""
    fresh.upstream.responder = lambda body: json.dumps(body["messages"][1:])
    on_alice = {"X-Hermes-Profile": "alice"}  # /v1/files has no `model`
    mine, theirs = fresh.client("all", **on_alice), fresh.client("alice", **on_alice)
    secret = mine.files.create(file=("secret.txt", b"the all key's secret"), purpose="user_data")
    assert [f.id for f in theirs.files.list()] == []
    with pytest.raises(openai.NotFoundError):
        theirs.files.content(secret.id)
    mine.responses.create(model="alice", input="the all key's plan", conversation="c")
    other = theirs.responses.create(model="alice", input="hello", conversation="c")
    assert "plan" not in other.output_text
    for key in ("all", "alice"):  # each key names the same username "sam"
        headers = {"Authorization": f"Bearer {fresh.keys[key]}", "X-Hermes-Profile": "alice"}
        base = f"http://127.0.0.1:{fresh.port}/api/v1/chat"
        made = httpx.post(f"{base}/new_session", json={"username": "sam"}, headers=headers)
        assert made.status_code == 200, made.text
        listed = httpx.get(f"{base}/sessions", params={"username": "sam"}, headers=headers)
        assert [s["session_id"] for s in listed.json()["sessions"]] == [made.json()["session_id"]]
    # Nor does an untrusted key reach a trusted user's sessions by naming them.
    owui = {"Authorization": f"Bearer {fresh.keys['owui']}", OWUI_EMAIL: "alice@example.com"}
    base = f"http://127.0.0.1:{fresh.port}/api/v1/chat"
    httpx.post(f"{base}/new_session", json={}, headers={**owui, "X-Hermes-Profile": "alice"})
    headers = {"Authorization": f"Bearer {fresh.keys['all']}", "X-Hermes-Profile": "alice"}
    named = {"username": "alice@example.com"}
    listed = httpx.get(f"{base}/sessions", params=named, headers=headers)
    assert listed.json()["sessions"] == []


def test_keys_listing_shows_scope_and_status(door: Door) -> None:
    listed = hermes(door.home, "frontdoor", "keys", "list", "--json")
    rows = {r["label"]: r for r in json.loads(listed.stdout)}
    assert rows["alice-only"]["profiles"] == "alice" and rows["owui"]["trust_identity"] is True
    assert rows["expired"]["status"] == "expired" and rows["revoked"]["status"] == "revoked"
    assert all(r["prefix"].startswith("hfk_") for r in rows.values())


def test_reload_starts_moves_and_stops_the_front_door(home: Path) -> None:
    disable_default(home)
    add_profile(home, "solo")
    port = free_port()
    with supervisor(home):
        assert status(home)["frontdoor"] is None
        for key, value in (("frontdoor.enabled", "true"), ("frontdoor.port", str(port))):
            assert hermes(home, "config", "set", "--global", key, value).returncode == 0
        assert "started: @frontdoor" in hermes(home, "reload").stdout
        entry = status(home)["frontdoor"]
        assert entry["state"] == "running" and entry["port"] == port
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["frontdoor"] is True
        hermes(home, "config", "set", "--global", "frontdoor.enabled", "false")
        assert "stopped: @frontdoor" in hermes(home, "reload").stdout
        assert status(home)["frontdoor"] is None
    # With no supervisor, status still says where the front door would be.
    hermes(home, "config", "set", "--global", "frontdoor.enabled", "true")
    stopped = status(home)["frontdoor"]
    assert stopped["state"] == "stopped" and stopped["url"] == f"http://127.0.0.1:{port}/v1"


def test_the_supervisor_restarts_the_front_door_after_kill_9(door: Door) -> None:
    before = status(door.home)["frontdoor"]
    os.kill(before["pid"], signal.SIGKILL)

    def back() -> dict[str, Any] | None:
        entry = status(door.home)["frontdoor"]
        fine = entry["state"] == "running" and entry["pid"] not in (None, before["pid"])
        return entry if fine else None

    after = wait_for(back, timeout=60)
    assert after["restarts"] == before["restarts"] + 1
    wait_for(lambda: len(door.get("/v1/models", "all").json()["data"]) == 3)
