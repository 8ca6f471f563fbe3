"""A scripted fake Gemini API (generativelanguage v1beta): a real aiohttp server on 127.0.0.1:0.

Each `POST /v1beta/models/<model>:generateContent` (one JSON GenerateContentResponse) or
`:streamGenerateContent?alt=sse` (SSE, CRLF-framed like Google's) pops the next queued turn:

    async with FakeGemini() as up:              # in the test's own event loop
        up.queue_text("hello", chunks=["hel", "lo"])
        provider = GeminiProvider(model="gemini-2.5-flash", base_url=up.base_url, api_key="k")

    with FakeGemini.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...

A turn may carry `thoughts`: thought parts (`"thought": true`) before its text, as Gemini sends
them when asked to (`thinkingConfig.includeThoughts`). Every request is recorded in `requests`
(path, query, body, headers).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from tests.fakes.base import ScriptedError, ScriptedServer, split_text, stall_times
from tests.fakes.images import gemini_problem

_Error = ScriptedError
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
    thoughts: str = ""


class FakeGemini(ScriptedServer):
    thread_name = "fake-gemini"
    requests: list[GeminiRequest]
    _turns: deque[_Reply | _Error]

    def __init__(self, *, api_key: str | None = None) -> None:
        """`api_key`: when set, a request without it in `x-goog-api-key` is refused as Google
        does: 403 PERMISSION_DENIED when missing, 400 API_KEY_INVALID when wrong."""
        super().__init__()
        self.api_key = api_key

    # -- scripting ---------------------------------------------------------------------------

    def queue_text(
        self,
        text: str,
        chunks: Sequence[str] | None = None,
        *,
        finish_reason: str = "STOP",
        thoughts: str = "",
    ) -> None:
        """`chunks` (default: word by word) must join back to `text`; a whole answer sends the
        text as one part. `thoughts` come first, word by word in a stream."""
        self._turns.append(
            _Reply(split_text(text, chunks), finish_reason=finish_reason, thoughts=thoughts)
        )

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
        before, during = stall_times(seconds, mid_stream)
        self._turns.append(_Reply(("la", "te"), stall=before, mid_stall=during))

    def queue_broken_chunk(self) -> None:
        self._turns.append(_Reply(("partial",), broken=True))

    # -- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/{resource:.+}", self._generate)

    def _record(self, request: web.Request, body: dict[str, Any]) -> None:
        self.requests.append(
            GeminiRequest(request.path, dict(request.query), body, dict(request.headers))
        )

    # -- HTTP --------------------------------------------------------------------------------

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_object(request)
        if body is None:
            return _error(400, "fake gemini: request body is not a JSON object")
        self._record(request, body)
        _, _, action = request.match_info["resource"].rpartition(":")
        if action not in ("generateContent", "streamGenerateContent"):
            return _error(404, f"fake gemini: unknown method {action!r}")
        if denied := self._check_key(request):
            return denied
        if problem := gemini_problem(body):
            return _error(400, problem)
        turn = self._pop_turn()
        if turn is None:
            return _error(500, NO_TURN_LEFT)
        if isinstance(turn, _Error):
            return _error(turn.status, turn.message, turn.headers, turn.details)
        if self._is_trickle(turn):
            stream = action == "streamGenerateContent"
            return await self._trickle(request, turn, stream=stream)

        async def answer() -> web.StreamResponse:
            if action == "streamGenerateContent":
                return await self._stream(request, body, turn)
            return self._whole(body, turn)

        return await self._answer(turn.stall, answer)

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
        parts: list[dict[str, Any]] = [{"text": turn.thoughts, "thought": True}]
        parts = parts if turn.thoughts else []
        parts += [{"text": "".join(turn.chunks)}] if turn.chunks else []
        parts += [_call_part(c) for c in turn.calls]
        return web.json_response(_response(parts, turn.finish_reason, _usage(body, turn)))

    async def _stream(
        self, request: web.Request, body: dict[str, Any], turn: _Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        # Text chunk by chunk; calls whole in the last chunk, with finishReason and usage.
        thoughts = split_text(turn.thoughts, None)
        frames: list[list[dict[str, Any]]] = [[{"text": t, "thought": True}] for t in thoughts]
        frames += [[{"text": piece}] for piece in turn.chunks]
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
