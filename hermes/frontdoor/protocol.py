"""Requests aiohttp's parser refuses before the app sees them (a header over 8190 bytes, more
than 128 headers, a broken request line or framing) get the OpenAI error shape here too, not
aiohttp's plain-text page. Only the error path differs from aiohttp's RequestHandler."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from hermes.errors import HeadersTooLarge, HermesError, InvalidRequest
from hermes.wire import fastjson


def refused(status: int, exc: BaseException | None) -> HermesError:
    """What the client is told about a request that could not be parsed (or served)."""
    too_many = isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message
    if isinstance(exc, LineTooLong) or too_many:
        return HeadersTooLarge("a request header (or the request line) is too long, or there "
                               "are too many headers")  # fmt: skip
    if isinstance(exc, BadHttpMessage) or 400 <= status < 500:
        return InvalidRequest("malformed HTTP request")
    return HermesError("internal error; see the front door's log")


class FrontdoorProtocol(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response is under way, drop it
            raise ConnectionError("an error after the response started")
        error = refused(status, exc)
        if error.status >= 500:
            self.log_exception("unhandled error in the front door", exc_info=exc)
        response = web.Response(
            body=fastjson.dumps(error.to_openai()),
            status=error.status,
            content_type="application/json",
        )
        response.force_close()
        return response


class FrontdoorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return FrontdoorProtocol(self, loop=self._loop, **self._kwargs)


class FrontdoorRunner(web.AppRunner):
    """web.AppRunner whose connections are FrontdoorProtocol ones (the app's own Server, only
    the class of connection it makes changed)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = FrontdoorServer
        return server
