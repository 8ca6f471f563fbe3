"""Ollama's native chat API over aiohttp: NDJSON streaming, tool calls, retries before the first
token (hermes.providers.http), and errors that say what to do (start Ollama, pull the model)."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamAuthError, UpstreamError, UpstreamRateLimited
from hermes.messages import StreamEvent
from hermes.providers.base import ModelParams
from hermes.providers.http import (
    DEFAULT_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT,
    ChatRequest,
    HttpProvider,
    classify_status,
    transport_errors,
)
from hermes.providers.http import error_text as read_error_text
from hermes.wire import fastjson
from hermes.wire.ollama import (
    ChatAccumulator,
    NDJSONDecoder,
    WireError,
    encode_chat_request,
    error_text,
    parse_chat_response,
)

log = logging.getLogger("hermes.providers.ollama")

DEFAULT_BASE_URL = "http://127.0.0.1:11434"


class OllamaProvider(HttpProvider):
    default_base_url = DEFAULT_BASE_URL
    _log = log
    _speaker = "Ollama"
    _wire_errors = (WireError,)

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        defaults: ModelParams = ModelParams(),
        connections: int = DEFAULT_CONNECTIONS,
        name: str = "ollama",
        num_ctx: int | None = None,
    ) -> None:
        super().__init__(
            model, base_url, timeout, connect_timeout, defaults, name, request_timeout, connections
        )
        self.num_ctx = num_ctx  # the window Ollama allocates: the one hermes keeps requests within
        # Ollama's tool calls carry no id; numbering them per provider keeps them unique per run.
        self._call_ids = itertools.count(1)

    def _new_call_id(self) -> str:
        return f"call_{next(self._call_ids)}"

    def _url(self, incremental: bool) -> str:
        return f"{self.base_url}/api/chat"

    def _headers(self, incremental: bool) -> dict[str, str]:
        return {"Content-Type": "application/json", "Accept": "application/x-ndjson"}

    def _body(self, r: ChatRequest) -> dict[str, Any]:
        p = r.params
        return encode_chat_request(
            r.messages,
            model=self.model,
            tools=r.tools or None,
            stream=r.incremental,
            num_predict=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            stop=p.stop,
            num_ctx=self.num_ctx,
            tool_choice=p.tool_choice,
            think=p.reasoning_effort is not None,
        )

    def _parse_whole(self, data: Any) -> Sequence[StreamEvent]:
        return parse_chat_response(data, self._new_call_id)

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = NDJSONDecoder()
        acc = ChatAccumulator(self._new_call_id)
        with self._stream_errors(retryable=False):
            try:
                async for raw in response.content.iter_any():
                    for obj in decoder.feed(raw):
                        for event in acc.feed(obj):
                            yield event
                    if acc.done:
                        return
                for obj in decoder.flush():
                    for event in acc.feed(obj):
                        yield event
                for event in acc.finish():
                    yield event
            except WireError as exc:
                raise UpstreamError(f"Ollama sent a malformed stream: {exc}") from exc

    def _connection_failed(self) -> str:
        return f"the connection to Ollama at {self.base_url} failed"

    def _connect_errors(self) -> contextlib.AbstractContextManager[None]:
        return transport_errors(
            self._silent(),
            self._connection_failed(),
            unreachable=f"Ollama doesn't seem to be running at {self.base_url} "
            "(start it with `ollama serve`)",
            retryable=True,
            too_long=self._too_long(),
        )

    async def _status_error(self, response: aiohttp.ClientResponse) -> UpstreamError:
        status = response.status
        text = await read_error_text(response, 2000)
        try:
            detail = error_text(fastjson.loads(text))
        except ValueError:
            detail = ""
        if status == 404 and detail:
            return UpstreamError(
                f"Ollama at {self.base_url} has no model {self.model!r} ({detail}): "
                f"run `ollama pull {self.model}`",
                upstream_status=404,
            )
        detail = detail or text.strip()[:300] or response.reason or ""
        if status == 404:  # no JSON error: something that is not Ollama answered
            return UpstreamError(
                f"no Ollama chat API at {self.base_url}/api/chat (HTTP 404: {detail}); "
                "check model.base_url",
                upstream_status=404,
            )
        if status in (401, 403):
            return UpstreamAuthError(
                f"Ollama (or a proxy before it) refused the request ({self.label}: "
                f"HTTP {status}: {detail})",
                upstream_status=status,
            )
        if status == 429:
            return UpstreamRateLimited(f"Ollama is busy ({self.label}): {detail}")
        return classify_status(status, self.label, detail, speaker="Ollama")
