"""The provider interface: one streaming method, capabilities, and a close."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hermes.messages import Message, ReasoningEffort, StreamEvent, ToolChoice


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Per-request sampling settings; None means the provider's (or config's) default.
    `reasoning_effort` asks a reasoning model to think (each provider in its own terms)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    reasoning_effort: ReasoningEffort | None = None
    # With tools offered: which the model may call (None: the provider's default, "auto"), and
    # whether it may call several in one answer (None: the provider's default, yes).
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None


class Provider(Protocol):
    """A model behind one wire format.

    `stream` yields TextDelta*, with ReasoningDelta* and SignedReasoning* among them, then, if the
    model wants tools, one ToolCallsReady, then UsageReport?, then Finish. Failures raise
    hermes.errors.UpstreamError subclasses whose `retryable` says whether another try (or a fallback
    provider) may help; a provider retries transient failures itself only before it has yielded
    anything. With `incremental=False` nobody watches tokens arrive, so a provider may fetch the
    answer whole (cheaper) and yield the same events at once."""

    label: str  # "openai:gpt-4o-mini", for logs and the X-Hermes-Provider header

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]: ...

    async def close(self) -> None: ...
