"""Context compression: the token estimate, the Compactor (summary, cut points, fallback,
shortening) and the Agent running with one, against a small in-process scripted provider, plus one
summary request on the wire through the fake OpenAI upstream."""

from __future__ import annotations

import json
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hermes.agent import (
    SUMMARY_PREFIX,
    Agent,
    Compactor,
    ContextPolicy,
    RunFinished,
    estimate_tokens,
)
from hermes.agent.summary import MAX_CALLS, SUMMARY_INSTRUCTIONS
from hermes.config.loader import load_config
from hermes.config.schema import Config, ToolsConfig
from hermes.errors import ConfigError, HermesError, UpstreamError
from hermes.messages import Finish, Message, StreamEvent, TextDelta, ToolCall, ToolCallsReady
from hermes.providers.base import ModelParams
from hermes.providers.openai import OpenAIProvider
from hermes.tools import ToolContext, ToolRegistry, tool
from tests.fakes.openai_upstream import FakeOpenAI

CORE = Message("system", "You are Hermes. " * 20)
INSTRUCTIONS = Message("system", "Answer in English.")
TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {"name": "t", "parameters": {}}}]


@dataclass
class Request:
    messages: list[Message]
    tools: list[Mapping[str, Any]]
    params: ModelParams
    incremental: bool


class ScriptedProvider:
    """Answers summary requests (recognized by their instructions) with `summary(n, request)`
    and agent requests from a queue of turns: a text, or tool calls."""

    label = "scripted:test"

    def __init__(
        self,
        *,
        summary: Callable[[int, str], str] = lambda n, _: f"summary #{n}",
        fail: HermesError | None = None,
        turns: Sequence[str | tuple[ToolCall, ...]] = (),
    ) -> None:
        self.summary = summary
        self.fail = fail
        self.turns = deque(turns)
        self.summary_requests: list[Request] = []
        self.agent_requests: list[Request] = []

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        request = Request(list(messages), list(tools), params, incremental)
        if messages and messages[0].content == SUMMARY_INSTRUCTIONS:
            self.summary_requests.append(request)
            if self.fail:
                raise self.fail
            yield TextDelta(self.summary(len(self.summary_requests), messages[1].content or ""))
            yield Finish("stop")
            return
        self.agent_requests.append(request)
        turn = self.turns.popleft()
        if isinstance(turn, str):
            yield TextDelta(turn)
            yield Finish("stop")
        else:
            yield ToolCallsReady(turn)
            yield Finish("tool_calls")

    async def close(self) -> None:
        pass


def turn(n: int, size: int = 200) -> list[Message]:
    """A user question, one tool call with its result, and an answer."""
    call = ToolCall(f"call_{n}", "lookup", json.dumps({"q": f"item {n}"}))
    return [
        Message("user", f"question {n} " + "q" * size),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", f"result {n} " + "r" * size, tool_call_id=call.id),
        Message("assistant", f"answer {n} " + "a" * size),
    ]


def assert_pairs_intact(messages: Sequence[Message]) -> None:
    """Every tool result follows the assistant message that called it, and every call made before
    the last message has its result."""
    waiting: set[str] = set()
    for m in messages:
        if m.role == "tool":
            assert m.tool_call_id in waiting, "a tool result without its call"
            waiting.discard(m.tool_call_id)
        else:
            assert not waiting, "a tool call without its result"
            waiting = {c.id for c in m.tool_calls}


def summaries(messages: Sequence[Message]) -> list[int]:
    return [i for i, m in enumerate(messages) if (m.content or "").startswith(SUMMARY_PREFIX)]


# -- the estimate -----------------------------------------------------------------------------


def test_estimate_is_deterministic_and_monotonic() -> None:
    history = [CORE, *turn(1)]
    assert estimate_tokens(history) == estimate_tokens(list(history))
    longer = [*history[:-1], Message("assistant", (history[-1].content or "") + "more text")]
    assert estimate_tokens(longer) > estimate_tokens(history)
    assert estimate_tokens([*history, Message("user", "")]) > estimate_tokens(history)
    assert estimate_tokens(history, TOOLS) >= estimate_tokens(history) + len(json.dumps(TOOLS)) // 4
    big_call = ToolCall("c", "write", json.dumps({"text": "x" * 400}))
    assert estimate_tokens([Message("assistant", None, tool_calls=(big_call,))]) > 100
    assert estimate_tokens([Message("user", "x" * 4000)]) in range(1000, 1010)


# -- the compactor ----------------------------------------------------------------------------


async def test_under_budget_nothing_changes() -> None:
    provider = ScriptedProvider()
    history = [CORE, *turn(1)]
    compactor = Compactor(provider, ContextPolicy(budget=estimate_tokens(history, TOOLS)))
    assert await compactor.fit(history, TOOLS) is None
    assert provider.summary_requests == []


async def test_older_turns_are_summarized_and_the_last_turns_kept() -> None:
    provider = ScriptedProvider(summary=lambda n, _: "the user asked about items 0 to 3")
    body = [m for n in range(8) for m in turn(n)]
    history = [CORE, INSTRUCTIONS, *body]
    policy = ContextPolicy(budget=estimate_tokens(history) - 1, summary_max_tokens=200)
    fitted = await Compactor(provider, policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    assert fitted == [
        CORE,
        INSTRUCTIONS,
        Message("system", SUMMARY_PREFIX + "the user asked about items 0 to 3"),
        *body[-16:],  # the last 4 turns, verbatim
    ]
    (request,) = provider.summary_requests
    assert request.tools == [] and request.incremental is False
    assert request.params.max_tokens == 200 and request.params.temperature == 0.2
    system, user = request.messages
    assert system.role == "system" and "summariz" in (system.content or "")
    text = user.content or ""
    assert "user: question 0" in text and "assistant: answer 3" in text
    assert (
        'assistant called lookup({"q": "item 2"})' in text and "result of lookup: result 2" in text
    )
    assert CORE.content is not None
    assert "question 4" not in text and CORE.content not in text


async def test_an_older_part_too_big_for_one_request_is_summarized_in_rolling_parts() -> None:
    provider = ScriptedProvider()
    history = [CORE, *[m for n in range(20) for m in turn(n)]]
    policy = ContextPolicy(budget=estimate_tokens(history[:24]), summary_max_tokens=200)
    fitted = await Compactor(provider, policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    requests = provider.summary_requests
    assert len(requests) > 2 and fitted[1].content == SUMMARY_PREFIX + f"summary #{len(requests)}"
    for n, request in enumerate(requests):
        assert estimate_tokens(request.messages) + (request.params.max_tokens or 0) <= policy.budget
        assert (f"summary #{n}\n" in (request.messages[1].content or "")) == (n > 0)
    seen = "".join(r.messages[1].content or "" for r in requests)
    assert all(f"question {n} " in seen for n in range(16)) and "question 16" not in seen


async def test_past_max_calls_the_oldest_messages_are_left_out_of_the_summary() -> None:
    provider = ScriptedProvider()
    history = [CORE, *[m for n in range(60) for m in turn(n)]]
    policy = ContextPolicy(budget=estimate_tokens(history[:24]), summary_max_tokens=200)
    fitted = await Compactor(provider, policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    assert len(provider.summary_requests) == MAX_CALLS
    first = provider.summary_requests[0].messages[1].content or ""
    assert "even earlier messages are left out" in first and "question 0 " not in first
    assert "answer 55 " in (provider.summary_requests[-1].messages[1].content or "")


async def test_the_cut_moves_later_when_the_last_turns_do_not_fit() -> None:
    provider = ScriptedProvider()
    body = [m for n in range(6) for m in turn(n, size=800)]
    history = [CORE, *body]
    policy = ContextPolicy(budget=estimate_tokens([CORE, *body[-6:]]) + 300, keep_last_turns=4)
    fitted = await Compactor(provider, policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    kept = fitted[2:]
    assert kept == body[len(body) - len(kept) :] and kept[0].role in ("user", "assistant")
    assert 0 < len(kept) < 16  # fewer than 4 turns, at least the last message
    assert_pairs_intact(fitted)


async def test_summarizing_failure_falls_back_to_truncation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = ScriptedProvider(fail=UpstreamError("upstream said no"))
    earlier = Message("system", SUMMARY_PREFIX + "the user is called Ada")
    body = [m for n in range(8) for m in turn(n)]
    history = [CORE, earlier, *body]
    policy = ContextPolicy(budget=estimate_tokens(history) * 3 // 4, summary_max_tokens=200)
    with caplog.at_level(logging.WARNING, logger="hermes.agent.context"):
        fitted = await Compactor(provider, policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    assert fitted[0] == CORE and fitted[2:] == body[-16:]
    note = fitted[1].content or ""
    assert note.startswith(SUMMARY_PREFIX + "(16 earlier messages were dropped")
    assert "no summary is available" in note and "the user is called Ada" in note
    assert "summary request failed (UpstreamError)" in caplog.text
    assert "question" not in caplog.text and "Ada" not in caplog.text

    # The next fallback keeps the summary text without repeating the old note.
    again = await Compactor(provider, policy).fit([*fitted, *turn(9, size=2000)])
    assert again is not None and len(summaries(again)) == 1
    assert (again[1].content or "").count("were dropped") == 1
    assert "the user is called Ada" in (again[1].content or "")


async def test_an_empty_summary_falls_back_to_truncation() -> None:
    provider = ScriptedProvider(summary=lambda n, _: "  ")
    history = [CORE, *[m for n in range(8) for m in turn(n)]]
    fitted = await Compactor(provider, ContextPolicy(estimate_tokens(history) // 2)).fit(history)
    assert fitted is not None and "no summary is available" in (fitted[1].content or "")


async def test_a_huge_tool_output_is_shortened() -> None:
    call = ToolCall("call_1", "terminal", json.dumps({"command": "cat big.log"}))
    huge = "START " + "x" * 200_000 + " END"
    history = [
        CORE,
        Message("user", "show me the log"),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", huge, tool_call_id="call_1"),
    ]
    policy = ContextPolicy(budget=2000, summary_max_tokens=200)
    provider = ScriptedProvider()
    fitted = await Compactor(provider, policy).fit(history, TOOLS)

    assert fitted is not None and estimate_tokens(fitted, TOOLS) <= policy.budget
    assert_pairs_intact(fitted)
    assert fitted[-2].tool_calls == (call,)
    output = fitted[-1].content or ""
    assert output.startswith("START ") and output.endswith(" END") and "truncated" in output
    assert len(output) < 8000 and fitted[0] == CORE


async def test_huge_tool_call_arguments_stay_valid_json() -> None:
    call = ToolCall("call_1", "write_file", json.dumps({"path": "a.txt", "text": "y" * 100_000}))
    history = [
        CORE,
        Message("user", "write it"),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", "written", tool_call_id="call_1"),
    ]
    policy = ContextPolicy(budget=3000, summary_max_tokens=200)
    fitted = await Compactor(ScriptedProvider(), policy).fit(history)

    assert fitted is not None and estimate_tokens(fitted) <= policy.budget
    (shortened,) = fitted[-2].tool_calls
    assert (
        shortened.id == "call_1"
        and "truncated" in json.loads(shortened.arguments)["truncated_arguments"]
    )


def random_turn(rng: random.Random, n: int) -> list[list[Message]]:
    """One turn as the groups the agent would call the model after: the user message, then each
    tool round (an assistant message with 1-3 calls and their results), then the answer."""
    groups = [[Message("user", f"u{n} " + "u" * rng.randint(0, 1500))]]
    for r in range(rng.choice([0, 0, 1, 2, 3])):
        calls = tuple(
            ToolCall(f"c{n}_{r}_{k}", "t", json.dumps({"a": "x" * rng.randint(0, 300)}))
            for k in range(rng.randint(1, 3))
        )
        huge = rng.random() < 0.03
        results = [
            Message("tool", "o" * rng.randint(0, 60_000 if huge else 2500), tool_call_id=c.id)
            for c in calls
        ]
        groups.append([Message("assistant", rng.choice([None, "let me look"]), tool_calls=calls)])
        groups[-1] += results
    groups.append([Message("assistant", f"a{n} " + "a" * rng.randint(0, 1500))])
    return groups


@pytest.mark.parametrize(("seed", "flaky"), [(1, False), (2, False), (3, True)])
async def test_a_thousand_turns_stay_within_the_budget(seed: int, flaky: bool) -> None:
    rng = random.Random(seed)
    budget = rng.randint(3000, 6000)
    policy = ContextPolicy(budget, keep_last_turns=rng.randint(0, 5), summary_max_tokens=300)

    def summarize(n: int, request: str) -> str:  # sometimes longer than asked: it gets clipped
        if flaky and rng.random() < 0.2:
            return ""  # the truncation fallback
        return f"S{n} " + "s" * rng.choice([10, 500, 1200, 3000])

    provider = ScriptedProvider(summary=summarize)
    compactor = Compactor(provider, policy)
    history = [CORE, INSTRUCTIONS]
    for n in range(1000):
        for group in random_turn(rng, n):
            history += group
            if group[-1].role == "assistant" and not group[-1].tool_calls:
                continue  # the answer: the next model call comes with the next user message
            fitted = await compactor.fit(history, TOOLS)
            if fitted is None:
                continue
            assert estimate_tokens(fitted, TOOLS) <= budget
            assert fitted[:2] == [CORE, INSTRUCTIONS]
            assert summaries(fitted) in ([], [2])  # one summary at most, right after the prefix
            assert_pairs_intact(fitted[3:])
            assert fitted[-1].role == history[-1].role
            assert fitted[-1].tool_call_id == history[-1].tool_call_id
            history = fitted
    assert len(provider.summary_requests) > 20
    for n, request in enumerate(provider.summary_requests[1:], start=1):
        assert estimate_tokens(request.messages) + (request.params.max_tokens or 0) <= budget
        # Each summary folds in the one before it: summaries never pile up.
        assert flaky or f"S{n} " in (request.messages[1].content or "")


# -- the agent --------------------------------------------------------------------------------


@tool
async def fetch(ctx: ToolContext, page: int) -> str:
    """Fetch a page of a long document.

    Args:
        page: which page
    """
    return f"page {page}: " + "text " * 600


def script() -> list[str | tuple[ToolCall, ...]]:
    calls: list[str | tuple[ToolCall, ...]] = [
        (ToolCall(f"call_{i}", "fetch", json.dumps({"page": i})),) for i in range(6)
    ]
    return [*calls, "the document is about compression"]


async def run(agent: Agent, messages: Sequence[Message]) -> RunFinished:
    events = [e async for e in agent.run(messages)]
    assert isinstance(events[-1], RunFinished)
    return events[-1]


async def test_the_agent_never_sends_more_than_the_budget(tmp_path: Path) -> None:
    ctx = ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})
    registry = ToolRegistry([fetch])
    messages = [CORE, *turn(0, size=1000), Message("user", "read the document")]
    plain_provider = ScriptedProvider(turns=script())
    plain = await run(Agent(plain_provider, registry, ctx), messages)

    provider = ScriptedProvider(turns=script())
    policy = ContextPolicy(budget=3000, keep_last_turns=1, summary_max_tokens=200)
    finished = await run(
        Agent(provider, registry, ctx, compactor=Compactor(provider, policy)), messages
    )

    tools = registry.schemas()
    sizes = [estimate_tokens(r.messages, tools) for r in provider.agent_requests]
    assert len(sizes) == 7 and max(sizes) <= policy.budget
    assert max(estimate_tokens(r.messages, tools) for r in plain_provider.agent_requests) > 3000
    assert provider.summary_requests  # it compacted, more than once across the tool loop
    assert finished.transcript == plain.transcript  # every message the run added, uncompacted
    assert [m.role for m in finished.transcript] == ["assistant", "tool"] * 6 + ["assistant"]
    assert plain.context == (*messages, *plain.transcript)
    assert finished.context[0] == CORE and len(summaries(finished.context)) == 1
    assert finished.context[-1] == finished.transcript[-1]
    assert estimate_tokens(finished.context[:-1], tools) <= policy.budget


# -- config -----------------------------------------------------------------------------------


def test_the_policy_comes_from_config(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "model:\n  context_length: 10000\n"
        "agent:\n  context_budget: 0.5\n  keep_last_turns: 2\n  summary_max_tokens: 300\n"
    )
    assert ContextPolicy.from_config(load_config(path)) == ContextPolicy(5000, 2, 300)
    assert ContextPolicy.from_config(Config()) == ContextPolicy(96_000, 4, 1024)


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2"])
def test_a_budget_share_outside_zero_to_one_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"agent:\n  context_budget: {value}\n")
    with pytest.raises(ConfigError, match=r"agent\.context_budget: expected a number > 0 and <= 1"):
        load_config(path)


# -- on the wire ------------------------------------------------------------------------------


async def test_the_summary_request_on_the_wire() -> None:
    async with FakeOpenAI() as up:
        up.queue_text("Ada asked about items 0 to 3; item 2 was found.")
        provider = OpenAIProvider(model="fake-model", base_url=up.base_url, api_key="sk-test")
        try:
            history = [CORE, *[m for n in range(8) for m in turn(n)]]
            policy = ContextPolicy(budget=estimate_tokens(history) - 1, summary_max_tokens=200)
            fitted = await Compactor(provider, policy).fit(history)
        finally:
            await provider.close()

    assert fitted is not None and fitted[1] == Message(
        "system", SUMMARY_PREFIX + "Ada asked about items 0 to 3; item 2 was found."
    )
    ((body, _headers),) = up.requests
    assert body["stream"] is False and "tools" not in body
    assert body["max_tokens"] == 200 and body["temperature"] == 0.2
    system, user = body["messages"]
    assert system == {"role": "system", "content": SUMMARY_INSTRUCTIONS}
    assert user["role"] == "user" and "user: question 0" in user["content"]


def test_the_budget_follows_the_providers_window_unless_set(tmp_path: Path) -> None:
    from hermes.config.loader import load_config

    path = tmp_path / "config.yaml"
    path.write_text("model:\n  provider: local\n")
    assert ContextPolicy.from_config(load_config(path)).budget == int(4096 * 0.75)
    path.write_text("model:\n  provider: anthropic\n")
    assert ContextPolicy.from_config(load_config(path)).budget == int(128_000 * 0.75)
    path.write_text(
        "model:\n  provider: local\n  context_length: 8192\nagent:\n  context_budget: 0.5\n"
    )
    assert ContextPolicy.from_config(load_config(path)).budget == 4096
