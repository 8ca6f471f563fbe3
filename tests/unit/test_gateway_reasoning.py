"""Reasoning through the gateway app in-process: chat `reasoning_content` (whole and streamed),
Responses `reasoning` items and their stream events (checked against the openai SDK's own
types), the session API's `reasoning` events, `api_server.show_reasoning`, and the request's
reasoning effort, validated and passed to the provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import openai.types.responses as sdk
import pytest
from pydantic import TypeAdapter

from hermes.messages import (
    Finish,
    Message,
    ReasoningDelta,
    SignedReasoning,
    StreamEvent,
    TextDelta,
    ThinkingBlock,
)
from hermes.profiles import ProfileStore
from hermes.providers.base import ModelParams
from tests.unit.test_gateway_app import GatewayClient, client_for

USER = [{"role": "user", "content": "2 + 3?"}]
EVENTS = TypeAdapter(sdk.ResponseStreamEvent)


class Thinker:
    """A provider that reasons, then answers; it records what it was asked."""

    label = "test:thinker"

    def __init__(self) -> None:
        self.calls: list[tuple[list[Message], ModelParams]] = []

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        params: ModelParams = ModelParams(),
        incremental: bool = True,
    ) -> AsyncIterator[StreamEvent]:
        self.calls.append((list(messages), params))
        yield ReasoningDelta("Two plus ")
        yield ReasoningDelta("three.")
        yield SignedReasoning(ThinkingBlock("Two plus three.", "sig_1"))
        yield TextDelta("It is 5.")
        yield Finish("stop")

    async def close(self) -> None:
        pass


async def gateway(
    aiohttp_client: Any, store: ProfileStore, *, show: bool = True
) -> tuple[GatewayClient, Thinker]:
    provider = Thinker()
    settings = {"API_SERVER_KEY": ""}
    if not show:
        settings["API_SERVER_SHOW_REASONING"] = "false"
    return await client_for(aiohttp_client, store, provider, **settings), provider


def sse_data(text: str) -> list[Any]:
    lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


@pytest.mark.parametrize("show", [True, False])
async def test_chat_whole_answer_has_reasoning_content(
    aiohttp_client: Any, store: ProfileStore, show: bool
) -> None:
    client, _ = await gateway(aiohttp_client, store, show=show)
    r = await client.post("/v1/chat/completions", json={"messages": USER})
    message = (await r.json())["choices"][0]["message"]
    assert message["content"] == "It is 5."
    assert message.get("reasoning_content") == ("Two plus three." if show else None)


@pytest.mark.parametrize("show", [True, False])
async def test_chat_stream_sends_reasoning_deltas_before_the_text(
    aiohttp_client: Any, store: ProfileStore, show: bool
) -> None:
    client, _ = await gateway(aiohttp_client, store, show=show)
    r = await client.post("/v1/chat/completions", json={"messages": USER, "stream": True})
    deltas = [c["choices"][0]["delta"] for c in sse_data(await r.text()) if c["choices"]]
    reasoning = [d["reasoning_content"] for d in deltas if "reasoning_content" in d]
    content = "".join(d.get("content") or "" for d in deltas)
    assert reasoning == (["Two plus ", "three."] if show else [])
    assert content == "It is 5."
    if show:
        first_text = next(i for i, d in enumerate(deltas) if d.get("content"))
        assert all("reasoning_content" in d for d in deltas[1:first_text])


async def test_responses_output_has_a_reasoning_item_before_the_message(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client, provider = await gateway(aiohttp_client, store)
    body = {"input": "2 + 3?", "reasoning": {"effort": "high", "summary": "auto"}}
    r = await client.post("/v1/responses", json=body)
    parsed = sdk.Response.model_validate(await r.json())
    assert [item.type for item in parsed.output] == ["reasoning", "message"]
    item = parsed.output[0]
    assert isinstance(item, sdk.ResponseReasoningItem) and item.id.startswith("rs_")
    assert [s.text for s in item.summary] == ["Two plus three."]
    assert parsed.output_text == "It is 5."
    assert parsed.reasoning is not None and parsed.reasoning.effort == "high"
    assert provider.calls[0][1].reasoning_effort == "high"
    # The stored response keeps it, and so does the history a follow-up turn continues.
    again = await client.get(f"/v1/responses/{parsed.id}")
    assert (await again.json())["output"][0]["type"] == "reasoning"
    await client.post("/v1/responses", json={"input": "and 4?", "previous_response_id": parsed.id})
    history = provider.calls[1][0]
    answered = next(m for m in history if m.role == "assistant")
    assert answered.content == "It is 5." and answered.reasoning is not None
    assert answered.reasoning.producer == "test:thinker"
    assert answered.reasoning.blocks == (ThinkingBlock("Two plus three.", "sig_1"),)


async def test_responses_stream_events_for_reasoning(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client, _ = await gateway(aiohttp_client, store)
    r = await client.post("/v1/responses", json={"input": "2 + 3?", "stream": True})
    events = sse_data(await r.text())
    for event in events:
        EVENTS.validate_python(event)  # every event as the SDK reads it
    kinds = [e["type"] for e in events]
    assert kinds[:9] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert kinds[9] == "response.output_item.added" and events[9]["item"]["type"] == "message"
    assert events[6]["text"] == "Two plus three." and events[7]["part"]["text"] == "Two plus three."
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    done = sdk.Response.model_validate(events[-1]["response"])
    assert [item.type for item in done.output] == ["reasoning", "message"]


@pytest.mark.parametrize("stream", [True, False])
async def test_responses_without_reasoning_when_it_is_hidden(
    aiohttp_client: Any, store: ProfileStore, stream: bool
) -> None:
    client, _ = await gateway(aiohttp_client, store, show=False)
    r = await client.post("/v1/responses", json={"input": "2 + 3?", "stream": stream})
    text = await r.text()
    assert "reasoning_summary" not in text and "Two plus" not in text and "It is 5." in text


@pytest.mark.parametrize("show", [True, False])
async def test_session_api_reasoning_events(
    aiohttp_client: Any, store: ProfileStore, show: bool
) -> None:
    client, _ = await gateway(aiohttp_client, store, show=show)
    r = await client.post("/api/v1/chat", json={"username": "u", "message": "2 + 3?"})
    events = sse_data(await r.text())
    reasoning = [e["text"] for e in events if e["type"] == "reasoning"]
    assert reasoning == (["Two plus ", "three."] if show else [])
    assert [e["type"] for e in events][-2:] == ["complete", "end"]
    whole = await client.post(
        "/api/v1/chat", json={"username": "u", "message": "again", "stream": False}
    )
    result = await whole.json()
    assert result.get("reasoning") == ("Two plus three." if show else None)
    session = await client.get(f"/api/v1/chat/sessions/{result['session_id']}?username=u")
    said = (await session.json())["messages"]
    assert [m.get("reasoning") for m in said if m["role"] == "assistant"] == [
        "Two plus three." if show else None
    ]
    assert "sig_1" not in json.dumps(said)  # signatures are the gateway's, not the client's


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"messages": USER, "reasoning_effort": "max"}, "reasoning_effort"),
        ("/v1/chat/completions", {"messages": USER, "reasoning_effort": 3}, "reasoning_effort"),
        ("/v1/responses", {"input": "x", "reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ("/v1/responses", {"input": "x", "reasoning": "high"}, "reasoning"),
    ],
)
async def test_a_bad_reasoning_effort_is_400_naming_it(
    aiohttp_client: Any, store: ProfileStore, path: str, body: dict[str, Any], param: str
) -> None:
    client, provider = await gateway(aiohttp_client, store)
    r = await client.post(path, json=body)
    error = (await r.json())["error"]
    assert r.status == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == param and f"'{param}'" in error["message"]
    assert not provider.calls


async def test_chat_effort_reaches_the_provider_and_shown_reasoning_is_not_resent(
    aiohttp_client: Any, store: ProfileStore
) -> None:
    client, provider = await gateway(aiohttp_client, store)
    history = [
        *USER,
        {
            "role": "assistant",
            "content": '<details type="reasoning" done="true">\n<summary>Thought</summary>\n'
            "&gt; Two plus three.\n</details>\nIt is 5.",
            "reasoning_content": "Two plus three.",
        },
        {"role": "user", "content": "and 4?"},
    ]
    body = {"messages": history, "reasoning_effort": "minimal"}
    r = await client.post("/v1/chat/completions", json=body)
    assert r.status == 200
    messages, params = provider.calls[0]
    assert params.reasoning_effort == "minimal"
    assistant = next(m for m in messages if m.role == "assistant")
    assert assistant.content == "It is 5." and assistant.reasoning is None
