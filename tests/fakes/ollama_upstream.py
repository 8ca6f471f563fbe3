"""A scripted fake Ollama: a real aiohttp server on 127.0.0.1, port 0, speaking the native API.

Each POST /api/chat pops the next queued turn and answers it as NDJSON (one JSON object per line,
then a final `done` object) or as one JSON object, following the request's `stream` (which, as in
Ollama, defaults to true). A request for a model not in `models` gets Ollama's 404 without using a
turn. GET /api/tags and /api/version answer like Ollama too.

    async with FakeOllama() as up:              # in the test's own event loop
        up.queue_text("hello", chunks=["hel", "lo"])
        provider = OllamaProvider(model="fake-model", base_url=up.base_url)

    with FakeOllama.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...

A turn may carry `thinking`, sent in `message.thinking` before the text as Ollama sends a thinking
model's thoughts when the request says `think`. The bodies are built here by hand, not with
hermes.wire.ollama, so the fake checks the wire code instead of agreeing with it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.base import ScriptedError, ScriptedServer, split_text, stall_times
from tests.fakes.images import ollama_problem

_Error = ScriptedError
NO_TURN_LEFT = "fake ollama: no scripted turn left"
VERSION = "0.9.0"
_SPLIT_PAUSE = 0.002  # between the pieces of a split write, so the client reads them apart


@dataclass(frozen=True)
class _Reply:
    text: str = ""
    chunks: tuple[str, ...] = ()
    calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    done_reason: str = "stop"
    stall: float = 0.0  # before answering at all
    mid_stall: float = 0.0  # streaming only: after the first content line
    split_every: int | None = None  # streaming only: write the body in pieces this many bytes
    thinking: str = ""


class FakeOllama(ScriptedServer):
    thread_name = "fake-ollama"
    stream_filler = (b"\n", "application/x-ndjson")  # blank lines, which Ollama's clients skip
    requests: list[tuple[dict[str, Any], dict[str, str]]]
    _turns: deque[_Reply | _Error]

    def __init__(self, *, models: Sequence[str] = ("fake-model",)) -> None:
        super().__init__()
        self.models = tuple(models)

    # -- scripting ---------------------------------------------------------------------------

    def queue_text(
        self,
        text: str,
        chunks: Sequence[str] | None = None,
        *,
        split_every: int | None = None,
        done_reason: str = "stop",
        thinking: str = "",
    ) -> None:
        """`chunks` (default: word by word) must join back to `text`. `split_every` writes the
        streamed body in pieces of that many bytes, cutting lines (and UTF-8 characters).
        `thinking` comes first, word by word in a stream."""
        pieces = split_text(text, chunks)
        self._turns.append(
            _Reply(
                text, pieces, done_reason=done_reason, split_every=split_every, thinking=thinking
            )
        )

    def queue_tool_call(self, name: str, args: Mapping[str, Any]) -> None:
        self._turns.append(_Reply(calls=((name, dict(args)),)))

    def queue_tool_calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self._turns.append(_Reply(calls=tuple((n, dict(a)) for n, a in calls)))

    def queue_error(self, status: int, message: str) -> None:
        self._turns.append(_Error(status, message))

    def queue_stall(self, seconds: float = 3600.0, *, mid_stream: bool = False) -> None:
        """Accept, then wait `seconds` before answering "late". With `mid_stream`, a streaming
        answer sends "la" before the wait (for idle-read timeouts)."""
        before, during = stall_times(seconds, mid_stream)
        self._turns.append(_Reply("late", ("la", "te"), stall=before, mid_stall=during))

    # -- lifecycle ---------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/version", self._version)

    # -- HTTP --------------------------------------------------------------------------------

    async def _tags(self, request: web.Request) -> web.Response:
        models = [
            {
                "name": m,
                "model": m,
                "modified_at": _now(),
                "size": 1_000_000,
                "digest": f"{i:064x}",
                "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
            }
            for i, m in enumerate(self.models)
        ]
        return web.json_response({"models": models})

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_object(request)
        if body is None:
            return _error(400, "invalid request: body is not a JSON object")
        self._record(request, body)
        model = body.get("model")
        if model not in self.models:
            return _error(404, f'model "{model}" not found, try pulling it first')
        if problem := ollama_problem(body):
            return _error(400, problem)
        turn = self._pop_turn()
        if turn is None:
            return _error(500, NO_TURN_LEFT)
        if isinstance(turn, _Error):
            return _error(turn.status, turn.message)
        if self._is_trickle(turn):
            return await self._trickle(request, turn, stream=bool(body.get("stream", True)))

        async def answer() -> web.StreamResponse:
            if body.get("stream", True):
                return await self._stream(request, str(model), turn, _prompt_tokens(body))
            return web.json_response(_whole(str(model), turn, _prompt_tokens(body)))

        return await self._answer(turn.stall, answer)

    async def _stream(
        self, request: web.Request, model: str, turn: _Reply, prompt_tokens: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        lines = [_line(_thought(model, t)) for t in split_text(turn.thinking, None)]
        lines += [_line(_piece(model, text)) for text in turn.chunks]
        if turn.calls:
            lines.append(_line(_piece(model, "", [_call(n, a) for n, a in turn.calls])))
        lines.append(_line(_final(model, turn, prompt_tokens)))
        if turn.split_every:
            data = b"".join(lines)
            for start in range(0, len(data), turn.split_every):
                await response.write(data[start : start + turn.split_every])
                await asyncio.sleep(_SPLIT_PAUSE)
        else:
            for n, line in enumerate(lines):
                await response.write(line)
                if n == 0 and turn.mid_stall:
                    await asyncio.sleep(turn.mid_stall)
        await response.write_eof()
        return response


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode()


def _call(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    return {"function": {"name": name, "arguments": dict(args)}}


def _piece(model: str, text: str, calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return {"model": model, "created_at": _now(), "message": message, "done": False}


def _thought(model: str, text: str) -> dict[str, Any]:
    piece = _piece(model, "")
    piece["message"]["thinking"] = text
    return piece


def _final(model: str, turn: _Reply, prompt_tokens: int) -> dict[str, Any]:
    produced = turn.text + "".join(n + json.dumps(a) for n, a in turn.calls)
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": turn.done_reason,
        "total_duration": 1_000_000,
        "load_duration": 1_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 1_000,
        "eval_count": max(1, len(produced) // 4),
        "eval_duration": 1_000,
    }


def _whole(model: str, turn: _Reply, prompt_tokens: int) -> dict[str, Any]:
    answer = _final(model, turn, prompt_tokens)
    answer["message"] = {"role": "assistant", "content": turn.text}
    if turn.thinking:
        answer["message"]["thinking"] = turn.thinking
    if turn.calls:
        answer["message"]["tool_calls"] = [_call(n, a) for n, a in turn.calls]
    return answer


def _prompt_tokens(body: dict[str, Any]) -> int:
    chars = sum(
        len(m.get("content") or "") for m in body.get("messages") or [] if isinstance(m, dict)
    )
    return max(1, chars // 4)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
