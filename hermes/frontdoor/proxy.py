"""Passing one request on to a gateway and its answer back, as it arrives.

Nothing is buffered on the way back: each piece the gateway sends (an SSE event, a keep-alive
comment, a slice of a JSON body) is written to the client as soon as it is read. A client that
goes away cancels the handler (the server runs with handler_cancellation), which closes the
connection to the gateway, which cancels the run there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from hermes.errors import UpstreamError
from hermes.frontdoor.ledger import IdSniffer
from hermes.frontdoor.routes import Route

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


WHOLE = 256 * 1024  # answers up to this size with a Content-Length are passed on in one write


def _te(upstream: aiohttp.ClientResponse) -> str:
    return upstream.headers.get("Transfer-Encoding", "").lower()


class GatewayUnavailable(UpstreamError):
    status = 503
    code = "model_unavailable"


def forward_headers(
    request: web.Request, route: Route, strip: Iterable[str], user: str | None
) -> CIMultiDict[str]:
    """The client's headers less hop-by-hop ones, its key and every identity header; plus the
    front door's credential and, when known, the user (`X-Hermes-User`)."""
    dropped = _REQUEST_DROP | {h.lower() for h in strip}
    headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in dropped)
    headers["Authorization"] = f"Bearer {route.credential}"
    if user is not None:
        headers["X-Hermes-User"] = user
    return headers


async def relay(
    request: web.Request,
    session: aiohttp.ClientSession,
    route: Route,
    headers: Mapping[str, str],
    body: bytes | None,
    sniffer: IdSniffer | None = None,
) -> web.StreamResponse:
    """Send the request to `route`'s gateway and stream its answer back."""
    # As the client sent it, already encoded: yarl neither parses nor re-quotes it again.
    url = URL(route.base + request.rel_url.raw_path_qs, encoded=True)
    try:
        upstream = await session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise GatewayUnavailable(
            f"the model {route.model!r} is not answering right now; retry shortly"
        ) from exc
    async with upstream:
        headers = CIMultiDict(
            (k, v) for k, v in upstream.headers.items() if k.lower() not in _RESPONSE_DROP
        )
        length = upstream.content_length
        if length is not None and length <= WHOLE and "chunked" not in _te(upstream):
            # A whole JSON answer of known, small size: one read, one write (the client can
            # use none of it before the last byte anyway). Streams never take this path.
            whole = await upstream.read()
            if sniffer is not None:
                sniffer.feed(whole)
            return web.Response(
                body=whole, status=upstream.status, reason=upstream.reason, headers=headers
            )
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for piece in upstream.content.iter_any():
                if sniffer is not None:
                    sniffer.feed(piece)
                await response.write(piece)
        except aiohttp.ClientError:
            # The gateway went away mid-answer: the client sees the answer cut short, as it
            # would have talking to the gateway directly.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    return response
