"""POST /v1/chat/completions: stateless, the whole conversation in `messages`, answered by the
profile's agent, streamed or not."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hermes.agent import AgentEvent, RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError
from hermes.gateway.attachments import resolve_chat
from hermes.gateway.chat_kept import Collected, kept
from hermes.gateway.detach import detached
from hermes.gateway.middleware import CALLER, RunSlot, json_response
from hermes.gateway.progress import inline_marker, strip_markers
from hermes.gateway.requests import idempotent, read_json
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import Recorder, drive
from hermes.gateway.tasks import answer_directly, is_background_task
from hermes.messages import Message, ProviderNote, ReasoningDelta, TextDelta
from hermes.providers.base import ModelParams
from hermes.wire.openai_chat import (
    choiceless_chunk,
    chunk,
    tool_call_delta,
    usage_chunk,
)
from hermes.wire.openai_chat_request import ChatRequest, parse_chat_request
from hermes.wire.sse import SSE_DONE, SSE_KEEPALIVE, sse_event


async def chat_completions(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    body = await read_json(request)
    chat = await resolve_chat(request, parse_chat_request(body))  # images and files
    return await idempotent(request, body, lambda rec: _respond(request, rt, chat, rec))


async def _respond(
    request: web.Request, rt: Runtime, chat: ChatRequest, recorder: Recorder | None
) -> web.StreamResponse:
    params = ModelParams(
        chat.max_tokens,
        chat.temperature,
        chat.top_p,
        chat.stop,
        chat.reasoning_effort,
        tool_choice=chat.tools.choice,
        parallel_tool_calls=chat.tools.parallel,
    )
    if is_background_task(chat.messages):  # Open WebUI's title, tags, follow-ups: no agent
        messages = [_clean(m) for m in chat.messages]
        if chat.stream:
            events = answer_directly(rt.provider, messages, params, incremental=True)
            return await _stream(request, rt, events, chat, recorder)
        events = answer_directly(rt.provider, messages, params, incremental=False)
        return await _complete(rt, events)
    theirs = rt.client_tools(chat.tools, "chat")
    caller = request[CALLER]
    held = contextlib.ExitStack()
    with held:
        held.enter_context(RunSlot(request))
        agent = rt.agent()
        history = rt.handed.restore(caller, [_clean(m) for m in chat.messages])
        messages = layer(rt.prompt.get(), history)
        events = agent.run(messages, params, incremental=chat.stream, client_tools=theirs)
        if theirs:  # only a run offered the client's tools can end in them
            events = _remembering(rt, caller, events)
        cid = _completion_id()
        if rt.settings.chat_on_disconnect == "finish":  # the run outlives its client
            events = _outliving(rt, request, cid, events, held.pop_all())
        if chat.stream:
            return await _stream(request, rt, events, chat, recorder, cid)
        return await _complete(rt, events, cid)


def _outliving(
    rt: Runtime,
    request: web.Request,
    cid: str,
    events: AsyncIterator[AgentEvent],
    slot: contextlib.ExitStack,
) -> AsyncIterator[AgentEvent]:
    """`events` run to their end whatever the client does, the answer kept under `cid`."""
    collected = Collected(cid, rt.settings.model_name, rt.settings.show_reasoning, "")
    held = contextlib.AsyncExitStack()
    held.push(slot.__exit__)  # the run slot is the run's until it ends
    owner = rt.owner(request[CALLER])
    return detached(kept(rt, owner, collected, events), held, finish=True, label=f"chat {cid}")


async def _remembering(
    rt: Runtime, caller: str, events: AsyncIterator[AgentEvent]
) -> AsyncIterator[AgentEvent]:
    """`events`, keeping what the client will not see of a turn that ends in its tools."""
    async for event in events:
        if isinstance(event, RunFinished) and event.client_calls:
            rt.handed.remember(caller, event.transcript, event.client_calls)
        yield event


def _clean(message: Message) -> Message:
    if message.role == "assistant" and message.content:
        return dataclasses.replace(message, content=strip_markers(message.content))
    return message


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


async def _complete(
    rt: Runtime, events: AsyncIterator[AgentEvent], cid: str | None = None
) -> web.Response:
    settings = rt.settings
    collected = Collected(
        cid or _completion_id(), settings.model_name, settings.show_reasoning, rt.provider.label
    )
    async for event in events:
        collected.feed(event)
    return json_response(collected.body(), headers={"X-Hermes-Provider": collected.answered_by})


async def _stream(
    request: web.Request,
    rt: Runtime,
    events: AsyncIterator[AgentEvent],
    chat: ChatRequest,
    recorder: Recorder | None,
    cid: str | None = None,
) -> web.StreamResponse:
    settings = rt.settings
    stream = ChatStream(
        settings.model_name,
        settings.tool_progress,
        chat.include_usage,
        settings.show_reasoning,
        cid=cid,
    )
    return await drive(request, events, stream, recorder, settings.keepalive_seconds)


class ChatStream:
    """A run as `chat.completion.chunk`s: the role first (held back until there is something to
    send with it), reasoning and content deltas, tool progress as the profile asks, the client's
    tool calls, the finish chunk, usage when asked, `[DONE]`."""

    keepalive = SSE_KEEPALIVE

    def __init__(
        self,
        model: str,
        progress: str,
        include_usage: bool,
        show_reasoning: bool = True,
        *,
        cid: str | None = None,
    ) -> None:
        self.ids = (cid or _completion_id(), int(time.time()), model)
        self.label = f"stream {self.ids[0]}"
        self.headers: dict[str, str] = {}
        self.progress = progress
        self.include_usage = include_usage
        self._role: bytes | None = sse_event(chunk(*self.ids, {"role": "assistant", "content": ""}))
        self._after_text = False  # the last text sent did not end a line
        self.show_reasoning = show_reasoning

    def opening(self) -> bytes:
        return b""

    async def render(self, event: AgentEvent) -> bytes:
        if isinstance(event, ProviderNote):
            self.headers["X-Hermes-Provider"] = event.label
            return b""
        data = self._event(event)
        if self._role is not None and data:
            data, self._role = self._role + data, None
        return data

    def _event(self, event: AgentEvent) -> bytes:
        ids = self.ids
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            self._after_text = not event.text.endswith("\n")
            return sse_event(chunk(*ids, {"content": event.text}))
        if isinstance(event, ReasoningDelta):
            if not (event.text and self.show_reasoning):
                return b""
            return sse_event(chunk(*ids, {"reasoning_content": event.text}))
        if isinstance(event, ToolStarted | ToolFinished):
            return self._progress(event)
        if isinstance(event, RunFinished):
            calls = [
                sse_event(chunk(*ids, {"tool_calls": [tool_call_delta(i, call)]}))
                for i, call in enumerate(event.client_calls)
            ]
            usage = [sse_event(usage_chunk(*ids, event.usage))] if self.include_usage else []
            return b"".join([*calls, sse_event(chunk(*ids, {}, event.reason)), *usage, SSE_DONE])
        return b""

    def _progress(self, event: ToolStarted | ToolFinished) -> bytes:
        """Tell the client a tool is running: inline in the content, in a chunk of its own with
        no choices (`hermes_tool_progress`), or not at all. A named SSE event with a body of
        another shape (what `event` mode sent before) broke the openai SDKs, `llm` and the AI
        SDK."""
        if self.progress == "inline" and isinstance(event, ToolStarted):
            text = inline_marker(event.marker, self._after_text)
            self._after_text = False
            return sse_event(chunk(*self.ids, {"content": text}))
        if self.progress != "event":
            return b""
        payload: dict[str, Any] = {"tool": event.call.name, "call_id": event.call.id}
        if isinstance(event, ToolStarted):
            payload.update(status="running", marker=event.marker)
        else:
            payload.update(
                status="done" if event.result.ok else "error",
                marker=event.marker,
                duration_ms=round(event.duration_ms, 1),
            )
        return sse_event(choiceless_chunk(*self.ids, hermes_tool_progress=payload))

    def failure(self, message: str, error: HermesError | None) -> bytes:
        return sse_event((error or HermesError(message)).to_openai()) + SSE_DONE

    def closing(self) -> bytes:
        return b""
