"""Gateway building blocks in isolation: settings, exposure rules, markers, idempotency."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from hermes.errors import ConfigError, Conflict
from hermes.gateway.idempotency import IdempotencyCache, Recorded
from hermes.gateway.progress import inline_marker, strip_markers
from hermes.gateway.settings import load, weak_key
from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from hermes.profiles.store import new_api_key
from hermes.stores.keys import KEY_PREFIX
from hermes.wire import fastjson


def test_settings_precedence_env_over_dotenv_over_config(store: ProfileStore) -> None:
    store.create("alice")
    profile = store.get("alice")
    set_value(store, profile, "api_server.tool_progress", "off")
    set_value(store, profile, "API_SERVER_TOOL_PROGRESS", "event")
    loaded = load(profile, {})
    assert loaded.settings.tool_progress == "event"
    assert loaded.settings.model_name == "alice" and loaded.settings.port == 8643
    loaded = load(profile, {"API_SERVER_TOOL_PROGRESS": "inline", "API_SERVER_PORT": "9001"})
    assert loaded.settings.tool_progress == "inline" and loaded.settings.port == 9001
    assert load(store.get("default"), {}).settings.model_name == "hermes-agent"


def test_provider_keys_come_from_the_profile_env_first(store: ProfileStore) -> None:
    profile = store.get("default")
    set_value(store, profile, "OPENAI_API_KEY", "sk-profile-key-123456")
    loaded = load(profile, {"OPENAI_API_KEY": "sk-shell-key-999999"})
    assert loaded.env["OPENAI_API_KEY"] == "sk-profile-key-123456"


def test_disabled_profile_refuses_to_start(store: ProfileStore) -> None:
    profile = store.get("default")
    set_value(store, profile, "API_SERVER_ENABLED", "false")
    with pytest.raises(ConfigError, match="config set API_SERVER_ENABLED true"):
        load(profile, {})


@pytest.mark.parametrize("key", [None, "short", "changeme", "placeholder"])
def test_non_loopback_needs_a_real_key(store: ProfileStore, key: str | None) -> None:
    profile = store.get("default")
    env = {"API_SERVER_KEY": key} if key else {}
    if key is None:
        set_value(store, profile, "API_SERVER_KEY", "")  # no key at all
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0"):
        load(profile, env, host="0.0.0.0")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("Change-Me", "a placeholder"),
        ("YOUR_API_KEY_HERE", "a placeholder"),
        ("sk-example-0123456789abcdef", "a placeholder"),
        ("k3Y-9f!Qz", "shorter than 16 characters"),
        (" " * 20, "white space"),
        ("Zq8#rT2!vL5@ pW9$", "white space"),
        ("a" * 16, "fewer than 8 different characters"),
        ("abababababababababab", "fewer than 8 different characters"),
        ("Zq8#rT2!Zq8#rT2!Zq8#rT2!", "repeated or sequential"),
        ("0123456789abcdef", "repeated or sequential"),
        ("abcdefghijklmnopqrstu", "repeated or sequential"),
    ],
)
def test_a_weak_key_is_refused_beyond_loopback_with_the_fix(
    store: ProfileStore, key: str, reason: str
) -> None:
    profile = store.get("default")
    with pytest.raises(ConfigError) as refused:
        load(profile, {"API_SERVER_KEY": key, "API_SERVER_HOST": "0.0.0.0"})
    message = refused.value.message
    assert "weak API key (" in message and reason in message and "\n" not in message
    assert "hermes -p default config set API_SERVER_KEY" in message and key not in message
    assert load(profile, {"API_SERVER_KEY": key}).settings.key == key  # loopback: as before


def test_keys_hermes_generates_always_pass() -> None:
    for _ in range(2000):
        assert weak_key(new_api_key()) is None
        assert weak_key(KEY_PREFIX + secrets.token_urlsafe(32)) is None
    assert weak_key("Tr0ub4dor&3-horse-Battery") is None  # a person's long key may pass too


def test_non_loopback_with_a_real_key_and_loopback_without(store: ProfileStore) -> None:
    profile = store.get("default")
    assert load(profile, {}, host="0.0.0.0").settings.host == "0.0.0.0"
    set_value(store, profile, "API_SERVER_KEY", "")
    assert load(profile, {}, host="127.0.0.1").settings.key is None
    assert load(profile, {}, host="::1").settings.key is None


def test_markers_round_trip() -> None:
    emitted = "Let me look." + inline_marker("💻 ls -la", after_text=True) + "Two files."
    assert emitted == "Let me look.\n\n`💻 ls -la`\n\nTwo files."
    assert strip_markers(emitted) == "Let me look.\n\nTwo files."
    many = inline_marker("🔍 python docs", False) + inline_marker("🌐 example.com", False) + "ok"
    assert strip_markers(many) == "ok"
    untouched = "Use `ls -la` to list, and `💻` is an emoji."
    assert strip_markers(untouched) == untouched


async def test_idempotency_replays_shares_and_conflicts() -> None:
    cache = IdempotencyCache()
    runs = 0

    async def produce() -> Recorded:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return Recorded(200, "application/json", b"{}")

    fp = cache.fingerprint({"body": 1})
    results = await asyncio.gather(*(cache.run("k", fp, produce) for _ in range(3)))
    assert runs == 1
    assert sorted(replayed for _, replayed in results) == [False, True, True]
    with pytest.raises(Conflict):
        await cache.run("k", cache.fingerprint({"body": 2}), produce)


async def test_idempotency_expires_and_forgets_failures() -> None:
    now = [0.0]
    cache = IdempotencyCache(ttl=300, clock=lambda: now[0])
    fp = cache.fingerprint("x")

    async def fail() -> Recorded:
        raise RuntimeError("boom")

    async def ok() -> Recorded:
        return Recorded(200, "application/json", b"1")

    with pytest.raises(RuntimeError):
        await cache.run("k", fp, fail)
    assert (await cache.run("k", fp, ok))[1] is False  # a failure is not remembered
    assert (await cache.run("k", fp, ok))[1] is True
    now[0] = 301
    assert (await cache.run("k", fp, ok))[1] is False  # expired


def test_idempotency_fingerprints_the_parsed_body_not_its_spelling() -> None:
    """A client re-serialising its retry (other spacing, key order, escapes) sends the same
    request; another value is another request."""
    first = fastjson.loads(rb'{"messages": [{"role": "user", "content": "caf\u00e9"}], "n": 1}')
    again = fastjson.loads(
        '{\n  "n":1,\n  "messages":[ {"content":"café","role":"user"} ]\n}'.encode()
    )
    other = fastjson.loads(b'{"messages": [{"role": "user", "content": "cafe"}], "n": 1}')
    fingerprint = IdempotencyCache.fingerprint
    assert fingerprint(first) == fingerprint(again) != fingerprint(other)
    assert fingerprint([1, 2]) != fingerprint([2, 1])  # array order is meaning


async def test_idempotency_is_bounded() -> None:
    cache = IdempotencyCache(max_entries=3)

    async def ok() -> Recorded:
        return Recorded(200, "application/json", b"x")

    for i in range(10):
        await cache.run(f"k{i}", "fp", ok)
    assert len(cache._entries) == 3


def test_profile_fixture_paths(home: Path) -> None:  # keeps `home` import honest for mypy
    assert not (home / "profiles").exists()
