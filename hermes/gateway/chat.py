"""POST /v1/chat/completions: stateless, the whole conversation in `messages`, answered by the
profile's agent, streamed or not."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any

from aiohttp import web

from hermes.agent import Agent, RunFinished, ToolFinished, ToolStarted, layer
from hermes.errors import HermesError, InvalidRequest, PayloadTooLarge
from hermes.gateway.idempotency import Recorded
from hermes.gateway.middleware import RunSlot, headers_for
from hermes.gateway.progress import inline_marker, strip_markers
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.streaming import EventStream, Recorder, with_keepalive
from hermes.messages import Message, TextDelta, Usage
from hermes.providers.base import ModelParams
from hermes.wire.openai_chat import chunk, completion_response, usage_chunk
from hermes.wire.openai_chat_request import ChatRequest, parse_chat_request
from hermes.wire.sse import SSE_DONE, sse_event

log = logging.getLogger("hermes.gateway")


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[RUNTIME].settings.max_request_bytes
        raise PayloadTooLarge(f"request body over {limit} bytes") from None
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return raw, json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"malformed JSON in the request body: {exc}") from None


async def chat_completions(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    raw, body = await read_json(request)
    chat = parse_chat_request(body)
    key = request.headers.get("Idempotency-Key")
    if not key:
        return await _respond(request, rt, chat, None)
    sent: list[web.StreamResponse] = []

    async def produce() -> Recorded | None:
        recorder = Recorder()
        response = await _respond(request, rt, chat, recorder)
        sent.append(response)
        return _recorded(response, recorder)

    scope = f"{request.path}\0{key}"
    recorded, _replayed = await rt.idempotency.run(scope, rt.idempotency.fingerprint(raw), produce)
    if sent:
        return sent[0]
    assert recorded is not None
    return _replay(request, recorded)


def _recorded(response: web.StreamResponse, recorder: Recorder) -> Recorded | None:
    if recorder.failed or response.status >= 400:
        return None
    if isinstance(response, web.Response):
        body = response.body if isinstance(response.body, bytes) else b""
        return Recorded(response.status, response.content_type, body)
    return Recorded(response.status, "text/event-stream", b"".join(recorder.chunks))


def _replay(request: web.Request, recorded: Recorded) -> web.Response:
    response = web.Response(status=recorded.status, body=recorded.body)
    response.content_type = recorded.content_type
    response.headers["Idempotency-Replayed"] = "true"
    if recorded.content_type == "text/event-stream":
        response.headers["Cache-Control"] = "no-cache"
    response.headers.update(headers_for(request))
    return response


async def _respond(
    request: web.Request, rt: Runtime, chat: ChatRequest, recorder: Recorder | None
) -> web.StreamResponse:
    with RunSlot(request):
        agent = Agent(
            rt.provider,
            rt.registry,
            rt.tool_context,
            max_iterations=rt.config.agent.max_iterations,
            tool_concurrency=rt.config.agent.tool_concurrency,
        )
        messages = layer(rt.prompt.get(), [_clean(m) for m in chat.messages])
        params = ModelParams(chat.max_tokens, chat.temperature, chat.top_p, chat.stop)
        if chat.stream:
            return await _stream(request, rt, agent, messages, params, chat, recorder)
        return await _complete(rt, agent, messages, params)


def _clean(message: Message) -> Message:
    if message.role == "assistant" and message.content:
        return dataclasses.replace(message, content=strip_markers(message.content))
    return message


def _completion_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


async def _complete(
    rt: Runtime, agent: Agent, messages: list[Message], params: ModelParams
) -> web.Response:
    text: list[str] = []
    finished = RunFinished("stop", Usage())
    async for event in agent.run(messages, params, incremental=False):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, RunFinished):
            finished = event
    body = completion_response(
        _completion_id(),
        int(time.time()),
        rt.settings.model_name,
        "".join(text),
        finished.reason,
        finished.usage,
    )
    return web.json_response(body, headers={"X-Hermes-Provider": rt.provider.label})


async def _stream(
    request: web.Request,
    rt: Runtime,
    agent: Agent,
    messages: list[Message],
    params: ModelParams,
    chat: ChatRequest,
    recorder: Recorder | None,
) -> web.StreamResponse:
    out = EventStream(request, recorder)
    cid, created, model = _completion_id(), int(time.time()), rt.settings.model_name
    progress = rt.settings.tool_progress
    role_sent = after_text = False
    try:
        events = agent.run(messages, params)
        async for event in with_keepalive(events, rt.settings.keepalive_seconds):
            if event is None:
                await out.send(b": keep-alive\n\n")
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
    """Tell the client a tool is running: inline in the content, as its own SSE event, or not."""
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
                duration_ms=round(event.duration_ms, 1),
            )
        await out.send(sse_event(payload, event="hermes.tool.progress"))
    return after_text
