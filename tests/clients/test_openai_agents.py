"""The OpenAI Agents SDK (`openai-agents`) against a real gateway, through both of its models:
the Responses one (its default) and the chat completions one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from agents import (
    Agent,
    FunctionTool,
    Model,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RawResponsesStreamEvent,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import ToolCallItem
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent

from tests.clients import scenarios
from tests.e2e.gateway_process import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

# Tracing would post spans to OpenAI's servers, which these machines cannot reach.
set_tracing_disabled(True)

APIS = ("responses", "chat")


@pytest.fixture
async def client(gw: Gateway) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        yield c


def model(api: str, client: AsyncOpenAI) -> Model:
    if api == "responses":
        return OpenAIResponsesModel("alice", client)
    return OpenAIChatCompletionsModel("alice", client)


@pytest.mark.parametrize("api", APIS)
async def test_server_tool_turn(api: str, client: AsyncOpenAI, up: FakeOpenAI) -> None:
    scenarios.script_server_tool(up)
    agent = Agent(name="assistant", model=model(api, client))
    result = await Runner.run(agent, scenarios.SERVER_QUESTION)
    assert result.final_output == scenarios.SERVER_ANSWER
    scenarios.check_server_turn(up)
    calls = [i.raw_item for i in result.new_items if isinstance(i, ToolCallItem)]
    if api == "responses":
        # The SDK shows hermes' tool as a hosted (mcp_call) tool call; it runs nothing itself.
        assert [getattr(c, "type", None) for c in calls] == ["mcp_call"]
        assert getattr(calls[0], "name", None) == "read_file"
    else:
        assert calls == []  # chat completions: hermes' tools never reach the client


@pytest.mark.parametrize("api", APIS)
async def test_streamed_turn_with_progress_events(
    api: str, client: AsyncOpenAI, up: FakeOpenAI
) -> None:
    scenarios.script_server_tool(up)
    agent = Agent(name="assistant", model=model(api, client))
    run = Runner.run_streamed(agent, scenarios.SERVER_QUESTION)
    deltas = [
        event.data.delta
        async for event in run.stream_events()
        if isinstance(event, RawResponsesStreamEvent)
        and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    assert run.final_output == scenarios.SERVER_ANSWER
    assert "".join(deltas) == scenarios.SERVER_ANSWER  # no progress marker in the text
    scenarios.check_server_turn(up)


def weather_tool(ran: list[str]) -> FunctionTool:
    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        ran.append(city)
        return scenarios.weather(city)

    return get_weather


@pytest.mark.client_tools
@pytest.mark.parametrize("api", APIS)
async def test_client_tool_turn(api: str, client: AsyncOpenAI, up: FakeOpenAI) -> None:
    scenarios.script_client_tool(up)
    ran: list[str] = []
    agent = Agent(name="assistant", model=model(api, client), tools=[weather_tool(ran)])
    # Responses: the SDK continues from previous_response_id with a function_call_output.
    result = await Runner.run(
        agent, scenarios.WEATHER_QUESTION, auto_previous_response_id=api == "responses"
    )
    assert ran == [scenarios.WEATHER_CITY]
    assert result.final_output == scenarios.CLIENT_ANSWER
    scenarios.check_client_turn(up)
