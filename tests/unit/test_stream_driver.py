"""The one driver from an agent run to an HTTP stream (gateway/streaming.drive), with a renderer
of its own: what opens the stream, keep-alives, a failure before and after the first byte, an
unexpected exception mid-stream, and the recording an Idempotency-Key replay would use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hermes.errors import HermesError, UpstreamError
from hermes.gateway.middleware import REQUEST_ID
from hermes.gateway.streaming import INTERNAL, Recorder, drive

Step = str | float | BaseException  # an event, a pause in seconds, or a failure


class Lines:
    """Each event as one `data:` line; `opening` and `closing` as given."""

    keepalive = b": ka\n\n"

    def __init__(self, opening: bytes = b"", closing: bytes = b"") -> None:
        self.label = "test stream"
        self.headers: dict[str, str] = {}
        self._opening, self._closing = opening, closing

    def opening(self) -> bytes:
        return self._opening

    async def render(self, event: str) -> bytes:
        if event == "header":
            self.headers["X-Seen"] = "yes"
            return b""
        return f"data: {event}\n\n".encode()

    def failure(self, message: str, error: HermesError | None) -> bytes:
        kind = type(error).__name__ if error is not None else "none"
        return f"data: failed {kind}: {message}\n\n".encode()

    def closing(self) -> bytes:
        return self._closing


async def steps(script: Sequence[Step]) -> AsyncIterator[str]:
    for step in script:
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            yield step


async def serve(
    script: Sequence[Step], renderer: Lines, recorder: Recorder | None = None
) -> tuple[int, str, dict[str, str]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await drive(request, steps(script), renderer, recorder, 0.05)

    @web.middleware
    async def errors(request: web.Request, handler: object) -> web.StreamResponse:
        request[REQUEST_ID] = "req-test"  # what the gateway's own middleware sets first
        try:
            return await handler(request)  # type: ignore[operator, no-any-return]
        except HermesError as exc:
            return web.json_response(exc.to_openai(), status=exc.status)

    app = web.Application(middlewares=[errors])
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        return response.status, await response.text(), dict(response.headers)


async def test_events_in_order_with_headers_set_before_the_first_byte() -> None:
    status, body, headers = await serve(["header", "a", "b"], Lines(closing=b"end\n"))
    assert status == 200 and body == "data: a\n\ndata: b\n\nend\n"
    assert headers["Content-Type"].startswith("text/event-stream") and headers["X-Seen"] == "yes"


async def test_an_opening_goes_out_at_once() -> None:
    status, body, headers = await serve(["header", "a"], Lines(b"data: open\n\n"))
    assert status == 200 and body == "data: open\n\ndata: a\n\n"
    assert "X-Seen" not in headers  # too late: the stream had opened


async def test_a_failure_before_the_first_byte_is_an_http_error() -> None:
    status, body, _ = await serve([UpstreamError("the model is down")], Lines())
    assert status == 502 and "the model is down" in body


async def test_a_failure_after_the_first_byte_goes_in_the_stream_and_drops_the_recording() -> None:
    recorder = Recorder()
    status, body, _ = await serve(
        ["a", UpstreamError("cut off")], Lines(closing=b"end\n"), recorder
    )
    assert status == 200
    assert body == "data: a\n\ndata: failed UpstreamError: cut off\n\nend\n"
    assert recorder.failed and recorder.chunks


async def test_an_unexpected_exception_mid_stream_says_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, body, _ = await serve(["a", RuntimeError("secret detail")], Lines())
    assert status == 200 and body.endswith(f"data: failed none: {INTERNAL}\n\n")
    assert "secret detail" not in body
    assert "test stream failed" in caplog.text  # with its traceback, in the log only


async def test_idle_intervals_send_keepalives_which_open_the_stream() -> None:
    status, body, _ = await serve([0.18, "late"], Lines())
    assert status == 200 and body.startswith(": ka\n\n") and body.endswith("data: late\n\n")
