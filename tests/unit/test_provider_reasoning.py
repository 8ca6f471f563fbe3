"""Reasoning through each real provider against its scripted fake upstream (real HTTP): the
effort reaches the upstream in its own terms, reasoning comes back as events, and the agent
loop keeps it on the message with its producer, so Anthropic's signed thinking goes back in the
run's own tool turns and nobody else's reasoning is ever sent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from hermes.agent import Agent, RunFinished
from hermes.config.schema import ToolsConfig
from hermes.messages import (
    Message,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ThinkingBlock,
    ToolCall,
)
from hermes.providers.anthropic import AnthropicProvider
from hermes.providers.base import ModelParams, Provider
from hermes.providers.gemini import GeminiProvider
from hermes.providers.ollama import OllamaProvider
from hermes.providers.openai import OpenAIProvider
from hermes.tools import ToolContext, ToolRegistry, tool
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.ollama_upstream import FakeOllama
from tests.fakes.openai_upstream import FakeOpenAI

ASK = [Message("user", "what is 2 + 3?")]
LOW = ModelParams(reasoning_effort="low")


@tool
async def add(ctx: ToolContext, a: int, b: int) -> str:
    """Add two integers.

    Args:
        a: the first
        b: the second
    """
    return str(a + b)


def agent(provider: Provider, tmp_path: Path) -> Agent:
    ctx = ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})
    return Agent(provider, ToolRegistry([add]), ctx)


def reasoning_of(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def text_of(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("incremental", [True, False])
async def test_anthropic_thinking_goes_back_signed_in_the_runs_tool_turn(
    tmp_path: Path, incremental: bool
) -> None:
    async with FakeAnthropic() as up:
        provider = AnthropicProvider(model="claude-x", base_url=up.base_url, api_key="k")
        up.queue_tool_call("add", {"a": 2, "b": 3}, thinking="I should add them.")
        up.queue_text("It is 5.", thinking="The tool said 5.")
        run = agent(provider, tmp_path).run(ASK, LOW, incremental=incremental)
        events = [e async for e in run]
        await provider.close()
    assert reasoning_of(events) == "I should add them.The tool said 5."
    assert text_of(events) == "It is 5."
    first, second = (body for body, _ in up.requests)
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # The fake refuses a tool turn without its thinking block, or with a signature it did not give.
    assert second["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "I should add them.",
        "signature": up.signature("I should add them."),
    }
    done = events[-1]
    assert isinstance(done, RunFinished)
    assert done.transcript[0].reasoning == Reasoning(
        "I should add them.",
        "anthropic:claude-x",
        (ThinkingBlock("I should add them.", up.signature("I should add them.")),),
    )
    assert done.transcript[-1].content == "It is 5."


async def test_anthropic_never_gets_another_providers_reasoning(tmp_path: Path) -> None:
    foreign = Reasoning("their thoughts", "openai:gpt", (ThinkingBlock("their thoughts", "s"),))
    call = ToolCall("toolu_1", "add", '{"a":2,"b":3}')
    history = [
        *ASK,
        Message("assistant", None, (call,), reasoning=foreign),
        Message("tool", "5", tool_call_id="toolu_1"),
    ]
    async with FakeAnthropic() as up:
        provider = AnthropicProvider(model="claude-x", base_url=up.base_url, api_key="k")
        up.queue_text("It is 5.")
        events = [e async for e in agent(provider, tmp_path).run(history, LOW)]
        await provider.close()
    assert text_of(events) == "It is 5."
    body = up.requests[0][0]
    assert "their thoughts" not in str(body)
    assert "thinking" not in body  # another model's tool turn cannot go on with thinking on


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("incremental", [True, False])
async def test_openai_compatible_effort_and_reasoning(
    tmp_path: Path, field: str, incremental: bool
) -> None:
    async with FakeOpenAI() as up:
        provider = OpenAIProvider(model="r1", base_url=up.base_url)
        up.queue_tool_call("add", {"a": 2, "b": 3}, reasoning="Add them.")
        up.queue_text("It is 5.", reasoning="Done.", reasoning_field=field)
        run = agent(provider, tmp_path).run(ASK, LOW, incremental=incremental)
        events = [e async for e in run]
        await provider.close()
    assert (reasoning_of(events), text_of(events)) == ("Add them.Done.", "It is 5.")
    assert [body["reasoning_effort"] for body, _ in up.requests] == ["low", "low"]
    assert "Add them." not in str(up.requests[1][0])  # never sent back


@pytest.mark.parametrize("incremental", [True, False])
async def test_think_tags_of_a_local_model_are_reasoning(incremental: bool) -> None:
    async with FakeOpenAI() as up:
        provider = OpenAIProvider(model="qwen", base_url=up.base_url)
        up.queue_text(
            "<think>\nsmall sum\n</think>\n\n5",
            chunks=["<th", "ink>\nsmall", " sum\n</", "think>\n\n5"],
        )
        events: list[StreamEvent] = [e async for e in provider.stream(ASK, incremental=incremental)]
        await provider.close()
    assert (reasoning_of(events), text_of(events)) == ("small sum", "5")


@pytest.mark.parametrize("incremental", [True, False])
async def test_gemini_thinking_config_and_thought_parts(incremental: bool) -> None:
    async with FakeGemini() as up:
        provider = GeminiProvider(model="gemini-2.5-flash", base_url=up.base_url, api_key="k")
        up.queue_text("It is 5.", thoughts="Two plus three.")
        events = [e async for e in provider.stream(ASK, params=LOW, incremental=incremental)]
        await provider.close()
    assert (reasoning_of(events), text_of(events)) == ("Two plus three.", "It is 5.")
    config = up.requests[0].body["generationConfig"]["thinkingConfig"]
    assert config == {"includeThoughts": True, "thinkingBudget": 1024}


@pytest.mark.parametrize("incremental", [True, False])
async def test_ollama_think_and_thinking(incremental: bool) -> None:
    async with FakeOllama() as up:
        provider = OllamaProvider(model="fake-model", base_url=up.base_url)
        up.queue_text("It is 5.", thinking="Two plus three.")
        up.queue_text("5")
        events = [e async for e in provider.stream(ASK, params=LOW, incremental=incremental)]
        plain = [e async for e in provider.stream(ASK, incremental=incremental)]
        await provider.close()
    assert (reasoning_of(events), text_of(events)) == ("Two plus three.", "It is 5.")
    assert up.requests[0][0]["think"] is True and "think" not in up.requests[1][0]
    assert text_of(plain) == "5"
