"""Named, revocable API keys for one profile's gateway (`hermes keys …`).

Only a SHA-256 of each key is stored, beside a short display prefix. The CLI writes the file and a
running gateway reads it on every request through one long-lived connection; `PRAGMA
data_version` tells that connection, in a few microseconds, whether another connection committed
anything since it last looked, so a revocation or a new key counts from the very next request
without a restart and without re-reading the table per request."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hermes.errors import Conflict, InvalidRequest, NotFound
from hermes.profiles.paths import Profile
from hermes.stores.sqlite import BUSY_TIMEOUT_MS, connect, transaction

log = logging.getLogger(__name__)

KEY_PREFIX = "hk_"
PREFIX_CHARS = 10  # "hk_" plus 7 random characters: enough to tell keys apart in a listing
LABEL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # matched whole: `$` also matches before a final \n
MAX_EXPIRES_DAYS = 36500  # a hundred years; beyond that dates stop being printable
TOUCH_INTERVAL = 60.0  # last_used_at is written at most this often per key
FILE_NAME = "keys.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    label TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    last_used_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_label ON api_keys (label)
    WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS key_scopes (
    key_hash TEXT PRIMARY KEY REFERENCES api_keys (key_hash),
    scope TEXT NOT NULL
);
"""
# A key's scope (what the front door's keys may reach, as JSON) sits in a table of its own: a
# profile's key store never has one, and a file made before scopes existed gains the table.
_SELECT = (
    "SELECT api_keys.key_hash, label, prefix, created_at, expires_at, revoked_at, last_used_at,"
    " scope FROM api_keys LEFT JOIN key_scopes USING (key_hash)"
)


class KeyNotFound(NotFound):
    code = "key_not_found"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key as stored: never the key itself. Times are Unix seconds."""

    key_hash: str = field(repr=False)
    label: str
    prefix: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None
    scope: str | None = None  # what the key may reach, for the store's owner to read

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


def validate_label(label: str) -> str:
    if not LABEL_RE.fullmatch(label):
        raise InvalidRequest(
            f"invalid key label {label!r}: use 1-64 characters, letters, digits, '.', '_' or '-'",
            param="label",
        )
    return label


def digest(key: str) -> str:
    # A fast hash is right here: keys are 32 random bytes, so there is nothing to brute-force
    # and a slow password hash (bcrypt, argon2) would only add its cost to every request.
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """The profile's keys in SQLite. Synchronous and cheap: the gateway calls `check` on its event
    loop. `busy_timeout_ms` bounds how long a call waits for another process's write lock once
    open; the gateway keeps it short, since waiting there stalls every request."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self.path = path
        self.key_prefix = key_prefix  # what a key of this store starts with (`hk_`, `hfk_`)
        self._clock = clock
        self._busy_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None  # data_version the cache was loaded at; None: stale
        self._by_hash: dict[str, ApiKey] = {}
        self._failing = False  # the last refresh failed: warn once, not on every request

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> KeyStore:
        return cls(profile.state_dir / FILE_NAME, clock=clock, busy_timeout_ms=busy_timeout_ms)

    def open(self) -> None:
        if self._conn is not None:
            raise RuntimeError("KeyStore is already open")
        self._conn = connect(self.path, _SCHEMA)  # waits up to 5 s for the CLI while setting up
        self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._version = None

    def __enter__(self) -> KeyStore:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the CLI's side ---

    def create(
        self, label: str, expires_days: int | None = None, *, scope: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key labelled `label` (with `scope`, in the same transaction): its record and
        the key itself, which is never stored."""
        validate_label(label)
        now = self._clock()
        expires_at = None if expires_days is None else now + _check_days(expires_days) * 86400.0
        key = self.key_prefix + secrets.token_urlsafe(32)
        shown = key[: PREFIX_CHARS + len(self.key_prefix) - len(KEY_PREFIX)]
        record = ApiKey(digest(key), label, shown, now, expires_at, scope=scope)
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO api_keys (key_hash, label, prefix, created_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (record.key_hash, label, record.prefix, now, expires_at),
                )
                if scope is not None:
                    conn.execute(
                        "INSERT INTO key_scopes (key_hash, scope) VALUES (?, ?)",
                        (record.key_hash, scope),
                    )
        except sqlite3.IntegrityError as exc:
            raise Conflict(
                f"an active key is already labelled {label!r}; revoke it first "
                f"(`keys revoke {label}`) or choose another label"
            ) from exc
        return record, key

    def list(self) -> list[ApiKey]:
        """Every key ever created, revoked ones included, oldest first."""
        rows = self._require().execute(f"{_SELECT} ORDER BY created_at, api_keys.rowid").fetchall()
        return [_record(row) for row in rows]

    def revoke(self, label: str) -> ApiKey:
        """Revoke the active key labelled `label`; it is refused from the next request on."""
        validate_label(label)
        now = self._clock()
        with self._transaction() as conn:
            row = conn.execute(
                f"{_SELECT} WHERE label = ? AND revoked_at IS NULL", (label,)
            ).fetchone()
            if row is None:
                raise KeyNotFound(self._not_found(conn, label), param="label")
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?", (now, str(row[0]))
            )
        return replace(_record(row), revoked_at=now)

    # --- the gateway's side: per request, on the event loop ---

    def has_keys(self) -> bool:
        """Whether any key was ever created (revoked ones count: revoking the last key must not
        open the gateway)."""
        self._refresh()
        return bool(self._by_hash)

    def check(self, presented: str) -> ApiKey | None:
        """The record of `presented` if it is an active key, else None."""
        if not presented.startswith(self.key_prefix):
            return None  # API_SERVER_KEY or junk: no hashing, no SQLite
        wanted = digest(presented)
        self._refresh()
        record = self._by_hash.get(wanted)
        # The dict lookup compares digests of the caller's input, which tells an attacker
        # nothing usable; compare_digest keeps the final decision constant-time regardless.
        if record is None or not hmac.compare_digest(record.key_hash, wanted):
            return None
        now = self._clock()
        if record.status(now) != "active":
            return None
        self._touch(record, now)
        return record

    # --- internals ---

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("KeyStore is not open")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._require()
        try:
            with transaction(conn):
                yield conn
        finally:
            self._version = None  # data_version ignores this connection's own commits

    def _refresh(self) -> None:
        conn = self._require()
        try:
            version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            if version == self._version:
                return
            rows = conn.execute(_SELECT).fetchall()
        except sqlite3.OperationalError as exc:
            # Busy past the short timeout (rare: WAL readers do not wait for writers): keep the
            # last view for this request and read again on the next.
            if not self._failing:
                log.warning("API key store %s unreadable, using the last copy: %s", self.path, exc)
            self._failing = True
            return
        self._by_hash = {row[0]: _record(row) for row in rows}
        self._version = version
        self._failing = False

    def _touch(self, record: ApiKey, now: float) -> None:
        if record.last_used_at is not None and now - record.last_used_at < TOUCH_INTERVAL:
            return
        # Cached first: a failed write is retried a minute later, not on every request.
        self._by_hash[record.key_hash] = replace(record, last_used_at=now)
        try:
            self._require().execute(
                "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ?", (now, record.key_hash)
            )
        except sqlite3.OperationalError as exc:  # last used is informational: never fail a call
            log.debug("could not record the use of key %s…: %s", record.prefix, exc)

    @staticmethod
    def _not_found(conn: sqlite3.Connection, label: str) -> str:
        revoked = conn.execute("SELECT 1 FROM api_keys WHERE label = ?", (label,)).fetchone()
        if revoked is not None:
            return f"the key labelled {label!r} is already revoked"
        return f"no active key labelled {label!r} (`keys list` shows the keys)"


def _check_days(days: int) -> int:
    if not 0 <= days <= MAX_EXPIRES_DAYS:
        raise InvalidRequest(
            f"--expires-days must be between 0 and {MAX_EXPIRES_DAYS}, not {days}",
            param="expires_days",
        )
    return days


def _record(row: tuple[Any, ...]) -> ApiKey:
    key_hash, label, prefix, created, expires, revoked, used, scope = row
    return ApiKey(
        str(key_hash), str(label), str(prefix), float(created), _opt(expires), _opt(revoked),
        _opt(used), None if scope is None else str(scope),
    )  # fmt: skip


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)
