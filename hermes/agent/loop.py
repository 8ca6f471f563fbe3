"""The agent loop: call the model with the tools, run the tools it asks for (concurrently), feed
the results back, and stop at a final answer or at max_iterations."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hermes.agent.context import Compactor, estimate_tokens
from hermes.messages import (
    Finish,
    Message,
    ProviderNote,
    Reasoning,
    ReasoningDelta,
    SignedReasoning,
    StreamEvent,
    TextDelta,
    ThinkingBlock,
    ToolCall,
    ToolCallsReady,
    Usage,
    UsageReport,
)
from hermes.providers.base import ModelParams, Provider
from hermes.tools import ToolContext, ToolRegistry, ToolResult

log = logging.getLogger("hermes.agent")


@dataclass(frozen=True, slots=True)
class ToolStarted:
    call: ToolCall
    marker: str


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call: ToolCall
    result: ToolResult
    duration_ms: float
    marker: str = ""  # the same as its ToolStarted's, so a client can match the two


@dataclass(frozen=True, slots=True)
class RunFinished:
    reason: str  # "stop", "length", "content_filter", "tool_calls" (with `client_calls`)
    usage: Usage
    # The messages the run added to the conversation, in order: assistant tool-call messages,
    # tool results, and the final assistant message. What a server-side store keeps.
    transcript: tuple[Message, ...] = ()
    # The working history at the end: the caller's messages (its leading ones included, for it to
    # strip) plus the transcript, or the compacted form of them when the context was compressed.
    context: tuple[Message, ...] = ()
    # Calls of the client's own tools, which the client runs: the run ends with them (after the
    # profile's tools of the same answer ran) and resumes when the client sends their results.
    client_calls: tuple[ToolCall, ...] = ()


AgentEvent = TextDelta | ReasoningDelta | ToolStarted | ToolFinished | RunFinished | ProviderNote


@dataclass(slots=True)
class _ModelTurn:
    """What one model call said, gathered from its events. Its reasoning is kept on the message
    with the label of the provider that produced it, which alone may be sent it again."""

    producer: str
    text: list[str] = field(default_factory=list)
    thought: list[str] = field(default_factory=list)
    blocks: list[ThinkingBlock] = field(default_factory=list)
    calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    reason: str = "stop"

    def feed(self, event: StreamEvent) -> TextDelta | ReasoningDelta | ProviderNote | None:
        """Take in one event; what of it the run passes on, if anything."""
        if isinstance(event, TextDelta):
            self.text.append(event.text)
            return event
        if isinstance(event, ReasoningDelta):
            self.thought.append(event.text)
            return event
        if isinstance(event, ProviderNote):
            self.producer = event.label
            return event
        if isinstance(event, SignedReasoning):
            self.blocks.append(event.block)
        elif isinstance(event, ToolCallsReady):
            self.calls = event.calls
        elif isinstance(event, UsageReport):
            self.usage = self.usage + event.usage
        elif isinstance(event, Finish):
            self.reason = event.reason
        return None

    def message(self) -> Message:
        text = "".join(self.text)
        reasoning = None
        if self.thought or self.blocks:
            reasoning = Reasoning("".join(self.thought), self.producer, tuple(self.blocks))
        if not self.calls:
            return Message("assistant", text, reasoning=reasoning)
        return Message("assistant", text or None, tool_calls=self.calls, reasoning=reasoning)


class Agent:
    def __init__(
        self,
        provider: Provider,
        registry: ToolRegistry,
        context: ToolContext,
        *,
        max_iterations: int = 20,
        tool_concurrency: int = 8,
        compactor: Compactor | None = None,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self.context = context
        self.max_iterations = max(1, max_iterations)
        self.tool_concurrency = max(1, tool_concurrency)
        self.compactor = compactor

    async def run(
        self,
        messages: Sequence[Message],
        params: ModelParams = ModelParams(),
        *,
        incremental: bool = True,
        client_tools: Sequence[Mapping[str, Any]] = (),
    ) -> AsyncIterator[AgentEvent]:
        """Yield text as it arrives, tool progress, then exactly one RunFinished. With
        `incremental=False` (nobody watches tokens arrive) each model answer is fetched whole.
        `client_tools` (function specs) are offered beside the profile's tools; a call of one
        ends the run (see RunFinished.client_calls). A `tool_choice` that forces a call holds
        for the first model answer only: after the profile's tools ran, the model may answer."""
        history = list(messages)
        # Kept apart from `history`, which compaction may rewrite mid-run.
        added: list[Message] = []

        def add(message: Message) -> None:
            history.append(message)
            added.append(message)

        theirs = frozenset(spec["name"] for spec in client_tools)
        # A client's tool of a profile tool's name stands in for it (api_server.client_tool_clash).
        own = [s for s in self.registry.schemas() if _name(s) not in theirs]
        tools = [*own, *client_tools]
        usage = Usage()
        for _ in range(self.max_iterations):
            turn = _ModelTurn(self.provider.label)
            if (fitted := await self._fit(history, tools)) is not None:
                history[:] = fitted
            stream = self.provider.stream(
                history, tools=tools, params=params, incremental=incremental
            )
            async for event in stream:
                if (passed := turn.feed(event)) is not None:
                    yield passed
            usage = usage + turn.usage
            add(turn.message())
            if not turn.calls:
                final = "stop" if turn.reason == "tool_calls" else turn.reason
                yield RunFinished(final, usage, tuple(added), tuple(history))
                return
            ours = tuple(c for c in turn.calls if c.name not in theirs)
            async for tool_event in self._run_tools(ours):
                if isinstance(tool_event, ToolFinished):
                    add(Message("tool", tool_event.result.output, tool_call_id=tool_event.call.id))
                yield tool_event
            if len(ours) < len(turn.calls):
                handed = tuple(c for c in turn.calls if c.name in theirs)
                yield RunFinished("tool_calls", usage, tuple(added), tuple(history), handed)
                return
            params = _after_tools(params)
        note = (
            f"[Stopped: the agent used its {self.max_iterations} model calls "
            "(agent.max_iterations) without reaching a final answer.]"
        )
        yield TextDelta("\n\n" + note)
        add(Message("assistant", note))
        yield RunFinished("length", usage, tuple(added), tuple(history))

    async def _fit(
        self, history: list[Message], tools: Sequence[Mapping[str, Any]]
    ) -> list[Message] | None:
        """`history` compacted to the context budget, or None when it is within it."""
        if self.compactor is None:
            return None
        fitted = await self.compactor.fit(history, tools)
        if fitted is None:
            return None
        log.info(
            "context compacted: %d messages -> %d (estimated %d -> %d tokens)",
            len(history),
            len(fitted),
            estimate_tokens(history, tools),
            estimate_tokens(fitted, tools),
        )
        return fitted

    async def _run_tools(
        self, calls: Sequence[ToolCall]
    ) -> AsyncIterator[ToolStarted | ToolFinished]:
        """Start every call (at most tool_concurrency at once); report results in call order so
        the history the model sees is deterministic."""
        markers = [self.registry.marker(call.name, call.arguments) for call in calls]
        for call, marker in zip(calls, markers, strict=True):
            yield ToolStarted(call, marker)
        limit = asyncio.Semaphore(self.tool_concurrency)

        async def one(call: ToolCall, marker: str) -> ToolFinished:
            async with limit:
                start = time.perf_counter()
                result = await self.registry.call(call.name, call.arguments, self.context)
                return ToolFinished(call, result, (time.perf_counter() - start) * 1000, marker)

        tasks = [asyncio.ensure_future(one(c, m)) for c, m in zip(calls, markers, strict=True)]
        try:
            for task in tasks:
                yield await task
        finally:
            for task in tasks:
                task.cancel()


def _name(schema: Mapping[str, Any]) -> Any:
    return schema.get("function", schema).get("name")


def _after_tools(params: ModelParams) -> ModelParams:
    """A forced tool choice ("required" or one named function) was met by the calls just run;
    held on, it would make the model call tools until max_iterations."""
    choice = params.tool_choice
    if choice is None or choice.mode in ("auto", "none"):
        return params
    return dataclasses.replace(params, tool_choice=None)
