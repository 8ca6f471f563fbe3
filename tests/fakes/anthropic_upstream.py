"""A scripted fake Anthropic Messages API: a real aiohttp server on 127.0.0.1, port 0.

Each POST /v1/messages is checked the way Anthropic checks it (headers, max_tokens, roles, tool
result pairing), then pops the next queued turn and answers it streaming (named SSE events, framed
as Anthropic frames them) or as one `message` object, following the request's `stream`:

    async with FakeAnthropic() as up:              # in the test's own event loop
        up.queue_text("hello", chunks=["hel", "lo"])
        provider = AnthropicProvider(model="claude-x", base_url=up.base_url, api_key="sk-ant")

    with FakeAnthropic.in_thread() as up:          # sync tests, or gateways run as subprocesses
        ...

A turn may begin with extended thinking (`thinking=`, signed by this fake; `redacted=`, a
`redacted_thinking` block). Requests are checked as Anthropic checks thinking: a `thinking`
parameter with a budget of at least 1024 below max_tokens and no temperature; every thinking
block sent back carrying a signature this fake issued for its text; and, with thinking on, a
tool-use turn under way starting with its thinking block.

The answers are written out here by hand, not with hermes.wire.anthropic, so a test checks the
provider against the documented format rather than against itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hermes.wire.sse import sse_event
from tests.fakes.base import SSE_HEADERS, ScriptedError, ScriptedServer, split_text, stall_times
from tests.fakes.images import anthropic_problem

_Error = ScriptedError
NO_TURN_LEFT = "fake upstream: no scripted turn left"
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_ERROR_STATUS = {kind: status for status, kind in _ERROR_TYPES.items()}
_JSON_PIECE = 7  # tool input JSON is streamed in fragments this long


@dataclass(frozen=True)
class _Call:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class _Reply:
    text: str = ""
    chunks: tuple[str, ...] = ()
    calls: tuple[_Call, ...] = ()
    stop_reason: str = "end_turn"
    stall: float = 0.0  # before answering at all
    mid_stall: float = 0.0  # streaming only: after the first text delta
    chunk_delay: float = 0.0
    stream_error: tuple[str, str] | None = None  # (type, message) sent as an `error` event
    thinking: str = ""
    redacted: str = ""


class FakeAnthropic(ScriptedServer):
    thread_name = "fake-anthropic"
    requests: list[tuple[dict[str, Any], dict[str, str]]]
    _turns: deque[_Reply | _Error]

    def __init__(self, *, api_key: str | None = None) -> None:
        """`api_key`: when set, requests without `x-api-key: <api_key>` get a 401."""
        super().__init__()
        self.api_key = api_key
        self._ids = itertools.count(1)
        self._secret = secrets.token_hex(8)  # another fake's signatures do not verify here

    # -- scripting ---------------------------------------------------------------------------

    def queue_text(
        self,
        text: str,
        *,
        chunks: Sequence[str] | None = None,
        chunk_delay: float = 0.0,
        stop_reason: str = "end_turn",
        thinking: str = "",
        redacted: str = "",
    ) -> None:
        """`chunks` (default: word by word) must join back to `text`; `thinking` (streamed word
        by word) and `redacted` are thinking blocks before it."""
        self._turns.append(
            _Reply(
                text,
                split_text(text, chunks),
                chunk_delay=chunk_delay,
                stop_reason=stop_reason,
                thinking=thinking,
                redacted=redacted,
            )
        )

    def queue_tool_call(
        self,
        name: str,
        args: Mapping[str, Any],
        call_id: str | None = None,
        *,
        text: str = "",
        thinking: str = "",
    ) -> None:
        """A tool_use turn, optionally with text before the call (Claude often says what it is
        about to do) and thinking before that."""
        self.queue_tool_calls([(name, args)], text=text, call_ids=[call_id], thinking=thinking)

    def queue_tool_calls(
        self,
        calls: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        text: str = "",
        call_ids: Sequence[str | None] = (),
        thinking: str = "",
    ) -> None:
        ids = list(call_ids) + [None] * (len(calls) - len(call_ids))
        made = tuple(
            _Call(i or f"toolu_fake{next(self._ids):02d}", n, dict(a))
            for (n, a), i in zip(calls, ids, strict=True)
        )
        self._turns.append(
            _Reply(
                text, split_text(text, None), calls=made, stop_reason="tool_use", thinking=thinking
            )
        )

    def signature(self, thinking: str) -> str:
        """The signature this fake gives a thinking block with this text."""
        digest = hashlib.sha256((self._secret + thinking).encode()).hexdigest()
        return "sig_" + digest[:32]

    def queue_error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._turns.append(_Error(status, message, dict(headers or {})))

    def queue_stall(self, seconds: float = 3600.0, *, mid_stream: bool = False) -> None:
        """Accept, then wait `seconds` before answering "late". With `mid_stream`, a streaming
        answer sends its start events and "la" before the wait (for idle-read timeouts)."""
        before, during = stall_times(seconds, mid_stream)
        self._turns.append(_Reply("late", ("la", "te"), stall=before, mid_stall=during))

    def queue_stream_error(
        self, kind: str = "overloaded_error", message: str = "Overloaded", *, after: str = ""
    ) -> None:
        """A 200 stream that breaks off with an `error` event, after the text `after` if any.
        A non-streaming request gets the HTTP status of that error type instead."""
        self._turns.append(_Reply(after, split_text(after, None), stream_error=(kind, message)))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What the provider is configured with: it appends /v1/messages itself."""
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    # -- HTTP --------------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_object(request)
        if body is None:
            return _error(400, "fake upstream: request body is not a JSON object")
        self._record(request, body)
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return _error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "anthropic-version: header is required")
        if problem := _invalid(body) or self._invalid_thinking(body):
            return _error(400, problem)
        turn = self._pop_turn()
        if turn is None:
            return _error(500, NO_TURN_LEFT)
        if isinstance(turn, _Error):
            return _error(turn.status, turn.message, turn.headers)
        if self._is_trickle(turn):
            return await self._trickle(request, turn, stream=bool(body.get("stream")))

        async def answer() -> web.StreamResponse:
            if body.get("stream"):
                return await self._stream(request, body, turn)
            if turn.stream_error is not None:
                kind, message = turn.stream_error
                return _error(_ERROR_STATUS.get(kind, 500), message)
            return web.json_response(self._message(body, turn, whole=True))

        return await self._answer(turn.stall, answer)

    def _message(self, body: dict[str, Any], turn: _Reply, *, whole: bool) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if whole:
            content.extend(self._thinking_blocks(turn))
        if whole and turn.text:
            content.append({"type": "text", "text": turn.text})
        if whole:
            content.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}
                for c in turn.calls
            )
        usage = {
            "input_tokens": _input_tokens(body),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": _output_tokens(turn) if whole else 1,
        }
        return {
            "id": f"msg_fake{next(self._ids):02d}",
            "type": "message",
            "role": "assistant",
            "model": str(body.get("model")),
            "content": content,
            "stop_reason": turn.stop_reason if whole else None,
            "stop_sequence": None,
            "usage": usage,
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], turn: _Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)

        async def send(kind: str, data: dict[str, Any]) -> None:
            await response.write(sse_event({"type": kind, **data}, event=kind))

        await send("message_start", {"message": self._message(body, turn, whole=False)})
        index = await self._stream_thinking(send, turn)
        if turn.text:
            await send("content_block_start", {"index": index, "content_block": _EMPTY_TEXT})
            await send("ping", {})
            for n, piece in enumerate(turn.chunks):
                if n and turn.chunk_delay:
                    await asyncio.sleep(turn.chunk_delay)
                text_delta = {"type": "text_delta", "text": piece}
                await send("content_block_delta", _delta(index, text_delta))
                if n == 0 and turn.mid_stall:
                    await asyncio.sleep(turn.mid_stall)
            await send("content_block_stop", {"index": index})
            index += 1
        if turn.stream_error is not None:
            kind, message = turn.stream_error
            await send("error", {"error": {"type": kind, "message": message}})
            await response.write_eof()
            return response
        for call in turn.calls:
            await self._stream_call(send, index, call)
            index += 1
        await send(
            "message_delta",
            {
                "delta": {"stop_reason": turn.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": _output_tokens(turn)},
            },
        )
        await send("message_stop", {})
        await response.write_eof()
        return response

    def _thinking_blocks(self, turn: _Reply) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if turn.thinking:
            signature = self.signature(turn.thinking)
            blocks.append({"type": "thinking", "thinking": turn.thinking, "signature": signature})
        if turn.redacted:
            blocks.append({"type": "redacted_thinking", "data": turn.redacted})
        return blocks

    async def _stream_thinking(self, send: Any, turn: _Reply) -> int:
        """The turn's thinking blocks as Anthropic streams them; the next block's index."""
        index = 0
        if turn.thinking:
            head = {"type": "thinking", "thinking": "", "signature": ""}
            await send("content_block_start", {"index": 0, "content_block": head})
            for piece in split_text(turn.thinking, None):
                await send(
                    "content_block_delta", _delta(0, {"type": "thinking_delta", "thinking": piece})
                )
            signed = {"type": "signature_delta", "signature": self.signature(turn.thinking)}
            await send("content_block_delta", _delta(0, signed))
            await send("content_block_stop", {"index": 0})
            index = 1
        if turn.redacted:
            head = {"type": "redacted_thinking", "data": turn.redacted}
            await send("content_block_start", {"index": index, "content_block": head})
            await send("content_block_stop", {"index": index})
            index += 1
        return index

    def _invalid_thinking(self, body: dict[str, Any]) -> str | None:
        """What Anthropic would refuse about thinking in this (otherwise valid) request."""
        thinking = body.get("thinking")
        if thinking is not None:
            budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
            if thinking.get("type") != "enabled" or not isinstance(budget, int) or budget < 1024:
                return (
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            if budget >= body["max_tokens"]:
                return "`max_tokens` must be greater than `thinking.budget_tokens`"
            if body.get("temperature") not in (None, 1):
                return "`temperature` may only be set to 1 when thinking is enabled"
        messages = body["messages"]
        for n, message in enumerate(messages):
            content = message["content"]
            for m, block in enumerate(content if isinstance(content, list) else []):
                if block.get("type") == "thinking" and (
                    message["role"] != "assistant"
                    or block.get("signature") != self.signature(str(block.get("thinking")))
                ):
                    return f"messages.{n}.content.{m}: Invalid `signature` in `thinking` block"
        return _unthought_tool_turn(messages) if thinking is not None else None

    @staticmethod
    async def _stream_call(send: Any, index: int, call: _Call) -> None:
        head = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        await send("content_block_start", {"index": index, "content_block": head})
        text = json.dumps(call.input)
        # Anthropic opens every tool input with an empty fragment.
        pieces = ["", *(text[i : i + _JSON_PIECE] for i in range(0, len(text), _JSON_PIECE))]
        for piece in pieces:
            await send("content_block_delta", _delta(index, _json_delta(piece)))
        await send("content_block_stop", {"index": index})


_EMPTY_TEXT: dict[str, Any] = {"type": "text", "text": ""}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "delta": delta}


def _json_delta(piece: str) -> dict[str, Any]:
    return {"type": "input_json_delta", "partial_json": piece}


def _invalid(body: dict[str, Any]) -> str | None:
    """What Anthropic would refuse with a 400 in this request, or None."""
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or list"
    for n, tool in enumerate(body.get("tools") or []):
        schema = tool.get("input_schema") if isinstance(tool, dict) else None
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{n}.input_schema: Field required (an object schema)"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return _invalid_messages(messages)


def _unthought_tool_turn(messages: list[dict[str, Any]]) -> str | None:
    """With thinking on, a tool-use turn under way (the last assistant message, answered by
    tool results) must start with its thinking block."""
    if len(messages) < 2 or messages[-2]["role"] != "assistant":
        return None
    content = messages[-2]["content"]
    kinds = [b.get("type") for b in content] if isinstance(content, list) else ["text"]
    if "tool_use" in kinds and kinds[0] not in ("thinking", "redacted_thinking"):
        return (
            f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{kinds[0]}`. When `thinking` is enabled, a final "
            "`assistant` message must start with a thinking block."
        )
    return None


def _invalid_messages(messages: list[Any]) -> str | None:
    pending: set[str] = set()  # tool_use ids the next message must answer
    for n, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return (
                f'messages.{n}: Unexpected role "{role}". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{n}: all messages must have non-empty content"
        if not all(isinstance(b, dict) for b in blocks):
            return f"messages.{n}.content: Input should be a valid list of content blocks"
        results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        if results != pending and (pending or results):
            return (
                f"messages.{n}: each tool_result block must answer a tool_use block of the "
                "previous message, and each tool_use needs one"
            )
        for k, b in enumerate(blocks):
            if b.get("type") == "text" and not b.get("text"):
                return f"messages.{n}: text content blocks must be non-empty"
            if b.get("type") == "image":
                where = f"messages.{n}.content.{k}"
                if role != "user":
                    return f"{where}: image blocks are only allowed in user messages"
                if problem := anthropic_problem(b, where):
                    return problem
        pending = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
    return None


def _input_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    chars = len(system) if isinstance(system, str) else 0
    for message in body.get("messages") or []:
        content = message["content"]
        for block in [{"text": content}] if isinstance(content, str) else content:
            text = block.get("text") or block.get("content") or ""
            chars += len(text) if isinstance(text, str) else 0
    return max(1, chars // 4)


def _output_tokens(turn: _Reply) -> int:
    produced = turn.thinking + turn.text + "".join(c.name + json.dumps(c.input) for c in turn.calls)
    return max(1, len(produced) // 4)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)
