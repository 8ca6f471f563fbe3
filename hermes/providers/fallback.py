"""`model.fallbacks`: try providers in order when one fails before its first token with an error
another provider may not have (connection, timeout, 5xx, 429). Once a provider has produced
anything, its failure is the client's: answers are never spliced from two models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from hermes.errors import UpstreamError
from hermes.messages import Message, ProviderNote, StreamEvent
from hermes.providers.base import ModelParams, Provider

log = logging.getLogger("hermes.providers")


class FallbackProvider:
    def __init__(self, providers: Sequence[Provider]) -> None:
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider")
        self.providers = list(providers)
        self.label = " -> ".join(p.label for p in self.providers)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        last = len(self.providers) - 1
        for index, provider in enumerate(self.providers):
            started = False
            try:
                events = provider.stream(
                    messages, tools=tools, params=params, incremental=incremental
                )
                async for event in events:
                    if not started:
                        started = True
                        if index:
                            log.warning("answered by fallback %s", provider.label)
                        yield ProviderNote(provider.label)
                    yield event
                return
            except UpstreamError as exc:
                if started or not exc.retryable or index == last:
                    raise
                log.warning(
                    "%s failed before its first token (%s); trying %s",
                    provider.label,
                    exc.message,
                    self.providers[index + 1].label,
                )

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()
