"""The OpenAI Responses wire format: request validation, item/response shapes checked against the
official SDK's models, stream events replayed through the SDK's own accumulator."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types import responses as sdk
from pydantic import BaseModel, ValidationError

from hermes.errors import InvalidRequest
from hermes.messages import Message, ToolCall, ToolChoice, Usage
from hermes.wire.client_tools import ClientTools
from hermes.wire.openai_responses import (
    EventSequence,
    ResponsesRequest,
    function_call_item,
    mcp_call_item,
    message_item,
    new_id,
    output_text_part,
    parse_responses_request,
    response_object,
    sse,
    usage_dict,
)
from hermes.wire.sse import SSEDecoder
from tests.media import PNG_URL

# -- parse_responses_request -----------------------------------------------------------------


def test_string_input_is_one_user_message_with_defaults() -> None:
    req = parse_responses_request({"input": "hi"})
    assert req == ResponsesRequest(input=(Message("user", "hi"),))
    assert (req.store, req.stream, req.metadata, req.conversation) == (True, False, None, None)


def test_input_items_map_to_messages() -> None:
    req = parse_responses_request(
        {
            "input": [
                {"role": "developer", "content": "be brief"},
                {"role": "system", "content": [{"type": "input_text", "text": "sys"}]},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": PNG_URL},
                        {"type": "text", "text": "here"},
                    ],
                },
                {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "cat", "arguments": {"p": 1}},
                {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "x"}],
                },
                {"type": "item_reference", "id": "msg_1"},
                {
                    "id": "msg_2",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "done", "annotations": []}],
                },
                {"role": "user", "content": "thanks"},
            ]
        }
    )
    assert req.input == (
        Message("system", "be brief"),
        Message("system", "sys"),
        Message("user", "look\nhere"),
        Message("assistant", None, (ToolCall("c1", "ls", "{}"), ToolCall("c2", "cat", '{"p": 1}'))),
        Message("tool", "a.txt", tool_call_id="c1"),
        Message("tool", "x", tool_call_id="c2"),
        Message("assistant", "done"),
        Message("user", "thanks"),
    )


def test_function_call_joins_the_assistant_text_before_it_but_not_across_turns() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": ""}
    out = {"type": "function_call_output", "call_id": "c1", "output": "ok"}
    req = parse_responses_request(
        {"input": [{"role": "assistant", "content": "let me look"}, call, out, call]}
    )
    assert req.input == (
        Message("assistant", "let me look", (ToolCall("c1", "ls", ""),)),
        Message("tool", "ok", tool_call_id="c1"),
        Message("assistant", None, (ToolCall("c1", "ls", ""),)),
    )


def test_all_fields_parsed_and_unknown_fields_ignored() -> None:
    req = parse_responses_request(
        {
            "model": "alice",
            "input": "hi",
            "instructions": "be kind",
            "conversation": {"id": "conv_1"},
            "store": False,
            "stream": True,
            "max_output_tokens": 50,
            "temperature": 0,
            "top_p": 1,
            "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "x"}],
            "tool_choice": "auto",
            "reasoning": {"effort": "low"},
            "text": {"format": {"type": "text"}},
            "truncation": "auto",
            "user": "u",
            "parallel_tool_calls": False,
        }
    )
    assert req == ResponsesRequest(
        input=(Message("user", "hi"),),
        instructions="be kind",
        conversation="conv_1",
        store=False,
        stream=True,
        max_output_tokens=50,
        temperature=0.0,
        top_p=1.0,
        metadata={"k": "v"},
        model="alice",
        tools=ClientTools(
            specs=({"name": "x", "parameters": {"type": "object", "properties": {}}},),
            choice=ToolChoice("auto"),
            parallel=False,
            echo=(
                {
                    "type": "function",
                    "name": "x",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": None,
                },
            ),
            names=frozenset({"x"}),
        ),
        reasoning_effort="low",
    )


def test_conversation_string_previous_response_and_nulls() -> None:
    assert parse_responses_request({"input": "x", "conversation": "c"}).conversation == "c"
    req = parse_responses_request(
        {"input": "x", "previous_response_id": "resp_1", "conversation": None, "store": None}
    )
    assert (req.previous_response_id, req.conversation, req.store) == ("resp_1", None, True)


def test_only_item_references_give_an_empty_input() -> None:
    req = parse_responses_request({"input": [{"type": "item_reference", "id": "msg_1"}]})
    assert req.input == ()


MSG = {"role": "user", "content": "x"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("hi", None),
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": 3}, "input"),
        ({"input": [MSG, "x"]}, "input[1]"),
        ({"input": [{"content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user"}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": 1}]}, "input[0].content"),
        ({"input": [{"role": "user", "content": [{"text": "x"}]}]}, "input[0].content[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        ({"input": [{"type": "computer_call", "action": {}}]}, "input[0].type"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": ""}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "arguments": ""}]}, "input[0].name"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f"}]},
            "input[0].arguments",
        ),
        ({"input": [{"type": "function_call_output", "output": "o"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
        ({"input": "x", "instructions": 1}, "instructions"),
        ({"input": "x", "previous_response_id": ""}, "previous_response_id"),
        ({"input": "x", "conversation": 5}, "conversation"),
        ({"input": "x", "conversation": {}}, "conversation.id"),
        ({"input": "x", "conversation": "c", "previous_response_id": "r"}, "conversation"),
        ({"input": "x", "store": "no"}, "store"),
        ({"input": "x", "stream": 1}, "stream"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "max_output_tokens": True}, "max_output_tokens"),
        ({"input": "x", "temperature": 2.1}, "temperature"),
        ({"input": "x", "top_p": 1.5}, "top_p"),
        ({"input": "x", "metadata": []}, "metadata"),
        ({"input": "x", "metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"input": "x", "metadata": {"k" * 65: "v"}}, "metadata"),
        ({"input": "x", "metadata": {"k": "v" * 513}}, "metadata"),
        ({"input": "x", "metadata": {"k": 1}}, "metadata"),
        ({"input": "x", "model": 7}, "model"),
    ],
)
def test_invalid_requests_name_the_param(body: Any, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_responses_request(body)
    assert info.value.param == param
    assert info.value.to_openai()["error"]["param"] == param


def test_conversation_with_previous_response_says_why() -> None:
    with pytest.raises(InvalidRequest, match="cannot be used together"):
        parse_responses_request({"input": "x", "conversation": "c", "previous_response_id": "r"})


# -- items and the response object -----------------------------------------------------------


def test_new_id_is_prefix_and_24_hex() -> None:
    ids = {new_id("resp_") for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"resp_[0-9a-f]{24}", i) for i in ids)


def test_item_shapes() -> None:
    assert message_item("msg_1", None, "in_progress") == {
        "id": "msg_1",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assert message_item("msg_1", "hi")["content"] == [
        {"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}
    ]
    assert function_call_item("fc_1", ToolCall("c1", "ls", "{}")) == {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "c1",
        "name": "ls",
        "arguments": "{}",
        "status": "completed",
    }
    ran = mcp_call_item("mcp_1", ToolCall("c1", "ls", "{}"), status="completed", output="ok")
    assert ran == {
        "id": "mcp_1",
        "type": "mcp_call",
        "server_label": "hermes",
        "name": "ls",
        "arguments": "{}",
        "output": "ok",
        "error": None,
        "status": "completed",
        "approval_request_id": None,
    }
    failed = mcp_call_item("mcp_2", ToolCall("c2", "ls", "{"), status="failed", error="bad")
    assert failed["error"] == {
        "type": "mcp_tool_execution_error",
        "content": [{"type": "text", "text": "bad"}],
        "message": "bad",
    }
    sdk.ResponseOutputMessage.model_validate(message_item("m", "hi"))
    sdk.ResponseFunctionToolCall.model_validate(function_call_item("f", ToolCall("c", "n", "")))
    for item in (ran, failed, mcp_call_item("mcp_3", ToolCall("c", "n", ""))):
        assert sdk.response_output_item.McpCall.model_validate(item).type == "mcp_call"


def test_usage_dict() -> None:
    usage = usage_dict(Usage(3, 4))
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (3, 4, 7)
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}
    sdk.ResponseUsage.model_validate(usage)


OUTPUT = [
    function_call_item("fc_1", ToolCall("call_1", "ls", '{"path": "."}')),
    mcp_call_item(
        "mcp_1", ToolCall("call_2", "terminal", "{}"), status="completed", output="a.txt\nb.txt"
    ),
    message_item("msg_1", "Two files."),
]


def test_completed_response_validates_against_the_sdk() -> None:
    obj = response_object(
        id="resp_1",
        created_at=1700000000,
        model="alice",
        status="completed",
        output=OUTPUT,
        instructions="be brief",
        conversation="conv_1",
        metadata={"k": "v"},
        usage=Usage(10, 5),
        max_output_tokens=100,
        temperature=0.5,
        top_p=0.9,
        store=False,
    )
    assert (obj["object"], obj["completed_at"], obj["error"], obj["store"]) == (
        "response",
        1700000000,
        None,
        False,
    )
    assert (obj["conversation"], obj["tools"], obj["tool_choice"]) == ({"id": "conv_1"}, [], "auto")
    parsed = sdk.Response.model_validate(obj)
    assert parsed.output_text == "Two files."
    assert [item.type for item in parsed.output] == [
        "function_call",
        "mcp_call",
        "message",
    ]
    assert parsed.usage is not None and parsed.usage.total_tokens == 15
    assert parsed.conversation is not None and parsed.conversation.id == "conv_1"
    assert json.loads(json.dumps(obj)) == obj


def test_failed_and_incomplete_responses_validate_against_the_sdk() -> None:
    failed = response_object(
        id="resp_1",
        created_at=1,
        model="alice",
        status="failed",
        output=OUTPUT[:1],
        error={"code": "server_error", "message": "upstream down"},
        previous_response_id="resp_0",
    )
    assert (failed["completed_at"], failed["metadata"], failed["usage"]) == (None, {}, None)
    parsed = sdk.Response.model_validate(failed)
    assert parsed.error is not None and parsed.error.message == "upstream down"
    assert parsed.previous_response_id == "resp_0"
    incomplete = response_object(
        id="resp_2",
        created_at=1,
        model="alice",
        status="incomplete",
        output=[message_item("msg_1", "Tw", "incomplete")],
        incomplete_reason="max_output_tokens",
        usage=Usage(1, 1),
    )
    assert incomplete["incomplete_details"] == {"reason": "max_output_tokens"}
    parsed = sdk.Response.model_validate(incomplete)
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "max_output_tokens"


def test_sdk_validation_is_real() -> None:
    obj = response_object(id="r", created_at=1, model="m", status="completed", output=[])
    del obj["tools"]
    with pytest.raises(ValidationError):
        sdk.Response.model_validate(obj)


# -- streaming -------------------------------------------------------------------------------

EVENT_CLASSES: dict[str, type[BaseModel]] = {
    "response.created": sdk.ResponseCreatedEvent,
    "response.in_progress": sdk.ResponseInProgressEvent,
    "response.completed": sdk.ResponseCompletedEvent,
    "response.failed": sdk.ResponseFailedEvent,
    "response.incomplete": sdk.ResponseIncompleteEvent,
    "response.output_item.added": sdk.ResponseOutputItemAddedEvent,
    "response.output_item.done": sdk.ResponseOutputItemDoneEvent,
    "response.content_part.added": sdk.ResponseContentPartAddedEvent,
    "response.content_part.done": sdk.ResponseContentPartDoneEvent,
    "response.output_text.delta": sdk.ResponseTextDeltaEvent,
    "response.output_text.done": sdk.ResponseTextDoneEvent,
    "response.function_call_arguments.delta": sdk.ResponseFunctionCallArgumentsDeltaEvent,
    "response.function_call_arguments.done": sdk.ResponseFunctionCallArgumentsDoneEvent,
    "response.mcp_call.in_progress": sdk.ResponseMcpCallInProgressEvent,
    "response.mcp_call_arguments.delta": sdk.ResponseMcpCallArgumentsDeltaEvent,
    "response.mcp_call_arguments.done": sdk.ResponseMcpCallArgumentsDoneEvent,
    "response.mcp_call.completed": sdk.ResponseMcpCallCompletedEvent,
    "response.mcp_call.failed": sdk.ResponseMcpCallFailedEvent,
}


def _response(status: Any, output: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return response_object(
        id="resp_1", created_at=1700000000, model="alice", status=status, output=output, **kw
    )


def _ladder_events() -> list[dict[str, Any]]:
    seq = EventSequence()
    call = ToolCall("call_1", "ls", '{"path": "."}')
    pending_call = ToolCall(call.id, call.name, "")
    text = ["Two ", "files."]
    ran = ToolCall("call_2", "terminal", '{"command": "ls"}')
    final = [
        function_call_item("fc_1", call),
        mcp_call_item("mcp_1", ran, status="completed", output="a.txt\nb.txt"),
        message_item("msg_1", "".join(text)),
    ]
    events = [
        seq.created(_response("in_progress", [])),
        seq.in_progress(_response("in_progress", [])),
        seq.output_item_added(0, function_call_item("fc_1", pending_call, "in_progress")),
        seq.function_call_arguments_delta("fc_1", 0, call.arguments[:5]),
        seq.function_call_arguments_delta("fc_1", 0, call.arguments[5:]),
        seq.function_call_arguments_done("fc_1", 0, call.arguments, call.name),
        seq.output_item_done(0, final[0]),
        seq.output_item_added(1, mcp_call_item("mcp_1", ran)),
        seq.mcp_call_in_progress("mcp_1", 1),
        seq.mcp_call_arguments_delta("mcp_1", 1, ran.arguments),
        seq.mcp_call_arguments_done("mcp_1", 1, ran.arguments),
        seq.mcp_call_finished("mcp_1", 1, ok=True),
        seq.output_item_done(1, final[1]),
        seq.output_item_added(2, message_item("msg_1", None, "in_progress")),
        seq.content_part_added("msg_1", 2, 0, output_text_part("")),
    ]
    events += [seq.output_text_delta("msg_1", 2, 0, delta) for delta in text]
    events += [
        seq.output_text_done("msg_1", 2, 0, "".join(text)),
        seq.content_part_done("msg_1", 2, 0, output_text_part("".join(text))),
        seq.output_item_done(2, final[2]),
        seq.completed(_response("completed", final, usage=Usage(10, 5))),
    ]
    return events


def _validate(event: dict[str, Any]) -> Any:
    return EVENT_CLASSES[event["type"]].model_validate(event)


def test_sequence_numbers_rise_from_zero_and_every_event_validates() -> None:
    events = _ladder_events()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        _validate(event)
    delta = next(e for e in events if e["type"] == "response.output_text.delta")
    assert delta["logprobs"] == []
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert (done["arguments"], done["name"]) == ('{"path": "."}', "ls")


def test_failed_and_incomplete_events_validate() -> None:
    seq = EventSequence()
    error = {"code": "server_error", "message": "boom"}
    failed = seq.failed(_response("failed", [], error=error))
    incomplete = seq.incomplete(_response("incomplete", [], incomplete_reason="max_output_tokens"))
    assert (failed["sequence_number"], incomplete["sequence_number"]) == (0, 1)
    assert seq.next_sequence_number == 2
    _validate(failed)
    _validate(incomplete)


def test_sse_framing_round_trips() -> None:
    event = EventSequence().output_text_delta("msg_1", 0, 0, "héllo\nworld")
    frame = sse(event)
    assert frame.startswith(b"event: response.output_text.delta\ndata: {")
    assert frame.endswith(b"\n\n") and frame.count(b"\n") == 3
    (decoded,) = SSEDecoder().feed(frame)
    assert decoded.event == "response.output_text.delta"
    assert json.loads(decoded.data) == event


def test_the_sdk_accumulator_rebuilds_the_response_from_the_stream() -> None:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    decoder = SSEDecoder()
    seen: list[Any] = []
    snapshots: list[str] = []
    for event in _ladder_events():
        for frame in decoder.feed(sse(event)):
            parsed = _validate(json.loads(frame.data))
            assert parsed.type == frame.event
            for out in state.handle_event(parsed):
                seen.append(out)
                if out.type == "response.output_text.delta":
                    snapshots.append(out.snapshot)
    assert snapshots == ["Two ", "Two files."]
    completed = seen[-1]
    assert completed.type == "response.completed"
    response = completed.response
    assert response.output_text == "Two files."
    assert [item.type for item in response.output] == [
        "function_call",
        "mcp_call",
        "message",
    ]
    assert response.output[0].arguments == '{"path": "."}'
    assert response.output[1].output == "a.txt\nb.txt"
    assert response.usage.total_tokens == 15


def test_mcp_call_input_items_become_the_call_and_its_result() -> None:
    ran = mcp_call_item("mcp_1", ToolCall("x", "terminal", '{"command": "ls"}'), output="a.txt")
    failed = mcp_call_item("mcp_2", ToolCall("y", "terminal", "{}"), status="failed", error="no")
    req = parse_responses_request({"input": [{"role": "user", "content": "go"}, ran, failed]})
    assert req.input == (
        Message("user", "go"),
        Message(
            "assistant",
            None,
            (
                ToolCall("mcp_1", "terminal", '{"command": "ls"}'),
                ToolCall("mcp_2", "terminal", "{}"),
            ),
        ),
        Message("tool", "a.txt", tool_call_id="mcp_1"),
        Message("tool", "error: no", tool_call_id="mcp_2"),
    )
    with pytest.raises(InvalidRequest) as bad:
        parse_responses_request({"input": [{**ran, "output": 5}]})
    assert bad.value.param == "input[0].output"
    with pytest.raises(InvalidRequest) as missing:
        parse_responses_request({"input": [{"type": "mcp_call", "name": "t", "arguments": "{}"}]})
    assert missing.value.param == "input[0].id"
