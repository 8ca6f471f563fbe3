"""The native session API: the server owns each username's sessions.

POST /api/v1/chat sends one message to a session and streams the turn as `data: <json>` events
(`session_id`, `reasoning`, `delta`, `tool_call`, `tool_result`, `complete`, then `end`; `error`
before `end` on failure) or answers it as one JSON object. POST /api/v1/acp is the same turn inside
ACP envelopes. The session's history lives in the profile's SQLite state; turns on one session run
one at a time, and the working context is condensed when it outgrows the context budget."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from hermes.agent import RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError, InvalidRequest
from hermes.gateway.detach import detached
from hermes.gateway.identity import scoped_username, username_for, with_username
from hermes.gateway.middleware import RunSlot, json_response
from hermes.gateway.requests import idempotent, read_json
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import Recorder, drive
from hermes.messages import Message, ReasoningDelta, TextDelta, Usage
from hermes.stores.sessions import Session, check_session_id, check_username, new_session_id
from hermes.wire import acp
from hermes.wire.sse import sse_event

log = logging.getLogger("hermes.gateway")

Event = dict[str, Any]
HEARTBEAT = b": heartbeat\n\n"


@dataclass(frozen=True, slots=True)
class TurnRequest:
    username: str
    message: str
    session_id: str | None
    stream: bool
    context: str | None = None  # ACP's per-turn context, given as instructions, never stored


def parse_chat(body: Any) -> TurnRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise InvalidRequest("`message` is required: a non-empty string", param="message")
    session_id = body.get("session_id")
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise InvalidRequest("`stream` must be true or false", param="stream")
    return TurnRequest(
        check_username(body.get("username")),
        message,
        check_session_id(session_id) if session_id is not None else None,
        stream,
    )


async def chat(request: web.Request) -> web.StreamResponse:
    body = with_username(request, await read_json(request))
    turn = parse_chat(body)
    turn = replace(turn, username=scoped_username(request, turn.username))
    return await idempotent(
        request, body, lambda rec: run_turn(request, turn, _native, _native_whole, rec)
    )


async def acp_chat(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    req = acp.parse_request(body)
    turn = TurnRequest(
        _acp_field(lambda given: username_for(request, given), req.user_id, "metadata.user_id"),
        req.message,
        _acp_field(check_session_id, req.session_id, "payload.session_id")
        if req.session_id
        else None,
        req.stream,
        req.context,
    )

    def whole(result: Event) -> Event:
        payload = {
            "session_id": result["session_id"],
            "message": result["text"],
            "usage": result["usage"],
            "tool_calls": result["tool_calls"],
        }
        return acp.envelope("chat.response", payload, req.user_id)

    def render(sid: str, event: Event) -> Event | None:
        return acp.from_event(event, sid, req.user_id)

    return await idempotent(request, body, lambda rec: run_turn(request, turn, render, whole, rec))


def _acp_field(check: Callable[[object], str], value: object, field: str) -> str:
    """The session API's check of a value, its refusal naming the envelope's field."""
    try:
        return check(value)
    except InvalidRequest as exc:
        problem = exc.message.removeprefix(f"`{exc.param}`") if exc.param else exc.message
        raise InvalidRequest(f"invalid ACP envelope: `{field}`{problem}", param=field) from None


def _native(session_id: str, event: Event) -> Event:
    return event


def _native_whole(result: Event) -> Event:
    return result


async def run_turn(
    request: web.Request,
    turn: TurnRequest,
    render: Callable[[str, Event], Event | None],
    whole: Callable[[Event], Event],
    recorder: Recorder | None = None,
) -> web.StreamResponse:
    """One message on one session: open (or create) it, run the agent, record the turn.
    `render` turns each stream event into what is sent (None: skip); `whole` shapes the
    non-streamed answer."""
    rt = request.app[RUNTIME]
    session_id = turn.session_id or new_session_id()
    held = contextlib.AsyncExitStack()
    async with contextlib.AsyncExitStack() as refusal:  # closes `held` if the turn never starts
        refusal.push_async_callback(held.aclose)
        held.enter_context(RunSlot(request))  # 429 here, before any byte
        await held.enter_async_context(rt.conversations.hold("session\0" + session_id))
        session = await rt.sessions.open_session(turn.username, session_id)
        refusal.pop_all()
    finish = rt.settings.session_on_disconnect == "finish"
    label = f"session {session_id}: turn"
    events = detached(_turn_events(rt, turn, session), held, finish=finish, label=label)
    if turn.stream:
        return await _stream(request, rt, session_id, events, render, recorder)
    return json_response(whole(await _collect(session_id, events)))


async def _turn_events(rt: Runtime, turn: TurnRequest, session: Session) -> AsyncIterator[Event]:
    user = Message("user", turn.message)
    extra = [Message("system", turn.context)] if turn.context else []
    messages = layer(rt.prompt.get(), [*extra, *session.context, user])
    prefix = len(messages) - len(session.context) - 1
    text: list[str] = []
    async for event in rt.agent(compact=True).run(messages):
        if isinstance(event, TextDelta):
            if event.text:
                text.append(event.text)
                yield {"type": "delta", "text": event.text}
        elif isinstance(event, ReasoningDelta):
            if event.text and rt.settings.show_reasoning:
                yield {"type": "reasoning", "text": event.text}
        elif isinstance(event, ToolStarted):
            args = _arguments(event.call.arguments)
            yield {"type": "tool_call", "tool": event.call.name, "arguments": args}
        elif isinstance(event, ToolFinished):
            yield {"type": "tool_result", "tool": event.call.name, "output": event.result.output}
        elif isinstance(event, RunFinished):
            said = [user, *event.transcript]
            context = event.context[prefix:]
            await rt.sessions.append(session.info.session_id, said, context)
            yield {"type": "complete", "text": "".join(text), "usage": _usage(event.usage)}


async def _collect(session_id: str, events: AsyncIterator[Event]) -> Event:
    result: Event = {"session_id": session_id, "text": "", "usage": _usage(Usage())}
    calls: list[Event] = []
    async for event in events:
        if event["type"] == "tool_call":
            calls.append({"tool": event["tool"], "arguments": event["arguments"]})
        elif event["type"] == "tool_result":
            # Results come in call order: the first call of that tool still without one.
            waiting = (c for c in calls if "output" not in c and c["tool"] == event["tool"])
            pending = next(waiting, None)
            if pending is not None:
                pending["output"] = event["output"]
        elif event["type"] == "reasoning":
            result["reasoning"] = result.get("reasoning", "") + event["text"]
        elif event["type"] == "complete":
            result.update(text=event["text"], usage=event["usage"])
    result["tool_calls"] = calls
    return result


async def _stream(
    request: web.Request,
    rt: Runtime,
    session_id: str,
    events: AsyncIterator[Event],
    render: Callable[[str, Event], Event | None],
    recorder: Recorder | None,
) -> web.StreamResponse:
    stream = SessionStream(session_id, render)
    return await drive(request, events, stream, recorder, rt.settings.keepalive_seconds)


class SessionStream:
    """A turn as `data: <json>` events, each shaped by `render` (native or ACP): the session's
    id at once, the turn's events, an `error` if it failed, `end` always."""

    keepalive = HEARTBEAT

    def __init__(self, session_id: str, render: Callable[[str, Event], Event | None]) -> None:
        self.session_id = session_id
        self.label = f"session {session_id}: turn"
        self.headers: dict[str, str] = {}
        self._render = render

    def _event(self, event: Event) -> bytes:
        rendered = self._render(self.session_id, event)
        return b"" if rendered is None else sse_event(rendered)

    def opening(self) -> bytes:
        return self._event({"type": "session_id", "session_id": self.session_id})

    async def render(self, event: Event) -> bytes:
        return self._event(event)

    def failure(self, message: str, error: HermesError | None) -> bytes:
        return self._event({"type": "error", "message": message})

    def closing(self) -> bytes:
        return self._event({"type": "end"})


def _arguments(raw: str) -> Any:
    """The call's arguments as JSON when they parse (what a client wants to show), else raw."""
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return raw


def _usage(usage: Usage) -> Event:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
