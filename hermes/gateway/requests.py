"""Request plumbing shared by the POST endpoints: reading a JSON body, and Idempotency-Key
replays (the same caller, route, key and body get the first response again without running the
agent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError

from hermes.errors import InvalidRequest, PayloadTooLarge
from hermes.gateway.idempotency import Recorded
from hermes.gateway.middleware import CALLER, headers_for
from hermes.gateway.runtime import RUNTIME
from hermes.gateway.streaming import Recorder
from hermes.wire import fastjson

Respond = Callable[[Recorder | None], Awaitable[web.StreamResponse]]
MAX_IDEMPOTENCY_KEY = 255  # Stripe's bound, which the OpenAI SDKs' keys (a UUID) keep well under


async def read_json(request: web.Request) -> Any:
    """The parsed JSON body. The size limit holds for the body as decoded: a gzip or deflate
    body (the only encodings `json_only` lets through) is counted after decompression."""
    raw = await read_body(request)
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return fastjson.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"malformed JSON in the request body: {exc}") from None


async def read_body(request: web.Request) -> bytes:
    """The body's bytes (aiohttp keeps them: a second read costs nothing), its failures as
    read_json reports them."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[RUNTIME].settings.max_request_bytes
        raise PayloadTooLarge(f"request body over {limit} bytes (after decompression)") from None
    except RequestPayloadError as exc:
        raise _unreadable(request, exc) from None


def _unreadable(request: web.Request, exc: RequestPayloadError) -> InvalidRequest:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if isinstance(exc.__cause__, ContentEncodingError) and encoding:
        return InvalidRequest(
            f"the request body is not valid {encoding} data, as `Content-Encoding: {encoding}` "
            "says it is (corrupt or truncated)",
            param="Content-Encoding",
        )
    return InvalidRequest("the request body could not be read (broken chunked framing)")


async def idempotent(request: web.Request, body: Any, respond: Respond) -> web.StreamResponse:
    """`respond(recorder)` once per caller, route, Idempotency-Key and body (the parsed body:
    white space and key order do not count); duplicates get a replay. Keys are the client's own
    words, so two callers may pick the same one: each gets its own run, never the other's
    answer (nor a conflict with the other's body)."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return await respond(None)
    if len(key) > MAX_IDEMPOTENCY_KEY or not (key.isascii() and key.isprintable()):
        raise InvalidRequest(
            f"`Idempotency-Key` must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters",
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
    recorded, _replayed = await cache.run(scope, cache.fingerprint(body), produce)
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
