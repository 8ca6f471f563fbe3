"""OpenAI-compatible Chat Completions over aiohttp: streaming, tool calls, retries before the
first token, and errors mapped to what a client of the gateway should see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import aiohttp

from hermes.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from hermes.messages import Message, StreamEvent
from hermes.providers.base import ModelParams
from hermes.wire.openai_chat import (
    ChunkAccumulator,
    WireError,
    encode_chat_request,
    parse_completion_response,
)
from hermes.wire.sse import SSEDecoder

log = logging.getLogger("hermes.providers.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_RETRIES = 2
RETRY_AFTER_CAP = 10.0
# A non-streamed answer may take this many idle timeouts (model.timeout) to arrive whole.
WHOLE_ANSWER_FACTOR = 5


class OpenAIProvider:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        defaults: ModelParams = ModelParams(),
        name: str = "openai",
    ) -> None:
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key
        self.defaults = defaults
        self.label = f"{name}:{model}"
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        self._whole_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=timeout * WHOLE_ANSWER_FACTOR,
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # One shared session (connection pool) per gateway, created inside the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _body(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        p: ModelParams,
        incremental: bool,
    ) -> dict[str, Any]:
        d = self.defaults
        return encode_chat_request(
            messages,
            model=self.model,
            tools=tools or None,
            stream=incremental,
            include_usage=incremental,
            max_tokens=p.max_tokens if p.max_tokens is not None else d.max_tokens,
            temperature=p.temperature if p.temperature is not None else d.temperature,
            top_p=p.top_p if p.top_p is not None else d.top_p,
            stop=p.stop or d.stop,
        )

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        body = json.dumps(self._body(messages, tools, params, incremental)).encode()
        url = f"{self.base_url}/chat/completions"
        attempt = 0
        while True:
            try:
                response = await self._open(url, body, incremental)
                if not incremental:
                    events = await self._whole(response)
                break
            except UpstreamError as exc:
                if not exc.retryable or attempt >= MAX_RETRIES:
                    raise
                delay = _backoff(attempt, exc)
                log.warning(
                    "%s: %s; retry %d in %.2fs", self.label, exc.message, attempt + 1, delay
                )
                attempt += 1
                await asyncio.sleep(delay)
        if not incremental:
            for event in events:
                yield event
            return
        async with response:
            async for event in self._events(response):
                yield event

    async def _open(self, url: str, body: bytes, incremental: bool) -> aiohttp.ClientResponse:
        # A whole answer sends no byte until it is complete: allow it longer than the idle timeout.
        timeout = self._timeout if incremental else self._whole_timeout
        with _transport_errors(
            f"the model provider did not answer in time ({self.label})",
            f"cannot reach the model provider at {self.base_url}",
            retryable=True,
        ):
            response = await self._client().post(
                url, data=body, headers=self._headers(), timeout=timeout
            )
        if response.status != 200:
            async with response:
                raise await _status_error(response, self.label)
        return response

    async def _whole(self, response: aiohttp.ClientResponse) -> tuple[StreamEvent, ...]:
        """A non-streaming answer; failures here are retryable like a failed connect."""
        async with response:
            with _transport_errors(
                f"the model provider did not answer in time ({self.label})",
                "the connection to the model provider failed",
                retryable=True,
            ):
                raw = await response.read()
        try:
            return parse_completion_response(json.loads(raw)).events()
        except (ValueError, WireError) as exc:
            raise UpstreamError(f"the model provider sent a malformed answer: {exc}") from exc

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = SSEDecoder()
        acc = ChunkAccumulator()
        with _transport_errors(
            f"the model provider stopped sending mid-answer ({self.label})",
            "the connection to the model provider failed",
            retryable=False,
        ):
            try:
                async for raw in response.content.iter_any():
                    for sse in decoder.feed(raw):
                        for event in acc.feed_data(sse.data):
                            yield event
                    if acc.done:
                        return
                for sse in decoder.flush():
                    for event in acc.feed_data(sse.data):
                        yield event
                for event in acc.finish():
                    yield event
            except WireError as exc:
                raise UpstreamError(f"the model provider sent a malformed stream: {exc}") from exc


@contextlib.contextmanager
def _transport_errors(timed_out: str, failed: str, *, retryable: bool) -> Iterator[None]:
    """Map aiohttp's timeouts and connection errors to the upstream errors clients see."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout(timed_out, retryable=retryable) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"{failed}: {exc}", retryable=retryable) from exc


async def _status_error(response: aiohttp.ClientResponse, label: str) -> UpstreamError:
    status = response.status
    try:
        text = (await response.text())[:2000]
    except (TimeoutError, aiohttp.ClientError):
        text = ""
    detail = _upstream_message(text) or response.reason or ""
    if status in (401, 403):
        return UpstreamAuthError(
            f"upstream rejected the credentials ({label}: HTTP {status}: {detail})",
            upstream_status=status,
        )
    if status == 429:
        return UpstreamRateLimited(
            f"the model provider is rate limiting ({label}): {detail}",
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    if status in (408, 504):
        return UpstreamTimeout(
            f"the model provider timed out ({label}: HTTP {status})",
            retryable=True,
            upstream_status=status,
        )
    return UpstreamError(
        f"the model provider failed ({label}: HTTP {status}: {detail})",
        retryable=status >= 500,
        upstream_status=status,
    )


def _upstream_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return text.strip()[:300]


def _retry_after(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def _backoff(attempt: int, exc: UpstreamError) -> float:
    """Jittered exponential backoff (0.25 s, 0.5 s, …), or the provider's Retry-After if sooner
    than a cap."""
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, float | int) and hinted <= RETRY_AFTER_CAP:
        return float(hinted)
    return 0.25 * (1 << attempt) * random.uniform(0.5, 1.5)
