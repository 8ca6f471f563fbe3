"""pydantic-ai (`pydantic-ai-slim[openai]`) against a real gateway, through its Responses model
and its chat completions model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, NativeToolCallPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.openai import (
    OpenAIChatModel,
    OpenAIResponsesModel,
    OpenAIResponsesModelSettings,
)
from pydantic_ai.providers.openai import OpenAIProvider

from tests.clients import scenarios
from tests.e2e.gateway_process import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

APIS = ("responses", "chat")


@pytest.fixture
async def provider(gw: Gateway) -> AsyncIterator[OpenAIProvider]:
    async with AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        yield OpenAIProvider(openai_client=c)


def model(api: str, provider: OpenAIProvider) -> Model:
    if api == "responses":
        return OpenAIResponsesModel("alice", provider=provider)
    return OpenAIChatModel("alice", provider=provider)


def calls(messages: list[object]) -> list[ToolCallPart | NativeToolCallPart]:
    parts = [p for m in messages if isinstance(m, ModelResponse) for p in m.parts]
    return [p for p in parts if isinstance(p, ToolCallPart | NativeToolCallPart)]


@pytest.mark.parametrize("api", APIS)
async def test_server_tool_turn(api: str, provider: OpenAIProvider, up: FakeOpenAI) -> None:
    scenarios.script_server_tool(up)
    result = await Agent(model(api, provider)).run(scenarios.SERVER_QUESTION)
    assert result.output == scenarios.SERVER_ANSWER
    scenarios.check_server_turn(up)
    made = calls(list(result.all_messages()))
    if api == "responses":
        # hermes' tool is a native (provider-run) MCP call to pydantic-ai, not one it must run.
        assert [type(p) for p in made] == [NativeToolCallPart]
        assert made[0].tool_name == "mcp_server:hermes"
        assert made[0].args_as_dict()["tool_name"] == "read_file"
    else:
        assert made == []  # chat completions: hermes' tools never reach the client


@pytest.mark.parametrize("api", APIS)
async def test_streamed_turn_with_progress_events(
    api: str, provider: OpenAIProvider, up: FakeOpenAI
) -> None:
    scenarios.script_server_tool(up)
    async with Agent(model(api, provider)).run_stream(scenarios.SERVER_QUESTION) as run:
        deltas = [d async for d in run.stream_text(delta=True)]
        assert await run.get_output() == scenarios.SERVER_ANSWER
    assert "".join(deltas) == scenarios.SERVER_ANSWER  # no progress marker in the text
    scenarios.check_server_turn(up)


@pytest.mark.client_tools
@pytest.mark.parametrize("api", APIS)
async def test_client_tool_turn(api: str, provider: OpenAIProvider, up: FakeOpenAI) -> None:
    scenarios.script_client_tool(up)
    # Responses: continue from previous_response_id with the function_call_output.
    settings = OpenAIResponsesModelSettings(openai_previous_response_id="auto")
    agent = Agent(model(api, provider), model_settings=settings if api == "responses" else None)
    ran: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        ran.append(city)
        return scenarios.weather(city)

    result = await agent.run(scenarios.WEATHER_QUESTION)
    assert ran == [scenarios.WEATHER_CITY]
    assert result.output == scenarios.CLIENT_ANSWER
    scenarios.check_client_turn(up)
