"""Anthropic's Messages API over aiohttp: streaming, tool use, retries before the first token, and
errors mapped to what a client of the gateway should see. The HTTP habits (timeouts, retries,
status mapping) are the OpenAI provider's; only the wire format differs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamError
from hermes.messages import Message, StreamEvent
from hermes.providers.base import ModelParams

# One status mapping and one retry policy for every HTTP provider.
from hermes.providers.openai import (
    MAX_RETRIES,
    WHOLE_ANSWER_FACTOR,
    _backoff,
    _status_error,
    _transport_errors,
)
from hermes.wire.anthropic import (
    ANTHROPIC_VERSION,
    AnthropicWireError,
    StreamAccumulator,
    encode_request,
    parse_message_response,
)
from hermes.wire.sse import SSEDecoder

log = logging.getLogger("hermes.providers.anthropic")

DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        defaults: ModelParams = ModelParams(),
        name: str = "anthropic",
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

    def _headers(self, incremental: bool) -> dict[str, str]:
        headers = {
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream" if incremental else "application/json",
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def _body(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        p: ModelParams,
        incremental: bool,
    ) -> dict[str, Any]:
        d = self.defaults
        return encode_request(
            messages,
            model=self.model,
            max_tokens=p.max_tokens if p.max_tokens is not None else d.max_tokens,
            tools=tools,
            stream=incremental,
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
        url = f"{self.base_url}/v1/messages"
        attempt = 0
        while True:
            try:
                first, rest = await self._attempt(url, body, incremental)
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
        if rest is None:
            for event in first:
                yield event
            return
        async with contextlib.aclosing(rest):
            for event in first:
                yield event
            async for event in rest:
                yield event

    async def _attempt(
        self, url: str, body: bytes, incremental: bool
    ) -> tuple[list[StreamEvent], AsyncGenerator[StreamEvent, None] | None]:
        """One try, up to the first event: a streamed answer may still fail (an `overloaded_error`
        event, say) after its 200, and until something has been yielded a retry is safe."""
        response = await self._open(url, body, incremental)
        if not incremental:
            return list(await self._whole(response)), None
        rest = self._events(response)
        try:
            return [await anext(rest)], rest
        except StopAsyncIteration:
            raise UpstreamError(f"the model provider sent an empty answer ({self.label})") from None

    async def _open(self, url: str, body: bytes, incremental: bool) -> aiohttp.ClientResponse:
        # A whole answer sends no byte until it is complete: allow it longer than the idle timeout.
        timeout = self._timeout if incremental else self._whole_timeout
        with _transport_errors(
            f"the model provider did not answer in time ({self.label})",
            f"cannot reach the model provider at {self.base_url}",
            retryable=True,
        ):
            response = await self._client().post(
                url, data=body, headers=self._headers(incremental), timeout=timeout
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
            return parse_message_response(json.loads(raw))
        except (ValueError, AnthropicWireError) as exc:
            raise UpstreamError(f"the model provider sent a malformed answer: {exc}") from exc

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamEvent, None]:
        decoder = SSEDecoder()
        acc = StreamAccumulator()
        async with response:
            try:
                with _transport_errors(
                    f"the model provider stopped sending mid-answer ({self.label})",
                    "the connection to the model provider failed",
                    retryable=True,
                ):
                    async for raw in response.content.iter_any():
                        for sse in decoder.feed(raw):
                            for event in acc.feed_data(sse.event, sse.data):
                                yield event
                        if acc.done:
                            return
                    for sse in decoder.flush():
                        for event in acc.feed_data(sse.event, sse.data):
                            yield event
                    acc.finish()
            except AnthropicWireError as exc:
                raise UpstreamError(f"the model provider sent a malformed stream: {exc}") from exc
            except UpstreamError as exc:
                # Transient failures are worth another try only before any output has gone out:
                # after that a retry, here or by a fallback provider, would repeat it.
                if acc.yielded:
                    exc.retryable = False
                raise
