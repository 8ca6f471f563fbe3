"""A scripted fake OpenAI-compatible upstream: a real aiohttp server on 127.0.0.1, port 0.

Each POST /v1/chat/completions pops the next queued turn and answers it streaming (SSE exactly as
OpenAI frames it) or as one JSON object, following the request's `stream`. A turn may carry
`reasoning`, sent as compatible servers send it: in `reasoning_content` (DeepSeek, vLLM,
llama.cpp) or `reasoning` (OpenRouter, Ollama), before the text:

    async with FakeOpenAI() as up:              # in the test's own event loop
        up.queue_text("hello", chunks=["hel", "lo"])
        client = AsyncOpenAI(base_url=up.base_url, api_key="sk-test", max_retries=0)

    with FakeOpenAI.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hermes.messages import ToolCall, Usage
from hermes.wire.openai_chat import (
    SSE_DONE,
    chunk,
    completion_response,
    models_response,
    sse_event,
    usage_chunk,
)
from tests.fakes.base import SSE_HEADERS, ScriptedError, ScriptedServer, split_text, stall_times
from tests.fakes.images import openai_problem

_Error = ScriptedError
NO_TURN_LEFT = "fake upstream: no scripted turn left"
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
_ARGUMENT_PIECE = 7  # tool-call arguments are streamed in fragments this long


@dataclass(frozen=True)
class _Reply:
    text: str = ""
    chunks: tuple[str, ...] = ()
    calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"
    stall: float = 0.0  # before answering at all
    mid_stall: float = 0.0  # streaming only: after the first content chunk
    chunk_delay: float = 0.0
    broken: bool = False  # one valid chunk, then a data line that is not JSON
    reasoning: str = ""
    reasoning_field: str = "reasoning_content"


class FakeOpenAI(ScriptedServer):
    thread_name = "fake-openai"
    requests: list[tuple[dict[str, Any], dict[str, str]]]
    _turns: deque[_Reply | _Error]

    def __init__(self, *, models: Sequence[str] = ("fake-model",), api_key: str | None = None):
        """`api_key`: when set, requests without `Authorization: Bearer <api_key>` get a 401."""
        super().__init__()
        self.models = tuple(models)
        self.api_key = api_key
        self._ids = itertools.count(1)
        # Answers requests when no scripted turn is queued: text computed from the request body
        # (for tests whose number of model calls depends on what the gateway decides).
        self.responder: Callable[[dict[str, Any]], str] | None = None

    def reset(self) -> None:
        super().reset()
        self.responder = None

    # -- scripting ---------------------------------------------------------------------------

    def queue_text(
        self,
        text: str,
        *,
        chunks: Sequence[str] | None = None,
        chunk_delay: float = 0.0,
        finish_reason: str = "stop",
        reasoning: str = "",
        reasoning_field: str = "reasoning_content",
    ) -> None:
        """`chunks` (default: word by word) must join back to `text`; `reasoning` is streamed
        word by word in `reasoning_field` before it."""
        self._turns.append(
            _Reply(
                text,
                split_text(text, chunks),
                chunk_delay=chunk_delay,
                finish_reason=finish_reason,
                reasoning=reasoning,
                reasoning_field=reasoning_field,
            )
        )

    def queue_tool_call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str,
        call_id: str | None = None,
        *,
        reasoning: str = "",
    ) -> None:
        call = self._call(name, arguments, call_id)
        self._turns.append(_Reply(calls=(call,), reasoning=reasoning))

    def queue_tool_calls(self, calls: Sequence[tuple[str, Mapping[str, Any] | str]]) -> None:
        self._turns.append(_Reply(calls=tuple(self._call(n, a, None) for n, a in calls)))

    def queue_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._turns.append(_Error(status, message, dict(headers or {})))

    def queue_stall(self, seconds: float = 3600.0, *, mid_stream: bool = False) -> None:
        """Accept, then wait `seconds` before answering "late". With `mid_stream`, a streaming
        answer sends its role chunk and "la" before the wait (for idle-read timeouts)."""
        before, during = stall_times(seconds, mid_stream)
        self._turns.append(_Reply("late", ("la", "te"), stall=before, mid_stall=during))

    def queue_broken_chunk(self) -> None:
        self._turns.append(_Reply("partial", ("partial",), broken=True))

    def _call(self, name: str, arguments: Mapping[str, Any] | str, call_id: str | None) -> ToolCall:
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return ToolCall(call_id or f"call_fake{next(self._ids)}", name, args)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)

    # -- HTTP --------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if denied := self._check_key(request):
            return denied
        return web.json_response(models_response(self.models, created=int(time.time())))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_object(request)
        if body is None:
            return _error(400, "fake upstream: request body is not a JSON object")
        self._record(request, body)
        if denied := self._check_key(request):
            return denied
        if problem := openai_problem(body):
            return _error(400, problem)
        turn = self._pop_turn()
        if turn is None and self.responder is not None:
            text = self.responder(body)
            turn = _Reply(text, split_text(text, None))
        if turn is None:
            return _error(500, NO_TURN_LEFT)
        if isinstance(turn, _Error):
            return _error(turn.status, turn.message, turn.headers)
        if self._is_trickle(turn):
            return await self._trickle(request, turn, stream=bool(body.get("stream")))

        async def answer() -> web.StreamResponse:
            if body.get("stream"):
                return await self._stream(request, body, turn)
            return self._complete(body, turn)

        return await self._answer(turn.stall, answer)

    def _check_key(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return _error(401, "fake upstream: incorrect API key provided")

    def _complete(self, body: dict[str, Any], turn: _Reply) -> web.Response:
        if turn.broken:
            return web.Response(
                text='{"id": "chatcmpl-broken", "choi', content_type="application/json"
            )
        finish = "tool_calls" if turn.calls else turn.finish_reason
        answer = completion_response(
            f"chatcmpl-fake{next(self._ids)}",
            int(time.time()),
            str(body.get("model") or self.models[0]),
            turn.text or None,
            finish,
            _usage(body, turn),
            tool_calls=turn.calls,
        )
        if turn.reasoning:
            answer["choices"][0]["message"][turn.reasoning_field] = turn.reasoning
        return web.json_response(answer)

    async def _stream(
        self, request: web.Request, body: dict[str, Any], turn: _Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        ident, created = f"chatcmpl-fake{next(self._ids)}", int(time.time())
        model = str(body.get("model") or self.models[0])
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = chunk(ident, created, model, delta, finish)
            if include_usage:
                data["usage"] = None  # OpenAI sends an explicit null until the usage chunk
            return sse_event(data)

        for n, delta in enumerate(_deltas(turn)):
            if n and turn.chunk_delay:
                await asyncio.sleep(turn.chunk_delay)
            await response.write(frame(delta))
            if n == 1 and turn.broken:  # after the first text, so the client saw output
                await response.write(b'data: {"id": "chatcmpl-broken", "choi\n\n')
                await response.write_eof()
                return response
            if n == 1 and turn.mid_stall:
                await asyncio.sleep(turn.mid_stall)
        await response.write(frame({}, "tool_calls" if turn.calls else turn.finish_reason))
        if include_usage:
            await response.write(sse_event(usage_chunk(ident, created, model, _usage(body, turn))))
        await response.write(SSE_DONE)
        await response.write_eof()
        return response


def _deltas(turn: _Reply) -> list[dict[str, Any]]:
    """The deltas OpenAI streams for a turn: the role first, text pieces, then each tool call's
    head (id, name) followed by its arguments in fragments."""
    deltas: list[dict[str, Any]] = []
    if turn.text or turn.reasoning or not turn.calls:
        deltas.append({"role": "assistant", "content": "", "refusal": None})
        deltas.extend({turn.reasoning_field: p} for p in split_text(turn.reasoning, None))
        deltas.extend({"content": piece} for piece in turn.chunks)
    for index, call in enumerate(turn.calls):
        function = {"name": call.name, "arguments": ""}
        head = {"index": index, "id": call.id, "type": "function", "function": function}
        if deltas:
            deltas.append({"tool_calls": [head]})
        else:
            deltas.append({"role": "assistant", "content": None, "tool_calls": [head]})
        for start in range(0, len(call.arguments), _ARGUMENT_PIECE):
            piece = call.arguments[start : start + _ARGUMENT_PIECE]
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


def _usage(body: dict[str, Any], turn: _Reply) -> Usage:
    chars = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    produced = turn.text + "".join(c.name + c.arguments for c in turn.calls)
    return Usage(max(1, chars // 4), max(1, len(produced) // 4))


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    error = {
        "message": message,
        "type": _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request"),
        "param": None,
        "code": None,
    }
    return web.json_response({"error": error}, status=status, headers=headers)
