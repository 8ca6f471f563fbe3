"""What every hermes SQLite store shares: an owner-only database file in WAL mode, explicit
IMMEDIATE transactions, and (for stores used from the event loop) one dedicated worker thread
that runs every SQLite call, so the loop never blocks and writes are serialized without a lock."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

FILE_MODE = 0o600  # stores hold what users, tools and keys said: owner-only
BUSY_TIMEOUT_MS = 5000  # another process (e.g. the CLI) may briefly hold the write lock


def connect(
    path: Path, schema: str, trace: Callable[[str], None] | None = None
) -> sqlite3.Connection:
    """Open (creating if needed) the database at `path`, owner-only, WAL, with `schema` applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create the file owner-only before SQLite sees it: SQLite gives its -wal and -shm files
    # the database file's mode, so they are born 0600 too, whatever the umask.
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file with a looser mode is tightened
    finally:
        os.close(fd)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # we BEGIN/COMMIT
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode still crash-consistent
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    _tighten_sidecars(path)
    if trace is not None:
        conn.set_trace_callback(trace)
    return conn


def _tighten_sidecars(path: Path) -> None:
    # SQLite already creates these with the database's mode; this covers files left behind by an
    # older run or another tool, and is harmless otherwise.
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(f"{path}{suffix}", FILE_MODE)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT: a read followed by a write never fails upgrading its lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (e.g. a deferred foreign key) leaves the transaction open: roll back.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class WorkerDB:
    """One connection owned by one worker thread; `call(job, …)` runs `job(conn, …)` there."""

    def __init__(
        self, path: Path, schema: str, name: str, trace: Callable[[str], None] | None = None
    ) -> None:
        self.path = path
        self._schema = schema
        self._name = name
        self._trace = trace
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._executor is not None:
            raise RuntimeError(f"{self._name} is already open")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        try:
            await self._submit(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._submit(self._disconnect)
        finally:
            self._executor.shutdown(wait=True)  # the worker is idle by now: this returns at once
            self._executor = None

    async def call(
        self, job: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        return await self._submit(functools.partial(self._with_conn, job, *args, **kw))

    async def _submit(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError(f"{self._name} is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _with_conn(
        self, job: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        if self._conn is None:
            raise RuntimeError(f"{self._name} is not open")
        return job(self._conn, *args, **kw)

    def _connect(self) -> None:
        self._conn = connect(self.path, self._schema, self._trace)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
