"""Cross-cutting HTTP behaviour: request ids and security headers, the access log, CORS,
errors in the OpenAI shape, API-key auth, and JSON-only request bodies."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from hermes.errors import (
    HermesError,
    HostNotAllowed,
    NotFound,
    OriginNotAllowed,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from hermes.gateway.hosts import shown
from hermes.gateway.runtime import ANONYMOUS, RUNTIME
from hermes.wire import fastjson

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("hermes.gateway")
access = logging.getLogger("hermes.access")

HEALTH_PATHS = frozenset({"/health", "/v1/health"})
OPEN_PATHS = HEALTH_PATHS | {"/openapi.json"}  # answered without a key
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-API-Key"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
REQUEST_ID = web.RequestKey("request_id", str)
# Who authenticated, set by `auth` on every request but /health: "key:<hash>" for a named key,
# "server-key:<hash>" for API_SERVER_KEY, ANONYMOUS on a gateway without keys. Never a key.
CALLER = web.RequestKey("caller", str)
FRONTDOOR = "frontdoor"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UPLOAD_PATHS = frozenset({"/v1/files", "/files"})  # POST multipart/form-data (OpenAI's upload)
JSON_CHARSETS = frozenset({"utf-8", "utf8"})
# Request bodies: plain, or compressed the ways aiohttp decodes as it reads (bounded by
# client_max_size after decompression). br and zstd need extra packages, x-gzip and stacked
# codings aiohttp passes through undecoded: all refused with 415 and these.
BODY_ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})
ACCEPT_ENCODING = "gzip, deflate"
# A client's X-Request-Id is echoed in a header and the log: visible ASCII only, else our own.
CLIENT_REQUEST_ID = re.compile(r"[!-~]{1,64}")


def _printable(text: str, most: int = 200) -> str:
    """A client's text as it may go into a log line: no newline or control character (a
    path with %0a would otherwise forge a line), and not too long."""
    if text.isprintable() and len(text) <= most:
        return text
    escaped = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return escaped if len(escaped) <= most else escaped[: most - 1] + "…"


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """aiohttp's json_response, encoded by orjson (the body of every non-streamed answer)."""
    return web.Response(
        body=fastjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def headers_for(request: web.Request) -> dict[str, str]:
    """Headers every response carries (streams set them before their first byte)."""
    headers = {**SECURITY_HEADERS, "X-Request-Id": request[REQUEST_ID]}
    origin = request.headers.get("Origin")
    if origin and origin in request.app[RUNTIME].settings.cors_origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    return headers


def error_response(request: web.Request, exc: HermesError) -> web.Response:
    response = json_response(exc.to_openai(), status=exc.status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    accept_encoding = getattr(exc, "accept_encoding", None)
    if accept_encoding is not None:
        response.headers["Accept-Encoding"] = accept_encoding
    return response


@web.middleware
async def outer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, security and CORS headers on every response (errors included), access log."""
    given = request.headers.get("X-Request-Id", "")[:64]
    ok = given and CLIENT_REQUEST_ID.fullmatch(given)  # most clients send none: no regex
    request[REQUEST_ID] = given if ok else new_request_id()
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers.update(headers_for(request))
        return response
    except asyncio.CancelledError:
        status = 499  # the client went away; the run was cancelled with it
        raise
    finally:
        # Health checks (the supervisor's every few seconds, a load balancer's) at debug only:
        # at info they were half of every gateway's log.
        healthy = status == 200 and request.path in HEALTH_PATHS
        access.log(
            logging.DEBUG if healthy else logging.INFO,
            '%s "%s %s" %d %.1fms %s',
            request.remote,
            request.method,
            _printable(request.path),
            status,
            (time.perf_counter() - start) * 1000,
            request[REQUEST_ID],
        )


@web.middleware
async def hosts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the gateway's own names in Host (DNS rebinding; see gateway/hosts.py), preflights
    included, before anything else looks at the request."""
    refusal = _host_refusal(request)
    if refusal is None:
        return await handler(request)
    return error_response(request, HostNotAllowed(refusal))


def _host_refusal(request: web.Request) -> str | None:
    policy = request.app[RUNTIME].hosts
    header = request.headers.get("Host")
    if header is None:
        # HTTP/1.0 (aiohttp itself refuses HTTP/1.1 without Host): old load-balancer probes
        # send none, and no browser ever does, so /health stays reachable and nothing else.
        if request.path in HEALTH_PATHS or policy.any_host:
            return None
        return (
            "a request without a Host header is only answered on /health; send one, "
            "or allow any host with api_server.allowed_hosts `*`"
        )
    if policy.allows(header):
        return None
    return (
        f"this gateway does not answer to the host {shown(header)}; if clients reach it by "
        "that name, add it to api_server.allowed_hosts (API_SERVER_ALLOWED_HOSTS)"
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the OpenAI error shape; a traceback only ever reaches the log."""
    try:
        return await handler(request)
    except HermesError as exc:
        return error_response(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(request, exc)
    except Exception:
        log.exception(
            "unhandled error in %s %s (%s)", request.method, request.path, request[REQUEST_ID]
        )
        failure = HermesError(
            f"internal error; see the gateway log (request {request[REQUEST_ID]})"
        )
        return error_response(request, failure)


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    if exc.status == 413:
        limit = request.app[RUNTIME].settings.max_request_bytes
        return error_response(request, PayloadTooLarge(f"request body over {limit} bytes"))
    if exc.status == 404:
        return error_response(request, NotFound(f"no route for {request.method} {request.path}"))
    if exc.status == 405:
        err = HermesError(f"method {request.method} not allowed on {request.path}")
        body = err.to_openai()
        body["error"].update(type="invalid_request_error", code="method_not_allowed")
        response = json_response(body, status=405)
        allow = exc.headers.get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    body = HermesError(exc.reason or "error").to_openai()
    body["error"]["type"] = "invalid_request_error"
    return json_response(body, status=exc.status)


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Off unless API_SERVER_CORS_ORIGINS lists the origin; preflights answer 204 here."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = request.headers.get("Origin", "")
        if origin in request.app[RUNTIME].settings.cors_origins:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": CORS_METHODS,
                    "Access-Control-Allow-Headers": CORS_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        return web.Response(status=204, headers={"Vary": "Origin"})
    return await handler(request)


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer or X-API-Key: API_SERVER_KEY (constant time) or a named key from `hermes keys`.
    Open only while there is neither (loopback only, enforced at start-up). The key store is
    consulted per request, so a new, revoked or expired named key counts from the next one."""
    if request.path not in OPEN_PATHS:
        request[CALLER] = _authenticate(request)
    return await handler(request)


def _authenticate(request: web.Request) -> str:
    """The caller's identity (see CALLER), or Unauthorized."""
    rt = request.app[RUNTIME]
    key = rt.settings.key
    presented = _presented_key(request)
    if presented is not None and rt.frontdoor.check(presented):
        return FRONTDOOR  # hfd_…: the front door's own credential (stores/frontdoor_credential)
    if presented is not None:
        # aiohttp decodes a header as UTF-8 and keeps any other byte as a lone surrogate
        # (latin-1 from some clients): compare the bytes the client sent, never fail on them.
        sent = presented.encode("utf-8", "surrogateescape")
        # API_SERVER_KEY first: the common case costs one comparison and no SQLite.
        if key is not None and hmac.compare_digest(sent, key.encode()):
            return rt.server_key_caller
        record = rt.keys.check(presented) if presented.isascii() else None  # hk_… is ASCII
        if record is not None:
            return "key:" + record.key_hash
    if key is None and not rt.keys.has_keys():
        _same_origin_only(request)
        return ANONYMOUS
    raise Unauthorized(
        "missing or invalid API key: send `Authorization: Bearer <key>` or `X-API-Key`"
    )


def _same_origin_only(request: web.Request) -> None:
    """A gateway without a key answers whoever reaches it, and a web page open in the user's
    browser reaches 127.0.0.1 too. Such a page's requests carry its Origin: unless the operator
    listed that origin in api_server.cors_origins, it is refused. (With a key, a page cannot
    use the gateway without knowing it, so there CORS alone decides what a page may read.)"""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in request.app[RUNTIME].settings.cors_origins:
        raise OriginNotAllowed(
            "cross-origin requests are refused by a gateway without an API key; list the "
            "origin in api_server.cors_origins (API_SERVER_CORS_ORIGINS) or set API_SERVER_KEY"
        )


def _presented_key(request: web.Request) -> str | None:
    presented = request.headers.get("X-API-Key")
    if presented is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
    return presented


@web.middleware
async def json_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body must be declared `application/json`. A web page may POST text/plain, a form or
    multipart to any address without a CORS preflight; refusing those before the body is read
    keeps every page on the web from driving the agent (the JSON parser would accept them).
    And it must come plain or in a coding aiohttp decodes as it reads (gzip, deflate), so the
    size limit counts decoded bytes; any other coding would reach the JSON parser undecoded."""
    encoding = request.headers.get("Content-Encoding")
    if (
        encoding is not None
        and encoding.strip().lower() not in BODY_ENCODINGS
        and request.method in BODY_METHODS
    ):
        raise UnsupportedMediaType(
            f"`Content-Encoding: {_printable(encoding, 40)}` is not supported; send the body "
            "plain, or gzip or deflate compressed",
            param="Content-Encoding",
            accept_encoding=ACCEPT_ENCODING,
        )
    declared = request.headers.get("Content-Type")
    if declared == "application/json":  # what the SDKs send: no parsing
        return await handler(request)
    if request.path in UPLOAD_PATHS and request.method == "POST":
        # Uploads only store a file: they never drive the agent, and a page without the key
        # cannot make one (auth ran first, and refuses foreign origins on a keyless gateway).
        # The handler refuses, unread, any body that is not multipart, saying so.
        return await handler(request)
    if request.method in BODY_METHODS and request.match_info.http_exception is None:
        if declared is None:
            if request.body_exists:  # no body at all is left to the handler's "empty body" 400
                raise UnsupportedMediaType(
                    "the request has a body but no Content-Type; "
                    "send `Content-Type: application/json`"
                )
        elif not _declares_json(request):
            raise UnsupportedMediaType(
                "request bodies must be `Content-Type: application/json` (UTF-8)"
            )
    return await handler(request)


def _declares_json(request: web.Request) -> bool:
    charset = request.charset  # JSON is UTF-8 (RFC 8259), and orjson reads the raw bytes
    return request.content_type == "application/json" and (
        charset is None or charset.lower() in JSON_CHARSETS
    )


class RunSlot:
    """Counts agent runs; beyond api_server.max_concurrent_runs a request gets 429 at once."""

    def __init__(self, request: web.Request) -> None:
        self.runtime = request.app[RUNTIME]

    def __enter__(self) -> None:
        rt = self.runtime
        if rt.active_runs >= rt.settings.max_concurrent_runs:
            raise TooManyRequests(
                f"{rt.active_runs} runs already in progress "
                "(api_server.max_concurrent_runs); retry shortly",
                retry_after=1,
            )
        rt.active_runs += 1

    def __exit__(self, *exc: object) -> None:
        self.runtime.active_runs -= 1


MIDDLEWARES = [outer, hosts, cors, errors, auth, json_only]
