"""Provider-neutral conversation and streaming types.

Every wire format (OpenAI chat today, others later) decodes into these, and the agent loop only ever
sees these, so a provider can be swapped without touching the loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for. `arguments` stays the raw JSON text the model wrote:
    parsing (and reporting bad JSON back to the model) is the tool layer's job."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


# Stream events a provider yields, in this order: TextDelta*, ToolCallsReady?, UsageReport?, Finish.


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallsReady:
    """Every tool call of one model turn, whole: fragments are assembled before this is yielded."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage


@dataclass(frozen=True, slots=True)
class Finish:
    """Always the last event of a turn. `reason` is the OpenAI finish_reason vocabulary:
    "stop", "length", "tool_calls", "content_filter"."""

    reason: str


StreamEvent: TypeAlias = TextDelta | ToolCallsReady | UsageReport | Finish

__all__ = [
    "Finish",
    "Message",
    "Role",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallsReady",
    "Usage",
    "UsageReport",
]
