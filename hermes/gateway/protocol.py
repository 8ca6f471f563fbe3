"""The connection handler beneath the app. aiohttp's HTTP parser refuses some requests before
any middleware sees them (a header over 8190 bytes, more than 128 headers, a bad request line,
broken chunked framing or Content-Length, a content coding it cannot decode) and answers those
with a plain-text body and a traceback in the log. Here they get the OpenAI error shape, the
right status, the security headers and one access-log line, like every other error.

Only `handle_error` and `log_exception` differ from aiohttp's RequestHandler, and aiohttp calls
them only on such failures: the path of a well-formed request is untouched."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from hermes.errors import (
    HeadersTooLarge,
    HermesError,
    InvalidRequest,
    UnsupportedMediaType,
    UriTooLong,
)
from hermes.gateway.middleware import ACCEPT_ENCODING, SECURITY_HEADERS, access, log, new_request_id
from hermes.wire import fastjson

_HEADER_NAME = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}):")


class GatewayProtocol(RequestHandler):
    __slots__ = ()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # A body that broke mid-read (bad gzip, broken chunks) was answered 400 by the handler;
        # aiohttp then fails again draining it and would log a traceback for that.
        if isinstance(kw.get("exc_info"), RequestPayloadError):
            log.info("closed a connection whose request body could not be read")
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response is under way, drop it
            raise ConnectionError("an error after the response started")
        request_id = new_request_id()
        error = refusal(status, exc)
        if error.status >= 500:
            self.log_exception("unhandled error (%s)", request_id, exc_info=exc)
        else:
            log.info("refused a malformed request from %s: %s", request.remote, error.message)
        access.info('%s "- -" %d 0.0ms %s', request.remote, error.status, request_id)
        response = web.Response(
            body=fastjson.dumps(error.to_openai()),
            status=error.status,
            content_type="application/json",
            headers={**SECURITY_HEADERS, "X-Request-Id": request_id},
        )
        if isinstance(error, UnsupportedMediaType):
            response.headers["Accept-Encoding"] = ACCEPT_ENCODING
        response.force_close()
        return response


def refusal(status: int, exc: BaseException | None) -> HermesError:
    """What a client is told about a request aiohttp could not parse (or, for a 5xx, serve)."""
    if isinstance(exc, ContentEncodingError):
        if "install" in exc.message:  # br or zstd, whose decoders are not installed
            return UnsupportedMediaType(
                "the body's Content-Encoding is not supported; send it plain, or gzip or "
                "deflate compressed",
                param="Content-Encoding",
            )
        coding = exc.message.rpartition(" ")[2]  # "Can not decode content-encoding: gzip"
        return InvalidRequest(
            f"the request body is not valid {coding} data, as its Content-Encoding says "
            "(corrupt or truncated)",
            param="Content-Encoding",
        )
    if isinstance(exc, LineTooLong):
        line, limit = bytes(exc.args[0]), exc.args[1]
        if line.startswith((b"/", b"http:", b"https:")):
            return UriTooLong(f"the request's URL is longer than {limit} bytes")
        name = _HEADER_NAME.match(line)
        which = f"the request header {name.group(1).decode()}" if name else "a request header"
        return HeadersTooLarge(f"{which} is longer than {limit} bytes")
    if isinstance(exc, BadHttpMessage) and exc.message == "Too many headers received":
        return HeadersTooLarge("the request has too many headers (at most 128)")
    if isinstance(exc, BadHttpMessage) or 400 <= status < 500:
        detail = exc.message if isinstance(exc, BadHttpMessage) else ""
        first = detail.strip().splitlines()[0].rstrip(":") if detail.strip() else "bad syntax"
        return InvalidRequest(f"malformed HTTP request: {first}")
    if status == 504:
        return HermesError("the request took too long")
    return HermesError("internal error; see the gateway log")


class GatewayServer(web.Server):
    """aiohttp's low-level server, making a GatewayProtocol per connection."""

    def __call__(self) -> RequestHandler:
        return GatewayProtocol(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """web.AppRunner whose server makes GatewayProtocol connections: the gateway's process and
    the in-process tests serve through this."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server (startup, handler_args, the request factory); only the
        # connection class it makes differs, so change the class rather than copy that code.
        server.__class__ = GatewayServer
        return server
