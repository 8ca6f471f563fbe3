"""Summarizing older turns with the profile's own model, for context compression.

This module counts characters only; hermes.agent.context turns its token budget into the
character allowances used here."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hermes.errors import HermesError
from hermes.messages import Message, TextDelta
from hermes.providers.base import ModelParams, Provider

log = logging.getLogger("hermes.agent.context")

SUMMARY_INSTRUCTIONS = (
    "You are summarizing a conversation between a user and an AI assistant so that the assistant "
    "can continue it without the original messages. Keep every fact, decision, name, number, "
    "file path and open task, and the tool results that still matter; drop pleasantries and "
    "repetition. When a summary of the even earlier conversation is given, fold it in: your "
    "summary replaces it. Answer with the summary only, as plain text."
)
_EARLIER = "Summary of the conversation before this part:\n"
_PART = "Conversation to summarize:\n"
_ASK = "\n\nWrite the updated summary."
_FRAME_CHARS = len(_EARLIER) + 2 + len(_PART) + len(_ASK) + 64  # 64: the "omitted" line
_MIN_CHUNK = 256  # below this a summary would cost more calls than it saves
MAX_CALLS = 8  # per compaction; past it the oldest messages are left out of the summary
_MARKER = "\n[… truncated {} characters …]\n"


def clip_middle(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, keeping its head and tail (where a tool output's
    command and its error usually are) around a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    # Sized for the longest count the marker can show, so the result never passes `limit`
    # (unless `limit` is shorter than the marker itself).
    keep = max(0, limit - len(_MARKER.format(len(text))))
    head = keep * 2 // 3
    marker = _MARKER.format(len(text) - keep)
    clipped = text[:head] + marker + text[len(text) - (keep - head) :]
    return clipped if len(clipped) < len(text) else text


def render(messages: Sequence[Message], limit: int) -> list[str]:
    """Each message as plain transcript text, roles labelled, tool calls and results included,
    each at most `limit` characters."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out = []
    for m in messages:
        if m.role == "tool":
            name = names.get(m.tool_call_id or "", "a tool")
            text = f"result of {name}: {m.content or ''}"
        else:
            lines = [f"{m.role}: {m.content}"] if m.content else []
            lines += [f"{m.role} called {c.name}({c.arguments})" for c in m.tool_calls]
            text = "\n".join(lines) or f"{m.role}: (empty)"
        out.append(clip_middle(text, limit))
    return out


def _chunks(pieces: Sequence[str], limit: int) -> list[list[str]]:
    """Consecutive pieces packed into groups of at most `limit` characters (joined by blank
    lines); every piece is already at most `limit` long."""
    chunks: list[list[str]] = []
    size = limit + 1
    for piece in pieces:
        if size + 2 + len(piece) > limit:
            chunks.append([])
            size = -2
        chunks[-1].append(piece)
        size += 2 + len(piece)
    return chunks


class Summarizer:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def summarize(
        self,
        previous: str | None,
        older: Sequence[Message],
        *,
        answer_tokens: int,
        request_chars: int,
        summary_chars: int,
    ) -> str | None:
        """A summary of `previous` (an earlier summary) and `older`, at most `summary_chars`
        long, asked in as few calls as fit: each request's text stays within `request_chars`.
        None when the model fails or says nothing: the caller falls back to truncation."""
        chunk_chars = request_chars - len(SUMMARY_INSTRUCTIONS) - _FRAME_CHARS - summary_chars
        if chunk_chars < _MIN_CHUNK:
            log.warning("context: the budget leaves no room for a summary request")
            return None
        chunks = _chunks(render(older, chunk_chars), chunk_chars)
        omitted = sum(len(c) for c in chunks[:-MAX_CALLS])
        chunks = chunks[-MAX_CALLS:]
        if omitted:
            chunks[0].insert(0, f"({omitted} even earlier messages are left out)")
        summary = clip_middle(previous, summary_chars) if previous else None
        try:
            for chunk in chunks:
                text = await self._ask(summary, "\n\n".join(chunk), answer_tokens)
                if not text:
                    log.warning("context: the model returned an empty summary")
                    return None
                summary = clip_middle(text, summary_chars)
        except HermesError as exc:  # its type only: the message may quote the conversation
            log.warning("context: the summary request failed (%s)", type(exc).__name__)
            return None
        return summary

    async def _ask(self, summary: str | None, part: str, answer_tokens: int) -> str:
        earlier = f"{_EARLIER}{summary}\n\n" if summary else ""
        messages = [
            Message("system", SUMMARY_INSTRUCTIONS),
            Message("user", f"{earlier}{_PART}{part}{_ASK}"),
        ]
        params = ModelParams(max_tokens=max(1, answer_tokens), temperature=0.2)
        stream = self.provider.stream(messages, tools=[], params=params, incremental=False)
        parts = [event.text async for event in stream if isinstance(event, TextDelta)]
        return "".join(parts).strip()
