"""POST /v1/chat/completions: stateless, the whole conversation in `messages`, answered by the
profile's agent, streamed or not."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hermes.agent import AgentEvent, RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError
from hermes.gateway.attachments import resolve_chat
from hermes.gateway.middleware import RunSlot, json_response
from hermes.gateway.progress import inline_marker, strip_markers
from hermes.gateway.requests import idempotent, read_json
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import EventStream, Recorder, with_keepalive
from hermes.gateway.tasks import answer_directly, is_background_task
from hermes.messages import Message, ProviderNote, TextDelta, Usage
from hermes.providers.base import ModelParams
from hermes.wire.openai_chat import choiceless_chunk, chunk, completion_response, usage_chunk
from hermes.wire.openai_chat_request import ChatRequest, parse_chat_request
from hermes.wire.sse import SSE_DONE, sse_event

log = logging.getLogger("hermes.gateway")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    body = await read_json(request)
    chat = await resolve_chat(request, parse_chat_request(body))  # images and files
    return await idempotent(request, body, lambda rec: _respond(request, rt, chat, rec))


async def _respond(
    request: web.Request, rt: Runtime, chat: ChatRequest, recorder: Recorder | None
) -> web.StreamResponse:
    params = ModelParams(chat.max_tokens, chat.temperature, chat.top_p, chat.stop)
    if is_background_task(chat.messages):  # Open WebUI's title, tags, follow-ups: no agent
        messages = [_clean(m) for m in chat.messages]
        if chat.stream:
            events = answer_directly(rt.provider, messages, params, incremental=True)
            return await _stream(request, rt, events, chat, recorder)
        events = answer_directly(rt.provider, messages, params, incremental=False)
        return await _complete(rt, events)
    with RunSlot(request):
        agent = rt.agent()
        messages = layer(rt.prompt.get(), [_clean(m) for m in chat.messages])
        if chat.stream:
            return await _stream(request, rt, agent.run(messages, params), chat, recorder)
        return await _complete(rt, agent.run(messages, params, incremental=False))


def _clean(message: Message) -> Message:
    if message.role == "assistant" and message.content:
        return dataclasses.replace(message, content=strip_markers(message.content))
    return message


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


async def _complete(rt: Runtime, events: AsyncIterator[AgentEvent]) -> web.Response:
    text: list[str] = []
    finished = RunFinished("stop", Usage())
    answered_by = rt.provider.label
    async for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, RunFinished):
            finished = event
        elif isinstance(event, ProviderNote):
            answered_by = event.label
    body = completion_response(
        _completion_id(),
        int(time.time()),
        rt.settings.model_name,
        "".join(text),
        finished.reason,
        finished.usage,
    )
    return json_response(body, headers={"X-Hermes-Provider": answered_by})


async def _stream(
    request: web.Request,
    rt: Runtime,
    events: AsyncIterator[AgentEvent],
    chat: ChatRequest,
    recorder: Recorder | None,
) -> web.StreamResponse:
    out = EventStream(request, recorder)
    cid, created, model = _completion_id(), int(time.time()), rt.settings.model_name
    progress = rt.settings.tool_progress
    role_sent = after_text = False
    try:
        async for event in with_keepalive(events, rt.settings.keepalive_seconds):
            if event is None:
                await out.send(b": keep-alive\n\n")
                continue
            if isinstance(event, ProviderNote):
                out.extra_headers["X-Hermes-Provider"] = event.label
                continue
            if not role_sent:
                out.hold(
                    sse_event(chunk(cid, created, model, {"role": "assistant", "content": ""}))
                )
                role_sent = True
            if isinstance(event, TextDelta):
                if event.text:
                    after_text = not event.text.endswith("\n")
                    await out.send(sse_event(chunk(cid, created, model, {"content": event.text})))
            elif isinstance(event, ToolStarted | ToolFinished):
                after_text = await _progress(
                    out, progress, event, (cid, created, model), after_text
                )
            elif isinstance(event, RunFinished):
                await out.send(sse_event(chunk(cid, created, model, {}, event.reason)))
                if chat.include_usage:
                    await out.send(sse_event(usage_chunk(cid, created, model, event.usage)))
                await out.send(SSE_DONE)
    except HermesError as exc:
        if not out.started:
            raise  # nothing sent yet: a proper HTTP error status
        log.warning("stream %s failed: %s", cid, exc.message)
        if recorder is not None:
            recorder.failed = True
        await out.send(sse_event(exc.to_openai()))
        await out.send(SSE_DONE)
    assert out.response is not None
    return out.response


async def _progress(
    out: EventStream,
    mode: str,
    event: ToolStarted | ToolFinished,
    ids: tuple[str, int, str],
    after_text: bool,
) -> bool:
    """Tell the client a tool is running: inline in the content, in a chunk of its own with no
    choices (`hermes_tool_progress`), or not at all. A named SSE event with a body of another
    shape (what `event` mode sent before) broke the openai SDKs, `llm` and the AI SDK."""
    if mode == "inline" and isinstance(event, ToolStarted):
        text = inline_marker(event.marker, after_text)
        await out.send(sse_event(chunk(*ids, {"content": text})))
        return False
    if mode == "event":
        payload: dict[str, Any] = {"tool": event.call.name, "call_id": event.call.id}
        if isinstance(event, ToolStarted):
            payload.update(status="running", marker=event.marker)
        else:
            payload.update(
                status="done" if event.result.ok else "error",
                marker=event.marker,
                duration_ms=round(event.duration_ms, 1),
            )
        await out.send(sse_event(choiceless_chunk(*ids, hermes_tool_progress=payload)))
    return after_text
