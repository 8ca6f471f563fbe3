"""The OpenAI Responses API wire format, server side, without I/O.

`parse_responses_request` validates a client's POST /v1/responses body (it lives in
`openai_responses_request`, re-exported here). The builders shape output items, the `response`
object and the stream events exactly as the official SDK's models expect, every required field
present, so `openai.types.responses.Response.model_validate` accepts what the gateway sends.

A streamed response is a ladder of events, each with a rising `sequence_number`: response.created,
response.in_progress, then per output item output_item.added, its content (content_part.added,
output_text.delta*, output_text.done, content_part.done for a message;
function_call_arguments.delta*, function_call_arguments.done for a call;
reasoning_summary_part.added, reasoning_summary_text.delta*, reasoning_summary_text.done,
reasoning_summary_part.done for reasoning), output_item.done, and last one of response.completed,
response.failed or response.incomplete."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from hermes.messages import ToolCall, ToolChoice, Usage
from hermes.wire.openai_responses_request import ResponsesRequest, parse_responses_request
from hermes.wire.sse import sse_event

__all__ = [
    "EventSequence",
    "ItemStatus",
    "ResponseStatus",
    "ResponsesRequest",
    "function_call_item",
    "mcp_call_item",
    "message_item",
    "new_id",
    "output_text_part",
    "parse_responses_request",
    "reasoning_item",
    "response_object",
    "sse",
    "summary_text_part",
    "usage_dict",
]

ItemStatus: TypeAlias = Literal["in_progress", "completed", "incomplete"]
ResponseStatus: TypeAlias = Literal[
    "queued", "in_progress", "completed", "failed", "incomplete", "cancelled"
]


def new_id(prefix: str) -> str:
    """An OpenAI-looking id: "resp_", "msg_", "fc_", "mcp_" ... then 24 random hex digits."""
    return prefix + os.urandom(12).hex()


# ---------------------------------------------------------------------------------------------
# Output items


def output_text_part(text: str) -> dict[str, Any]:
    """One `output_text` content part; with "" it is the part a stream announces before deltas."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(
    item_id: str, text: str | None, status: ItemStatus = "completed"
) -> dict[str, Any]:
    """An assistant message. `text=None` gives no content part: the shape a stream announces in
    output_item.added, before content_part.added."""
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [output_text_part(text)],
    }


def summary_text_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def reasoning_item(item_id: str, text: str | None) -> dict[str, Any]:
    """The model's reasoning, as a `reasoning` item with the text as its one summary part (the
    field every client renders; OpenAI's raw `content` is for its own models' text). `text=None`
    gives no part: the shape a stream announces before reasoning_summary_part.added."""
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [] if text is None else [summary_text_part(text)],
    }


def function_call_item(
    item_id: str, call: ToolCall, status: ItemStatus = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


# The `server_label` of the tools a gateway runs itself, in `mcp_call` items.
SERVER_LABEL = "hermes"


def mcp_call_item(
    item_id: str,
    call: ToolCall,
    *,
    status: Literal["in_progress", "completed", "failed"] = "in_progress",
    output: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A tool the gateway ran itself. OpenAI's item for a tool its server ran (a hosted MCP
    call) rather than one the caller must run: clients show it and move on. A `function_call`
    item would tell them to run `terminal` themselves and send back its output, which the
    openai Agents SDK, pydantic-ai, LangChain and the AI SDK all tried (and failed) to do."""
    return {
        "id": item_id,
        "type": "mcp_call",
        "server_label": SERVER_LABEL,
        "name": call.name,
        "arguments": call.arguments,
        "output": output,
        "error": None if error is None else execution_error(error),
        "status": status,
        "approval_request_id": None,
    }


def execution_error(message: str) -> dict[str, Any]:
    """A failed tool's error in OpenAI's shape (`mcp_tool_execution_error` with MCP content
    blocks), with the text as `message` too for clients that read that."""
    return {
        "type": "mcp_tool_execution_error",
        "content": [{"type": "text", "text": message}],
        "message": message,
    }


# ---------------------------------------------------------------------------------------------
# The response object


def usage_dict(usage: Usage) -> dict[str, Any]:
    # The SDK (3.x) requires cache_write_tokens next to cached_tokens; no cache here, so zeros.
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    *,
    id: str,
    created_at: int,
    model: str,
    status: ResponseStatus,
    output: Sequence[Mapping[str, Any]],
    instructions: str | None = None,
    previous_response_id: str | None = None,
    conversation: str | None = None,
    metadata: Mapping[str, str] | None = None,
    usage: Usage | None = None,
    reasoning_effort: str | None = None,
    error: Mapping[str, Any] | None = None,
    incomplete_reason: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    store: bool = True,
    completed_at: int | None = None,
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: ToolChoice | None = None,
    parallel_tool_calls: bool | None = None,
    background: bool = False,
) -> dict[str, Any]:
    """A `response` object. `error` is {"code", "message"} with a code from OpenAI's list
    ("server_error", "rate_limit_exceeded", ...); `incomplete_reason` is e.g.
    "max_output_tokens". `completed_at` defaults to `created_at` once completed."""
    if status == "completed" and completed_at is None:
        completed_at = created_at
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": background,
        "completed_at": completed_at if status == "completed" else None,
        "conversation": {"id": conversation} if conversation is not None else None,
        "error": dict(error) if error is not None else None,
        "incomplete_details": (
            {"reason": incomplete_reason} if incomplete_reason is not None else None
        ),
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "max_tool_calls": None,
        "metadata": dict(metadata) if metadata is not None else {},
        "model": model,
        "output": [dict(item) for item in output],
        "parallel_tool_calls": parallel_tool_calls is not False,
        "previous_response_id": previous_response_id,
        "reasoning": (
            {"effort": reasoning_effort, "summary": None} if reasoning_effort is not None else None
        ),
        "store": store,
        "temperature": temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": _tool_choice(tool_choice),
        "tools": [dict(tool) for tool in tools],
        "top_p": top_p,
        "truncation": "disabled",
        "usage": usage_dict(usage) if usage is not None else None,
        "user": None,
    }


def _tool_choice(choice: ToolChoice | None) -> str | dict[str, Any]:
    if choice is None:
        return "auto"
    if choice.mode == "function":
        return {"type": "function", "name": choice.name}
    return choice.mode


# ---------------------------------------------------------------------------------------------
# Streaming


class EventSequence:
    """Builds the stream events of one response, numbering them 0, 1, 2 ... in the order they
    are built: build each event right before sending it."""

    def __init__(self) -> None:
        self._next = 0

    @property
    def next_sequence_number(self) -> int:
        return self._next

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, **fields, "sequence_number": self._next}
        self._next += 1
        return event

    def created(self, response: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.created", response=dict(response))

    def in_progress(self, response: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.in_progress", response=dict(response))

    def completed(self, response: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.completed", response=dict(response))

    def failed(self, response: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.failed", response=dict(response))

    def incomplete(self, response: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.incomplete", response=dict(response))

    def output_item_added(self, output_index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.added", output_index=output_index, item=dict(item))

    def output_item_done(self, output_index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        return self._event("response.output_item.done", output_index=output_index, item=dict(item))

    def content_part_added(
        self, item_id: str, output_index: int, content_index: int, part: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._event(
            "response.content_part.added",
            item_id=item_id,
            output_index=output_index,
            content_index=content_index,
            part=dict(part),
        )

    def content_part_done(
        self, item_id: str, output_index: int, content_index: int, part: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._event(
            "response.content_part.done",
            item_id=item_id,
            output_index=output_index,
            content_index=content_index,
            part=dict(part),
        )

    def output_text_delta(
        self, item_id: str, output_index: int, content_index: int, delta: str
    ) -> dict[str, Any]:
        return self._event(
            "response.output_text.delta",
            item_id=item_id,
            output_index=output_index,
            content_index=content_index,
            delta=delta,
            logprobs=[],
        )

    def output_text_done(
        self, item_id: str, output_index: int, content_index: int, text: str
    ) -> dict[str, Any]:
        return self._event(
            "response.output_text.done",
            item_id=item_id,
            output_index=output_index,
            content_index=content_index,
            text=text,
            logprobs=[],
        )

    def reasoning_summary_part(
        self, item_id: str, output_index: int, text: str, *, done: bool
    ) -> dict[str, Any]:
        """reasoning_summary_part.added (with "") or .done (with the whole text)."""
        return self._event(
            "response.reasoning_summary_part." + ("done" if done else "added"),
            item_id=item_id,
            output_index=output_index,
            summary_index=0,
            part=summary_text_part(text),
        )

    def reasoning_summary_text_delta(
        self, item_id: str, output_index: int, delta: str
    ) -> dict[str, Any]:
        return self._event(
            "response.reasoning_summary_text.delta",
            item_id=item_id,
            output_index=output_index,
            summary_index=0,
            delta=delta,
        )

    def reasoning_summary_text_done(
        self, item_id: str, output_index: int, text: str
    ) -> dict[str, Any]:
        return self._event(
            "response.reasoning_summary_text.done",
            item_id=item_id,
            output_index=output_index,
            summary_index=0,
            text=text,
        )

    def function_call_arguments_delta(
        self, item_id: str, output_index: int, delta: str
    ) -> dict[str, Any]:
        return self._event(
            "response.function_call_arguments.delta",
            item_id=item_id,
            output_index=output_index,
            delta=delta,
        )

    def function_call_arguments_done(
        self, item_id: str, output_index: int, arguments: str, name: str
    ) -> dict[str, Any]:
        return self._event(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=output_index,
            arguments=arguments,
            name=name,
        )

    def mcp_call_in_progress(self, item_id: str, output_index: int) -> dict[str, Any]:
        return self._event(
            "response.mcp_call.in_progress", item_id=item_id, output_index=output_index
        )

    def mcp_call_arguments_delta(
        self, item_id: str, output_index: int, delta: str
    ) -> dict[str, Any]:
        return self._event(
            "response.mcp_call_arguments.delta",
            item_id=item_id,
            output_index=output_index,
            delta=delta,
        )

    def mcp_call_arguments_done(
        self, item_id: str, output_index: int, arguments: str
    ) -> dict[str, Any]:
        return self._event(
            "response.mcp_call_arguments.done",
            item_id=item_id,
            output_index=output_index,
            arguments=arguments,
        )

    def mcp_call_finished(self, item_id: str, output_index: int, ok: bool) -> dict[str, Any]:
        kind = "response.mcp_call.completed" if ok else "response.mcp_call.failed"
        return self._event(kind, item_id=item_id, output_index=output_index)


def sse(event: Mapping[str, Any]) -> bytes:
    """Frame one event as OpenAI does: `event: <type>` then the compact JSON `data:` line."""
    return sse_event(dict(event), event=str(event["type"]))
