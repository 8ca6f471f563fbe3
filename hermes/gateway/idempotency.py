"""Idempotency-Key for POSTs: the same key and body within the TTL get the first response again
without running the agent; concurrent duplicates share one run; the same key with another body
is a conflict. Bounded in entries and bytes. The key a caller gives `run` is already scoped to
who asked and where (gateway/requests.py: caller, route, Idempotency-Key), never a raw API key."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hermes.errors import Conflict
from hermes.wire import fastjson

TTL_SECONDS = 300.0
MAX_ENTRIES = 1000
MAX_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Recorded:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    created: float
    result: asyncio.Future[Recorded | None]
    size: int = 0


class IdempotencyCache:
    def __init__(
        self,
        *,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    @staticmethod
    def fingerprint(body: Any) -> str:
        """Of the parsed body, in canonical JSON: the same request re-sent with other white
        space or key order (a client re-serialising it on retry) is the same request."""
        return hashlib.sha256(fastjson.canonical(body)).hexdigest()

    async def run(
        self, key: str, fingerprint: str, produce: Callable[[], Awaitable[Recorded | None]]
    ) -> tuple[Recorded | None, bool]:
        """(result, replayed). `produce` returns what to remember, or None when its response
        was already sent and must not be remembered (e.g. an error)."""
        self._expire()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used with a different request body",
                    param="Idempotency-Key",
                )
            recorded = await asyncio.shield(entry.result)
            if recorded is not None:
                return recorded, True
        future: asyncio.Future[Recorded | None] = asyncio.get_running_loop().create_future()
        entry = _Entry(fingerprint, self.clock(), future)
        self._entries[key] = entry
        try:
            recorded = await produce()
        except BaseException:
            self._drop(key, entry)
            future.set_result(None)
            raise
        if recorded is None:
            self._drop(key, entry)
        else:
            entry.size = len(recorded.body)
            self._bytes += entry.size
            self._evict()
        future.set_result(recorded)
        return recorded, False

    def _drop(self, key: str, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
            self._bytes -= entry.size

    def _expire(self) -> None:
        now = self.clock()
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.created < self.ttl:
                break
            self._drop(key, entry)

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            key, entry = next(iter(self._entries.items()))
            if not entry.result.done():
                break  # never drop a run that others may be waiting on
            self._drop(key, entry)
