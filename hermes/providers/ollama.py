"""Ollama's native chat API over aiohttp: NDJSON streaming, tool calls, retries before the first
token, and errors that say what to do (start Ollama, pull the model)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamAuthError, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from hermes.messages import Message, StreamEvent
from hermes.providers.base import ModelParams
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
MAX_RETRIES = 2
# A non-streamed answer may take this many idle timeouts (model.timeout) to arrive whole.
WHOLE_ANSWER_FACTOR = 5


class OllamaProvider:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        defaults: ModelParams = ModelParams(),
        name: str = "ollama",
    ) -> None:
        self.model = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
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
        # Ollama's tool calls carry no id; numbering them per provider keeps them unique per run.
        self._call_ids = itertools.count(1)

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

    def _new_call_id(self) -> str:
        return f"call_{next(self._call_ids)}"

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
            num_predict=p.max_tokens if p.max_tokens is not None else d.max_tokens,
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
        attempt = 0
        while True:
            try:
                response = await self._open(body, incremental)
                if not incremental:
                    events = await self._whole(response)
                break
            except UpstreamError as exc:
                if not exc.retryable or attempt >= MAX_RETRIES:
                    raise
                delay = 0.25 * (1 << attempt) * random.uniform(0.5, 1.5)
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

    async def _open(self, body: bytes, incremental: bool) -> aiohttp.ClientResponse:
        # A whole answer sends no byte until it is complete: allow it longer than the idle timeout.
        timeout = self._timeout if incremental else self._whole_timeout
        with _transport_errors(
            f"Ollama did not answer in time ({self.label})",
            f"Ollama doesn't seem to be running at {self.base_url} (start it with `ollama serve`)",
            f"the connection to Ollama at {self.base_url} failed",
            retryable=True,
        ):
            response = await self._client().post(
                f"{self.base_url}/api/chat",
                data=body,
                headers={"Content-Type": "application/json", "Accept": "application/x-ndjson"},
                timeout=timeout,
            )
        if response.status != 200:
            async with response:
                raise await self._status_error(response)
        return response

    async def _whole(self, response: aiohttp.ClientResponse) -> tuple[StreamEvent, ...]:
        """A non-streaming answer; failures here are retryable like a failed connect."""
        async with response:
            failed = f"the connection to Ollama at {self.base_url} failed"
            with _transport_errors(
                f"Ollama did not answer in time ({self.label})", failed, failed, retryable=True
            ):
                raw = await response.read()
        try:
            return parse_chat_response(json.loads(raw), self._new_call_id)
        except (ValueError, WireError) as exc:
            raise UpstreamError(f"Ollama sent a malformed answer: {exc}") from exc

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = NDJSONDecoder()
        acc = ChatAccumulator(self._new_call_id)
        failed = f"the connection to Ollama at {self.base_url} failed"
        with _transport_errors(
            f"Ollama stopped sending mid-answer ({self.label})", failed, failed, retryable=False
        ):
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

    async def _status_error(self, response: aiohttp.ClientResponse) -> UpstreamError:
        status = response.status
        try:
            text = (await response.text())[:2000]
        except (TimeoutError, aiohttp.ClientError):
            text = ""
        try:
            detail = error_text(json.loads(text))
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
        if status in (408, 504):
            return UpstreamTimeout(
                f"Ollama timed out ({self.label}: HTTP {status})",
                retryable=True,
                upstream_status=status,
            )
        return UpstreamError(
            f"Ollama failed ({self.label}: HTTP {status}: {detail})",
            retryable=status >= 500,
            upstream_status=status,
        )


@contextlib.contextmanager
def _transport_errors(
    timed_out: str, unreachable: str, failed: str, *, retryable: bool
) -> Iterator[None]:
    """Map aiohttp's timeouts and connection errors to the upstream errors clients see."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout(timed_out, retryable=retryable) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unresolvable host: never connected
        raise UpstreamError(f"{unreachable}: {exc}", retryable=retryable) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"{failed}: {exc}", retryable=retryable) from exc
