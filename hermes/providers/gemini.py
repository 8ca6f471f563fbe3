"""Google's Gemini API (generativelanguage v1beta) over aiohttp: generateContent for whole answers,
streamGenerateContent?alt=sse for streams, the same retries and error mapping as the OpenAI
provider, and thought signatures carried from one tool-call turn to the next."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp

from hermes.errors import UpstreamAuthError, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from hermes.messages import Message, StreamEvent
from hermes.providers.base import ModelParams
from hermes.providers.openai import (
    MAX_RETRIES,
    WHOLE_ANSWER_FACTOR,
    _backoff,
    _retry_after,
    _transport_errors,
)
from hermes.wire.gemini import (
    API_VERSION,
    SKIP_SIGNATURE,
    GeminiAccumulator,
    WireError,
    encode_request,
    parse_error,
    request_path,
)
from hermes.wire.sse import SSEDecoder

log = logging.getLogger("hermes.providers.gemini")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Thought signatures kept for replay, by tool call id; old ones fall back to SKIP_SIGNATURE.
SIGNATURE_CACHE = 4096
# Gemini 3 and later reject a replayed function call without a thought signature.
_SIGNED_MODEL = re.compile(r"(?:^|/)gemini-(\d+)")


class GeminiProvider:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        defaults: ModelParams = ModelParams(),
        name: str = "gemini",
    ) -> None:
        self.model = model
        # The root URL; tolerate one copied with the API version on the end.
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix(f"/{API_VERSION}")
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
        self._signatures: OrderedDict[str, str] = OrderedDict()
        version = _SIGNED_MODEL.search(model)
        self._needs_signature = version is not None and int(version.group(1)) >= 3

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
        # The key goes in a header only: a URL ends up in logs and error messages.
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if incremental else "application/json",
        }
        if self.api_key:
            headers["x-goog-api-key"] = self.api_key
        return headers

    def _body(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], p: ModelParams
    ) -> dict[str, Any]:
        d = self.defaults
        return encode_request(
            messages,
            tools=tools,
            max_tokens=p.max_tokens if p.max_tokens is not None else d.max_tokens,
            temperature=p.temperature if p.temperature is not None else d.temperature,
            top_p=p.top_p if p.top_p is not None else d.top_p,
            stop=p.stop or d.stop,
            signatures=self._signatures,
            missing_signature=SKIP_SIGNATURE if self._needs_signature else None,
        )

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        body = json.dumps(self._body(messages, tools, params)).encode()
        url = self.base_url + request_path(self.model, stream=incremental)
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
                url, data=body, headers=self._headers(incremental), timeout=timeout
            )
        if response.status != 200:
            async with response:
                raise await _status_error(response, self.label)
        return response

    async def _whole(self, response: aiohttp.ClientResponse) -> list[StreamEvent]:
        """A generateContent answer; failures here are retryable like a failed connect."""
        async with response:
            with _transport_errors(
                f"the model provider did not answer in time ({self.label})",
                "the connection to the model provider failed",
                retryable=True,
            ):
                raw = await response.read()
        acc = self._accumulator()
        try:
            events = acc.whole(json.loads(raw))
        except (ValueError, WireError) as exc:
            raise UpstreamError(f"the model provider sent a malformed answer: {exc}") from exc
        self._remember(acc.signatures)
        return events

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = SSEDecoder()
        acc = self._accumulator()
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
                for sse in decoder.flush():
                    for event in acc.feed_data(sse.data):
                        yield event
                last = acc.finish()
            except WireError as exc:
                raise UpstreamError(f"the model provider sent a malformed stream: {exc}") from exc
        # Before the calls reach the agent, which replays them on its next request.
        self._remember(acc.signatures)
        for event in last:
            yield event

    def _accumulator(self) -> GeminiAccumulator:
        # Gemini's calls have no ids: make ones unique across turns and restarts, since a
        # signature is looked up by id and a transcript may outlive this process.
        return GeminiAccumulator(new_id=lambda: f"call_{secrets.token_hex(6)}")

    def _remember(self, signatures: Mapping[str, str]) -> None:
        for call_id, signature in signatures.items():
            self._signatures[call_id] = signature
            self._signatures.move_to_end(call_id)
        while len(self._signatures) > SIGNATURE_CACHE:
            self._signatures.popitem(last=False)


async def _status_error(response: aiohttp.ClientResponse, label: str) -> UpstreamError:
    status = response.status
    try:
        text = (await response.text())[:4000]
    except (TimeoutError, aiohttp.ClientError):
        text = ""
    info = parse_error(text)
    detail = " ".join(filter(None, (info.status, info.message))) or response.reason or ""
    # A wrong key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID; a missing one a 403.
    if status in (401, 403) or "API_KEY_INVALID" in info.reasons:
        return UpstreamAuthError(
            f"upstream rejected the credentials ({label}: HTTP {status}: {detail})",
            upstream_status=status,
        )
    if status == 429:
        hinted = _retry_after(response.headers.get("Retry-After"))
        return UpstreamRateLimited(
            f"the model provider is rate limiting ({label}): {detail}",
            retry_after=hinted if hinted is not None else info.retry_delay,
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
