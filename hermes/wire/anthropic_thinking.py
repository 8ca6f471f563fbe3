"""Anthropic's extended thinking, both directions, without I/O: the `thinking` request parameter
for a reasoning effort, the thinking blocks of an answer (streamed or whole) as neutral events,
and those blocks encoded again for the tool-use turns that must carry them back."""

from __future__ import annotations

from typing import Any, Final

from hermes.errors import HermesError
from hermes.messages import (
    ReasoningDelta,
    ReasoningEffort,
    SignedReasoning,
    StreamEvent,
    ThinkingBlock,
)

__all__ = [
    "MIN_THINKING_BUDGET",
    "THINKING_BUDGETS",
    "THINKING_TYPES",
    "AnthropicWireError",
    "ThinkingStream",
    "decode_whole",
    "encode_block",
    "thinking_param",
]

# budget_tokens for each reasoning effort; the API's least is 1024, counted within max_tokens.
THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
}
MIN_THINKING_BUDGET: Final = 1024
THINKING_TYPES: Final = ("thinking", "redacted_thinking")


class AnthropicWireError(HermesError):
    """The upstream answered in a shape that is not the Messages API's (not JSON, missing fields,
    a stream cut short). For the gateway's own client that is a bad gateway. (Defined here, the
    lower of the two Anthropic wire modules; `hermes.wire.anthropic` exports it.)"""

    status = 502
    type = "server_error"
    code = "bad_upstream_response"


def thinking_param(
    effort: ReasoningEffort | None, max_tokens: int | None, encoded: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The `thinking` parameter for an effort, or None: no effort asked, no room for the least
    budget within the caller's max_tokens, or a tool-use turn under way that has no thinking
    block of this provider's (another model began it), which the API refuses with thinking on."""
    if effort is None:
        return None
    budget = THINKING_BUDGETS[effort]
    if max_tokens is not None:
        budget = min(budget, max_tokens - 1)
    if budget < MIN_THINKING_BUDGET:
        return None
    last = encoded[-2] if len(encoded) >= 2 else None
    if last is not None and last["role"] == "assistant":
        kinds = [b["type"] for b in last["content"]]
        if "tool_use" in kinds and kinds[0] not in THINKING_TYPES:
            return None
    return {"type": "enabled", "budget_tokens": budget}


def encode_block(block: ThinkingBlock) -> dict[str, Any]:
    if block.redacted:
        return {"type": "redacted_thinking", "data": block.redacted}
    return {"type": "thinking", "thinking": block.text, "signature": block.signature}


def decode_whole(block: dict[str, Any]) -> list[StreamEvent]:
    """A `thinking` or `redacted_thinking` block of a whole answer."""
    if block["type"] == "redacted_thinking":
        return [SignedReasoning(ThinkingBlock(redacted=_str(block, "data")))]
    thought = ThinkingBlock(_str(block, "thinking"), _str(block, "signature"))
    head: list[StreamEvent] = [ReasoningDelta(thought.text)] if thought.text else []
    return [*head, SignedReasoning(thought)]


class ThinkingStream:
    """The thinking blocks of a streamed answer, by content block index: their text is yielded as
    it arrives, the whole block with its signature when the block stops."""

    def __init__(self) -> None:
        self._open: dict[int, tuple[list[str], list[str]]] = {}  # (text, signature) pieces

    def start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        if block["type"] == "redacted_thinking":
            return [SignedReasoning(ThinkingBlock(redacted=_str(block, "data")))]
        text = _str(block, "thinking")
        self._open[index] = ([text], [_str(block, "signature")])
        return [ReasoningDelta(text)] if text else []

    def delta(self, index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        """A `thinking_delta` or `signature_delta`."""
        slot = self._open.get(index)
        if slot is None:
            raise AnthropicWireError(f"Upstream sent thinking for unknown block {index}.")
        if delta["type"] == "signature_delta":
            slot[1].append(_str(delta, "signature"))
            return []
        text = _str(delta, "thinking")
        slot[0].append(text)
        return [ReasoningDelta(text)] if text else []

    def stop(self, index: int) -> list[StreamEvent]:
        slot = self._open.pop(index, None)
        if slot is None:
            return []
        return [SignedReasoning(ThinkingBlock("".join(slot[0]), "".join(slot[1])))]


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise AnthropicWireError(f"Upstream field {key!r} is not a string.")
    return value
