"""Properties of the parsers of what a client sends (chat completions, responses, ACP envelopes):
any JSON body, as orjson decodes it, is either parsed or refused with InvalidRequest (a 400),
never another exception (a 500).

orjson decodes up to 1024 levels of nesting, and the parsers still overflow the stack on values
nested near that deep (in a `repr` for an error message, in `json.dumps` of parsed arguments):
the properties leave out bodies nested more than fastjson.MAX_DEPTH levels, and the inputs that
fail are pinned below as expected failures until those parsers are fixed (issue 13)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hermes.errors import InvalidRequest
from hermes.wire import fastjson
from hermes.wire.acp import parse_request
from hermes.wire.openai_chat_request import parse_chat_request
from hermes.wire.openai_responses_request import parse_responses_request
from tests.media import PNG_URL
from tests.untrusted import SETTINGS, Deep, json_values, mutated, recursion_limit, to_json

CALL = {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
CHAT = {
    "model": "alice",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": PNG_URL}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [CALL], "name": "a"},
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
    ],
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_tokens": 5,
    "max_completion_tokens": 5,
    "temperature": 0.5,
    "top_p": 1,
    "stop": ["x"],
}
RESPONSES = {
    "model": "alice",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {"type": "item_reference", "id": "msg_1"},
    ],
    "instructions": "be brief",
    "previous_response_id": "resp_1",
    "store": True,
    "stream": False,
    "max_output_tokens": 5,
    "temperature": 1,
    "top_p": 0.5,
    "metadata": {"k": "v"},
}
ACP = {
    "acp_version": "1.0",
    "type": "chat.request",
    "payload": {"message": "hi", "session_id": "s1", "context": {"a": 1}, "stream": True},
    "metadata": {"user_id": "u1"},
}


def check(parse: Callable[[Any], Any], body: Any) -> None:
    try:
        body = fastjson.loads(to_json(body))  # as the gateway reads a body
    except ValueError:
        return  # refused before any parser sees it
    if not fastjson.within(body):
        return  # see the module's docstring, and the expected failures below
    try:
        with recursion_limit():
            parse(body)
    except InvalidRequest:
        pass


@SETTINGS
@given(json_values | mutated(CHAT))
def test_chat_requests_raise_only_invalid_request(body: Any) -> None:
    check(parse_chat_request, body)


@SETTINGS
@given(json_values | mutated(RESPONSES) | st.just({"input": "hi"}).flatmap(mutated))
def test_responses_requests_raise_only_invalid_request(body: Any) -> None:
    check(parse_responses_request, body)


@SETTINGS
@given(json_values | mutated(ACP))
def test_acp_envelopes_raise_only_invalid_request(body: Any) -> None:
    check(parse_request, body)


# Nested as deep as orjson lets a body be (1024 levels in all), so that they fail whatever the
# stack in use: each raises RecursionError, a 500.
DEEP_LIST, DEEP_OBJECT = Deep(1020, "["), Deep(1010, "{")
NESTED = [
    (parse_chat_request, {"messages": [{"role": DEEP_LIST}]}),
    (
        parse_chat_request,
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "function": {"name": "f", "arguments": DEEP_OBJECT}}
                    ],
                }
            ]
        },
    ),
    (parse_responses_request, {"input": [{"role": DEEP_LIST}]}),
    (parse_responses_request, {"input": [{"type": DEEP_LIST}]}),
    (
        parse_responses_request,
        {
            "input": [
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": DEEP_OBJECT}
            ]
        },
    ),
    (parse_request, {"acp_version": DEEP_LIST}),
    (parse_request, {"acp_version": "1.0", "type": DEEP_LIST}),
    (
        parse_request,
        {
            "acp_version": "1.0",
            "type": "chat.request",
            "payload": {"message": "hi", "context": DEEP_OBJECT},
            "metadata": {"user_id": "u"},
        },
    ),
]


@pytest.mark.parametrize(("parse", "body"), NESTED)
def test_deeply_nested_requests_raise_only_invalid_request(
    parse: Callable[[Any], Any], body: Any
) -> None:
    with contextlib.suppress(InvalidRequest):
        parse(fastjson.loads(to_json(body)))
