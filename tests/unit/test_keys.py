"""Named API keys: the store (fake clock), the `hermes keys` commands (Typer's runner) and the
gateway's auth rule in-process (aiohttp test client)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hermes.errors import Conflict, InvalidRequest, NotFound
from hermes.profiles import ProfileStore
from hermes.stores.keys import TOUCH_INTERVAL, KeyStore
from tests.conftest import Cli
from tests.unit.test_gateway_app import Echo, client_for

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(tmp_path: Path, clock: Clock) -> Iterator[KeyStore]:
    with KeyStore(tmp_path / "keys.sqlite3", clock=clock) as store:
        yield store


# --- the store ---


def test_create_returns_a_high_entropy_key_once_and_lists_it(keys: KeyStore) -> None:
    record, key = keys.create("ci")
    assert key.startswith("hk_") and len(key) >= 40
    assert record.prefix == key[:10] and record.label == "ci"
    assert keys.check(key) is not None
    [listed] = keys.list()
    assert listed.label == "ci" and listed.status(0) == "active" and key not in repr(listed)


def test_only_a_hash_is_stored_in_an_owner_only_file(keys: KeyStore, tmp_path: Path) -> None:
    keys.create("a")
    _, key = keys.create("b")
    keys.close()  # checkpoints the WAL into the main file
    path = tmp_path / "keys.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for file in tmp_path.iterdir():
        assert key.encode() not in file.read_bytes()
        assert key[10:].encode() not in file.read_bytes()  # not even past the display prefix


def test_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    with KeyStore(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unknown_and_foreign_keys_are_refused(keys: KeyStore) -> None:
    _, key = keys.create("ci")
    for presented in ("", "hk_", key[:-1], key + "x", "sk-" + key[3:], key.upper()):
        assert keys.check(presented) is None, presented


def test_expiry_with_a_fake_clock(keys: KeyStore, clock: Clock) -> None:
    record, key = keys.create("temp", expires_days=2)
    assert record.expires_at == clock.now + 2 * DAY
    clock.now += 2 * DAY - 1
    assert keys.check(key) is not None
    clock.now += 1
    assert keys.check(key) is None
    assert keys.list()[0].status(clock.now) == "expired"


def test_expires_days_zero_is_expired_at_once(keys: KeyStore) -> None:
    _, key = keys.create("gone", expires_days=0)
    assert keys.check(key) is None


@pytest.mark.parametrize("days", [-1, 36501])
def test_expires_days_out_of_range(keys: KeyStore, days: int) -> None:
    with pytest.raises(InvalidRequest, match="between 0 and 36500"):
        keys.create("x", expires_days=days)


def test_revoke_refuses_the_key_and_keeps_the_row(keys: KeyStore, clock: Clock) -> None:
    _, key = keys.create("ci")
    clock.now += 5
    revoked = keys.revoke("ci")
    assert revoked.revoked_at == clock.now and keys.check(key) is None
    assert [r.status(clock.now) for r in keys.list()] == ["revoked"]
    assert keys.has_keys()  # revoking the last key must not open the gateway


def test_label_is_unique_among_active_keys_and_reusable_after_revoke(keys: KeyStore) -> None:
    _, old = keys.create("ci")
    with pytest.raises(Conflict, match="already labelled 'ci'; revoke it first"):
        keys.create("ci")
    keys.revoke("ci")
    _, new = keys.create("ci")
    assert keys.check(new) is not None and keys.check(old) is None
    assert [r.label for r in keys.list()] == ["ci", "ci"]


def test_revoke_errors_are_clear(keys: KeyStore) -> None:
    with pytest.raises(NotFound, match="no active key labelled 'nope'"):
        keys.revoke("nope")
    keys.create("ci")
    keys.revoke("ci")
    with pytest.raises(NotFound, match="'ci' is already revoked"):
        keys.revoke("ci")


@pytest.mark.parametrize("label", ["", "a b", "x" * 65, "ключ", "a/b", "a:b", "lab\n"])
def test_bad_labels_are_refused(keys: KeyStore, label: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid key label"):
        keys.create(label)


def test_good_labels(keys: KeyStore) -> None:
    for label in ("a", "CI.deploy_2-x", "x" * 64):
        keys.create(label)


def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "keys.sqlite3"
    statements: list[str] = []
    with KeyStore(path, clock=clock) as cli, KeyStore(path, clock=clock) as gateway:
        _, key = cli.create("ci")
        assert cli.list()[0].last_used_at is None
        gateway._require().set_trace_callback(statements.append)
        first = clock.now
        for _ in range(5):
            assert gateway.check(key) is not None
            clock.now += 1
        clock.now = first + TOUCH_INTERVAL
        assert gateway.check(key) is not None
        updates = [s for s in statements if s.startswith("UPDATE")]
        assert len(updates) == 2
        assert cli.list()[0].last_used_at == first + TOUCH_INTERVAL


def test_another_connection_sees_changes_from_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    with KeyStore(path) as cli, KeyStore(path) as gateway:
        assert not gateway.has_keys()
        _, key = cli.create("ci")
        assert gateway.has_keys() and gateway.check(key) is not None
        cli.revoke("ci")
        assert gateway.check(key) is None
        _, again = cli.create("ci")
        assert gateway.check(again) is not None


def test_a_held_write_lock_never_fails_a_check(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "keys.sqlite3"
    with KeyStore(path) as cli, KeyStore(path, clock=clock, busy_timeout_ms=10) as gateway:
        _, key = cli.create("ci")
        assert gateway.check(key) is not None
        cli._require().execute("BEGIN IMMEDIATE")  # e.g. a CLI mid-write
        try:
            clock.now += TOUCH_INTERVAL  # due for a last-used write, which cannot get the lock
            assert gateway.check(key) is not None
        finally:
            cli._require().execute("ROLLBACK")


def test_closed_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        KeyStore(tmp_path / "k.sqlite3").check("hk_x")


# --- the CLI ---


def test_cli_create_list_revoke(cli: Cli, home: Path) -> None:
    created = cli("keys", "create", "ci", "--expires-days", "7")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("hk_") and created.stdout.count("\n") == 1
    assert "will not be shown again" in created.stderr and key not in created.stderr
    table = cli("keys", "list")
    assert table.exit_code == 0 and "ci" in table.stdout and key[:10] + "…" in table.stdout
    assert key not in table.stdout
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert [(k["label"], k["status"]) for k in listed] == [("ci", "active")]
    assert listed[0]["expires_at"].endswith("Z") and listed[0]["revoked_at"] is None
    revoked = cli("keys", "revoke", "ci")
    assert revoked.exit_code == 0 and key not in revoked.stdout and "revoked" in revoked.stdout
    assert json.loads(cli("keys", "list", "--json").stdout)[0]["status"] == "revoked"
    path = home / "profiles" / "default" / "state" / "keys.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_keys_are_per_profile(cli: Cli, store: ProfileStore) -> None:
    assert cli("profile", "create", "alice").exit_code == 0
    assert cli("-p", "alice", "keys", "create", "ci").exit_code == 0
    assert json.loads(cli("keys", "list", "--json").stdout) == []
    assert len(json.loads(cli("-p", "alice", "keys", "list", "--json").stdout)) == 1


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("keys", "revoke", "nope"), 2, "no active key labelled 'nope'"),
        (("keys", "create", "a b"), 2, "invalid key label 'a b'"),
        (("keys", "create", "x", "--expires-days", "-3"), 2, "between 0 and 36500"),
        (("-p", "ghost", "keys", "list"), 2, "no profile named 'ghost'"),
    ],
)
def test_cli_errors_are_one_line(cli: Cli, args: tuple[str, ...], code: int, text: str) -> None:
    result = cli(*args)
    assert result.exit_code == code and text in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_cli_duplicate_label_is_a_conflict(cli: Cli) -> None:
    cli("keys", "create", "ci")
    result = cli("keys", "create", "ci")
    assert result.exit_code == 1 and "revoke it first" in result.stderr


# --- the gateway's auth rule, in-process ---

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def profile_keys(store: ProfileStore) -> KeyStore:
    return KeyStore.for_profile(store.get("default"))


async def test_named_key_works_beside_api_server_key(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="k" * 32)
    with profile_keys(store) as keys:
        _, key = keys.create("ci")
    for headers in (
        {"Authorization": f"Bearer {key}"},
        {"X-API-Key": key},
        {"X-API-Key": "k" * 32},
    ):
        assert (await client.get("/v1/models", headers=headers)).status == 200, headers
        r = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert r.status == 200, headers
    with profile_keys(store) as keys:
        keys.revoke("ci")
    r = await client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert r.status == 401 and (await r.json())["error"]["code"] == "invalid_api_key"
    assert (await client.get("/v1/models", headers={"X-API-Key": "k" * 32})).status == 200


async def test_without_api_server_key_a_named_key_closes_the_gateway(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client = await client_for(aiohttp_client, store, Echo(), API_SERVER_KEY="")
    assert (await client.get("/v1/models")).status == 200
    with profile_keys(store) as keys:
        _, key = keys.create("ci")
    assert (await client.get("/v1/models")).status == 401
    assert (await client.get("/v1/models", headers={"X-API-Key": "wrong"})).status == 401
    assert (await client.get("/v1/models", headers={"X-API-Key": key})).status == 200
    assert (await client.get("/health")).status == 200
    with profile_keys(store) as keys:
        keys.revoke("ci")
    assert (await client.get("/v1/models", headers={"X-API-Key": key})).status == 401
    assert (await client.get("/v1/models")).status == 401  # stays closed once keys exist
