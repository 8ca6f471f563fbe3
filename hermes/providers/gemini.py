"""Google's Gemini API (generativelanguage v1beta) over aiohttp: generateContent for whole answers,
streamGenerateContent?alt=sse for streams, the same retries and error mapping as the other HTTP
providers (hermes.providers.http), and thought signatures carried from one tool-call turn to the
next."""

from __future__ import annotations

import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
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
    classify_status,
    error_text,
    retry_after,
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


class GeminiProvider(HttpProvider):
    default_base_url = DEFAULT_BASE_URL
    _log = log
    _wire_errors = (WireError,)

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
        name: str = "gemini",
    ) -> None:
        super().__init__(
            model, base_url, timeout, connect_timeout, defaults, name, request_timeout, connections
        )
        # The root URL; tolerate one copied with the API version on the end.
        self.base_url = self.base_url.removesuffix(f"/{API_VERSION}")
        self.api_key = api_key
        self._signatures: OrderedDict[str, str] = OrderedDict()
        version = _SIGNED_MODEL.search(model)
        self._needs_signature = version is not None and int(version.group(1)) >= 3

    def _url(self, incremental: bool) -> str:
        return self.base_url + request_path(self.model, stream=incremental)

    def _headers(self, incremental: bool) -> dict[str, str]:
        # The key goes in a header only: a URL ends up in logs and error messages.
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if incremental else "application/json",
        }
        if self.api_key:
            headers["x-goog-api-key"] = self.api_key
        return headers

    def _body(self, r: ChatRequest) -> dict[str, Any]:
        p = r.params
        return encode_request(
            r.messages,
            tools=r.tools,
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            stop=p.stop,
            signatures=self._signatures,
            missing_signature=SKIP_SIGNATURE if self._needs_signature else None,
            tool_choice=p.tool_choice,
            reasoning_effort=p.reasoning_effort,
        )

    def _parse_whole(self, data: Any) -> Sequence[StreamEvent]:
        """A generateContent answer."""
        acc = self._accumulator()
        events = acc.whole(data)
        self._remember(acc.signatures)
        return events

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        decoder = SSEDecoder()
        acc = self._accumulator()
        with self._stream_errors(retryable=False):
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

    async def _status_error(self, response: aiohttp.ClientResponse) -> UpstreamError:
        """Google's error bodies: a status, a message, reasons and a suggested retry delay."""
        info = parse_error(await error_text(response, 4000))
        detail = " ".join(filter(None, (info.status, info.message))) or response.reason or ""
        hinted = retry_after(response.headers.get("Retry-After"))
        return classify_status(
            response.status,
            self.label,
            detail,
            retry_after=hinted if hinted is not None else info.retry_delay,
            # A wrong key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID; a missing one
            # a 403.
            bad_key="API_KEY_INVALID" in info.reasons,
        )

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
