"""/v1/responses: the OpenAI Responses API over a persistent, server-side conversation store.

A turn continues from `previous_response_id` (one stored row holds the whole history through
that response) or from the latest response of a named `conversation` (turns on one conversation
run one at a time). The model sees the profile's core prompt, the effective instructions (given,
or carried forward from the turn it continues), then the history and the new input."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hermes.agent import AgentEvent, RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError, NotFound
from hermes.gateway.attachments import resolve_responses
from hermes.gateway.middleware import RunSlot, json_response
from hermes.gateway.requests import idempotent, read_json
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import EventStream, Recorder, with_keepalive
from hermes.messages import Message, TextDelta
from hermes.providers.base import ModelParams
from hermes.stores.responses import StoredResponse
from hermes.wire.openai_responses import (
    EventSequence,
    ResponsesRequest,
    ResponseStatus,
    mcp_call_item,
    message_item,
    new_id,
    parse_responses_request,
    response_object,
    sse,
)

log = logging.getLogger("hermes.gateway")


@dataclass
class Turn:
    """One request's place in its conversation, resolved before the agent runs."""

    request: ResponsesRequest
    id: str
    created_at: int
    instructions: str | None
    history: list[Message]  # through the new input; what the stored row will start from
    previous: StoredResponse | None
    prefix: int = 0  # leading messages the server put before `history` (core prompt, instructions)

    def response(
        self, model: str, status: ResponseStatus, output: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        req = self.request
        return response_object(
            id=self.id,
            created_at=self.created_at,
            model=model,
            status=status,
            output=output,
            instructions=self.instructions,
            previous_response_id=req.previous_response_id,
            conversation=req.conversation,
            metadata=req.metadata,
            max_output_tokens=req.max_output_tokens,
            temperature=req.temperature,
            top_p=req.top_p,
            store=req.store,
            **extra,
        )


async def create_response(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    body = await read_json(request)
    req = await resolve_responses(request, parse_responses_request(body))  # images and files
    return await idempotent(request, body, lambda rec: _respond(request, rt, req, rec))


async def get_response(request: web.Request) -> web.Response:
    stored = await request.app[RUNTIME].responses.get(request.match_info["id"])
    if stored is None:
        raise _missing(request.match_info["id"], "id")
    return json_response(stored.response)


async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["id"]
    if not await request.app[RUNTIME].responses.delete(response_id):
        raise _missing(response_id, "id")
    return json_response({"id": response_id, "object": "response", "deleted": True})


def _missing(response_id: str, param: str) -> NotFound:
    return NotFound(f"no stored response with id {response_id!r}", param=param)


async def _respond(
    request: web.Request, rt: Runtime, req: ResponsesRequest, recorder: Recorder | None
) -> web.StreamResponse:
    serial = rt.conversations.hold(req.conversation) if req.conversation else None
    async with serial or contextlib.nullcontext():
        with RunSlot(request):
            turn = await _prepare(rt, req)
            agent = rt.agent(compact=True)
            system = [Message("system", turn.instructions)] if turn.instructions else []
            messages = layer(rt.prompt.get(), [*system, *turn.history])
            turn.prefix = len(messages) - len(turn.history)
            params = ModelParams(req.max_output_tokens, req.temperature, req.top_p)
            if req.stream:
                events = agent.run(messages, params)
                return await _stream(request, rt, turn, events, recorder)
            return await _complete(rt, turn, agent.run(messages, params, incremental=False))


async def _prepare(rt: Runtime, req: ResponsesRequest) -> Turn:
    previous: StoredResponse | None = None
    if req.previous_response_id:
        previous = await rt.responses.get(req.previous_response_id)
        if previous is None:
            raise _missing(req.previous_response_id, "previous_response_id")
    elif req.conversation:
        previous = await rt.responses.latest(req.conversation)
    instructions = req.instructions
    if instructions is None and previous is not None:
        instructions = previous.instructions
    history = [*(previous.history if previous else ()), *req.input]
    return Turn(req, new_id("resp_"), int(time.time()), instructions, history, previous)


@dataclass
class Output:
    """Builds the response's output items from agent events, and the stream events that tell a
    client about them as they happen: each model turn's text is a message item; each tool the
    gateway runs is one `mcp_call` item, added when it starts and done when it returns (the
    calls of one turn run concurrently, so they may finish in any order)."""

    seq: EventSequence | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    _message: int | None = None  # index of the message item being written
    _text: list[str] = field(default_factory=list)
    _calls: dict[str, int] = field(default_factory=dict)  # call id → index of its item

    def feed(self, event: AgentEvent) -> list[dict[str, Any]]:
        if isinstance(event, TextDelta):
            return self._text_delta(event.text) if event.text else []
        if isinstance(event, ToolStarted):
            return [*self._close_message(), *self._call_started(event)]
        if isinstance(event, ToolFinished):
            return self._call_finished(event)
        return []

    def _call_started(self, event: ToolStarted) -> list[dict[str, Any]]:
        item = mcp_call_item(new_id("mcp_"), event.call)
        self.items.append(item)
        index = self._calls[event.call.id] = len(self.items) - 1
        if self.seq is None:
            return []
        item_id, arguments = item["id"], event.call.arguments
        return [
            self.seq.output_item_added(index, item),
            self.seq.mcp_call_in_progress(item_id, index),
            self.seq.mcp_call_arguments_delta(item_id, index, arguments),
            self.seq.mcp_call_arguments_done(item_id, index, arguments),
        ]

    def _call_finished(self, event: ToolFinished) -> list[dict[str, Any]]:
        index = self._calls.pop(event.call.id, None)
        if index is None:
            return []
        ok, text = event.result.ok, event.result.output
        item = mcp_call_item(
            self.items[index]["id"],
            event.call,
            status="completed" if ok else "failed",
            output=text if ok else None,
            error=None if ok else text,
        )
        self.items[index] = item
        if self.seq is None:
            return []
        return [
            self.seq.mcp_call_finished(item["id"], index, ok),
            self.seq.output_item_done(index, item),
        ]

    def finish(self) -> list[dict[str, Any]]:
        """Close the last message; a response always ends with one."""
        events = []
        if self._message is None and (not self.items or self.items[-1]["type"] != "message"):
            events += self._open_message()
        return events + self._close_message()

    def _open_message(self) -> list[dict[str, Any]]:
        item = message_item(new_id("msg_"), None, status="in_progress")
        self.items.append(item)
        self._message, self._text = len(self.items) - 1, []
        if self.seq is None:
            return []
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self.seq.output_item_added(self._message, item),
            self.seq.content_part_added(item["id"], self._message, 0, part),
        ]

    def _text_delta(self, delta: str) -> list[dict[str, Any]]:
        events = self._open_message() if self._message is None else []
        assert self._message is not None
        self._text.append(delta)
        if self.seq is not None:
            item_id = self.items[self._message]["id"]
            events.append(self.seq.output_text_delta(item_id, self._message, 0, delta))
        return events

    def _close_message(self) -> list[dict[str, Any]]:
        if self._message is None:
            return []
        index, text = self._message, "".join(self._text)
        item = message_item(self.items[index]["id"], text)
        self.items[index] = item
        self._message = None
        if self.seq is None:
            return []
        part = item["content"][0]
        return [
            self.seq.output_text_done(item["id"], index, 0, text),
            self.seq.content_part_done(item["id"], index, 0, part),
            self.seq.output_item_done(index, item),
        ]


async def _finish(rt: Runtime, turn: Turn, output: Output, finished: RunFinished) -> dict[str, Any]:
    """The final response object, stored (with the history it ends) unless store=false."""
    incomplete = finished.reason == "length"
    body = turn.response(
        rt.settings.model_name,
        "incomplete" if incomplete else "completed",
        output.items,
        usage=finished.usage,
        incomplete_reason="max_output_tokens" if incomplete else None,
    )
    if turn.request.store:
        await rt.responses.put(
            StoredResponse(
                id=turn.id,
                created_at=turn.created_at,
                conversation=turn.request.conversation,
                previous_response_id=turn.previous.id if turn.previous else None,
                instructions=turn.instructions,
                # The working context: older turns condensed once it outgrew the budget.
                history=finished.context[turn.prefix :],
                response=body,
            )
        )
    return body


async def _complete(rt: Runtime, turn: Turn, events: AsyncIterator[AgentEvent]) -> web.Response:
    output = Output()
    async for event in events:
        if isinstance(event, RunFinished):
            output.finish()
            return json_response(await _finish(rt, turn, output, event))
        output.feed(event)
    raise HermesError("the agent ended without finishing its run")


async def _stream(
    request: web.Request,
    rt: Runtime,
    turn: Turn,
    events: AsyncIterator[AgentEvent],
    recorder: Recorder | None,
) -> web.StreamResponse:
    seq = EventSequence()
    out = EventStream(request, recorder)
    output = Output(seq)
    started = turn.response(rt.settings.model_name, "in_progress", [])
    await out.send(sse(seq.created(started)) + sse(seq.in_progress(started)))
    try:
        async for event in with_keepalive(events, rt.settings.keepalive_seconds):
            if event is None:
                await out.send(b": keep-alive\n\n")
            elif isinstance(event, RunFinished):
                ladder = output.finish()
                body = await _finish(rt, turn, output, event)
                done = (
                    seq.incomplete(body) if body["status"] == "incomplete" else seq.completed(body)
                )
                await out.send(b"".join(sse(e) for e in (*ladder, done)))
            else:
                ladder = output.feed(event)
                if ladder:
                    await out.send(b"".join(sse(e) for e in ladder))
    except HermesError as exc:
        log.warning("response %s failed: %s", turn.id, exc.message)
        if recorder is not None:
            recorder.failed = True
        # The Responses API has its own short list of error codes.
        code = "rate_limit_exceeded" if exc.status == 429 else "server_error"
        error = {"code": code, "message": exc.message}
        failed = turn.response(rt.settings.model_name, "failed", output.items, error=error)
        await out.send(sse(seq.failed(failed)))
    assert out.response is not None
    return out.response
