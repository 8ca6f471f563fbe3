"""Provider-neutral conversation and streaming types.

Every wire format (OpenAI chat today, others later) decodes into these, and the agent loop only ever
sees these, so a provider can be swapped without touching the loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast, get_args

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
# How hard a reasoning model should think, in OpenAI's words; each provider maps it to its own.
ReasoningEffort: TypeAlias = Literal["minimal", "low", "medium", "high"]
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = get_args(ReasoningEffort)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for. `arguments` stays the raw JSON text the model wrote:
    parsing (and reporting bad JSON back to the model) is the tool layer's job."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Which tools the model may call in its next answer (OpenAI's `tool_choice`): any or none
    at its discretion ("auto"), none at all ("none"), at least one ("required"), or the one
    function `name` ("function")."""

    mode: Literal["auto", "none", "required", "function"] = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ThinkingBlock:
    """One reasoning block as a provider that signs its reasoning sent it, kept to be sent back
    to that provider verbatim: Anthropic's `thinking` block (`text` and its `signature`) or its
    `redacted_thinking` block (`redacted`: the opaque data, no readable text)."""

    text: str = ""
    signature: str = ""
    redacted: str = ""


@dataclass(frozen=True, slots=True)
class Reasoning:
    """What the model reasoned before an assistant message, and which provider produced it
    (its label): reasoning is only ever sent back to the provider that produced it."""

    text: str
    producer: str = ""
    blocks: tuple[ThinkingBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Image:
    """An image a user sent, as every provider's wire format can carry it: inline (`data`, the
    base64 text, with the `media_type` its bytes are) or by an https `url` the provider fetches
    (`media_type` then is what the URL's name suggests, "" when it suggests nothing). `detail`
    is OpenAI's hint ("low", "high", "auto"); providers without one ignore it."""

    media_type: str
    data: str | None = None
    url: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: Reasoning | None = None
    images: tuple[Image, ...] = ()


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


# Stream events a provider yields, in this order: (ReasoningDelta | SignedReasoning | TextDelta)*,
# ToolCallsReady?, UsageReport?, Finish.


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning (never part of the answer text)."""

    text: str


@dataclass(frozen=True, slots=True)
class SignedReasoning:
    """A whole signed reasoning block, yielded when it ends (after its ReasoningDeltas), for a
    provider that wants it back in later requests of the same conversation."""

    block: ThinkingBlock


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


@dataclass(frozen=True, slots=True)
class ProviderNote:
    """Which provider is answering, yielded before its first event by a provider that chooses
    among several (fallbacks), so the response can say who answered."""

    label: str


StreamEvent: TypeAlias = (
    TextDelta
    | ReasoningDelta
    | SignedReasoning
    | ToolCallsReady
    | UsageReport
    | Finish
    | ProviderNote
)


# Compact JSON-able form of a Message, for stores. Only None and empty tool_calls are omitted: an
# empty string is kept, because dropping it would turn "" into None and break the exact round trip.


def message_to_dict(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {"role": m.role}
    if m.content is not None:
        d["content"] = m.content
    if m.tool_calls:
        d["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    if m.name is not None:
        d["name"] = m.name
    if m.reasoning is not None:
        d["reasoning"] = _reasoning_to_dict(m.reasoning)
    if m.images:
        d["images"] = [_image_to_dict(i) for i in m.images]
    return d


def _reasoning_to_dict(r: Reasoning) -> dict[str, Any]:
    d: dict[str, Any] = {"text": r.text, "producer": r.producer}
    if r.blocks:
        d["blocks"] = [
            {"text": b.text, "signature": b.signature, "redacted": b.redacted} for b in r.blocks
        ]
    return d


def _image_to_dict(image: Image) -> dict[str, str]:
    d = {"media_type": image.media_type}
    for key in ("data", "url", "detail"):
        value = getattr(image, key)
        if value is not None:
            d[key] = value
    return d


def message_from_dict(d: Mapping[str, Any]) -> Message:
    """The inverse of `message_to_dict`. Raises ValueError on a malformed dict, so a reader of
    stored data can tell corrupt input from a bug."""
    role = d.get("role")
    if role not in get_args(Role):
        raise ValueError(f"invalid message role: {role!r}")
    raw_calls = d.get("tool_calls", [])
    if not isinstance(raw_calls, list):
        raise ValueError("tool_calls must be a list")
    raw_images = d.get("images", [])
    if not isinstance(raw_images, list):
        raise ValueError("images must be a list")
    return Message(
        role=cast(Role, role),
        content=_optional_str(d, "content"),
        tool_calls=tuple(_tool_call_from_dict(c) for c in raw_calls),
        tool_call_id=_optional_str(d, "tool_call_id"),
        name=_optional_str(d, "name"),
        reasoning=_reasoning_from_dict(d.get("reasoning")),
        images=tuple(_image_from_dict(i) for i in raw_images),
    )


def _reasoning_from_dict(d: Any) -> Reasoning | None:
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ValueError("reasoning must be an object")
    raw_blocks = d.get("blocks", [])
    if not isinstance(raw_blocks, list) or not all(isinstance(b, Mapping) for b in raw_blocks):
        raise ValueError("reasoning blocks must be a list of objects")
    blocks = tuple(
        ThinkingBlock(*(_optional_str(b, k) or "" for k in ("text", "signature", "redacted")))
        for b in raw_blocks
    )
    return Reasoning(_optional_str(d, "text") or "", _optional_str(d, "producer") or "", blocks)


def _image_from_dict(d: Any) -> Image:
    if not isinstance(d, Mapping) or not isinstance(d.get("media_type"), str):
        raise ValueError("an image must be an object with a string media_type")
    data, url, detail = (_optional_str(d, k) for k in ("data", "url", "detail"))
    image = Image(d["media_type"], data, url, detail)
    if (image.data is None) == (image.url is None):
        raise ValueError("an image needs exactly one of data and url")
    return image


def _tool_call_from_dict(d: Any) -> ToolCall:
    if not isinstance(d, Mapping):
        raise ValueError("a tool call must be an object")
    fields = [d.get(k) for k in ("id", "name", "arguments")]
    if not all(isinstance(f, str) for f in fields):
        raise ValueError("a tool call needs string id, name and arguments")
    return ToolCall(*cast(list[str], fields))


def _optional_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


__all__ = [
    "REASONING_EFFORTS",
    "Finish",
    "Image",
    "Message",
    "ProviderNote",
    "Reasoning",
    "ReasoningDelta",
    "ReasoningEffort",
    "Role",
    "SignedReasoning",
    "StreamEvent",
    "TextDelta",
    "ThinkingBlock",
    "ToolCall",
    "ToolCallsReady",
    "ToolChoice",
    "Usage",
    "UsageReport",
    "message_from_dict",
    "message_to_dict",
]
