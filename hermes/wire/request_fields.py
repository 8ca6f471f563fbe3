"""Checks shared by the chat completions and Responses request parsers: the bounds of their
integer fields and the tool-call arguments a client sends back. Each failure is an
InvalidRequest naming the field (`param`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hermes.errors import InvalidRequest
from hermes.messages import REASONING_EFFORTS, ReasoningEffort
from hermes.wire.fastjson import MAX_DEPTH, dumps_text, preview

# A token count must fit the providers' wire formats: Gemini's maxOutputTokens is an int32.
MAX_TOKENS: Final = 2**31 - 1


def opt_tokens(obj: Mapping[str, Any], key: str) -> int | None:
    """A token count: a whole number from 1 to MAX_TOKENS, or absent (null)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS:
        raise InvalidRequest(
            f"'{key}' must be a positive integer of at most {MAX_TOKENS}.", param=key
        )
    return value


def arguments_text(arguments: Mapping[str, Any], param: str) -> str:
    """Tool-call arguments a client sent parsed (an object) as the JSON text the wire carries;
    nesting deeper than MAX_DEPTH is refused (the encoders would overflow the stack)."""
    try:
        return dumps_text(arguments)
    except ValueError:
        raise InvalidRequest(
            f"'{param}' is nested more than {MAX_DEPTH} levels deep.", param=param
        ) from None


def opt_effort(raw: Any, param: str) -> ReasoningEffort | None:
    """A reasoning effort (chat `reasoning_effort`, Responses `reasoning.effort`): one of
    REASONING_EFFORTS, or absent (null)."""
    if raw is None:
        return None
    for effort in REASONING_EFFORTS:
        if raw == effort:
            return effort
    raise InvalidRequest(
        f"Invalid value for '{param}': {preview(raw)!r}. Supported values are: "
        + ", ".join(f"'{e}'" for e in REASONING_EFFORTS)
        + ".",
        param=param,
    )


def opt_reasoning(obj: Mapping[str, Any]) -> ReasoningEffort | None:
    """The Responses API's `reasoning` object: its `effort` (its `summary` wishes are met the
    one way the gateway has: the reasoning as a summary text)."""
    raw = obj.get("reasoning")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidRequest("'reasoning' must be an object.", param="reasoning")
    return opt_effort(raw.get("effort"), "reasoning.effort")
