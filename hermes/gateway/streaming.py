"""SSE plumbing for the gateway: a response that opens on its first byte (so an error before
any output can still be a proper HTTP status), keep-alives while idle, and recording for
Idempotency-Key replays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from aiohttp import web

from hermes.gateway.middleware import headers_for

T = TypeVar("T")
KEEPALIVE_SECONDS = 15.0
_DONE = object()


class Recorder:
    """Collects what a stream wrote, for an Idempotency-Key replay; a failed run is not kept."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.failed = False


class EventStream:
    def __init__(self, request: web.Request, recorder: Recorder | None = None) -> None:
        self.request = request
        self.recorder = recorder
        self.response: web.StreamResponse | None = None

    @property
    def started(self) -> bool:
        return self.response is not None

    async def send(self, data: bytes) -> None:
        if self.response is None:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    **headers_for(self.request),
                }
            )
            await response.prepare(self.request)
            self.response = response
        await self.response.write(data)
        if self.recorder is not None:
            self.recorder.chunks.append(data)


async def with_keepalive(
    events: AsyncIterator[T], interval: float = KEEPALIVE_SECONDS
) -> AsyncIterator[T | None]:
    """`events`, with None yielded whenever nothing arrived for `interval` seconds. The source
    runs in its own task so a keep-alive never interrupts it; leaving early cancels it."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in events:
                queue.put_nowait(event)
            queue.put_nowait(_DONE)
        except Exception as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(exc)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield None
                continue
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
