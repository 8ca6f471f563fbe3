"""ResponseStore: round trips, conversations, LRU eviction and repair, persistence, file modes,
concurrency, corrupt rows, and crash safety under SIGKILL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import hermes
from hermes.errors import Conflict
from hermes.messages import Message, ToolCall, message_from_dict, message_to_dict
from hermes.stores.responses import ResponseStore, StoredResponse


class FakeClock:
    """Every reading is one second later, so LRU order is exactly the order of uses."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def stored(
    rid: str,
    *,
    conversation: str | None = None,
    created_at: int = 1_700_000_000,
    history: tuple[Message, ...] = (Message("user", "hi"), Message("assistant", "hello")),
    previous: str | None = None,
) -> StoredResponse:
    return StoredResponse(
        id=rid,
        created_at=created_at,
        conversation=conversation,
        previous_response_id=previous,
        instructions="be brief",
        history=history,
        response={"id": rid, "object": "response", "output": [{"type": "message"}]},
    )


@pytest.fixture
async def responses(tmp_path: Path) -> AsyncIterator[ResponseStore]:
    async with ResponseStore(tmp_path / "responses.db", clock=FakeClock()) as store:
        yield store


TOOL_HISTORY = (
    Message("user", "What's the weather in Paris? ünïcode ✓"),
    Message(
        "assistant",
        None,
        tool_calls=(
            ToolCall("call_1", "weather", '{"city": "Paris"}'),
            ToolCall("call_2", "clock", "{}"),
        ),
    ),
    Message("tool", '{"temp": 21}', tool_call_id="call_1", name="weather"),
    Message("tool", "", tool_call_id="call_2", name="clock"),
    Message("assistant", "21 °C and sunny."),
)


def test_message_dict_is_compact_and_round_trips() -> None:
    assert message_to_dict(Message("user", "hi")) == {"role": "user", "content": "hi"}
    assert message_to_dict(TOOL_HISTORY[1]) == {
        "role": "assistant",
        "tool_calls": [
            {"id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'},
            {"id": "call_2", "name": "clock", "arguments": "{}"},
        ],
    }
    for m in (*TOOL_HISTORY, Message("assistant", ""), Message("system", None, name="")):
        assert message_from_dict(json.loads(json.dumps(message_to_dict(m)))) == m
    with pytest.raises(ValueError):
        message_from_dict({"role": "robot", "content": "x"})
    with pytest.raises(ValueError):
        message_from_dict({"role": "user", "tool_calls": [{"id": 1}]})


async def test_put_get_round_trip_with_tool_calls(responses: ResponseStore) -> None:
    s = stored("resp_1", conversation="c", history=TOOL_HISTORY, previous="resp_0")
    await responses.put(s)
    assert await responses.get("resp_1") == s
    assert await responses.get("missing") is None
    assert await responses.count() == 1
    with pytest.raises(Conflict):
        await responses.put(s)
    assert await responses.count() == 1


async def test_latest_follows_puts(responses: ResponseStore) -> None:
    assert await responses.latest("c") is None
    await responses.put(stored("a", conversation="c"))
    assert (await responses.latest("c")).id == "a"  # type: ignore[union-attr]
    await responses.put(stored("b", conversation="d"))
    await responses.put(stored("c1", conversation="c"))
    await responses.put(stored("none"))
    assert (await responses.latest("c")).id == "c1"  # type: ignore[union-attr]
    assert (await responses.latest("d")).id == "b"  # type: ignore[union-attr]


async def test_lru_evicts_least_recently_used_and_repairs_conversations(tmp_path: Path) -> None:
    async with ResponseStore(tmp_path / "r.db", max_responses=3, clock=FakeClock()) as store:
        await store.put(stored("a1", conversation="c", created_at=1))
        await store.put(stored("a2", conversation="c", created_at=2))
        await store.put(stored("b1", conversation="d", created_at=3))
        assert await store.get("a1") is not None  # now a2 is the least recently used
        await store.put(stored("x"))
        assert await store.get("a2") is None
        assert await store.count() == 3
        # c's latest (a2) was evicted: it falls back to its newest remaining response.
        assert (await store.latest("c")).id == "a1"  # type: ignore[union-attr]
        await store.put(stored("y"))  # evicts b1, the only response of d: d ends
        assert await store.get("b1") is None
        assert await store.latest("d") is None
        assert await store.count() == 3


async def test_set_limit_evicts_down_at_next_put(responses: ResponseStore) -> None:
    for i in range(5):
        await responses.put(stored(f"r{i}", conversation="c", created_at=i))
    responses.set_limit(2)
    await responses.put(stored("r5"))
    assert await responses.count() == 2
    assert (await responses.latest("c")).id == "r4"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        responses.set_limit(0)


async def test_delete_falls_back_to_newest_remaining_then_ends(responses: ResponseStore) -> None:
    for i in (1, 2, 3):
        await responses.put(stored(f"c{i}", conversation="c", created_at=i))
    assert await responses.delete("c3") is True
    assert (await responses.latest("c")).id == "c2"  # type: ignore[union-attr]
    assert await responses.delete("c1") is True
    assert (await responses.latest("c")).id == "c2"  # type: ignore[union-attr]
    assert await responses.delete("c2") is True
    assert await responses.latest("c") is None
    assert await responses.delete("c2") is False
    assert await responses.count() == 0


async def test_persists_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    s = stored("r1", conversation="c", history=TOOL_HISTORY)
    async with ResponseStore(path) as store:
        await store.put(s)
    async with ResponseStore(path) as store:
        assert await store.get("r1") == s
        assert await store.latest("c") == s


async def test_not_open_is_an_error(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "r.db")
    with pytest.raises(RuntimeError):
        await store.get("x")
    await store.close()  # closing a closed store is harmless


async def test_db_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    path.write_bytes(b"")
    path.chmod(0o644)  # a pre-existing, too-open file is tightened
    old_umask = os.umask(0)  # with no umask, only the store's own care keeps them private
    try:
        async with ResponseStore(path) as store:
            await store.put(stored("r1"))
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                assert p.exists(), p
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        os.umask(old_umask)


async def test_concurrent_puts_all_land(responses: ResponseStore) -> None:
    ids = [f"r{i}" for i in range(60)]
    await asyncio.gather(
        *(responses.put(stored(rid, conversation=f"c{i % 3}")) for i, rid in enumerate(ids))
    )
    assert await responses.count() == len(ids)
    got = await asyncio.gather(*(responses.get(rid) for rid in ids))
    assert [g.id for g in got if g is not None] == ids


async def test_corrupt_row_is_missing_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "r.db"
    async with ResponseStore(path) as store:
        for rid in ("bad", "badrole", "good"):
            await store.put(stored(rid, conversation=rid))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE responses SET history = '[{\"role\": ' WHERE id = 'bad'")
        conn.execute("UPDATE responses SET history = '[{\"role\": 7}]' WHERE id = 'badrole'")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="hermes.stores.responses"):
        async with ResponseStore(path) as store:
            assert await store.get("bad") is None
            assert await store.latest("badrole") is None
            assert await store.get("good") is not None
    assert sum("corrupt" in r.getMessage() for r in caplog.records) == 2


async def test_turn_200_of_a_chain_is_one_select(tmp_path: Path) -> None:
    statements: list[str] = []
    history: tuple[Message, ...] = ()
    async with ResponseStore(tmp_path / "r.db", trace=statements.append) as store:
        for turn in range(200):
            history += (Message("user", f"q{turn}"), Message("assistant", f"a{turn}"))
            prev = f"r{turn - 1}" if turn else None
            await store.put(stored(f"r{turn}", history=history, previous=prev))
        statements.clear()
        got = await store.get("r199")
    assert got is not None
    assert sum(m.role == "user" for m in got.history) == 200
    assert got.history == history
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, statements


# A writer that puts big responses as fast as it can, with eviction and conversation repair in
# every transaction, until it is killed.
WRITER = """
import asyncio, sys
from pathlib import Path
from hermes.messages import Message, ToolCall
from hermes.stores.responses import ResponseStore, StoredResponse

async def main(path: str, prefix: str) -> None:
    async with ResponseStore(Path(path), max_responses=15) as store:
        i = 0
        while True:
            call = ToolCall(f"call{i}", "f", "{}")
            history = tuple(Message("user", f"{i}:{j}" + "x" * 3000) for j in range(30))
            history += (Message("assistant", None, tool_calls=(call,)),)
            rid = f"{prefix}-{i}"
            response = {"id": rid, "output": "y" * 20000}
            await store.put(StoredResponse(rid, i, f"c{i % 2}", None, None, history, response))
            if i == 0:
                print("ready", flush=True)
            i += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def kill_writer_at_random(path: Path, prefix: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(hermes.__file__).parents[1])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), prefix, stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=5) == b"ready\n"
        await asyncio.sleep(random.uniform(0, 0.15))
    finally:
        if proc.returncode is None:
            proc.kill()  # SIGKILL: no chance to finish a transaction or close the database
        await proc.wait()


def assert_every_row_complete(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT id, history, response FROM responses").fetchall()
        dangling = conn.execute(
            "SELECT name FROM conversations WHERE latest_response_id NOT IN"
            " (SELECT id FROM responses)"
        ).fetchall()
    conn.close()
    assert dangling == []
    for rid, history, response in rows:
        assert len(json.loads(history)) == 31, rid
        assert json.loads(response)["id"] == rid
    return [rid for rid, _, _ in rows]


async def test_sigkill_at_any_moment_leaves_only_whole_responses(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    for run in range(4):
        await kill_writer_at_random(path, f"run{run}")
        ids = assert_every_row_complete(path)
        assert 1 <= len(ids) <= 15
        async with ResponseStore(path, max_responses=15) as store:
            for rid in ids:
                got = await store.get(rid)
                assert got is not None and len(got.history) == 31
            latest = [await store.latest(c) for c in ("c0", "c1")]
            assert any(s is not None for s in latest)


async def test_an_owner_sees_its_own_and_the_profile_key_sees_all(tmp_path: Path) -> None:
    async with ResponseStore(tmp_path / "r.sqlite3") as store:
        mine = dataclasses.replace(stored("resp_a"), owner="key:a")
        await store.put(mine)
        assert (await store.get("resp_a", "key:a")) == mine
        assert await store.get("resp_a", "key:b") is None
        assert await store.delete("resp_a", "key:b") is False
        assert (await store.get("resp_a")) == mine  # "": the profile's own key
        assert await store.delete("resp_a", "key:a") is True


async def test_a_store_from_before_owners_gets_the_column_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE responses (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
        " last_used REAL NOT NULL, conversation TEXT, previous_response_id TEXT,"
        " instructions TEXT, history TEXT NOT NULL, response TEXT NOT NULL);"
        "INSERT INTO responses VALUES ('resp_old', 1, 1.0, NULL, NULL, NULL, '[]', '{}');"
    )
    conn.commit()
    conn.close()
    async with ResponseStore(path) as store:
        old = await store.get("resp_old", "key:anyone")  # written before owners: anyone's
        assert old is not None and old.owner == ""
        await store.put(dataclasses.replace(stored("resp_new"), owner="key:a"))
        assert await store.get("resp_new", "key:b") is None
