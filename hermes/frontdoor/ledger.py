"""Which profile made a response: GET/DELETE /v1/responses/{id} and `previous_response_id`
through the front door must reach the gateway that stored it, and nobody else's key may.

Each response id the front door passes on (read from the first bytes of the gateway's answer,
streamed or not) is written here with the profile, the key that asked and the user it spoke for.
A lookup answers only for that same key and user: another key's id is as unknown as a made-up
one. SQLite ($HERMES_HOME/frontdoor/responses.sqlite3), so ids stay routable across restarts;
bounded (the oldest rows go first, beyond what the gateways themselves keep)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from hermes.stores.sqlite import connect

MAX_ROWS = 200_000
PRUNE_EVERY = 1000  # inserts between two prunes
# The id of a Responses object: the first one in the answer is its own (streamed, the
# `response.created` event's response comes first; whole, the object's own "id" key does).
RESPONSE_ID = re.compile(rb'"id"\s*:\s*"(resp_[A-Za-z0-9_-]{1,128})"')
SCAN_BYTES = 16 * 1024  # how far into an answer the id is looked for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS response_routes (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    user TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._inserts = 0

    def open(self) -> None:
        self._conn = connect(self.path, _SCHEMA)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def record(self, response_id: str, profile: str, key_hash: str, user: str | None) -> None:
        conn = self._require()
        conn.execute(
            "INSERT OR REPLACE INTO response_routes VALUES (?, ?, ?, ?, ?)",
            (response_id, profile, key_hash, user or "", time.time()),
        )
        self._inserts += 1
        if self._inserts % PRUNE_EVERY == 0:
            conn.execute(
                "DELETE FROM response_routes WHERE id IN (SELECT id FROM response_routes"
                " ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (MAX_ROWS,),
            )

    def profile_of(self, response_id: str, key_hash: str, user: str | None) -> str | None:
        """The profile that made `response_id`, if this key (and user) asked for it."""
        row = (
            self._require()
            .execute(
                "SELECT profile FROM response_routes WHERE id = ? AND key_hash = ? AND user = ?",
                (response_id, key_hash, user or ""),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def forget(self, response_id: str) -> None:
        self._require().execute("DELETE FROM response_routes WHERE id = ?", (response_id,))

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the ledger is not open")
        return self._conn


class IdSniffer:
    """Finds the response id in the first SCAN_BYTES of an answer as it streams past."""

    def __init__(self) -> None:
        self.found: str | None = None
        self._head = b""
        self._done = False

    def feed(self, data: bytes) -> None:
        if self._done:
            return
        self._head += data[: SCAN_BYTES - len(self._head)]
        match = RESPONSE_ID.search(self._head)
        if match is not None:
            self.found = match.group(1).decode()
        if match is not None or len(self._head) >= SCAN_BYTES:
            self._done = True
            self._head = b""
