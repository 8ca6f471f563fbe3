"""/v1/responses: the OpenAI Responses API over a persistent, server-side conversation store.

A turn continues from `previous_response_id` (one stored row holds the whole history through
that response) or from the latest response of a named `conversation` (turns on one conversation
run one at a time). The model sees the profile's core prompt, the effective instructions (given,
or carried forward from the turn it continues), then the history and the new input."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from hermes.agent import AgentEvent, RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError, NotFound
from hermes.gateway.attachments import resolve_responses
from hermes.gateway.middleware import CALLER, RunSlot, json_response
from hermes.gateway.reasoning import ReasoningItems
from hermes.gateway.requests import idempotent, read_json
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import Recorder, drive
from hermes.gateway.turns import check_tool_outputs
from hermes.messages import Message, ReasoningDelta, TextDelta, ToolCall
from hermes.providers.base import ModelParams
from hermes.stores.responses import StoredResponse
from hermes.wire.openai_responses import (
    EventSequence,
    ResponsesRequest,
    ResponseStatus,
    function_call_item,
    mcp_call_item,
    message_item,
    new_id,
    parse_responses_request,
    response_object,
    sse,
)
from hermes.wire.sse import SSE_KEEPALIVE


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
    owner: str = ""  # the named key it belongs to (see Runtime.owner)
    conversation_key: str | None = None  # the conversation's name in the store, owner's own

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
            tools=req.tools.echo,
            tool_choice=req.tools.choice,
            parallel_tool_calls=req.tools.parallel,
            reasoning_effort=req.reasoning_effort,
            background=req.background,
            **extra,
        )


async def create_response(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    body = await read_json(request)
    req = await resolve_responses(request, parse_responses_request(body))  # images and files
    return await idempotent(request, body, lambda rec: _respond(request, rt, req, rec))


async def get_response(request: web.Request) -> web.StreamResponse:
    rt, response_id = request.app[RUNTIME], request.match_info["id"]
    owner = rt.owner(request[CALLER])
    if request.query.get("stream", "false").lower() in ("true", "1"):
        from hermes.gateway.responses_background import stream_again

        return await stream_again(request, rt, response_id, owner)
    stored = await rt.responses.get(response_id, owner)
    if stored is not None and stored.response.get("object") == "response":  # not a chat answer
        return json_response(stored.response)
    running = await rt.background.get(response_id, owner)  # a background run's state
    if running is None:
        raise _missing(response_id, "id")
    return json_response(running)


async def delete_response(request: web.Request) -> web.Response:
    response_id, rt = request.match_info["id"], request.app[RUNTIME]
    if not await rt.responses.delete(response_id, rt.owner(request[CALLER])):
        raise _missing(response_id, "id")
    return json_response({"id": response_id, "object": "response", "deleted": True})


def _missing(response_id: str, param: str) -> NotFound:
    return NotFound(f"no stored response with id {response_id!r}", param=param)


async def _respond(
    request: web.Request, rt: Runtime, req: ResponsesRequest, recorder: Recorder | None
) -> web.StreamResponse:
    if req.background:
        from hermes.gateway.responses_background import respond_in_background

        return await respond_in_background(request, rt, req)
    owner = rt.owner(request[CALLER])
    key = conversation_key(owner, req.conversation)
    serial = rt.conversations.hold(key) if key else None
    async with serial or contextlib.nullcontext():
        with RunSlot(request):
            turn, events = await begin(rt, req, owner, key)
            if req.stream:
                return await _stream(request, rt, turn, events, recorder)
            return await _complete(rt, turn, events)


def conversation_key(owner: str, conversation: str | None) -> str | None:
    """A named key's conversations are its own: another key's "trip" is another conversation."""
    return f"{owner}\x1f{conversation}" if owner and conversation else conversation


async def begin(
    rt: Runtime, req: ResponsesRequest, owner: str, key: str | None
) -> tuple[Turn, AsyncIterator[AgentEvent]]:
    """The turn resolved against its history, and the agent's run of it."""
    theirs = rt.client_tools(req.tools, "responses")
    turn = await _prepare(rt, req, owner, key)
    agent = rt.agent(compact=True)
    system = [Message("system", turn.instructions)] if turn.instructions else []
    messages = layer(rt.prompt.get(), [*system, *turn.history])
    turn.prefix = len(messages) - len(turn.history)
    params = ModelParams(
        req.max_output_tokens,
        req.temperature,
        req.top_p,
        reasoning_effort=req.reasoning_effort,
        tool_choice=req.tools.choice,
        parallel_tool_calls=req.tools.parallel,
    )
    incremental = req.stream or req.background  # a background run's events are followed live
    return turn, agent.run(messages, params, incremental=incremental, client_tools=theirs)


async def _prepare(
    rt: Runtime, req: ResponsesRequest, owner: str, conversation: str | None
) -> Turn:
    previous: StoredResponse | None = None
    if req.previous_response_id:
        previous = await rt.responses.get(req.previous_response_id, owner)
        if previous is None:
            raise _missing(req.previous_response_id, "previous_response_id")
    elif conversation:
        previous = await rt.responses.latest(conversation)
    instructions = req.instructions
    if instructions is None and previous is not None:
        instructions = previous.instructions
    history = [*(previous.history if previous else ()), *req.input]
    check_tool_outputs(previous.history if previous else (), req.input)
    turn = Turn(req, new_id("resp_"), int(time.time()), instructions, history, previous)
    turn.owner, turn.conversation_key = owner, conversation
    return turn


@dataclass
class Output:
    """Builds the response's output items from agent events, and the stream events that tell a
    client about them as they happen: each model turn's reasoning is a reasoning item (unless
    `show_reasoning` is off) and its text a message item; each tool the gateway runs is one
    `mcp_call` item, added when it starts and done when it returns (the calls of one turn run
    concurrently, so they may finish in any order)."""

    seq: EventSequence | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    show_reasoning: bool = True
    _message: int | None = None  # index of the message item being written
    _text: list[str] = field(default_factory=list)
    _calls: dict[str, int] = field(default_factory=dict)  # call id → index of its item
    _reasoning: ReasoningItems = field(init=False)

    def __post_init__(self) -> None:
        self._reasoning = ReasoningItems(self.items, self.seq)

    def feed(self, event: AgentEvent) -> list[dict[str, Any]]:
        if isinstance(event, ReasoningDelta):
            if not (event.text and self.show_reasoning):
                return []
            return [*self._close_message(), *self._reasoning.delta(event.text)]
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            return [*self._reasoning.close(), *self._text_delta(event.text)]
        if isinstance(event, ToolStarted):
            return [*self._reasoning.close(), *self._close_message(), *self._call_started(event)]
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
        # As OpenAI streams it: the added item has no arguments yet, the deltas bring them.
        # Clients build the call from `added` + deltas (pydantic-ai asserts the empty start).
        return [
            self.seq.output_item_added(index, {**item, "arguments": ""}),
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

    def finish(self, finished: RunFinished) -> list[dict[str, Any]]:
        """Close the last message, then hand over the client's calls, if the run ended in them;
        else a response always ends with a message."""
        events = [*self._reasoning.close(), *self._close_message()]
        if finished.client_calls:
            for call in finished.client_calls:
                events += self._function_call(call)
            return events
        if self._message is None and (not self.items or self.items[-1]["type"] != "message"):
            events += self._open_message()
        return events + self._close_message()

    def _function_call(self, call: ToolCall) -> list[dict[str, Any]]:
        """A call the client runs, whole at once: its arguments are complete by now."""
        item = function_call_item(new_id("fc_"), call)
        self.items.append(item)
        if self.seq is None:
            return []
        index, item_id = len(self.items) - 1, item["id"]
        return [
            self.seq.output_item_added(index, {**item, "arguments": "", "status": "in_progress"}),
            self.seq.function_call_arguments_delta(item_id, index, call.arguments),
            self.seq.function_call_arguments_done(item_id, index, call.arguments, call.name),
            self.seq.output_item_done(index, item),
        ]

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
                conversation=turn.conversation_key,
                previous_response_id=turn.previous.id if turn.previous else None,
                instructions=turn.instructions,
                # The working context: older turns condensed once it outgrew the budget.
                history=finished.context[turn.prefix :],
                response=body,
                owner=turn.owner,
            )
        )
    return body


async def _complete(rt: Runtime, turn: Turn, events: AsyncIterator[AgentEvent]) -> web.Response:
    output = Output(show_reasoning=rt.settings.show_reasoning)
    async for event in events:
        if isinstance(event, RunFinished):
            output.finish(event)
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
    stream = ResponsesStream(rt, turn)
    return await drive(request, events, stream, recorder, rt.settings.keepalive_seconds)


class ResponsesStream:
    """A run as Responses stream events: created and in_progress at once, each output item's
    ladder as the run goes (see Output), then completed, incomplete or failed with the whole
    response, stored before the last event goes out. The events as dicts (`*_events`, what a
    background run records) or as SSE bytes (the Renderer a live stream is driven by)."""

    keepalive = SSE_KEEPALIVE

    def __init__(self, rt: Runtime, turn: Turn) -> None:
        self.rt, self.turn = rt, turn
        self.label = f"response {turn.id}"
        self.headers: dict[str, str] = {}
        self.seq = EventSequence()
        self.output = Output(self.seq, show_reasoning=rt.settings.show_reasoning)
        self.final: dict[str, Any] | None = None  # the response object, once the run ended

    def snapshot(self, status: str) -> dict[str, Any]:
        """The response as it stands: its output so far, `status` as given."""
        return self.turn.response(
            self.rt.settings.model_name, cast(ResponseStatus, status), list(self.output.items)
        )

    def opening_events(self) -> list[dict[str, Any]]:
        started = self.turn.response(self.rt.settings.model_name, "in_progress", [])
        return [self.seq.created(started), self.seq.in_progress(started)]

    async def events_of(self, event: AgentEvent) -> list[dict[str, Any]]:
        if not isinstance(event, RunFinished):
            return self.output.feed(event)
        ladder = self.output.finish(event)
        body = self.final = await _finish(self.rt, self.turn, self.output, event)
        seq = self.seq
        done = seq.incomplete(body) if body["status"] == "incomplete" else seq.completed(body)
        return [*ladder, done]

    def failure_events(self, message: str, error: HermesError | None) -> list[dict[str, Any]]:
        # The Responses API has its own short list of error codes.
        code = (
            "rate_limit_exceeded" if error is not None and error.status == 429 else "server_error"
        )
        failed = self.turn.response(
            self.rt.settings.model_name,
            "failed",
            self.output.items,
            error={"code": code, "message": message},
        )
        return [self.seq.failed(failed)]

    def opening(self) -> bytes:
        return b"".join(sse(e) for e in self.opening_events())

    async def render(self, event: AgentEvent) -> bytes:
        return b"".join(sse(e) for e in await self.events_of(event))

    def failure(self, message: str, error: HermesError | None) -> bytes:
        return b"".join(sse(e) for e in self.failure_events(message, error))

    def closing(self) -> bytes:
        return b""
