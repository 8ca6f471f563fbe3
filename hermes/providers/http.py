"""What every HTTP provider shares: one aiohttp session, the timeouts, the POST with its status
check, retries before the first yielded event, the whole-answer read, and the mapping of
transport failures and HTTP statuses to the upstream errors clients see. The providers keep only
their wire format (request encoding, stream decoding) and whatever error mapping of their own
they need.

Timeouts, the same for streamed and whole answers: `model.timeout` is the longest the provider
may stay silent (connecting, then before the first byte and between any two reads: aiohttp's
sock_read); `model.request_timeout` bounds one request as a whole, however steadily it trickles
(keep-alive comments, whitespace). Either gives UpstreamTimeout (504), which the provider does
not retry: the client hears within about that time, or a fallback provider takes over."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

from hermes.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from hermes.messages import Message, StreamEvent
from hermes.providers.base import ModelParams
from hermes.wire import fastjson

MAX_RETRIES = 2
RETRY_AFTER_CAP = 10.0
DEFAULT_REQUEST_TIMEOUT = 600.0
# Connections to the upstream held at once. A gateway sizes it from its run limit (one model
# call per run at a time, plus the Open WebUI tasks that run outside that limit): a fixed 100
# made the 1,001st of 1,000 concurrent streams wait for a free connection.
DEFAULT_CONNECTIONS = 100


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What `stream` was asked, with the provider's default sampling settings filled in."""

    messages: Sequence[Message]
    tools: Sequence[Mapping[str, Any]]
    params: ModelParams
    incremental: bool


# One try's output: the events it already has, and the rest of a streamed answer (or None).
Attempt = tuple[Sequence[StreamEvent], AsyncGenerator[StreamEvent, None] | None]


class HttpProvider:
    """A provider behind one JSON-over-HTTP API. Subclasses supply `_url`, `_headers`, `_body`,
    `_parse_whole` and `_events`, and may override the error hooks."""

    default_base_url: ClassVar[str]

    # Retry warnings go to the provider's own logger.
    _log: ClassVar[logging.Logger] = logging.getLogger("hermes.providers")
    # Who answers, in error messages: "the model provider sent a malformed answer".
    _speaker: ClassVar[str] = "the model provider"
    # What a malformed whole answer raises while being parsed (besides ValueError).
    _wire_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(
        self,
        model: str,
        base_url: str | None,
        timeout: float,
        connect_timeout: float,
        defaults: ModelParams,
        name: str,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self.model = model
        self.connections = max(1, connections)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.defaults = defaults
        self.label = f"{name}:{model}"
        self.timeout = timeout
        self.request_timeout = request_timeout
        # Connecting is silence too: never longer than model.timeout.
        connect = min(connect_timeout, timeout)
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout, connect=connect, sock_connect=connect, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # One shared session (connection pool) per gateway, created inside the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self.connections, ttl_dns_cache=300),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    # The wire format: subclasses override these.

    def _url(self, incremental: bool) -> str:
        raise NotImplementedError

    def _headers(self, incremental: bool) -> dict[str, str]:
        raise NotImplementedError

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _parse_whole(self, data: Any) -> Sequence[StreamEvent]:
        raise NotImplementedError

    def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    # The HTTP machinery.

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        """Retries transient failures of `_attempt`, that is only before anything was yielded."""
        request = ChatRequest(messages, tools, self._with_defaults(params), incremental)
        body = fastjson.dumps(self._body(request))
        url = self._url(incremental)
        attempt = 0
        while True:
            try:
                first, rest = await self._attempt(url, body, incremental)
                break
            except UpstreamError as exc:
                if not exc.retryable or attempt >= MAX_RETRIES or timed_out_here(exc):
                    raise
                delay = backoff(attempt, exc)
                self._log.warning(
                    "%s: %s; retry %d in %.2fs", self.label, exc.message, attempt + 1, delay
                )
                attempt += 1
                await asyncio.sleep(delay)
        if rest is None:
            for event in first:
                yield event
            return
        async with contextlib.aclosing(rest):
            for event in first:
                yield event
            async for event in rest:
                yield event

    def _with_defaults(self, p: ModelParams) -> ModelParams:
        d = self.defaults
        return dataclasses.replace(
            p,
            max_tokens=p.max_tokens if p.max_tokens is not None else d.max_tokens,
            temperature=p.temperature if p.temperature is not None else d.temperature,
            top_p=p.top_p if p.top_p is not None else d.top_p,
            stop=p.stop or d.stop,
            reasoning_effort=p.reasoning_effort or d.reasoning_effort,
        )

    async def _attempt(self, url: str, body: bytes, incremental: bool) -> Attempt:
        """One try: a whole answer, or a stream's response whose events are not retried."""
        response = await self._post(url, body, self._headers(incremental), incremental)
        if not incremental:
            return await self._whole(response), None
        return (), self._streamed(response)

    async def _streamed(
        self, response: aiohttp.ClientResponse
    ) -> AsyncGenerator[StreamEvent, None]:
        async with response:
            async for event in self._events(response):
                yield event

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], incremental: bool
    ) -> aiohttp.ClientResponse:
        with self._connect_errors():
            response = await self._client().post(url, data=body, headers=headers)
        if response.status != 200:
            async with response:
                raise await self._status_error(response)
        return response

    async def _whole(self, response: aiohttp.ClientResponse) -> Sequence[StreamEvent]:
        """A non-streaming answer; failures here are retryable like a failed connect."""
        async with response:
            with self._read_errors():
                raw = await response.read()
        malformed: tuple[type[Exception], ...] = (ValueError, *self._wire_errors)
        try:
            return self._parse_whole(fastjson.loads(raw))
        except malformed as exc:
            raise UpstreamError(f"{self._speaker} sent a malformed answer: {exc}") from exc

    # Error hooks.

    async def _status_error(self, response: aiohttp.ClientResponse) -> UpstreamError:
        return await status_error(response, self.label)

    def _connection_failed(self) -> str:
        return "the connection to the model provider failed"

    def _silent(self, what: str = "did not answer") -> str:
        return f"{self._speaker} {what} for {self.timeout:g} s (model.timeout; {self.label})"

    def _too_long(self) -> str:
        return (
            f"{self._speaker} was still answering after {self.request_timeout:g} s "
            f"(model.request_timeout; {self.label})"
        )

    def _connect_errors(self) -> contextlib.AbstractContextManager[None]:
        return transport_errors(
            self._silent(),
            f"cannot reach the model provider at {self.base_url}",
            retryable=True,
            too_long=self._too_long(),
        )

    def _read_errors(self) -> contextlib.AbstractContextManager[None]:
        return transport_errors(
            self._silent(),
            self._connection_failed(),
            retryable=True,
            too_long=self._too_long(),
        )

    def _stream_errors(self, *, retryable: bool) -> contextlib.AbstractContextManager[None]:
        return transport_errors(
            self._silent("stopped sending mid-answer: nothing"),
            self._connection_failed(),
            retryable=retryable,
            too_long=self._too_long(),
        )


def timed_out_here(exc: UpstreamError) -> bool:
    """A timeout hermes measured (model.timeout, model.request_timeout), not a 408 or 504 the
    provider sent. The same provider is not asked again: a provider that went silent that
    long mostly stays so, and three tries would make the client wait three times the timeout
    it configured. Such an error stays `retryable`, so a fallback provider may still answer."""
    return isinstance(exc, UpstreamTimeout) and exc.upstream_status is None


@contextlib.contextmanager
def transport_errors(
    timed_out: str,
    failed: str,
    *,
    retryable: bool,
    unreachable: str | None = None,
    too_long: str | None = None,
) -> Iterator[None]:
    """Map aiohttp's timeouts and connection errors to the upstream errors clients see;
    `unreachable`, if given, words a connection that was never made (refused, unresolvable),
    and `too_long` the whole request's timeout (aiohttp's `total`: a bare TimeoutError, where
    silence while connecting or reading is a ServerTimeoutError)."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        if too_long is not None and not isinstance(exc, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(too_long, retryable=retryable) from exc
        raise UpstreamTimeout(timed_out, retryable=retryable) from exc
    except aiohttp.ClientError as exc:
        never = unreachable is not None and isinstance(exc, aiohttp.ClientConnectorError)
        raise UpstreamError(
            f"{unreachable if never else failed}: {exc}", retryable=retryable
        ) from exc


async def error_text(response: aiohttp.ClientResponse, limit: int) -> str:
    """The start of an error response's body, or "" if it cannot be read. Bytes its charset does
    not decode are replaced: an error page is only shown, and a 500 with a stray byte in it is
    still a 502 for the client."""
    try:
        return (await response.text(errors="replace"))[:limit]
    except LookupError:  # a charset that names no text codec ("hex", "rot13")
        return (await response.read()).decode("utf-8", errors="replace")[:limit]
    except (TimeoutError, aiohttp.ClientError):
        return ""


async def status_error(response: aiohttp.ClientResponse, label: str) -> UpstreamError:
    """The OpenAI-style mapping of a failed response: `{"error": {"message": ...}}` bodies."""
    text = await error_text(response, 2000)
    return classify_status(
        response.status,
        label,
        _upstream_message(text) or response.reason or "",
        retry_after=retry_after(response.headers.get("Retry-After")),
    )


def classify_status(
    status: int,
    label: str,
    detail: str,
    *,
    retry_after: float | None = None,
    bad_key: bool = False,
    speaker: str = "the model provider",
) -> UpstreamError:
    if status in (401, 403) or bad_key:
        return UpstreamAuthError(
            f"upstream rejected the credentials ({label}: HTTP {status}: {detail})",
            upstream_status=status,
        )
    if status == 429:
        return UpstreamRateLimited(
            f"the model provider is rate limiting ({label}): {detail}", retry_after=retry_after
        )
    if status in (408, 504):
        return UpstreamTimeout(
            f"{speaker} timed out ({label}: HTTP {status})",
            retryable=True,
            upstream_status=status,
        )
    return UpstreamError(
        f"{speaker} failed ({label}: HTTP {status}: {detail})",
        retryable=status >= 500,
        upstream_status=status,
    )


def _upstream_message(text: str) -> str:
    try:
        data = fastjson.loads(text)  # the stdlib's parser overflows the stack on deep nesting
    except ValueError:
        return text.strip()[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return text.strip()[:300]


def retry_after(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def backoff(attempt: int, exc: UpstreamError) -> float:
    """Jittered exponential backoff (0.25 s, 0.5 s, …), or the provider's Retry-After if sooner
    than a cap."""
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, float | int) and hinted <= RETRY_AFTER_CAP:
        return float(hinted)
    return 0.25 * (1 << attempt) * random.uniform(0.5, 1.5)
