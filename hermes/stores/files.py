"""The store behind /v1/files: each file's metadata a row in SQLite, its bytes a file of their
own beside it (`state/files/<id>`, owner-only), both per profile.

Every file belongs to the caller that uploaded it (the API key, as the gateway's CALLER names
it): reading, listing and deleting see only the caller's own files, and another caller's id is
simply unknown. Like the other stores, every call runs on the store's one worker thread; the
bytes are written (atomically) before the row that makes them visible, and a row is deleted
before its bytes, so a crash leaves at worst an orphaned blob, never a row without one."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.errors import FileLimitReached
from hermes.fsutil import atomic_write
from hermes.stores.sqlite import FILE_MODE, WorkerDB, transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    caller TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_caller ON files (caller, created_at);
"""
_COLUMNS = "id, caller, filename, purpose, bytes, media_type, created_at"


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    caller: str
    filename: str
    purpose: str
    bytes: int
    media_type: str
    created_at: int

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's file object. `status` is always `processed`: a file is usable once stored."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }


class FileStore:
    """`open()` / `close()` around use. `max_files` bounds the files of the whole profile."""

    def __init__(
        self,
        db_path: Path,
        blob_dir: Path,
        *,
        max_files: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._blobs = blob_dir
        self._max = max_files
        self._clock = clock
        self._db = WorkerDB(db_path, _SCHEMA, "hermes-files")

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def put(
        self, file_id: str, caller: str, filename: str, purpose: str, data: bytes, media_type: str
    ) -> FileRecord:
        """Store a new file; FileLimitReached when the profile already holds `max_files`."""
        record = FileRecord(
            file_id, caller, filename, purpose, len(data), media_type, int(self._clock())
        )
        return await self._db.call(self._put, record, data)

    async def get(self, caller: str, file_id: str) -> FileRecord | None:
        return await self._db.call(self._get, caller, file_id)

    async def content(self, record: FileRecord) -> bytes:
        """The file's bytes (b"" if its blob went missing behind the store's back)."""

        def job(_conn: sqlite3.Connection) -> bytes:
            try:
                return self._blob(record.id).read_bytes()
            except FileNotFoundError:
                return b""

        return await self._db.call(job)

    async def list(self, caller: str, *, purpose: str | None = None) -> list[FileRecord]:
        """The caller's files, newest first."""

        def job(conn: sqlite3.Connection) -> list[FileRecord]:
            sql = f"SELECT {_COLUMNS} FROM files WHERE caller = ?"
            args: tuple[Any, ...] = (caller,)
            if purpose is not None:
                sql, args = sql + " AND purpose = ?", (caller, purpose)
            rows = conn.execute(sql + " ORDER BY created_at DESC, rowid DESC", args).fetchall()
            return [FileRecord(*row) for row in rows]

        return await self._db.call(job)

    async def delete(self, caller: str, file_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                gone = conn.execute(
                    "DELETE FROM files WHERE id = ? AND caller = ?", (file_id, caller)
                ).rowcount
            if gone:
                with contextlib.suppress(FileNotFoundError):
                    self._blob(file_id).unlink()
            return bool(gone)

        return await self._db.call(job)

    # --- worker-thread side ---

    def _blob(self, file_id: str) -> Path:
        return self._blobs / file_id  # ids are minted here: file- and hex digits only

    def _put(self, conn: sqlite3.Connection, record: FileRecord, data: bytes) -> FileRecord:
        count = int(conn.execute("SELECT count(*) FROM files").fetchone()[0])
        if count >= self._max:
            raise FileLimitReached(
                f"this profile stores at most {self._max} files (api_server.max_stored_files); "
                "delete some with DELETE /v1/files/{id}"
            )
        self._blobs.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self._blob(record.id), data, mode=FILE_MODE)
        try:
            with transaction(conn):
                conn.execute(
                    f"INSERT INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record.id, record.caller, record.filename, record.purpose, record.bytes,
                     record.media_type, record.created_at),
                )  # fmt: skip
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self._blob(record.id))
            raise
        return record

    def _get(self, conn: sqlite3.Connection, caller: str, file_id: str) -> FileRecord | None:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM files WHERE id = ? AND caller = ?", (file_id, caller)
        ).fetchone()
        return None if row is None else FileRecord(*row)
