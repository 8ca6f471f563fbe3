"""Anthropic's Messages API over aiohttp: streaming, tool use, retries before the first token, and
errors mapped to what a client of the gateway should see. The HTTP habits (timeouts, retries,
status mapping) are hermes.providers.http's; only the wire format differs."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamError
from hermes.messages import StreamEvent
from hermes.providers.base import ModelParams
from hermes.providers.http import (
    DEFAULT_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    Attempt,
    ChatRequest,
    HttpProvider,
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


class AnthropicProvider(HttpProvider):
    default_base_url = DEFAULT_BASE_URL
    _log = log
    _wire_errors = (AnthropicWireError,)

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        defaults: ModelParams = ModelParams(),
        connections: int = DEFAULT_CONNECTIONS,
        name: str = "anthropic",
    ) -> None:
        super().__init__(
            model, base_url, timeout, connect_timeout, defaults, name, request_timeout, connections
        )
        self.api_key = api_key

    def _url(self, incremental: bool) -> str:
        return f"{self.base_url}/v1/messages"

    def _headers(self, incremental: bool) -> dict[str, str]:
        headers = {
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream" if incremental else "application/json",
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def _body(self, r: ChatRequest) -> dict[str, Any]:
        p = r.params
        return encode_request(
            r.messages,
            model=self.model,
            max_tokens=p.max_tokens,
            tools=r.tools,
            stream=r.incremental,
            temperature=p.temperature,
            top_p=p.top_p,
            stop=p.stop,
            tool_choice=p.tool_choice,
            parallel_tool_calls=p.parallel_tool_calls,
            reasoning_effort=p.reasoning_effort,
            producer=self.label,
        )

    def _parse_whole(self, data: Any) -> Sequence[StreamEvent]:
        return parse_message_response(data)

    async def _attempt(self, url: str, body: bytes, incremental: bool) -> Attempt:
        """One try, up to the first event: a streamed answer may still fail (an `overloaded_error`
        event, say) after its 200, and until something has been yielded a retry is safe."""
        response = await self._post(url, body, self._headers(incremental), incremental)
        if not incremental:
            return list(await self._whole(response)), None
        rest = self._events(response)
        try:
            return [await anext(rest)], rest
        except StopAsyncIteration:
            raise UpstreamError(f"the model provider sent an empty answer ({self.label})") from None

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[StreamEvent, None]:
        decoder = SSEDecoder()
        acc = StreamAccumulator()
        async with response:
            try:
                with self._stream_errors(retryable=True):
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
