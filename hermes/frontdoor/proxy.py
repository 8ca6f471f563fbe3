"""Passing one request on to a gateway and its answer back, as it arrives.

Nothing is buffered on the way back: each piece the gateway sends (an SSE event, a keep-alive
comment, a slice of a body) is written to the client as soon as it is read; only a small answer
of known length (a whole JSON object) is passed on in one write. A client that goes away cancels
the handler (the server runs with handler_cancellation), which closes the connection to the
gateway, which cancels the run there."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from multidict import CIMultiDict

from hermes.errors import UpstreamError
from hermes.frontdoor.identity import GATEWAY_KEY_HEADER
from hermes.frontdoor.ledger import IdSniffer
from hermes.frontdoor.routes import Route
from hermes.frontdoor.upstream import Answer, Pool, UpstreamFailed

WHOLE = 256 * 1024  # answers up to this size with a Content-Length go on in one write
# Hop-by-hop headers (RFC 9110 7.6.1) and what the front door sets itself: never copied.
_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    )
)  # fmt: skip
_REQUEST_DROP = _HOP | {"authorization", "x-api-key", "x-hermes-profile", "cookie"}
_RESPONSE_DROP = _HOP | {"server", "date"}


class GatewayUnavailable(UpstreamError):
    status = 503
    code = "model_unavailable"


def forward_headers(
    request: web.Request, route: Route, strip: Iterable[str], user: str | None, key_id: str
) -> list[tuple[str, str]]:
    """The client's headers less hop-by-hop ones, its key and every identity header; plus the
    front door's credential, the key's id (`X-Hermes-Key`) and, when known, the user
    (`X-Hermes-User`)."""
    dropped = _REQUEST_DROP | {h.lower() for h in strip}
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
    headers.append(("Authorization", f"Bearer {route.credential}"))
    headers.append((GATEWAY_KEY_HEADER, key_id))
    if user is not None:
        headers.append(("X-Hermes-User", user))
    return headers


async def relay(
    request: web.Request,
    pool: Pool,
    route: Route,
    headers: list[tuple[str, str]],
    body: bytes | None,
    sniffer: IdSniffer | None = None,
) -> web.StreamResponse:
    """Send the request to `route`'s gateway and pass its answer back."""
    target = request.rel_url.raw_path_qs  # as the client sent it, already encoded
    try:
        answer = await pool.request(route.host, route.port, request.method, target, headers, body)
    except UpstreamFailed as exc:
        raise GatewayUnavailable(
            f"the model {route.model!r} is not answering right now; retry shortly"
        ) from exc
    try:
        return await _pass_back(request, answer, sniffer)
    finally:
        answer.finish()  # closes the connection unless the body was read to its end


async def _pass_back(
    request: web.Request, answer: Answer, sniffer: IdSniffer | None
) -> web.StreamResponse:
    headers = CIMultiDict((k, v) for k, v in answer.headers if k.lower() not in _RESPONSE_DROP)
    if answer.length is not None and answer.length <= WHOLE:
        # A whole answer of known, small size: one read, one write (the client can use none of
        # it before its last byte anyway). Streams never take this path: they are chunked.
        whole = await answer.read()
        if sniffer is not None:
            sniffer.feed(whole)
        return web.Response(body=whole, status=answer.status, reason=answer.reason,
                            headers=headers)  # fmt: skip
    response = web.StreamResponse(status=answer.status, reason=answer.reason, headers=headers)
    if answer.length is not None:
        response.content_length = answer.length
    await response.prepare(request)
    try:
        async for piece in answer.pieces():
            if sniffer is not None:
                sniffer.feed(piece)
            await response.write(piece)
    except (OSError, ValueError, EOFError):
        # The gateway went away mid-answer: the client sees the answer cut short, as it
        # would have talking to the gateway directly.
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
