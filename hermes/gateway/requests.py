"""Request plumbing shared by the POST endpoints: reading a JSON body, and Idempotency-Key
replays (the same caller, route, key and body get the first response again without running the
agent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hermes.errors import InvalidRequest, PayloadTooLarge
from hermes.gateway.idempotency import Recorded
from hermes.gateway.middleware import CALLER, headers_for
from hermes.gateway.runtime import RUNTIME
from hermes.gateway.streaming import Recorder
from hermes.wire import fastjson

Respond = Callable[[Recorder | None], Awaitable[web.StreamResponse]]
MAX_IDEMPOTENCY_KEY = 256  # OpenAI's own limit; every key is held in memory until it expires


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[RUNTIME].settings.max_request_bytes
        raise PayloadTooLarge(f"request body over {limit} bytes") from None
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return raw, fastjson.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"malformed JSON in the request body: {exc}") from None


async def idempotent(request: web.Request, raw: bytes, respond: Respond) -> web.StreamResponse:
    """`respond(recorder)` once per caller, route, Idempotency-Key and body; duplicates get a
    replay. Keys are the client's own words, so two callers may pick the same one: each gets
    its own run, never the other's answer (nor a conflict with the other's body)."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return await respond(None)
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(
            f"`Idempotency-Key` is longer than {MAX_IDEMPOTENCY_KEY} characters",
            param="Idempotency-Key",
        )
    cache = request.app[RUNTIME].idempotency
    sent: list[web.StreamResponse] = []

    async def produce() -> Recorded | None:
        recorder = Recorder()
        response = await respond(recorder)
        sent.append(response)
        return _recorded(response, recorder)

    scope = f"{request[CALLER]}\0{request.path}\0{key}"
    recorded, _replayed = await cache.run(scope, cache.fingerprint(raw), produce)
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
