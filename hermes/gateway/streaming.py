"""SSE plumbing for the gateway: one driver from an agent run to an HTTP stream (`drive`), shared
by chat completions, Responses and the session API, each of which only says how its events look
(a `Renderer`). The driver owns what they share: a response that opens on its first byte (so an
error before any output can still be a proper HTTP status), keep-alives while idle, a failure
after output started told in the stream, and recording for Idempotency-Key replays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

from aiohttp import web

from hermes.errors import HermesError
from hermes.gateway.middleware import headers_for

T = TypeVar("T")
E = TypeVar("E", contravariant=True)
log = logging.getLogger("hermes.gateway")
INTERNAL = "internal error; see the gateway log"
KEEPALIVE_SECONDS = 15.0
_DONE = object()
_KEEPALIVE = object()


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
        self.extra_headers: dict[str, str] = {}  # set before the first byte to be sent
        self._held = b""

    def hold(self, data: bytes) -> None:
        """Send `data` together with the next write (one write, one packet, for the role chunk
        and the first content)."""
        self._held += data

    @property
    def started(self) -> bool:
        return self.response is not None

    async def send(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        if self.response is None:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                    **headers_for(self.request),
                    **self.extra_headers,
                }
            )
            await response.prepare(self.request)
            self.response = response
        await self.response.write(data)
        if self.recorder is not None:
            self.recorder.chunks.append(data)


async def in_batches(
    events: AsyncIterator[T], interval: float = KEEPALIVE_SECONDS
) -> AsyncIterator[list[T] | None]:
    """`events` in batches of what arrived together, with None whenever nothing arrived for
    `interval` seconds. The source runs in its own task so a keep-alive never interrupts it;
    leaving early cancels it. The events one upstream read brings are decoded without a pause,
    so they come as one batch, which the driver sends in one write: a write per event was a fifth
    of a streaming gateway's time. One timer per idle interval, not per event: the hot path only
    records the time of the last event."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    last = loop.time()

    async def pump() -> None:
        nonlocal last
        try:
            async for event in events:
                last = loop.time()
                queue.put_nowait(event)
            queue.put_nowait(_DONE)
        except Exception as exc:  # handed to the consumer, which re-raises it
            queue.put_nowait(exc)

    timer: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal last, timer
        if loop.time() - last >= interval * 0.99:
            queue.put_nowait(_KEEPALIVE)
            last = loop.time()
        timer = loop.call_at(last + interval, tick)

    task = asyncio.create_task(pump())
    timer = loop.call_at(last + interval, tick)
    try:
        while True:
            item = await queue.get()
            batch: list[T] = []
            while True:
                if item is _DONE or isinstance(item, Exception):
                    if batch:
                        yield batch
                    if isinstance(item, Exception):
                        raise item
                    return
                if item is not _KEEPALIVE:  # a keep-alive among events has no point
                    batch.append(item)  # type: ignore[arg-type]
                if queue.empty():
                    break
                item = queue.get_nowait()
            yield batch or None
    finally:
        if timer is not None:
            timer.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Renderer(Protocol[E]):
    """How one API writes a run's events as a stream."""

    label: str  # names the stream in the log: "response resp_…"
    keepalive: bytes  # what an idle interval sends
    headers: dict[str, str]  # sent with the first byte: set them before it goes out

    def opening(self) -> bytes:
        """Sent at once; b"" when the stream opens on its first event."""
        ...

    async def render(self, event: E) -> bytes:
        """What `event` sends (b"": nothing yet)."""
        ...

    def failure(self, message: str, error: HermesError | None) -> bytes:
        """What a run that failed after its stream opened sends last (before `closing`)."""
        ...

    def closing(self) -> bytes:
        """Sent after the last event, failed or not."""
        ...


async def drive(
    request: web.Request,
    events: AsyncIterator[E],
    renderer: Renderer[E],
    recorder: Recorder | None,
    keepalive_seconds: float,
) -> web.StreamResponse:
    """Stream `events` as `renderer` writes them. A failure before the first byte raises (the
    client gets a proper HTTP status); after it, the renderer's failure goes out in the stream
    and the recording is dropped, so a retry with the same Idempotency-Key runs again."""
    out = EventStream(request, recorder)
    out.extra_headers = renderer.headers
    if opening := renderer.opening():
        await out.send(opening)
    try:
        async for batch in in_batches(events, keepalive_seconds):
            if batch is None:
                await out.send(renderer.keepalive)
                continue
            parts: list[bytes] = []
            try:
                for event in batch:
                    parts.append(await renderer.render(event))
            finally:  # what a batch rendered before a failure still goes out, before the failure
                if data := b"".join(parts):
                    await out.send(data)
    except Exception as exc:
        if not out.started:
            raise
        error = exc if isinstance(exc, HermesError) else None
        if error is not None:
            log.warning("%s failed: %s", renderer.label, error.message)
        else:
            log.exception("%s failed", renderer.label)
        if recorder is not None:
            recorder.failed = True
        await out.send(renderer.failure(error.message if error else INTERNAL, error))
    if closing := renderer.closing():
        await out.send(closing)
    assert out.response is not None
    return out.response
