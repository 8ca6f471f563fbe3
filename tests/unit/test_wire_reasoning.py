"""Reasoning in each provider's own wire format: decoded into the neutral events, the request
side (reasoning effort) encoded as each provider takes it, and reasoning sent back only to the
provider that produced it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hermes.messages import (
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    SignedReasoning,
    TextDelta,
    ThinkingBlock,
    ToolCall,
    ToolCallsReady,
    message_from_dict,
    message_to_dict,
)
from hermes.wire import anthropic, gemini, ollama
from hermes.wire.openai_chat import (
    ChunkAccumulator,
    encode_chat_request,
    parse_completion_response,
)

THOUGHT = Reasoning("hmm", "anthropic:claude-x", (ThinkingBlock("hmm", "sig_1"),))
CALL = ToolCall("toolu_1", "ls", "{}")
TOOL_TURN = [
    Message("user", "list"),
    Message("assistant", None, (CALL,), reasoning=THOUGHT),
    Message("tool", "a.txt", tool_call_id="toolu_1"),
]


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


# -- OpenAI-compatible -----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_reasoning_fields_stream_as_reasoning(field: str) -> None:
    acc = ChunkAccumulator()
    events = acc.feed(chunk({"role": "assistant", field: "Let me"}))
    events += acc.feed(chunk({field: " think."}))
    events += acc.feed(chunk({"content": "4"}, "stop"))
    assert events == [ReasoningDelta("Let me"), ReasoningDelta(" think."), TextDelta("4")]
    assert acc.text == "4"


def test_openai_think_tags_in_content_split_across_chunks() -> None:
    acc = ChunkAccumulator()
    events = []
    for piece in ["<thi", "nk>\nadd", " them</th", "ink>\n\n", "4"]:
        events += acc.feed(chunk({"content": piece}))
    events += acc.feed(chunk({}, "stop"))
    assert events == [ReasoningDelta("add"), ReasoningDelta(" them"), TextDelta("4")]
    assert acc.text == "4"


def test_openai_whole_answer_reasoning_from_a_field_or_think_tags() -> None:
    body = {"choices": [{"message": {"content": "4", "reasoning_content": "add"}}]}
    assert parse_completion_response(body).events()[:2] == (ReasoningDelta("add"), TextDelta("4"))
    tagged = {"choices": [{"message": {"content": "<think>add</think>4"}}]}
    completion = parse_completion_response(tagged)
    assert completion.message.content == "4"
    assert completion.events()[:2] == (ReasoningDelta("add"), TextDelta("4"))


def test_openai_request_carries_the_effort_and_never_the_reasoning() -> None:
    body = encode_chat_request(TOOL_TURN, model="m", stream=True, reasoning_effort="high")
    assert body["reasoning_effort"] == "high"
    assert "reasoning_effort" not in encode_chat_request(TOOL_TURN, model="m", stream=True)
    assert "hmm" not in json.dumps(body) and "sig_1" not in json.dumps(body)


# -- Anthropic -------------------------------------------------------------------------------


def feed_all(acc: anthropic.StreamAccumulator, events: list[dict[str, Any]]) -> list[Any]:
    return [e for data in events for e in acc.feed_data(None, json.dumps(data))]


def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, kind: str, **fields: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def test_anthropic_thinking_streams_and_ends_as_a_signed_block() -> None:
    acc = anthropic.StreamAccumulator()
    out = feed_all(
        acc,
        [
            {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
            start(0, {"type": "thinking", "thinking": "", "signature": ""}),
            delta(0, "thinking_delta", thinking="hm"),
            delta(0, "thinking_delta", thinking="m"),
            delta(0, "signature_delta", signature="sig_1"),
            {"type": "content_block_stop", "index": 0},
            start(1, {"type": "redacted_thinking", "data": "opaque"}),
            {"type": "content_block_stop", "index": 1},
            start(2, {"type": "text", "text": ""}),
            delta(2, "text_delta", text="4"),
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
            {"type": "message_stop"},
        ],
    )
    assert out[:5] == [
        ReasoningDelta("hm"),
        ReasoningDelta("m"),
        SignedReasoning(ThinkingBlock("hmm", "sig_1")),
        SignedReasoning(ThinkingBlock(redacted="opaque")),
        TextDelta("4"),
    ]
    assert out[-1] == Finish("stop")


def test_anthropic_whole_answer_thinking_blocks() -> None:
    events = anthropic.parse_message_response(
        {
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig_1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "4"},
            ],
            "stop_reason": "end_turn",
        }
    )
    assert events[:4] == (
        ReasoningDelta("hmm"),
        SignedReasoning(ThinkingBlock("hmm", "sig_1")),
        SignedReasoning(ThinkingBlock(redacted="opaque")),
        TextDelta("4"),
    )


def test_anthropic_effort_becomes_a_thinking_budget_within_max_tokens() -> None:
    body = anthropic.encode_request(
        TOOL_TURN[:1], model="c", reasoning_effort="medium", temperature=0.2, top_p=0.5
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert body["max_tokens"] > 8192 and "temperature" not in body and "top_p" not in body
    capped = anthropic.encode_request(
        TOOL_TURN[:1], model="c", reasoning_effort="high", max_tokens=3000
    )
    assert capped["thinking"]["budget_tokens"] == 2999 and capped["max_tokens"] == 3000
    no_room = anthropic.encode_request(
        TOOL_TURN[:1], model="c", reasoning_effort="high", max_tokens=500
    )
    assert "thinking" not in no_room
    assert "thinking" not in anthropic.encode_request(TOOL_TURN[:1], model="c")


def test_anthropic_sends_thinking_back_only_to_the_provider_that_produced_it() -> None:
    own = anthropic.encode_request(
        TOOL_TURN, model="c", reasoning_effort="low", producer="anthropic:claude-x"
    )
    assistant = own["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": "hmm", "signature": "sig_1"}
    assert own["thinking"]["budget_tokens"] == 2048
    other = anthropic.encode_request(
        TOOL_TURN, model="c", reasoning_effort="low", producer="anthropic:claude-y"
    )
    assert [b["type"] for b in other["messages"][1]["content"]] == ["tool_use"]
    # A tool-use turn another model began cannot go on with thinking on: the API refuses it.
    assert "thinking" not in other


def test_anthropic_redacted_block_goes_back_as_it_came() -> None:
    redacted = Reasoning("", "p", (ThinkingBlock(redacted="opaque"),))
    history = [TOOL_TURN[0], Message("assistant", "ok", reasoning=redacted)]
    _, encoded = anthropic.encode_messages(history, "p")
    assert encoded[1]["content"][0] == {"type": "redacted_thinking", "data": "opaque"}


# -- Gemini ----------------------------------------------------------------------------------


def test_gemini_effort_asks_for_thoughts_and_thought_parts_are_reasoning() -> None:
    body = gemini.encode_request(TOOL_TURN[:1], reasoning_effort="low")
    assert body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 1024,
    }
    assert "generationConfig" not in gemini.encode_request(TOOL_TURN[:1])
    acc = gemini.GeminiAccumulator()
    parts = [{"text": "hmm", "thought": True, "thoughtSignature": "x"}, {"text": "4"}]
    events = acc.whole({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]})
    assert events[:2] == [ReasoningDelta("hmm"), TextDelta("4")]


def test_gemini_never_gets_reasoning_back() -> None:
    body = gemini.encode_request(TOOL_TURN)
    assert "hmm" not in json.dumps(body) and "sig_1" not in json.dumps(body)


# -- Ollama ----------------------------------------------------------------------------------


def test_ollama_think_flag_and_thinking_field() -> None:
    assert ollama.encode_chat_request(TOOL_TURN, model="m", stream=True, think=True)["think"]
    body = ollama.encode_chat_request(TOOL_TURN, model="m", stream=True)
    assert "think" not in body and "hmm" not in json.dumps(body)
    acc = ollama.ChatAccumulator()
    events = acc.feed({"message": {"role": "assistant", "content": "", "thinking": "hmm"}})
    events += acc.feed({"message": {"role": "assistant", "content": "4"}})
    events += acc.feed({"message": {"role": "assistant", "content": ""}, "done": True})
    assert events[:2] == [ReasoningDelta("hmm"), TextDelta("4")]
    assert acc.text == "4"


def test_ollama_think_tags_in_content() -> None:
    events = ollama.parse_chat_response(
        {"message": {"role": "assistant", "content": "<think>hmm</think>4"}, "done": True}
    )
    assert events[:2] == (ReasoningDelta("hmm"), TextDelta("4"))


# -- the neutral message ---------------------------------------------------------------------


def test_message_with_reasoning_round_trips_exactly() -> None:
    for message in (
        TOOL_TURN[1],
        Message("assistant", "x", reasoning=Reasoning("", "p", (ThinkingBlock(redacted="r"),))),
        Message("assistant", "", reasoning=Reasoning("t")),
    ):
        assert message_from_dict(json.loads(json.dumps(message_to_dict(message)))) == message
    with pytest.raises(ValueError):
        message_from_dict({"role": "assistant", "reasoning": "text"})
    with pytest.raises(ValueError):
        message_from_dict({"role": "assistant", "reasoning": {"text": "t", "blocks": [1]}})


def test_tool_calls_ready_is_unchanged_by_reasoning() -> None:
    acc = ChunkAccumulator()
    head = {"index": 0, "id": "c1", "function": {"name": "ls", "arguments": "{}"}}
    events = acc.feed(chunk({"reasoning_content": "x", "tool_calls": [head]}, "tool_calls"))
    assert events == [ReasoningDelta("x"), ToolCallsReady((ToolCall("c1", "ls", "{}"),))]
