"""Client-side tools against the real gateway with the openai SDK: the client's function tools
are offered beside the profile's, a call of one ends the turn as OpenAI's would (chat
`finish_reason: tool_calls`, Responses `function_call` items), and the client's next request
resumes with its results; the profile's tools of the same answer run first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest
from openai.types.chat import (
    ChatCompletionMessage,
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
)
from openai.types.responses import FunctionToolParam

from tests.e2e.gateway_process import Gateway, alice_gateway
from tests.fakes.openai_upstream import FakeOpenAI

WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_R: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("client-tools-home")
    with alice_gateway(home, upstream.base_url) as gateway:
        workspace = home / "profiles" / "alice" / "workspace"
        (workspace / "notes.txt").write_text("the secret word is plum\n")
        yield gateway


@pytest.fixture
def client(gw: Gateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        yield c


def offered(up: FakeOpenAI, n: int = -1) -> list[str]:
    tools: list[dict[str, Any]] = up.requests[n][0].get("tools", [])
    return [t["function"]["name"] for t in tools]


def echoed(message: ChatCompletionMessage) -> ChatCompletionMessageParam:
    """The assistant's message as the client sends it back in its next request."""
    return cast(ChatCompletionMessageParam, message.model_dump(exclude_none=True))


def upstream_messages(up: FakeOpenAI, n: int = -1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = up.requests[n][0]["messages"]
    return messages[1:]  # without the core system prompt


def test_chat_client_tool_loop(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_tool_call("get_weather", {"city": "Paris"}, call_id="call_w1")
    first = client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id == "call_w1"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # Offered beside the profile's own tools, and passed on as given.
    assert "get_weather" in offered(up) and "read_file" in offered(up)
    sent = next(t for t in up.requests[-1][0]["tools"] if t["function"]["name"] == "get_weather")
    assert sent["function"]["parameters"] == WEATHER["function"]["parameters"]

    up.queue_text("It is sunny in Paris.")
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Weather in Paris?"},
        echoed(choice.message),
        {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 24C"},
    ]
    second = client.chat.completions.create(model="alice", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].finish_reason == "stop"
    history = upstream_messages(up)
    assert history[1]["tool_calls"][0]["id"] == "call_w1"
    assert history[2] == {"role": "tool", "content": "sunny, 24C", "tool_call_id": "call_w1"}


def test_chat_streamed_client_tool_call(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_tool_call("get_weather", {"city": "Oslo"}, call_id="call_s1")
    stream = client.chat.completions.create(
        model="alice",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for c in chunk.choices:
            for d in c.delta.tool_calls or []:
                slot = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += d.id or ""
                if d.function is not None:
                    slot["name"] += d.function.name or ""
                    slot["arguments"] += d.function.arguments or ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls"
    assert calls == {0: {"id": "call_s1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}}


def test_chat_server_tool_in_the_same_answer_runs_first_and_is_remembered(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_tool_calls([("read_file", {"path": "notes.txt"}), ("get_weather", {"city": "Rome"})])
    first = client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "Word and weather?"}], tools=[WEATHER]
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    # Only the client's call is handed over: the client would try to run read_file too.
    assert message.tool_calls is not None
    assert [c.function.name for c in message.tool_calls if c.type == "function"] == ["get_weather"]
    handed = message.tool_calls[0].id

    up.queue_text("The word is plum and Rome is warm.")
    second = client.chat.completions.create(
        model="alice",
        messages=[
            {"role": "user", "content": "Word and weather?"},
            echoed(message),
            {"role": "tool", "tool_call_id": handed, "content": "warm"},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].message.content == "The word is plum and Rome is warm."
    # The model sees its whole answer again, with what read_file returned.
    history = upstream_messages(up)
    assert [c["function"]["name"] for c in history[1]["tool_calls"]] == ["read_file", "get_weather"]
    assert history[2]["role"] == "tool" and "plum" in history[2]["content"]
    assert history[3] == {"role": "tool", "content": "warm", "tool_call_id": handed}


def test_chat_tool_choice_and_parallel_calls_reach_the_upstream(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_text("ok")
    client.chat.completions.create(
        model="alice",
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    body = up.requests[-1][0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    up.queue_text("ok")
    client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "hi"}], tool_choice="none"
    )
    assert up.requests[-1][0]["tool_choice"] == "none"


def test_required_tool_choice_holds_for_the_first_answer_only(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_tool_call("read_file", {"path": "notes.txt"})
    up.queue_text("plum")
    answer = client.chat.completions.create(
        model="alice", messages=[{"role": "user", "content": "word?"}], tool_choice="required"
    )
    assert answer.choices[0].message.content == "plum"
    assert up.requests[-2][0]["tool_choice"] == "required"
    assert "tool_choice" not in up.requests[-1][0]


@pytest.mark.parametrize(
    ("tools", "choice", "param", "words"),
    [
        (
            [{"type": "function", "function": {"name": "terminal"}}],
            None,
            "tools[0].function.name",
            "clashes",
        ),
        ([WEATHER, WEATHER], None, "tools[1]", "Duplicate"),
        ([{"type": "function", "function": {"name": "a b"}}], None, "tools[0].function.name", ""),
        (
            [WEATHER],
            {"type": "function", "function": {"name": "nope"}},
            "tool_choice.function.name",
            "not among",
        ),
        ([WEATHER], "sometimes", "tool_choice", ""),
    ],
)
def test_bad_client_tools_are_refused(
    client: openai.OpenAI,
    up: FakeOpenAI,
    tools: Any,
    choice: Any,
    param: str,
    words: str,
) -> None:
    extra: dict[str, Any] = {"tools": tools}
    if choice is not None:
        extra["tool_choice"] = choice
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="alice", messages=[{"role": "user", "content": "hi"}], extra_body=extra
        )
    body: Any = err.value.body
    assert body["param"] == param and words in body["message"]
    assert not up.requests  # refused before the model was called


def test_responses_client_tool_loop(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_tool_calls([("read_file", {"path": "notes.txt"}), ("get_weather", {"city": "Nice"})])
    first = client.responses.create(model="alice", input="Word and weather?", tools=[WEATHER_R])
    assert first.status == "completed"
    assert [o.type for o in first.output] == ["mcp_call", "function_call"]
    fc = first.output[1]
    assert fc.type == "function_call" and fc.name == "get_weather" and fc.status == "completed"
    assert json.loads(fc.arguments) == {"city": "Nice"}
    assert [t.name for t in first.tools if t.type == "function"] == ["get_weather"]
    assert len(first.tools) == 1

    up.queue_text("Plum, and Nice is mild.")
    second = client.responses.create(
        model="alice",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": fc.call_id, "output": "mild"}],
        tools=[WEATHER_R],
    )
    assert second.output_text == "Plum, and Nice is mild."
    history = upstream_messages(up)
    assert [c["function"]["name"] for c in history[1]["tool_calls"]] == ["read_file", "get_weather"]
    assert "plum" in history[2]["content"]
    assert history[3] == {"role": "tool", "content": "mild", "tool_call_id": fc.call_id}


def test_responses_streamed_client_tool_call(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_tool_call("get_weather", {"city": "Lima"}, call_id="call_r2")
    events = list(
        client.responses.create(model="alice", input="Lima?", tools=[WEATHER_R], stream=True)
    )
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == {"city": "Lima"}
    final = events[-1]
    assert final.type == "response.completed"
    assert [o.type for o in final.response.output] == ["function_call"]


def test_responses_continuation_without_the_output_is_refused(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_tool_call("get_weather", {"city": "Bern"}, call_id="call_r3")
    first = client.responses.create(model="alice", input="Bern?", tools=[WEATHER_R])
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="alice", previous_response_id=first.id, input="never mind", tools=[WEATHER_R]
        )
    assert "call_r3" in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(
            model="alice",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_other", "output": "x"}],
        )
    assert "call_other" in str(err.value)
    assert len(up.requests) == 1


def owui_tool(name: str, description: str, **properties: str) -> dict[str, Any]:
    """A tool as Open WebUI's native function calling sends it (its built-in tools)."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": v} for k, v in properties.items()},
                "required": list(properties),
            },
        },
    }


def test_open_webui_native_tools_run_in_open_webui(
    upstream: FakeOpenAI, tmp_path: Path, up: FakeOpenAI
) -> None:
    """Open WebUI in native mode sends its built-in tools (one of them, execute_code, named like
    the profile's) and a streamed request; with client_tool_clash: profile the profile's
    execute_code is kept, its search_web goes to Open WebUI, which runs it and sends the result."""
    tools = [
        owui_tool("search_web", "Search the public web.", query="string"),
        owui_tool("execute_code", "Run Python in the browser.", code="string"),
    ]
    clash = {"api_server__client_tool_clash": "profile"}
    with (
        alice_gateway(tmp_path, upstream.base_url, **clash) as gw,
        httpx.Client(base_url=gw.base_url, headers=gw.headers(), timeout=30) as http,
    ):
        up.queue_tool_call("search_web", {"query": "hermes release"}, call_id="call_o1")
        body = {"model": "alice", "stream": True, "messages": [USER_Q], "tools": tools}
        chunks = sse_chunks(http.post("/chat/completions", json=body))
        offered_now = offered(up)
        assert offered_now.count("execute_code") == 1 and "search_web" in offered_now
        profile_code = next(
            t for t in up.requests[-1][0]["tools"] if t["function"]["name"] == "execute_code"
        )
        assert "browser" not in profile_code["function"]["description"]
        deltas = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
        assert [d["function"]["name"] for d in deltas] == ["search_web"]
        assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"

        up.queue_text("It came out on Monday.")
        follow = {
            **body,
            "messages": [
                USER_Q,
                {"role": "assistant", "content": "", "tool_calls": [deltas[0] | {"index": 0}]},
                {"role": "tool", "tool_call_id": "call_o1", "content": '[{"title": "Monday"}]'},
            ],
        }
        chunks = sse_chunks(http.post("/chat/completions", json=follow))
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == "It came out on Monday."
        assert upstream_messages(up)[2]["content"] == '[{"title": "Monday"}]'


USER_Q: dict[str, Any] = {"role": "user", "content": "When was the hermes release?"}


def sse_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    """The chat chunks of a streamed answer (choice-less usage / progress chunks left out)."""
    assert response.status_code == 200, response.text
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [c for c in map(json.loads, lines[:-1]) if c.get("choices")]


def test_client_tool_clash_client_hides_the_profiles_tool(
    upstream: FakeOpenAI, tmp_path: Path, up: FakeOpenAI
) -> None:
    clash = {"api_server__client_tool_clash": "client"}
    with (
        alice_gateway(tmp_path, upstream.base_url, **clash) as gw,
        openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as client,
    ):
        up.queue_tool_call("terminal", {"command": "ls"}, call_id="call_c1")
        mine = owui_tool("terminal", "The client's own terminal.", command="string")
        answer = client.chat.completions.create(
            model="alice",
            messages=[{"role": "user", "content": "ls"}],
            tools=[cast(ChatCompletionToolParam, mine)],
        )
    assert answer.choices[0].finish_reason == "tool_calls"
    terminals = [t for t in up.requests[-1][0]["tools"] if t["function"]["name"] == "terminal"]
    assert [t["function"]["description"] for t in terminals] == ["The client's own terminal."]
