"""The HTTP side of Responses background mode (gateway/background.py): starting a run that the
request does not own, following it again from a sequence number, and cancelling it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hermes.agent import AgentEvent
from hermes.errors import HermesError, InvalidRequest, NotFound
from hermes.gateway.background import LiveRun, run_in_background
from hermes.gateway.middleware import CALLER, RunSlot, json_response
from hermes.gateway.responses import ResponsesStream, begin, conversation_key
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import drive
from hermes.wire.openai_responses import ResponsesRequest, sse
from hermes.wire.sse import SSE_KEEPALIVE


async def respond_in_background(
    request: web.Request, rt: Runtime, req: ResponsesRequest
) -> web.StreamResponse:
    """Start the run as a task of the gateway's and answer at once (`in_progress`), or, with
    `stream`, follow it: a client that goes away stops following, not the run."""
    if not req.store:
        raise InvalidRequest(
            "A background response is stored: 'store' cannot be false.", param="store"
        )
    rt.background.check_room()
    owner = rt.owner(request[CALLER])
    ready: asyncio.Future[LiveRun] = asyncio.get_running_loop().create_future()
    rt.background.spawn(_work(request, rt, req, owner, ready))
    live = await ready  # a refusal before the run (404 previous_response_id, 429) is raised here
    if req.stream:
        return await _follow(request, rt, live.id, owner, -1)
    return json_response(live.response())


async def _work(
    request: web.Request,
    rt: Runtime,
    req: ResponsesRequest,
    owner: str,
    ready: asyncio.Future[LiveRun],
) -> None:
    key = conversation_key(owner, req.conversation)
    serial = rt.conversations.hold(key) if key else None
    try:
        async with serial or contextlib.nullcontext():
            with RunSlot(request):
                turn, events = await begin(rt, req, owner, key)
                stream = ResponsesStream(rt, turn)
                live = LiveRun(turn.id, owner, stream, task=asyncio.current_task())
                await rt.background.register(live)
                ready.set_result(live)
                await run_in_background(
                    rt.background,
                    live,
                    _steps(stream, events),
                    stream.failure_events,
                    lambda: _final(stream),
                )
    except BaseException as exc:
        if not ready.done():  # refused before it started: the request reports it
            if isinstance(exc, Exception):
                ready.set_exception(exc)
            else:
                ready.cancel()
        if not isinstance(exc, Exception):
            raise


async def _steps(
    stream: ResponsesStream, events: AsyncIterator[AgentEvent]
) -> AsyncIterator[list[dict[str, Any]]]:
    yield stream.opening_events()
    async for event in events:
        yield await stream.events_of(event)


def _final(stream: ResponsesStream) -> tuple[str, dict[str, Any]]:
    if stream.final is None:
        raise HermesError("the agent ended without finishing its run")
    return str(stream.final["status"]), stream.final


async def stream_again(
    request: web.Request, rt: Runtime, response_id: str, owner: str
) -> web.StreamResponse:
    """GET /v1/responses/{id}?stream=true&starting_after=N: the events after N, then live."""
    raw = request.query.get("starting_after", "-1")
    try:
        after = int(raw)
        if not -1 <= after < 2**63:  # what SQLite's integers hold
            raise ValueError(raw)
    except ValueError:
        raise InvalidRequest(
            "'starting_after' must be a sequence number (a whole number).", param="starting_after"
        ) from None
    if await rt.background.get(response_id, owner) is None:
        raise NotFound(
            f"no background response with id {response_id!r} (only a background response "
            "can be streamed again)",
            param="id",
        )
    return await _follow(request, rt, response_id, owner, after)


async def cancel_response(request: web.Request) -> web.Response:
    rt, response_id = request.app[RUNTIME], request.match_info["id"]
    owner = rt.owner(request[CALLER])
    response = await rt.background.cancel(response_id, owner)
    if response is None:
        if await rt.responses.get(response_id, owner) is not None:
            raise InvalidRequest(
                "Only a response created with background: true can be cancelled.", param="id"
            )
        raise NotFound(f"no stored response with id {response_id!r}", param="id")
    return json_response(response)


async def _follow(
    request: web.Request, rt: Runtime, response_id: str, owner: str, after: int
) -> web.StreamResponse:
    events = rt.background.follow(response_id, owner, after)
    stream = _Replay(response_id)
    return await drive(request, events, stream, None, rt.settings.keepalive_seconds)


class _Replay:
    """Recorded events as they were sent. A follower that fails only stops following."""

    keepalive = SSE_KEEPALIVE

    def __init__(self, response_id: str) -> None:
        self.label = f"response {response_id} (followed)"
        self.headers: dict[str, str] = {}

    def opening(self) -> bytes:
        return b""

    async def render(self, event: dict[str, Any]) -> bytes:
        return sse(event)

    def failure(self, message: str, error: HermesError | None) -> bytes:
        return b""

    def closing(self) -> bytes:
        return b""
