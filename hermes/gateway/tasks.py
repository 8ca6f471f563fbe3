"""Open WebUI's background tasks: after each reply it asks the same model for a title, tags,
follow-up questions (and search queries, autocompletion) with a prompt of its own that starts
`### Task:` and quotes the chat in `<chat_history>`. Those are answered by the model directly:
no agent prompt, no tools, no agent loop, not counted against the run limit (a title must never
wait behind, or take the place of, a user's agent run)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from hermes.agent import AgentEvent, RunFinished
from hermes.messages import Finish, Message, ProviderNote, TextDelta, Usage, UsageReport
from hermes.providers.base import ModelParams, Provider

TASK_HEAD = "### Task:"
TASK_MARKS = ("<chat_history>", "### Output:")


def is_background_task(messages: Sequence[Message]) -> bool:
    """The last user message is one of Open WebUI's task prompts."""
    last = next((m for m in reversed(messages) if m.role == "user"), None)
    text = (last.content or "").lstrip() if last is not None else ""
    return text.startswith(TASK_HEAD) and any(mark in text for mark in TASK_MARKS)


async def answer_directly(
    provider: Provider, messages: Sequence[Message], params: ModelParams, *, incremental: bool
) -> AsyncIterator[AgentEvent]:
    """The model's answer to `messages` as the agent's events, without the agent: one model
    call, no tools offered."""
    usage, reason = Usage(), "stop"
    async for event in provider.stream(messages, params=params, incremental=incremental):
        if isinstance(event, TextDelta | ProviderNote):
            yield event
        elif isinstance(event, UsageReport):
            usage = usage + event.usage
        elif isinstance(event, Finish):
            reason = event.reason
    yield RunFinished(reason, usage)
