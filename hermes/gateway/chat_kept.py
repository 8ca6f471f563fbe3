"""Chat completions that outlive their client (api_server.chat_on_disconnect: finish).

Chat is stateless: the client holds the history, so by default a client that goes away takes its
run with it. With `finish` the run goes on in a task of its own (gateway/detach.py) and its whole
answer is kept under the id the client got in the first chunk, for
`GET /v1/chat/completions/{id}` (OpenAI's stored chat completion), scoped like stored responses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hermes.agent import AgentEvent, RunFinished
from hermes.errors import NotFound
from hermes.gateway.middleware import CALLER, json_response
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.messages import ProviderNote, ReasoningDelta, TextDelta, Usage
from hermes.stores.responses import StoredResponse
from hermes.wire.openai_chat import completion_response

PREFIX = "chatcmpl-"


class Collected:
    """A run's events gathered into one `chat.completion`."""

    def __init__(self, cid: str, model: str, show_reasoning: bool, label: str) -> None:
        self.cid, self.model, self.show_reasoning = cid, model, show_reasoning
        self.answered_by = label
        self.created = int(time.time())
        self._text: list[str] = []
        self._thought: list[str] = []
        self.finished = RunFinished("stop", Usage())

    def feed(self, event: AgentEvent) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._thought.append(event.text)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, ProviderNote):
            self.answered_by = event.label

    def body(self) -> dict[str, Any]:
        calls = self.finished.client_calls
        return completion_response(
            self.cid,
            self.created,
            self.model,
            "".join(self._text) or (None if calls else ""),
            self.finished.reason,
            self.finished.usage,
            tool_calls=calls,
            reasoning="".join(self._thought) if self.show_reasoning else None,
        )


async def kept(
    rt: Runtime, owner: str, collected: Collected, events: AsyncIterator[AgentEvent]
) -> AsyncIterator[AgentEvent]:
    """`events`, with the whole answer stored once the run finished."""
    async for event in events:
        collected.feed(event)
        if isinstance(event, RunFinished):
            stored = StoredResponse(
                collected.cid, collected.created, None, None, None, (), collected.body(), owner
            )
            await rt.responses.put(stored)
        yield event


async def get_completion(request: web.Request) -> web.Response:
    """GET /v1/chat/completions/{id}: a completion kept because chat_on_disconnect is finish."""
    rt, cid = request.app[RUNTIME], request.match_info["id"]
    stored = None
    if cid.startswith(PREFIX):
        stored = await rt.responses.get(cid, rt.owner(request[CALLER]))
    if stored is None:
        raise NotFound(f"no stored chat completion with id {cid!r}", param="id")
    return json_response(stored.response)
