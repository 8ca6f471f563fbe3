"""Context compression: keep what is sent to the model within a token budget.

Past the budget, the older turns are summarized by the profile's own model into one system message
and the last turns stay verbatim; if summarizing fails, the older turns are dropped instead. A cut
only falls before a user or an assistant message, so a tool call is never separated from its
results (every provider rejects a tool result whose call is missing)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hermes.agent.summary import Summarizer, clip_middle
from hermes.config.schema import Config
from hermes.messages import Message, ToolCall
from hermes.providers import context_length
from hermes.providers.base import Provider
from hermes.wire import fastjson

log = logging.getLogger("hermes.agent.context")

SUMMARY_PREFIX = "[Summary of the earlier conversation, condensed to fit the context window]\n"

CHARS_PER_TOKEN = 4  # English prose and code average a little over 4 characters per token
MESSAGE_OVERHEAD = 4  # role and the chat template's separators around every message
CALL_OVERHEAD = 4  # the {"type": "function", "function": …} wrapper of each tool call
_DROPPED_NOTE = re.compile(r"\(\d+ earlier messages were dropped[^\n]*\)\n?")


def _ceil_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def message_tokens(m: Message) -> int:
    """One message's share of `estimate_tokens` (the estimate is a plain sum over messages)."""
    chars = len(m.content or "") + len(m.tool_call_id or "") + len(m.name or "")
    for call in m.tool_calls:
        chars += len(call.id) + len(call.name) + len(call.arguments)
    return MESSAGE_OVERHEAD + CALL_OVERHEAD * len(m.tool_calls) + _ceil_tokens(chars)


def estimate_tokens(messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] = ()) -> int:
    """Tokens a request with these messages and tool schemas will take, without a tokenizer:
    one token per 4 characters of every string the request carries (content, tool call ids, names
    and arguments, tool_call_id), rounded up per message, plus MESSAGE_OVERHEAD per message and
    CALL_OVERHEAD per tool call, plus a quarter of the tool schemas' JSON length.

    Deterministic and slightly conservative for English and code (real tokenizers average a bit
    over 4 characters per token); text in scripts such as Chinese takes more tokens than this,
    which the headroom between agent.context_budget and the full window absorbs. It runs before
    every model call, so it stays a linear scan."""
    total = sum(message_tokens(m) for m in messages)
    if tools:
        total += _ceil_tokens(len(fastjson.dumps(list(tools))))  # UTF-8 bytes: >= characters
    return total


@dataclass(frozen=True)
class ContextPolicy:
    budget: int  # tokens the history sent to the model (tool schemas included) may take
    keep_last_turns: int = 4  # turns (each starts at a user message) kept verbatim
    summary_max_tokens: int = 1024

    @classmethod
    def from_config(cls, config: Config) -> ContextPolicy:
        agent = config.agent
        return cls(
            budget=int(context_length(config) * agent.context_budget),
            keep_last_turns=agent.keep_last_turns,
            summary_max_tokens=agent.summary_max_tokens,
        )


class Compactor:
    """Fits a history into the policy's budget: `fit` returns None when it already fits."""

    def __init__(self, provider: Provider, policy: ContextPolicy) -> None:
        self.provider = provider
        self.policy = policy
        self._summarizer = Summarizer(provider)

    async def fit(
        self, history: Sequence[Message], tools: Sequence[Mapping[str, Any]] = ()
    ) -> list[Message] | None:
        budget = self.policy.budget
        if estimate_tokens(history, tools) <= budget:
            return None
        prefix, previous, body = _split(history)
        room = budget - estimate_tokens(prefix, tools)  # for the summary and the kept turns
        reserve = self._summary_reserve(room)
        cut = _choose_cut(body, room - reserve, self.policy.keep_last_turns)
        older, kept = body[:cut], shrink(body[cut:], room - reserve)
        summary = await self._summary(previous, older, reserve)
        result = shrink([*prefix, *summary, *kept], budget, tools)  # prefix: only if it alone
        if estimate_tokens(result, tools) > budget:  # overflows: a budget smaller than the core
            log.warning("context: the core prompt and tool schemas alone exceed the budget")
        return result

    def _summary_reserve(self, room: int) -> int:
        """Tokens set aside for the summary message: its cap, but never more than half the room,
        so the kept turns always get the other half."""
        full = MESSAGE_OVERHEAD + _ceil_tokens(len(SUMMARY_PREFIX)) + self.policy.summary_max_tokens
        return max(0, min(full, room // 2))

    async def _summary(
        self, previous: str | None, older: Sequence[Message], reserve: int
    ) -> list[Message]:
        """The summary message (none when there is nothing to summarize or no room for one)."""
        limit = (reserve - MESSAGE_OVERHEAD) * CHARS_PER_TOKEN - len(SUMMARY_PREFIX)
        if limit < 64 or (previous is None and not older):
            return []
        text: str | None = previous
        if older:
            answer = min(self.policy.summary_max_tokens, _ceil_tokens(limit))
            # Both request messages round up by at most one token each.
            request = self.policy.budget - answer - 2 * (MESSAGE_OVERHEAD + 1)
            text = await self._summarizer.summarize(
                previous,
                older,
                answer_tokens=answer,
                request_chars=request * CHARS_PER_TOKEN,
                summary_chars=limit,
            )
            if text is None:
                text = _dropped(len(older), previous, limit)
        return [Message("system", SUMMARY_PREFIX + clip_middle(text or "", limit))]


def _dropped(count: int, previous: str | None, limit: int) -> str:
    """The fallback summary: say what was lost, keep the earlier summary when it still fits."""
    log.warning("context: summarizing failed; %d older messages dropped instead", count)
    note = (
        f"({count} earlier messages were dropped to fit the context window; "
        "no summary is available)"
    )
    if previous and len(note) + 1 + len(previous) <= limit:
        return f"{note}\n{previous}"
    return note


def is_summary(m: Message) -> bool:
    return m.role == "system" and (m.content or "").startswith(SUMMARY_PREFIX)


def _split(history: Sequence[Message]) -> tuple[list[Message], str | None, list[Message]]:
    """(fixed prefix, the previous summary's text, body). The prefix is the leading run of system
    messages up to an earlier summary; that summary is folded into the next one, so summaries
    never pile up however long the conversation runs."""
    i = 0
    while i < len(history) and history[i].role == "system" and not is_summary(history[i]):
        i += 1
    prefix, body = list(history[:i]), list(history[i:])
    if not body or not is_summary(body[0]):
        return prefix, None, body
    text = (body[0].content or "").removeprefix(SUMMARY_PREFIX)
    # A fallback's "messages were dropped" note is not carried on: the next note says it again.
    return prefix, _DROPPED_NOTE.sub("", text, count=1).strip() or None, body[1:]


def _choose_cut(body: Sequence[Message], limit: int, keep_last_turns: int) -> int:
    """Where the kept part starts: the start of the last `keep_last_turns` turns if they fit in
    `limit`, else the earliest later cut that fits, else the last cut (shrunk afterwards).

    Valid cuts are before a user or assistant message, never before a tool result."""
    cuts = [i for i in range(1, len(body)) if body[i].role in ("user", "assistant")]
    if not cuts:
        return 0
    turns = [i for i, m in enumerate(body) if m.role == "user"]
    if keep_last_turns <= 0:
        preferred = cuts[-1]
    elif len(turns) >= keep_last_turns:
        preferred = turns[-keep_last_turns]
    else:
        preferred = 0
    tail = [0] * (len(body) + 1)  # tail[i]: tokens of body[i:]
    for i in range(len(body) - 1, -1, -1):
        tail[i] = tail[i + 1] + message_tokens(body[i])
    for cut in [0, *cuts]:
        if cut >= preferred and tail[cut] <= limit:
            return cut
    return cuts[-1]


def shrink(
    messages: Sequence[Message], limit: int, tools: Sequence[Mapping[str, Any]] = ()
) -> list[Message]:
    """Shorten the longest texts (a huge tool output, say) until the messages fit `limit`: the
    last resort when even the smallest valid tail is over budget. Best effort: messages are never
    dropped here, so overheads alone may still exceed a tiny limit."""
    out = list(messages)
    excess = estimate_tokens(out, tools) - limit
    for _ in range(4 * len(out) + 8):  # each round shortens one text a lot; bound it anyway
        if excess <= 0 or not out:
            break
        i = max(range(len(out)), key=lambda j: _longest(out[j]))
        shorter = _shorten(out[i], excess * CHARS_PER_TOKEN)
        if shorter == out[i]:
            break
        out[i] = shorter
        excess = estimate_tokens(out, tools) - limit
    return out


def _longest(m: Message) -> int:
    return max([len(m.content or ""), *(len(c.arguments) for c in m.tool_calls)])


def _shorten(m: Message, drop: int) -> Message:
    """`m` with its longest text about `drop` characters shorter (marker included), or `m`
    itself when it cannot get shorter. Tool call arguments stay valid JSON: the providers that
    parse them would fail on a cut string."""
    content = m.content or ""
    longest = max(m.tool_calls, key=lambda c: len(c.arguments), default=None)
    if longest is None or len(content) >= len(longest.arguments):
        clipped = clip_middle(content, len(content) - drop)
        return m if clipped == content else dataclasses.replace(m, content=clipped)
    # JSON escaping can lengthen the kept part: aim lower, and give up if it does not shrink.
    kept = clip_middle(longest.arguments, (len(longest.arguments) - drop) // 2)
    args = json.dumps({"truncated_arguments": kept})
    if len(args) >= len(longest.arguments):
        return m
    calls = tuple(ToolCall(c.id, c.name, args) if c is longest else c for c in m.tool_calls)
    return dataclasses.replace(m, tool_calls=calls)
