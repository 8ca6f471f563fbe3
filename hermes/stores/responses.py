"""The persistent store behind the OpenAI Responses API: `previous_response_id` chains and named
`conversation`s.

Each row holds the whole history through its response, so continuing turn 200 of a chain is one
row read, never a walk of the chain; the price is disk space, bounded by LRU eviction at
`max_responses`. Every SQLite call runs on one dedicated worker thread: the event loop never blocks
and writes are serialized without a lock. Each public write is one transaction, and WAL mode means
a process killed at any moment leaves only whole, committed responses behind."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.errors import Conflict
from hermes.messages import Message, message_from_dict, message_to_dict
from hermes.stores.sqlite import WorkerDB, transaction

log = logging.getLogger(__name__)

# The conversation -> response foreign key is DEFERRED: eviction deletes first and repairs the
# conversations after, and a repair bug then fails the COMMIT instead of leaving a dangling pointer.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    last_used REAL NOT NULL,
    conversation TEXT,
    previous_response_id TEXT,
    instructions TEXT,
    history TEXT NOT NULL,
    response TEXT NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS responses_last_used ON responses (last_used);
CREATE INDEX IF NOT EXISTS responses_conversation ON responses (conversation, created_at);
CREATE TABLE IF NOT EXISTS conversations (
    name TEXT PRIMARY KEY,
    latest_response_id TEXT NOT NULL
        REFERENCES responses (id) DEFERRABLE INITIALLY DEFERRED,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_latest ON conversations (latest_response_id);
"""

_COLUMNS = (
    "id, created_at, conversation, previous_response_id, instructions, history, response, owner"
)
# An owner sees its own responses; the profile's own key ("" here) sees all of them, as does any
# caller a response stored before owners were recorded (NULL).
_OWNED = "(? = '' OR owner IS NULL OR owner = ?)"
_GET_SQL = f"SELECT {_COLUMNS} FROM responses WHERE id = ? AND {_OWNED}"
_LATEST_SQL = (
    "SELECT "
    + ", ".join(f"r.{c}" for c in _COLUMNS.split(", "))
    + " FROM conversations c JOIN responses r ON r.id = c.latest_response_id WHERE c.name = ?"
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One served response and everything needed to continue after it.

    `instructions` are the effective instructions, carried forward to chained turns. `history` is
    the whole conversation through this response (prior turns, the new input, tool calls, tool
    results, the final assistant message), never the server's own system prompt. `response` is
    the response object exactly as served to the client."""

    id: str
    created_at: int
    conversation: str | None
    previous_response_id: str | None
    instructions: str | None
    history: tuple[Message, ...]
    response: dict[str, Any]
    owner: str = ""  # the named API key that created it ("": the profile's own key, or none)


class ResponseStore:
    """SQLite-backed, LRU-bounded store of `StoredResponse`s. Use as `async with` or call
    `open()` / `close()`. `trace`, if given, receives every SQL statement (on the worker thread)."""

    def __init__(
        self,
        path: Path,
        *,
        max_responses: int = 1000,
        clock: Callable[[], float] = time.time,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self._path = path
        self._clock = clock
        self._max = _check_limit(max_responses)
        self._db = WorkerDB(path, _SCHEMA, "hermes-responses", trace)

    def set_limit(self, n: int) -> None:
        """Change `max_responses`. Takes effect at the next `put`, which evicts down to it."""
        self._max = _check_limit(n)

    async def open(self) -> None:
        await self._db.open()
        await self._db.call(_add_owner_column)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> ResponseStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def get(self, response_id: str, owner: str = "") -> StoredResponse | None:
        """The response, or None if unknown, evicted, corrupt or not `owner`'s (see _OWNED).
        A hit counts as a use (LRU)."""
        return await self._db.call(self._read_and_touch, _GET_SQL, (response_id, owner, owner))

    async def latest(self, conversation: str) -> StoredResponse | None:
        """The response `conversation` currently points at, or None if there is no such
        conversation. A hit counts as a use, so an active conversation is not evicted."""
        return await self._db.call(self._read_and_touch, _LATEST_SQL, (conversation,))

    async def put(self, stored: StoredResponse) -> None:
        """Store `stored`, point its conversation (if any) at it and evict down to the limit, all
        in one transaction. Raises Conflict if the id is already stored."""
        await self._db.call(self._put, stored)

    async def delete(self, response_id: str, owner: str = "") -> bool:
        """Delete one response of `owner`'s; its conversation falls back to its newest remaining
        response."""

        def job(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                sql = f"SELECT id FROM responses WHERE id = ? AND {_OWNED}"
                if conn.execute(sql, (response_id, owner, owner)).fetchone() is None:
                    return False
                return _remove(conn, [response_id]) > 0

        return await self._db.call(job)

    async def count(self) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM responses").fetchone()[0])

        return await self._db.call(job)

    # --- worker-thread side: everything below touches SQLite and runs on the worker only ---

    def _read_and_touch(
        self, conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]
    ) -> StoredResponse | None:
        # IMMEDIATE: the read is followed by a write, and upgrading a read lock can fail with BUSY.
        with transaction(conn):
            row = conn.execute(sql, params).fetchone()
            stored = None if row is None else _decode(row, self._path)
            if stored is not None:
                conn.execute(
                    "UPDATE responses SET last_used = ? WHERE id = ?", (self._clock(), stored.id)
                )
        return stored

    def _put(self, conn: sqlite3.Connection, s: StoredResponse) -> None:
        # Encode before BEGIN: a value that is not JSON-able fails without touching the database.
        history = _dumps([message_to_dict(m) for m in s.history])
        response = _dumps(s.response)
        now = self._clock()
        with transaction(conn):
            try:
                conn.execute(
                    "INSERT INTO responses (id, created_at, last_used, conversation,"
                    " previous_response_id, instructions, history, response, owner)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (s.id, s.created_at, now, s.conversation, s.previous_response_id,
                     s.instructions, history, response, s.owner),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"response {s.id!r} already exists") from exc
            if s.conversation is not None:
                conn.execute(
                    "INSERT INTO conversations (name, latest_response_id, updated_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                    " latest_response_id = excluded.latest_response_id,"
                    " updated_at = excluded.updated_at",
                    (s.conversation, s.id, now),
                )
            _remove(conn, _lru_victims(conn, self._max))


def _add_owner_column(conn: sqlite3.Connection) -> None:
    """A store written before owners were recorded gets the column (NULL in its old rows)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
    if "owner" not in columns:
        conn.execute("ALTER TABLE responses ADD COLUMN owner TEXT")


def _check_limit(n: int) -> int:
    if n < 1:
        raise ValueError(f"max_responses must be at least 1, not {n}")
    return n


def _lru_victims(conn: sqlite3.Connection, keep: int) -> list[str]:
    # Everything past the `keep` most recently used rows; rowid breaks last_used ties by age.
    rows = conn.execute(
        "SELECT id FROM responses ORDER BY last_used DESC, rowid DESC LIMIT -1 OFFSET ?", (keep,)
    ).fetchall()
    return [r[0] for r in rows]


def _remove(conn: sqlite3.Connection, ids: Sequence[str]) -> int:
    """Delete `ids` and repair the conversations that pointed at them, inside the caller's
    transaction. Returns how many rows were deleted."""
    orphaned: set[str] = set()
    for rid in ids:
        rows = conn.execute(
            "SELECT name FROM conversations WHERE latest_response_id = ?", (rid,)
        ).fetchall()
        orphaned.update(r[0] for r in rows)
    deleted = 0
    for rid in ids:
        deleted += conn.execute("DELETE FROM responses WHERE id = ?", (rid,)).rowcount
    for name in sorted(orphaned):
        _repoint(conn, name)
    return deleted


def _repoint(conn: sqlite3.Connection, name: str) -> None:
    """Point conversation `name` at its newest remaining response, or end it if none remains."""
    row = conn.execute(
        "SELECT id FROM responses WHERE conversation = ? ORDER BY created_at DESC, rowid DESC"
        " LIMIT 1",
        (name,),
    ).fetchone()
    if row is None:
        conn.execute("DELETE FROM conversations WHERE name = ?", (name,))
    else:
        conn.execute(
            "UPDATE conversations SET latest_response_id = ? WHERE name = ?", (row[0], name)
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _decode(row: tuple[Any, ...], path: Path) -> StoredResponse | None:
    """The row as a StoredResponse, or None (with a warning) if a hand edit broke its JSON."""
    rid, created_at, conversation, previous, instructions, history_json, response_json, owner = row
    try:
        raw_history = json.loads(history_json)
        response = json.loads(response_json)
        if not isinstance(raw_history, list) or not isinstance(response, dict):
            raise ValueError("history must be a list and response an object")
        if not all(isinstance(m, dict) for m in raw_history):
            raise ValueError("every history entry must be an object")
        history = tuple(message_from_dict(m) for m in raw_history)
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        log.warning("response %r in %s is corrupt, treating it as missing: %s", rid, path, exc)
        return None
    return StoredResponse(
        id=rid,
        created_at=created_at,
        conversation=conversation,
        previous_response_id=previous,
        instructions=instructions,
        history=history,
        response=response,
        owner=owner or "",
    )
