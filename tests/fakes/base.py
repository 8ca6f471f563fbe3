"""What the scripted fake upstreams share: a real aiohttp server on 127.0.0.1, port 0.

A subclass adds its routes in `routes(app)` and scripts turns into `_turns`; its handlers use
`_json_object`, `_record`, `_pop_turn` and `_answer` (stall, then answer, counting a client that
hangs up mid-answer in `disconnects`), and `_trickle` for a `queue_trickle` turn. Lifecycle:

    async with FakeX() as up:              # in the test's own event loop
        ...

    with FakeX.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


@dataclass(frozen=True)
class ScriptedError:
    """A queued error answer; each fake renders it in its own wire format."""

    status: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    details: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Trickle:
    """A queued turn that keeps the connection busy and never answers: a 200 whose body is one
    filler every `every` seconds for `seconds` (an SSE comment in a stream, a newline, which is
    JSON white space, in a whole answer), then its end. For whole-request timeouts."""

    seconds: float
    every: float


def split_text(text: str, chunks: Sequence[str] | None) -> tuple[str, ...]:
    """`chunks` (default: word by word), checked to join back to `text`."""
    pieces = tuple(chunks) if chunks is not None else tuple(re.findall(r"\s*\S+\s*", text))
    if "".join(pieces) != text:
        raise ValueError(f"chunks {pieces!r} do not join to {text!r}")
    return pieces


def stall_times(seconds: float, mid_stream: bool) -> tuple[float, float]:
    """(before answering, after the first streamed piece) for a `queue_stall`."""
    return (0.0, seconds) if mid_stream else (seconds, 0.0)


class ScriptedServer:
    thread_name = "fake-upstream"  # of the daemon thread `in_thread` serves from
    # What a Trickle turn sends, streamed and whole: (filler, Content-Type).
    stream_filler = (b": keep-alive\n\n", "text/event-stream")
    whole_filler = (b"\n", "application/json")  # JSON white space before an answer

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.disconnects = 0
        self._turns: deque[Any] = deque()  # deque: thread-safe append / popleft
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.port = 0

    def routes(self, app: web.Application) -> None:
        """Add this fake's routes to `app`."""
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Queued turns not yet consumed."""
        return len(self._turns)

    def reset(self) -> None:
        """Forget the script and the recorded requests (a server shared by several tests)."""
        self._turns.clear()
        self.requests.clear()

    def queue_trickle(self, seconds: float = 3600.0, *, every: float = 0.5) -> None:
        """Accept, then send keep-alive filler every `every` seconds for `seconds`, no answer."""
        self._turns.append(Trickle(seconds, every))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        # handler_cancellation: a client hanging up cancels the handler, which is what a test of
        # "the client gave up on its request" observes through `disconnects`.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing = True
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[Self]:
        """Serve from a private event loop in a daemon thread, for sync code."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=cls.thread_name, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(), loop).result(timeout=10)
            yield fake
        finally:
            try:
                asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=10)
                loop.close()

    async def wait_disconnects(self, count: int = 1, timeout: float = 5.0) -> None:
        """In-loop mode: wait until `count` clients have hung up mid-answer."""
        deadline = time.monotonic() + timeout
        while not self._disconnected(count, deadline):
            await asyncio.sleep(0.01)

    def wait_disconnects_blocking(self, count: int = 1, timeout: float = 5.0) -> None:
        """Thread mode: the same, blocking the calling thread."""
        deadline = time.monotonic() + timeout
        while not self._disconnected(count, deadline):
            time.sleep(0.01)

    def _disconnected(self, count: int, deadline: float) -> bool:
        if self.disconnects >= count:
            return True
        if time.monotonic() > deadline:
            raise TimeoutError(f"{self.disconnects} disconnects, expected {count}")
        return False

    # -- handler helpers ---------------------------------------------------------------------

    @staticmethod
    async def _json_object(request: web.Request) -> dict[str, Any] | None:
        """The request body if it is a JSON object, else None."""
        try:
            body = await request.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _record(self, request: web.Request, body: dict[str, Any]) -> None:
        self.requests.append((body, dict(request.headers)))

    def _pop_turn(self) -> Any | None:
        """The next scripted turn, or None when none is left."""
        try:
            return self._turns.popleft()
        except IndexError:
            return None

    @staticmethod
    def _is_trickle(turn: object) -> bool:
        return isinstance(turn, Trickle)

    async def _trickle(
        self, request: web.Request, turn: Trickle, *, stream: bool
    ) -> web.StreamResponse:
        """Answer a Trickle turn: filler every `turn.every` seconds, for `turn.seconds`."""
        filler, content_type = self.stream_filler if stream else self.whole_filler

        async def answer() -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            await response.prepare(request)
            deadline = time.monotonic() + turn.seconds
            while time.monotonic() < deadline:
                await response.write(filler)
                await asyncio.sleep(turn.every)
            await response.write_eof()
            return response

        return await self._answer(0.0, answer)

    async def _answer(
        self, stall: float, answer: Callable[[], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Wait `stall`, then `answer()`; a client hanging up meanwhile counts a disconnect.
        The handler task is tracked so `stop` can cancel it."""
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await asyncio.sleep(stall)
            return await answer()
        except (asyncio.CancelledError, ConnectionResetError):
            if not self._closing:
                self.disconnects += 1
            raise
        finally:
            self._handlers.discard(task)
