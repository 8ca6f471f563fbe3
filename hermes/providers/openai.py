"""OpenAI-compatible Chat Completions over aiohttp: streaming, tool calls, retries before the
first token, and errors mapped to what a client of the gateway should see. The HTTP machinery is
hermes.providers.http's; this module holds the wire format."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamError
from hermes.messages import StreamEvent
from hermes.providers.base import ModelParams
from hermes.providers.http import (
    DEFAULT_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    ChatRequest,
    HttpProvider,
)
from hermes.wire.openai_chat import (
    ChunkAccumulator,
    WireError,
    encode_chat_request,
    parse_completion_response,
)
from hermes.wire.sse import SSEDecoder

log = logging.getLogger("hermes.providers.openai")

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(HttpProvider):
    default_base_url = DEFAULT_BASE_URL
    _log = log
    _wire_errors = (WireError,)

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        defaults: ModelParams = ModelParams(),
        connections: int = DEFAULT_CONNECTIONS,
        name: str = "openai",
    ) -> None:
        super().__init__(
            model, base_url, timeout, connect_timeout, defaults, name, request_timeout, connections
        )
        self.api_key = api_key

    def _url(self, incremental: bool) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self, incremental: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _body(self, r: ChatRequest) -> dict[str, Any]:
        p = r.params
        return encode_chat_request(
            r.messages,
            model=self.model,
            tools=r.tools or None,
            stream=r.incremental,
            include_usage=r.incremental,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            stop=p.stop,
            tool_choice=p.tool_choice,
            parallel_tool_calls=p.parallel_tool_calls,
            reasoning_effort=p.reasoning_effort,
        )

    def _parse_whole(self, data: Any) -> Sequence[StreamEvent]:
        return parse_completion_response(data).events()

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = SSEDecoder()
        acc = ChunkAccumulator()
        with self._stream_errors(retryable=False):
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
