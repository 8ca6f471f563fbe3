"""A session stays usable for 1,000 turns: in-process gateway, a provider that records what it
receives, a context budget a few turns exceed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from hermes.agent import SUMMARY_PREFIX, estimate_tokens
from hermes.agent.summary import SUMMARY_INSTRUCTIONS
from hermes.gateway.app import create_app
from hermes.gateway.runtime import RUNTIME
from hermes.gateway.settings import load
from hermes.messages import Finish, Message, StreamEvent, TextDelta
from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from hermes.providers.base import ModelParams

BUDGET = 1500


class Recording:
    """Answers every turn briefly and every summary request with a short summary; keeps the
    estimated size of each request it got."""

    label = "test:recording"

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.summaries = 0

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        self.sizes.append(estimate_tokens(messages, tools))
        if messages[0].content == SUMMARY_INSTRUCTIONS:
            self.summaries += 1
            yield TextDelta(f"summary {self.summaries}: the user counted upwards.")
        else:
            yield TextDelta(f"Got {messages[-1].content[:12] if messages[-1].content else ''}")
        yield Finish("stop")

    async def close(self) -> None:
        pass


async def test_a_thousand_turns_stay_within_budget_and_do_not_slow_down(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    profile = store.get("default")
    for key, value in {
        "API_SERVER_KEY": "",
        "model.context_length": "2000",
        "tools.enabled": "[]",
        "agent.keep_last_turns": "3",
        "agent.summary_max_tokens": "100",
    }.items():
        set_value(store, profile, key, value)
    loaded = load(profile, {})
    provider = Recording()
    app = create_app(profile, loaded.config, loaded.settings, provider=provider, environ={})
    client = await aiohttp_client(app)
    sid, timings = "long-1", []
    for i in range(1000):
        start = time.perf_counter()
        r = await client.post(
            "/api/v1/chat",
            json={
                "username": "u",
                "session_id": sid,
                "message": f"number {i} " + "word " * 40,
                "stream": False,
            },
        )
        assert r.status == 200, await r.text()
        timings.append(time.perf_counter() - start)
    listed = await (await client.get("/api/v1/chat/sessions", params={"username": "u"})).json()
    assert listed["sessions"][0]["message_count"] == 2000
    assert max(provider.sizes) <= BUDGET
    # Condensed now and then (about every 17 turns here), never on every turn.
    assert 20 < provider.summaries < 200, provider.summaries
    context = (await app[RUNTIME].sessions.get("u", sid)).context
    assert sum(1 for m in context if (m.content or "").startswith(SUMMARY_PREFIX)) == 1
    early = sorted(timings[10:110])[50]
    late = sorted(timings[-100:])[50]
    assert late < early * 3 + 0.005  # bounded context: turn 1,000 costs what turn 100 did
