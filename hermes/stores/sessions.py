"""Server-owned chat sessions for the native session API (/api/v1/chat, /api/v1/acp).

A session belongs to one username and is only ever visible to it. Two things are kept per
session: every message as it was said (`session_messages`, what a client reads back and what
the session lists count), and the working `context` the model continues from: the same
conversation, but with older turns condensed into a summary once it passed the context budget.
Keeping both means a 1,000-turn session shows its whole history while each turn reads one
bounded row."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.errors import Forbidden, InvalidRequest, NotFound
from hermes.messages import Message, message_from_dict, message_to_dict
from hermes.stores.sqlite import WorkerDB, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    context TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (username, updated_at);
CREATE TABLE IF NOT EXISTS session_messages (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
"""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_USERNAME = 128
TITLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    username: str
    title: str
    created_at: float
    updated_at: float
    message_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "title": self.title,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "message_count": self.message_count,
        }


@dataclass(frozen=True, slots=True)
class Session:
    info: SessionInfo
    context: tuple[Message, ...]  # what the model continues from (possibly condensed)


def check_username(username: object) -> str:
    if not isinstance(username, str) or not username.strip():
        raise InvalidRequest("`username` is required: a non-empty string", param="username")
    if len(username) > MAX_USERNAME:
        raise InvalidRequest(
            f"`username` is longer than {MAX_USERNAME} characters", param="username"
        )
    if not username.isprintable():
        raise InvalidRequest("`username` must not contain control characters", param="username")
    return username


def check_session_id(session_id: object) -> str:
    if not isinstance(session_id, str) or not _ID.fullmatch(session_id):
        raise InvalidRequest(
            "`session_id` must be 1-128 letters, digits, '.', '_', ':' or '-'",
            param="session_id",
        )
    return session_id


def new_session_id() -> str:
    return "sess_" + os.urandom(12).hex()


class SessionStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._db = WorkerDB(path, _SCHEMA, "hermes-sessions")
        self._clock = clock

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def open_session(self, username: str, session_id: str | None) -> Session:
        """The session to continue: a new one when `session_id` is None or unknown (created for
        `username`); Forbidden when it belongs to another username."""
        return await self._db.call(self._open, username, session_id or new_session_id())

    async def get(self, username: str, session_id: str) -> Session:
        """The session, or NotFound; Forbidden when it is another username's."""
        return await self._db.call(self._get, username, session_id)

    async def append(
        self, session_id: str, said: Sequence[Message], context: Sequence[Message]
    ) -> None:
        """Record one finished turn: the messages said in it and the new working context."""
        rows = [json.dumps(message_to_dict(m), ensure_ascii=False) for m in said]
        ctx = json.dumps([message_to_dict(m) for m in context], ensure_ascii=False)
        await self._db.call(self._append, session_id, rows, ctx, _title(said))

    async def list_for(
        self, username: str, page: int, page_size: int
    ) -> tuple[list[SessionInfo], int]:
        return await self._db.call(self._list, username, page, page_size)

    async def messages(self, username: str, session_id: str) -> list[tuple[float, Message]]:
        return await self._db.call(self._messages, username, session_id)

    async def delete(self, username: str, session_id: str) -> None:
        await self._db.call(self._delete, username, session_id)

    # --- worker-thread side ---

    def _open(self, conn: sqlite3.Connection, username: str, session_id: str) -> Session:
        with transaction(conn):
            row = conn.execute(_SELECT + " WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                now = self._clock()
                conn.execute(
                    "INSERT INTO sessions (id, username, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (session_id, username, now, now),
                )
                return Session(SessionInfo(session_id, username, "", now, now, 0), ())
        return _owned(row, username)

    def _get(self, conn: sqlite3.Connection, username: str, session_id: str) -> Session:
        row = conn.execute(_SELECT + " WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"no session {session_id!r}", param="session_id")
        return _owned(row, username)

    def _append(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        rows: list[str],
        context: str,
        title: str,
    ) -> None:
        now = self._clock()
        with transaction(conn):
            (count,) = conn.execute(
                "SELECT message_count FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_messages (session_id, seq, created_at, message)"
                " VALUES (?, ?, ?, ?)",
                [(session_id, count + i, now, row) for i, row in enumerate(rows)],
            )
            conn.execute(
                "UPDATE sessions SET message_count = ?, updated_at = ?, context = ?,"
                " title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                (count + len(rows), now, context, title, session_id),
            )

    def _list(
        self, conn: sqlite3.Connection, username: str, page: int, page_size: int
    ) -> tuple[list[SessionInfo], int]:
        (total,) = conn.execute(
            "SELECT count(*) FROM sessions WHERE username = ?", (username,)
        ).fetchone()
        rows = conn.execute(
            _SELECT + " WHERE username = ? ORDER BY updated_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (username, page_size, (page - 1) * page_size),
        ).fetchall()
        return [_info(row) for row in rows], int(total)

    def _messages(
        self, conn: sqlite3.Connection, username: str, session_id: str
    ) -> list[tuple[float, Message]]:
        self._get(conn, username, session_id)
        rows = conn.execute(
            "SELECT created_at, message FROM session_messages WHERE session_id = ? ORDER BY seq",
            (session_id,),
        ).fetchall()
        return [(at, message_from_dict(json.loads(raw))) for at, raw in rows]

    def _delete(self, conn: sqlite3.Connection, username: str, session_id: str) -> None:
        with transaction(conn):
            self._get(conn, username, session_id)
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


_SELECT = "SELECT id, username, title, created_at, updated_at, message_count, context FROM sessions"


def _info(row: tuple[Any, ...]) -> SessionInfo:
    return SessionInfo(*row[:6])


def _owned(row: tuple[Any, ...], username: str) -> Session:
    info = _info(row)
    if info.username != username:
        # Same answer whether or not the id exists for someone else would hide existence, but
        # the spec asks for 403: a client reusing an id learns it is taken, never its content.
        raise Forbidden(f"session {info.session_id!r} belongs to another user", param="session_id")
    context = tuple(message_from_dict(m) for m in json.loads(row[6]))
    return Session(info, context)


def _title(said: Sequence[Message]) -> str:
    first = next((m.content for m in said if m.role == "user" and m.content), "")
    line = " ".join(first.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def iso_time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
