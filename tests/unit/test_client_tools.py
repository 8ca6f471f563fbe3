"""A client's own tools: parsing both formats (hostile input included), settling a name clash,
each provider's tool_choice, and what a chat client does not see of a turn (HandedTurns)."""

from __future__ import annotations

from typing import Any

import pytest

from hermes.errors import InvalidRequest
from hermes.gateway.turns import HandedTurns, check_tool_outputs
from hermes.messages import Message, ToolCall, ToolChoice
from hermes.wire import anthropic, gemini, ollama
from hermes.wire.client_tools import MAX_TOOLS, parse_client_tools
from hermes.wire.openai_chat import encode_chat_request
from hermes.wire.openai_chat_request import parse_chat_request

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}}
CHAT_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}
RESPONSES_TOOL = {"type": "function", "name": "get_weather", "parameters": PARAMS}


def test_both_formats_give_the_same_specs() -> None:
    chat = parse_client_tools({"tools": [CHAT_TOOL], "tool_choice": "required"}, "chat")
    resp = parse_client_tools(
        {"tools": [RESPONSES_TOOL], "parallel_tool_calls": False}, "responses"
    )
    assert chat.specs == resp.specs == ({"name": "get_weather", "parameters": PARAMS},)
    assert chat.choice == ToolChoice("required") and resp.parallel is False
    assert resp.echo == ({"type": "function", **resp.specs[0], "strict": None},)


def test_hosted_tools_are_not_offered_and_no_parameters_means_none() -> None:
    tools = [{"type": "web_search"}, {"type": "function", "function": {"name": "now"}}]
    parsed = parse_client_tools({"tools": tools}, "chat")
    assert parsed.specs == ({"name": "now", "parameters": {"type": "object", "properties": {}}},)


def test_named_choice_in_each_format() -> None:
    chat = {"type": "function", "function": {"name": "get_weather"}}
    assert parse_client_tools({"tool_choice": chat}, "chat").choice == ToolChoice(
        "function", "get_weather"
    )
    resp = {"type": "function", "name": "get_weather"}
    assert parse_client_tools({"tool_choice": resp}, "responses").choice == ToolChoice(
        "function", "get_weather"
    )
    with pytest.raises(InvalidRequest):  # the chat shape is not the Responses one
        parse_client_tools({"tool_choice": chat}, "responses")


def deep(n: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for _ in range(n):
        node = {"a": node}
    return node


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": "x"}, "tools"),
        ({"tools": [CHAT_TOOL] * 2}, "tools[1]"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {"name": ""}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
            "tools[0].function.name",
        ),
        ({"tools": [{"type": "function", "function": {"name": "a/b"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": 7}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": deep(500)}}]},
            "tools[0].function.parameters",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]},
            "tools[0].function.description",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
            "tools[0].function.strict",
        ),
        ({"tools": [{"type": 1}]}, "tools[0].type"),
        ({"tools": [CHAT_TOOL] * (MAX_TOOLS + 1)}, "tools"),
        ({"parallel_tool_calls": "false"}, "parallel_tool_calls"),
        ({"tool_choice": "any"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "a b"}}}, "tool_choice"),
    ],
)
def test_bad_chat_tools_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_client_tools(body, "chat")
    assert err.value.param == param


def test_a_clash_is_refused_or_settled() -> None:
    tools = parse_client_tools({"tools": [CHAT_TOOL]}, "chat")
    with pytest.raises(InvalidRequest) as err:
        tools.offer(["get_weather", "terminal"], "chat")
    assert err.value.param == "tools[0].function.name" and "client_tool_clash" in err.value.message
    assert tools.offer(["get_weather"], "chat", "profile") == ()
    assert tools.offer(["get_weather"], "chat", "client") == tools.specs
    assert tools.offer(["terminal"], "chat") == tools.specs


def test_a_named_choice_must_be_offered() -> None:
    named = {"type": "function", "name": "nope"}
    tools = parse_client_tools({"tools": [RESPONSES_TOOL], "tool_choice": named}, "responses")
    with pytest.raises(InvalidRequest) as err:
        tools.offer(["terminal"], "responses")
    assert err.value.param == "tool_choice.name"
    named_server = parse_client_tools({"tool_choice": {**named, "name": "terminal"}}, "responses")
    assert named_server.offer(["terminal"], "responses") == ()


SPEC = {"name": "f", "parameters": {"type": "object", "properties": {}}}
HI = [Message("user", "hi")]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("none"), False, {"type": "none"}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice("function", "f"), None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_anthropic_tool_choice(
    choice: ToolChoice | None, parallel: bool | None, expected: dict[str, Any]
) -> None:
    body = anthropic.encode_request(
        HI, model="m", tools=[SPEC], tool_choice=choice, parallel_tool_calls=parallel
    )
    assert body["tool_choice"] == expected


def test_no_tool_choice_without_tools_or_when_not_asked() -> None:
    assert "tool_choice" not in anthropic.encode_request(HI, model="m", tools=[SPEC])
    assert "tool_choice" not in anthropic.encode_request(HI, model="m", tool_choice=ToolChoice())
    body = encode_chat_request(HI, model="m", stream=False, tool_choice=ToolChoice("required"))
    assert "tool_choice" not in body


def test_openai_and_gemini_tool_choice() -> None:
    body = encode_chat_request(
        HI,
        model="m",
        stream=False,
        tools=[SPEC],
        tool_choice=ToolChoice("function", "f"),
        parallel_tool_calls=False,
    )
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    config = gemini.encode_request(HI, tools=[SPEC], tool_choice=ToolChoice("function", "f"))
    assert config["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    none = gemini.encode_request(HI, tools=[SPEC], tool_choice=ToolChoice("none"))
    assert none["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_ollama_has_no_tool_choice_so_the_offer_narrows() -> None:
    g = {"name": "g", "parameters": {"type": "object", "properties": {}}}

    def names(choice: ToolChoice | None) -> list[str]:
        body = ollama.encode_chat_request(
            HI, model="m", stream=False, tools=[SPEC, g], tool_choice=choice
        )
        return [t["function"]["name"] for t in body.get("tools", [])]

    assert names(None) == names(ToolChoice("required")) == ["f", "g"]
    assert names(ToolChoice("function", "g")) == ["g"]
    assert names(ToolChoice("none")) == []


READ = ToolCall("call_r", "read_file", '{"path": "a"}')
WEATHER = ToolCall("call_w", "get_weather", '{"city": "Oslo"}')
ANSWER = Message("assistant", "Looking.", (READ, WEATHER))
RESULT = Message("tool", "plum", tool_call_id="call_r")


def test_handed_turns_put_the_hidden_part_back_for_the_same_caller_only() -> None:
    turns = HandedTurns()
    turns.remember("alice-key", [Message("user", "q"), ANSWER, RESULT], [WEATHER])
    echoed = Message("assistant", "Looking.", (WEATHER,))
    client = Message("tool", "sunny", tool_call_id="call_w")
    sent = [Message("user", "q"), echoed, client]
    assert turns.restore("alice-key", sent) == [Message("user", "q"), ANSWER, RESULT, client]
    assert turns.restore("bob-key", sent) == sent


def test_handed_turns_keep_nothing_when_every_call_was_handed_and_stay_bounded() -> None:
    turns = HandedTurns(limit=2)
    only = Message("assistant", None, (WEATHER,))
    turns.remember("k", [only], [WEATHER])
    assert turns.restore("k", [only]) == [only]
    for i in range(3):
        call = ToolCall(f"c{i}", "get_weather", "{}")
        turns.remember("k", [Message("assistant", None, (READ, call)), RESULT], [call])
    first = Message("assistant", None, (ToolCall("c0", "get_weather", "{}"),))
    assert turns.restore("k", [first]) == [first]  # evicted: the oldest of three
    last = Message("assistant", None, (ToolCall("c2", "get_weather", "{}"),))
    assert len(turns.restore("k", [last])) == 2


def test_a_continuation_needs_every_handed_output_and_only_those() -> None:
    history = [Message("user", "q"), ANSWER, RESULT]
    check_tool_outputs(history, [Message("tool", "sunny", tool_call_id="call_w")])
    with pytest.raises(InvalidRequest, match="call_w"):
        check_tool_outputs(history, [Message("user", "never mind")])
    with pytest.raises(InvalidRequest, match="call_x"):
        check_tool_outputs(history, [Message("tool", "?", tool_call_id="call_x")])
    check_tool_outputs([Message("user", "q"), Message("assistant", "done")], [Message("user", "n")])


def test_calls_the_client_sends_in_its_input_need_their_outputs_too() -> None:
    # store: false, or a history the client keeps: a function_call item without its output
    # went to the model as a call never answered (OpenAI, and every upstream, refuse that).
    call = Message("assistant", None, (ToolCall("call_n", "get_weather", "{}"),))
    check_tool_outputs([], [call, Message("tool", "sunny", tool_call_id="call_n")])
    with pytest.raises(InvalidRequest, match="call_n"):
        check_tool_outputs([], [Message("user", "q"), call])


CALLED = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [
                {"role": "user", "content": "q"},
                {"role": "tool", "tool_call_id": "c9", "content": "x"},
            ],
            "messages[1].tool_call_id",
        ),
        (
            [{"role": "user", "content": "q"}, CALLED, {"role": "user", "content": "and?"}],
            "messages[1].tool_calls",
        ),
    ],
)
def test_chat_tool_results_must_answer_calls_and_calls_need_results(
    messages: list[dict[str, Any]], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat_request({"messages": messages})
    assert caught.value.param == param


def test_a_chat_history_with_every_call_answered_passes() -> None:
    answered = [CALLED, {"role": "tool", "tool_call_id": "c1", "content": "x"}]
    assert len(parse_chat_request({"messages": answered}).messages) == 2


@pytest.mark.parametrize(
    ("parameters", "param"),
    [
        ({"type": "object", "properties": "x"}, "tools[0].function.parameters.properties"),
        ({"type": "object", "properties": {"a": 1}}, "tools[0].function.parameters.properties"),
        ({"type": 5}, "tools[0].function.parameters"),
        ({"required": "a"}, "tools[0].function.parameters.required"),
        ({"required": [1]}, "tools[0].function.parameters.required"),
    ],
)
def test_a_schema_no_upstream_takes_is_refused_here(parameters: Any, param: str) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": parameters}}
    with pytest.raises(InvalidRequest) as err:
        parse_client_tools({"tools": [tool]}, "chat")
    assert err.value.param == param


def test_a_call_in_the_history_needs_a_name_every_provider_takes() -> None:
    from hermes.wire.openai_chat import parse_chat_request
    from hermes.wire.openai_responses import parse_responses_request

    long = "x" * 10_000
    call = {"id": "c1", "type": "function", "function": {"name": long, "arguments": "{}"}}
    body = {"messages": [{"role": "assistant", "tool_calls": [call]}]}
    with pytest.raises(InvalidRequest) as err:
        parse_chat_request(body)
    assert err.value.param == "messages[0].tool_calls[0].function.name"
    item = {"type": "function_call", "call_id": "c1", "name": long, "arguments": "{}"}
    with pytest.raises(InvalidRequest) as err:
        parse_responses_request({"input": [item]})
    assert err.value.param == "input[0].name"
