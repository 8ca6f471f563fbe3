"""Named API keys end to end: the real `hermes keys` CLI against a real, never restarted gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import Run
from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def up() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.in_thread() as fake:
        yield fake


def create_key(run: Run, profile: str, label: str, *args: str) -> str:
    result = run("-p", profile, "keys", "create", label, *args, check=True)
    assert "will not be shown again" in result.stderr
    return result.stdout.strip()


def models(gw: Gateway, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{gw.base_url}/models", headers=headers, timeout=10)


def assert_refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"


def test_create_use_revoke_without_restart(run: Run, home: Path, up: FakeOpenAI) -> None:
    server_key = make_profile(home, "alice", up.base_url)
    with run_gateway(home, "alice") as gw:
        key = create_key(run, "alice", "ci")  # created while the gateway runs
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            assert models(gw, headers).status_code == 200, headers
            up.queue_text("hello there")
            r = httpx.post(f"{gw.base_url}/chat/completions", headers=headers, json=CHAT)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
        up.queue_text("from the SDK")
        client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="alice", messages=CHAT["messages"])  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "from the SDK"

        [listed] = json.loads(run("-p", "alice", "keys", "list", "--json", check=True).stdout)
        assert listed["status"] == "active" and listed["last_used_at"] is not None

        run("-p", "alice", "keys", "revoke", "ci", check=True)
        assert_refused(models(gw, {"Authorization": f"Bearer {key}"}))
        assert_refused(models(gw, {"X-API-Key": key}))
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        assert models(gw, {"Authorization": f"Bearer {server_key}"}).status_code == 200
        assert gw.proc.poll() is None  # the same process throughout
    assert key not in gw.log()


def test_expired_key_is_refused(run: Run, home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url)
    with run_gateway(home, "alice") as gw:
        key = create_key(run, "alice", "old", "--expires-days", "0")
        assert_refused(models(gw, {"Authorization": f"Bearer {key}"}))
        listed = json.loads(run("-p", "alice", "keys", "list", "--json", check=True).stdout)
        assert listed[0]["status"] == "expired"


def test_a_named_key_closes_a_gateway_without_api_server_key(
    run: Run, home: Path, up: FakeOpenAI
) -> None:
    make_profile(home, "bob", up.base_url, API_SERVER_KEY="")
    with run_gateway(home, "bob") as gw:
        assert models(gw, {}).status_code == 200  # loopback, no key of any kind: open
        key = create_key(run, "bob", "laptop")
        assert_refused(models(gw, {}))
        assert_refused(models(gw, {"Authorization": "Bearer not-a-key"}))
        assert models(gw, {"X-API-Key": key}).status_code == 200
        assert httpx.get(f"{gw.url}/health").status_code == 200
        run("-p", "bob", "keys", "revoke", "laptop", check=True)
        assert_refused(models(gw, {"X-API-Key": key}))
        assert_refused(models(gw, {}))  # revoking the last key does not reopen it


def test_stored_responses_and_conversations_are_each_named_keys_own(
    run: Run, home: Path, up: FakeOpenAI
) -> None:
    """Two clients of one profile (Open WebUI and a script, each with its own key) never see
    each other's stored responses, nor share a conversation by picking the same name; the
    profile's own key sees every one."""
    server_key = make_profile(home, "alice", up.base_url)
    with run_gateway(home, "alice") as gw:
        a = openai.OpenAI(
            base_url=gw.base_url, api_key=create_key(run, "alice", "a"), max_retries=0
        )
        b = openai.OpenAI(
            base_url=gw.base_url, api_key=create_key(run, "alice", "b"), max_retries=0
        )
        owner = openai.OpenAI(base_url=gw.base_url, api_key=server_key, max_retries=0)
        up.queue_text("A's secret plan")
        first = a.responses.create(model="alice", input="plan", conversation="trip")
        with pytest.raises(openai.NotFoundError):
            b.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            b.responses.create(model="alice", input="more", previous_response_id=first.id)
        with pytest.raises(openai.NotFoundError):
            b.responses.delete(first.id)
        up.queue_text("B starts afresh")
        b.responses.create(model="alice", input="hello", conversation="trip")
        assert "A's secret plan" not in json.dumps(up.requests[-1][0]["messages"])
        up.queue_text("A goes on")
        a.responses.create(model="alice", input="go on", conversation="trip")
        assert "A's secret plan" in json.dumps(up.requests[-1][0]["messages"])
        assert "B starts afresh" not in json.dumps(up.requests[-1][0]["messages"])
        assert owner.responses.retrieve(first.id).output_text == "A's secret plan"
        a.responses.delete(first.id)
