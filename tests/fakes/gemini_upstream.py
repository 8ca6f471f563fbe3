"""A scripted fake Gemini API (generativelanguage v1beta): a real aiohttp server on 127.0.0.1:0.

Each `POST /v1beta/models/<model>:generateContent` (one JSON GenerateContentResponse) or
`:streamGenerateContent?alt=sse` (SSE, CRLF-framed like Google's) pops the next queued turn:

    async with FakeGemini() as up:              # in the test's own event loop
        up.queue_text("hello", chunks=["hel", "lo"])
        provider = GeminiProvider(model="gemini-2.5-flash", base_url=up.base_url, api_key="k")

    with FakeGemini.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...

Every request is recorded in `requests` (path, query, body, headers).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

NO_TURN_LEFT = "fake gemini: no scripted turn left"
MODEL_VERSION = "gemini-fake-001"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GeminiRequest(NamedTuple):
    path: str  # "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    query: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Call:
    name: str
    args: Mapping[str, Any]
    signature: str | None = None


@dataclass(frozen=True)
class _Reply:
    chunks: tuple[str, ...] = ()
    calls: tuple[_Call, ...] = ()
    finish_reason: str = "STOP"
    stall: float = 0.0  # before answering at all
    mid_stall: float = 0.0  # streaming only: after the first chunk
    broken: bool = False  # one valid chunk, then a data line that is not JSON


@dataclass(frozen=True)
class _Error:
    status: int
    message: str
    headers: Mapping[str, str]
    details: tuple[dict[str, Any], ...] = field(default=())


class FakeGemini:
    def __init__(self, *, api_key: str | None = None) -> None:
        """`api_key`: when set, a request without it in `x-goog-api-key` is refused as Google
        does: 403 PERMISSION_DENIED when missing, 400 API_KEY_INVALID when wrong."""
        self.api_key = api_key
        self.requests: list[GeminiRequest] = []
        self.disconnects = 0
        self._turns: deque[_Reply | _Error] = deque()  # deque: thread-safe append / popleft
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.port = 0

    # -- scripting ---------------------------------------------------------------------------

    def queue_text(
        self, text: str, chunks: Sequence[str] | None = None, *, finish_reason: str = "STOP"
    ) -> None:
        """`chunks` (default: word by word) must join back to `text`; a whole answer sends the
        text as one part."""
        pieces = tuple(chunks) if chunks is not None else tuple(re.findall(r"\s*\S+\s*", text))
        if "".join(pieces) != text:
            raise ValueError(f"chunks {pieces!r} do not join to {text!r}")
        self._turns.append(_Reply(pieces, finish_reason=finish_reason))

    def queue_tool_call(
        self, name: str, args: Mapping[str, Any], *, signature: str | None = None
    ) -> None:
        """One functionCall; `signature` is sent as its thoughtSignature, as Gemini 3 does."""
        self._turns.append(_Reply(calls=(_Call(name, dict(args), signature),)))

    def queue_tool_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Parallel calls in one answer."""
        self._turns.append(_Reply(calls=tuple(_Call(n, dict(a)) for n, a in calls)))

    def queue_error(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        retry_delay: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Google's error body. `retry_delay` ("7s") adds a RetryInfo detail, `reason`
        ("API_KEY_INVALID") an ErrorInfo detail."""
        details: list[dict[str, Any]] = []
        if reason is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                }
            )
        if retry_delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        self._turns.append(_Error(status, message, dict(headers or {}), tuple(details)))

    def queue_stall(self, seconds: float = 3600.0, *, mid_stream: bool = False) -> None:
        """Accept, then wait `seconds` before answering "late". With `mid_stream`, a streaming
        answer sends "la" before the wait (for idle-read timeouts)."""
        before, during = (0.0, seconds) if mid_stream else (seconds, 0.0)
        self._turns.append(_Reply(("la", "te"), stall=before, mid_stall=during))

    def queue_broken_chunk(self) -> None:
        self._turns.append(_Reply(("partial",), broken=True))

    @property
    def pending(self) -> int:
        """Queued turns not yet consumed."""
        return len(self._turns)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1beta/{resource:.+}", self._generate)
        # handler_cancellation: a client hanging up cancels the handler (see `disconnects`).
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

    async def __aenter__(self) -> FakeGemini:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[FakeGemini]:
        """Serve from a private event loop in a daemon thread, for sync code."""
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-gemini", daemon=True)
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
        while self.disconnects < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.disconnects} disconnects, expected {count}")
            await asyncio.sleep(0.01)

    # -- HTTP --------------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "fake gemini: request body is not a JSON object")
        self.requests.append(
            GeminiRequest(request.path, dict(request.query), body, dict(request.headers))
        )
        _, _, action = request.match_info["resource"].rpartition(":")
        if action not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"fake gemini: unknown method {action!r}")
        if denied := self._check_key(request):
            return denied
        try:
            turn = self._turns.popleft()
        except IndexError:
            return _error(500, NO_TURN_LEFT)
        if isinstance(turn, _Error):
            return _error(turn.status, turn.message, turn.headers, turn.details)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await asyncio.sleep(turn.stall)
            if action == "streamGenerateContent":
                return await self._stream(request, body, turn)
            return self._whole(body, turn)
        except (asyncio.CancelledError, ConnectionResetError):
            if not self._closing:
                self.disconnects += 1
            raise
        finally:
            self._handlers.discard(task)

    def _check_key(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        given = request.headers.get("x-goog-api-key")
        if given is None:
            return _error(403, "Method doesn't allow unregistered callers.")
        if given != self.api_key:
            reason = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }
            return _error(400, "API key not valid. Please pass a valid API key.", None, (reason,))
        return None

    def _whole(self, body: dict[str, Any], turn: _Reply) -> web.Response:
        if turn.broken:
            return web.Response(text='{"candidates": [{"cont', content_type="application/json")
        parts = [{"text": "".join(turn.chunks)}] if turn.chunks else []
        parts += [_call_part(c) for c in turn.calls]
        return web.json_response(_response(parts, turn.finish_reason, _usage(body, turn)))

    async def _stream(
        self, request: web.Request, body: dict[str, Any], turn: _Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        # Text chunk by chunk; calls whole in the last chunk, with finishReason and usage.
        frames = [[{"text": piece}] for piece in turn.chunks]
        frames.append([_call_part(c) for c in turn.calls])
        for n, parts in enumerate(frames):
            last = n == len(frames) - 1
            data = _response(
                parts, turn.finish_reason if last else None, _usage(body, turn, done=last)
            )
            await response.write(_sse(data))
            if n == 0 and turn.broken:
                await response.write(b'data: {"candidates": [{"cont\r\n\r\n')
                await response.write_eof()
                return response
            if n == 0 and turn.mid_stall:
                await asyncio.sleep(turn.mid_stall)
        await response.write_eof()
        return response


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\r\n\r\n"


def _call_part(call: _Call) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": call.name, "args": dict(call.args)}}
    if call.signature is not None:
        part["thoughtSignature"] = call.signature
    return part


def _response(
    parts: list[dict[str, Any]], finish_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": MODEL_VERSION}


def _usage(body: dict[str, Any], turn: _Reply, *, done: bool = True) -> dict[str, int]:
    """Rough counts (4 characters a token); streamed chunks before the last count no output,
    as Gemini's interim usageMetadata carries only the prompt."""
    chars = len(json.dumps(body.get("contents") or []))
    prompt = max(1, chars // 4)
    if not done:
        return {"promptTokenCount": prompt, "totalTokenCount": prompt}
    produced = "".join(turn.chunks) + "".join(c.name + json.dumps(c.args) for c in turn.calls)
    output = max(1, len(produced) // 4)
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }


def _error(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    details: Sequence[dict[str, Any]] = (),
) -> web.Response:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = list(details)
    return web.json_response({"error": error}, status=status, headers=headers)
