"""Background runs of the Responses API: each run's status and latest response object, and every
stream event it produced, numbered, so a client that comes back (after a disconnect, or after
the gateway restarted) gets the run's state and the events it missed.

One SQLite file per profile (`state/runs.sqlite3`), on the WorkerDB pattern: one worker thread,
one transaction per write, WAL, so a gateway killed at any moment leaves whole events behind.
A run the gateway did not see to its end is marked failed when the gateway starts again."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.stores.sqlite import WorkerDB, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_updated ON runs (updated_at);
CREATE TABLE IF NOT EXISTS run_events (
    id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (id, seq)
);
"""
TERMINAL = frozenset({"completed", "failed", "incomplete", "cancelled"})
# An owner sees its own runs; the profile's own key ("") sees all (as in stores/responses.py).
_OWNED = "(? = '' OR owner = ?)"


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    owner: str
    status: str
    response: dict[str, Any]


class RunStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._db = WorkerDB(path, _SCHEMA, "hermes-runs")
        self._clock = clock

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def create(self, run: Run) -> None:
        def job(conn: sqlite3.Connection) -> None:
            now = self._clock()
            with transaction(conn):
                conn.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                    (run.id, run.owner, run.status, _dumps(run.response), now, now),
                )

        await self._db.call(job)

    async def append(self, run_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Events in the order they were sent, each with its `sequence_number`."""
        rows = [(run_id, int(e["sequence_number"]), _dumps(e)) for e in events]

        def job(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.executemany("INSERT INTO run_events VALUES (?, ?, ?)", rows)

        if rows:
            await self._db.call(job)

    async def update(self, run_id: str, status: str, response: dict[str, Any]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "UPDATE runs SET status = ?, response = ?, updated_at = ? WHERE id = ?",
                    (status, _dumps(response), self._clock(), run_id),
                )

        await self._db.call(job)

    async def get(self, run_id: str, owner: str = "") -> Run | None:
        def job(conn: sqlite3.Connection) -> Run | None:
            row = conn.execute(
                f"SELECT id, owner, status, response FROM runs WHERE id = ? AND {_OWNED}",
                (run_id, owner, owner),
            ).fetchone()
            return None if row is None else Run(row[0], row[1], row[2], json.loads(row[3]))

        return await self._db.call(job)

    async def events(self, run_id: str, after: int) -> list[dict[str, Any]]:
        """The run's events with a sequence number above `after`, in order."""

        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT event FROM run_events WHERE id = ? AND seq > ? ORDER BY seq",
                (run_id, after),
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

        return await self._db.call(job)

    async def fail_unfinished(self, message: str) -> int:
        """Mark every run not in a terminal state failed (the gateway that ran it is gone)."""

        def job(conn: sqlite3.Connection) -> int:
            marks = ",".join("?" * len(TERMINAL))
            with transaction(conn):
                rows = conn.execute(
                    f"SELECT id, response FROM runs WHERE status NOT IN ({marks})",
                    tuple(TERMINAL),
                ).fetchall()
                for run_id, raw in rows:
                    response = json.loads(raw)
                    response.update(
                        status="failed", error={"code": "server_error", "message": message}
                    )
                    conn.execute(
                        "UPDATE runs SET status = 'failed', response = ?, updated_at = ?"
                        " WHERE id = ?",
                        (_dumps(response), self._clock(), run_id),
                    )
            return len(rows)

        return await self._db.call(job)

    async def forget_older_than(self, seconds: float) -> int:
        """Drop finished runs (and their events) last updated more than `seconds` ago."""

        def job(conn: sqlite3.Connection) -> int:
            marks = ",".join("?" * len(TERMINAL))
            with transaction(conn):
                cursor = conn.execute(
                    f"DELETE FROM runs WHERE updated_at < ? AND status IN ({marks})",
                    (self._clock() - seconds, *TERMINAL),
                )
            return cursor.rowcount

        return await self._db.call(job)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
