"""/v1/responses against the real gateway with the openai SDK: chaining, conversations, the
store (LRU, persistence across kill -9), streaming in both SDK styles, and error cases."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.gateway_process import Gateway, alice_gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture(scope="module")
def gw(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("resp-home")
    with alice_gateway(home, upstream.base_url) as gateway:
        yield gateway


@pytest.fixture
def client(gw: Gateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
        yield c


def sent_messages(up: FakeOpenAI, n: int = -1) -> list[dict[str, Any]]:
    """The conversation the upstream received in request n, without the core system prompt."""
    messages: list[dict[str, Any]] = up.requests[n][0]["messages"]
    assert messages[0]["role"] == "system" and "Hermes" in messages[0]["content"]
    return messages[1:]


def test_create_has_every_field_the_sdk_reads(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("Hello!")
    r = client.responses.create(model="x", input="hi", metadata={"k": "v"})
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == "alice" and r.output_text == "Hello!"
    assert r.metadata == {"k": "v"} and r.previous_response_id is None
    assert r.usage and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0
    assert r.output[-1].type == "message" and r.output[-1].content[0].type == "output_text"
    assert sent_messages(up) == [{"role": "user", "content": "hi"}]


def test_chain_by_previous_response_id_with_tools_and_instructions(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_tool_call("terminal", {"command": "echo chained-42"})
    up.queue_text("It printed chained-42.")
    first = client.responses.create(model="x", input="run it", instructions="Be terse.")
    # A tool the gateway ran is one mcp_call item, not a function_call for the client to run.
    assert [o.type for o in first.output] == ["mcp_call", "message"]
    call = first.output[0]
    assert call.type == "mcp_call" and call.name == "terminal" and call.server_label == "hermes"
    assert call.status == "completed" and call.error is None
    assert call.output is not None and "chained-42" in call.output
    assert json.loads(call.arguments) == {"command": "echo chained-42"}

    up.queue_text("Second.")
    second = client.responses.create(model="x", input="and now?", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.instructions == "Be terse."
    history = sent_messages(up)
    assert history[0] == {"role": "system", "content": "Be terse."}  # carried forward
    assert history[1] == {"role": "user", "content": "run it"}
    assert history[2]["tool_calls"][0]["function"]["name"] == "terminal"
    assert history[3]["role"] == "tool" and "chained-42" in history[3]["content"]
    assert history[4] == {"role": "assistant", "content": "It printed chained-42."}
    assert history[5] == {"role": "user", "content": "and now?"}

    up.queue_text("Third.")
    third = client.responses.create(
        model="x",
        input=[{"role": "user", "content": "last"}],
        previous_response_id=second.id,
        instructions="Be kind.",
    )
    history = sent_messages(up)
    assert history[0] == {"role": "system", "content": "Be kind."}
    assert [m["role"] for m in history[1:]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert third.output_text == "Third."


def test_chain_by_conversation_name(client: openai.OpenAI, up: FakeOpenAI) -> None:
    for i in range(3):
        up.queue_text(f"answer {i}")
        r = client.responses.create(model="x", input=f"question {i}", conversation="trip")
        assert r.conversation and r.conversation.id == "trip"
    assert [m["content"] for m in sent_messages(up)] == [
        "question 0",
        "answer 0",
        "question 1",
        "answer 1",
        "question 2",
    ]
    up.queue_text("new")
    client.responses.create(model="x", input="fresh", conversation={"id": "other"})
    assert sent_messages(up) == [{"role": "user", "content": "fresh"}]


def test_retrieve_and_delete(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("keep me")
    created = client.responses.create(model="x", input="hi")
    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_store_false_is_not_kept(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("ephemeral")
    r = client.responses.create(model="x", input="hi", store=False)
    assert r.output_text == "ephemeral"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="x", input="again", previous_response_id=r.id)


def test_error_cases(gw: Gateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="x", input="hi", previous_response_id="resp_nope")
    assert "resp_nope" in str(info.value)
    r = httpx.post(
        f"{gw.base_url}/responses",
        headers=gw.headers(),
        json={"input": "x", "conversation": "c", "previous_response_id": "resp_1"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "conversation"
    r = httpx.post(f"{gw.base_url}/responses", headers=gw.headers(), json={"instructions": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    r = httpx.get(f"{gw.base_url}/responses/resp_unknown", headers=gw.headers())
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_stream_create_true_event_ladder(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_text("streamed words here", chunks=["streamed ", "words ", "here"])
    events = list(client.responses.create(model="x", input="hi", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[2:5] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "streamed words here"
    last = events[-1]
    assert last.type == "response.completed"
    completed = last.response
    assert completed.output_text == "streamed words here" and completed.status == "completed"


def test_stream_helper_with_a_tool_call(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_tool_call("terminal", {"command": "echo via-stream"})
    up.queue_text("done streaming")
    with client.responses.stream(model="x", input="go") as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.output_item.added" in seen and seen[-1] == "response.completed"
    assert [o.type for o in final.output] == ["mcp_call", "message"]
    tool_events = [t for t in seen if "mcp_call" in t]
    assert tool_events == [
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
    ]
    assert not [t for t in seen if "function_call" in t]
    assert final.output_text == "done streaming"
    stored = client.responses.retrieve(final.id)
    assert stored.output_text == "done streaming"


def test_streamed_mcp_call_arguments_arrive_once(client: openai.OpenAI, up: FakeOpenAI) -> None:
    # As OpenAI streams a call: `added` with empty arguments, then the deltas. Clients build the
    # call from both (pydantic-ai asserted on the arguments an earlier `added` carried).
    up.queue_tool_call("terminal", {"command": "echo once"})
    up.queue_text("ok")
    events = list(client.responses.create(model="x", input="go", stream=True))
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "mcp_call" and added.item.arguments == ""
    deltas = [e for e in events if e.type == "response.mcp_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.output_item.done")
    assert done.item.type == "mcp_call"
    assert "".join(str(e.delta) for e in deltas) == done.item.arguments
    assert json.loads(done.item.arguments) == {"command": "echo once"}


def test_stream_failure_is_response_failed(client: openai.OpenAI, up: FakeOpenAI) -> None:
    up.queue_error(401, "bad key")
    events = list(client.responses.create(model="x", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    error = events[-1].response.error
    assert error is not None and "upstream rejected the credentials" in error.message


def test_same_conversation_requests_are_serialized(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text("slow one", chunks=["slow ", "one"], chunk_delay=0.3)
    up.queue_text("slow two", chunks=["slow ", "two"], chunk_delay=0.3)

    def ask(text: str) -> None:
        with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as c:
            c.responses.create(model="x", input=text, conversation="busy")

    threads = [threading.Thread(target=ask, args=(t,)) for t in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    second_saw = [m["content"] for m in sent_messages(up, 1)]
    assert len(second_saw) == 3 and second_saw[1].startswith("slow")  # the first turn whole


def test_idempotency_on_responses(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text("once")
    h = {**gw.headers(), "Idempotency-Key": "resp-key-1"}
    a = httpx.post(f"{gw.base_url}/responses", headers=h, json={"input": "hi"})
    b = httpx.post(f"{gw.base_url}/responses", headers=h, json={"input": "hi"})
    assert a.json() == b.json() and b.headers["idempotency-replayed"] == "true"
    assert len(up.requests) == 1


def test_lru_eviction_and_persistence_across_kill_9(tmp_path: Path, upstream: FakeOpenAI) -> None:
    upstream.reset()
    home = tmp_path / "home"
    make_profile(home, "bob", upstream.base_url, api_server__max_stored_responses="3")
    ids = []
    with (
        run_gateway(home, "bob") as gw,
        openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as c,
    ):
        for i in range(4):
            upstream.queue_text(f"r{i}")
            ids.append(c.responses.create(model="x", input=f"q{i}", conversation="log").id)
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(ids[0])  # least recently used, evicted
        c.responses.retrieve(ids[1])  # now recently used
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(10)
    with (
        run_gateway(home, "bob") as gw,
        openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0) as c,
    ):
        assert c.responses.retrieve(ids[3]).output_text == "r3"
        upstream.queue_text("after restart")
        upstream.requests.clear()
        c.responses.create(model="x", input="q4", conversation="log")
        contents = [m["content"] for m in upstream.requests[0][0]["messages"][1:]]
        assert contents == ["q0", "r0", "q1", "r1", "q2", "r2", "q3", "r3", "q4"]
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(ids[2])  # evicted by the new one (ids[1] was used later)


def test_output_items_sent_back_as_input_rebuild_the_history(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    """A client that keeps the history itself (store=false) sends the output items back as
    input: the mcp_call becomes the call and its result, as the model first saw them."""
    up.queue_tool_call("terminal", {"command": "echo kept-7"})
    up.queue_text("It printed kept-7.")
    first = client.responses.create(model="x", input="run it", store=False)
    up.queue_text("Yes.")
    items = [o.model_dump(exclude_none=True) for o in first.output]
    # Output items as plain dicts, the way a client keeping its own history resends them.
    resent: Any = [
        {"role": "user", "content": "run it"},
        *items,
        {"role": "user", "content": "ok?"},
    ]
    client.responses.create(model="x", input=resent, store=False)
    history = sent_messages(up)
    assert history[0] == {"role": "user", "content": "run it"}
    assert history[1]["tool_calls"][0]["function"]["name"] == "terminal"
    assert history[1]["tool_calls"][0]["id"] == history[2]["tool_call_id"] == first.output[0].id
    assert history[2]["role"] == "tool" and "kept-7" in history[2]["content"]
    assert history[3]["content"] == "It printed kept-7." and history[4]["content"] == "ok?"


def test_a_failed_tool_is_a_failed_mcp_call_with_its_error(
    client: openai.OpenAI, up: FakeOpenAI
) -> None:
    up.queue_tool_call("no_such_tool", {})
    up.queue_text("That tool does not exist.")
    r = client.responses.create(model="x", input="try it")
    call = r.output[0]
    assert call.type == "mcp_call" and call.status == "failed" and call.output is None
    assert call.error is not None and call.error.type == "mcp_tool_execution_error"
    assert "no_such_tool" in json.dumps(call.error.model_dump())
