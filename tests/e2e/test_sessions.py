"""The native session API (/api/v1/chat, sessions, ACP) against the real gateway and the scripted
fake upstream: per-username isolation, the stream's event order, persistence across a restart,
serialized turns, ACP envelopes and the error cases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI


@pytest.fixture(scope="module")
def home(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("sessions-home")
    make_profile(home, "alice", upstream.base_url)
    return home


@pytest.fixture(scope="module")
def gw(home: Path) -> Iterator[Gateway]:
    with run_gateway(home, "alice") as gateway:
        yield gateway


@pytest.fixture
def http(gw: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as client:
        yield client


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The `data:` frames of an SSE body, decoded."""
    assert response.headers["content-type"].startswith("text/event-stream")
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]


def turn(http: httpx.Client, username: str, message: str, **extra: Any) -> list[dict[str, Any]]:
    response = http.post("/api/v1/chat", json={"username": username, "message": message, **extra})
    assert response.status_code == 200, response.text
    return events(response)


def sent(up: FakeOpenAI, n: int = -1) -> list[dict[str, Any]]:
    """What the upstream received in request n, without the core system prompt."""
    messages: list[dict[str, Any]] = up.requests[n][0]["messages"]
    assert messages[0]["role"] == "system"
    return messages[1:]


def test_stream_event_order_with_a_tool_and_the_next_turn_continues(
    http: httpx.Client, up: FakeOpenAI
) -> None:
    up.queue_tool_call("terminal", {"command": "echo session-tool-7"})
    up.queue_text("It printed session-tool-7.")
    first = turn(http, "ann", "run the command")
    kinds = [e["type"] for e in first]
    assert kinds[0] == "session_id" and kinds[-2:] == ["complete", "end"]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("delta")
    sid = first[0]["session_id"]
    call = next(e for e in first if e["type"] == "tool_call")
    result = next(e for e in first if e["type"] == "tool_result")
    assert call["tool"] == "terminal" and call["arguments"] == {"command": "echo session-tool-7"}
    assert result["tool"] == "terminal" and "session-tool-7" in result["output"]
    complete = first[-2]
    deltas = "".join(e["text"] for e in first if e["type"] == "delta")
    assert complete["text"] == deltas == "It printed session-tool-7."
    assert complete["usage"]["total_tokens"] > 0

    up.queue_text("Second answer.")
    second = turn(http, "ann", "and again?", session_id=sid)
    assert second[0] == {"type": "session_id", "session_id": sid}
    history = sent(up)
    assert history[0] == {"role": "user", "content": "run the command"}
    assert history[1]["tool_calls"][0]["function"]["name"] == "terminal"
    assert history[2]["role"] == "tool" and "session-tool-7" in history[2]["content"]
    assert history[3] == {"role": "assistant", "content": "It printed session-tool-7."}
    assert history[4] == {"role": "user", "content": "and again?"}

    read = http.get(f"/api/v1/chat/sessions/{sid}", params={"username": "ann"}).json()
    assert read["session_id"] == sid and read["message_count"] == 6
    assert [m["role"] for m in read["messages"]] == [
        "user", "assistant", "tool", "assistant", "user", "assistant",
    ]  # fmt: skip
    assert read["title"] == "run the command"


def test_non_streamed_answer_is_one_object(http: httpx.Client, up: FakeOpenAI) -> None:
    up.queue_tool_call("terminal", {"command": "echo quiet-3"})
    up.queue_text("Done.")
    r = http.post("/api/v1/chat", json={"username": "ben", "message": "go", "stream": False})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["session_id"].startswith("sess_") and body["text"] == "Done."
    assert body["usage"]["total_tokens"] > 0
    [call] = body["tool_calls"]
    assert call["tool"] == "terminal" and "quiet-3" in call["output"]


def test_two_usernames_never_see_each_others_sessions(http: httpx.Client, up: FakeOpenAI) -> None:
    up.queue_text("for carol")
    up.queue_text("for dave")
    carol = turn(http, "carol", "carol's secret plan")[0]["session_id"]
    dave = turn(http, "dave", "dave's note")[0]["session_id"]

    def listed(user: str) -> list[str]:
        r = http.get("/api/v1/chat/sessions", params={"username": user})
        return [s["session_id"] for s in r.json()["sessions"]]

    assert listed("carol") == [carol] and listed("dave") == [dave]
    for method in ("GET", "DELETE"):
        r = http.request(method, f"/api/v1/chat/sessions/{carol}", params={"username": "dave"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert "carol" not in r.text
    r = http.post("/api/v1/chat", json={"username": "dave", "message": "x", "session_id": carol})
    assert r.status_code == 403 and r.json()["error"]["param"] == "session_id"
    assert (
        http.get(f"/api/v1/chat/sessions/{carol}", params={"username": "carol"}).status_code == 200
    )


def test_new_session_listing_pages_and_delete(http: httpx.Client, up: FakeOpenAI) -> None:
    made = [
        http.post("/api/v1/chat/new_session", json={"username": "erin"}).json()["session_id"]
        for _ in range(3)
    ]
    chosen = http.post(
        "/api/v1/chat/new_session", json={"username": "erin", "session_id": "erin-own-1"}
    ).json()
    assert chosen == {"session_id": "erin-own-1"}
    page1 = http.get(
        "/api/v1/chat/sessions", params={"username": "erin", "page": 1, "page_size": 3}
    ).json()
    page2 = http.get(
        "/api/v1/chat/sessions", params={"username": "erin", "page": 2, "page_size": 3}
    ).json()
    assert page1["total"] == page2["total"] == 4 and (page1["page"], page1["page_size"]) == (1, 3)
    ids = [s["session_id"] for s in page1["sessions"] + page2["sessions"]]
    assert sorted(ids) == sorted([*made, "erin-own-1"])
    first = page1["sessions"][0]
    assert set(first) == {"session_id", "title", "created_at", "updated_at", "message_count"}
    assert first["created_at"].endswith("Z") and first["message_count"] == 0

    gone = http.delete(f"/api/v1/chat/sessions/{made[0]}", params={"username": "erin"})
    assert gone.json() == {"session_id": made[0], "deleted": True}
    again = http.get(f"/api/v1/chat/sessions/{made[0]}", params={"username": "erin"})
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_unknown_session_id_is_created_for_the_username(http: httpx.Client, up: FakeOpenAI) -> None:
    up.queue_text("hello")
    first = turn(http, "fay", "hi", session_id="fay-chosen-id")
    assert first[0]["session_id"] == "fay-chosen-id"
    listed = http.get("/api/v1/chat/sessions", params={"username": "fay"}).json()
    assert [s["session_id"] for s in listed["sessions"]] == ["fay-chosen-id"]


def test_bad_requests_are_400_in_the_openai_shape(http: httpx.Client) -> None:
    cases = [
        ({"message": "hi"}, "username"),
        ({"username": "gus"}, "message"),
        ({"username": "gus", "message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"username": "gus", "message": "hi", "stream": "yes"}, "stream"),
    ]
    for body, param in cases:
        r = http.post("/api/v1/chat", json=body)
        assert r.status_code == 400, body
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert r.json()["error"]["param"] == param
    r = http.get("/api/v1/chat/sessions")
    assert r.status_code == 400 and r.json()["error"]["param"] == "username"
    r = http.get("/api/v1/chat/sessions", params={"username": "gus", "page_size": "0"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "page_size"


def test_every_session_endpoint_needs_the_key(gw: Gateway) -> None:
    with httpx.Client(base_url=gw.url, timeout=10) as anonymous:
        for method, path in [
            ("POST", "/api/v1/chat"),
            ("POST", "/api/v1/chat/new_session"),
            ("GET", "/api/v1/chat/sessions?username=x"),
            ("GET", "/api/v1/chat/sessions/s1?username=x"),
            ("DELETE", "/api/v1/chat/sessions/s1?username=x"),
            ("POST", "/api/v1/acp"),
        ]:
            r = anonymous.request(method, path, json={"username": "x", "message": "y"})
            assert r.status_code == 401, path
            assert r.json()["error"]["code"] == "invalid_api_key"


def test_an_upstream_failure_is_an_error_event_and_keeps_nothing(
    http: httpx.Client, up: FakeOpenAI
) -> None:
    up.queue_error(400, "the model refused")
    failed = turn(http, "hal", "hello")
    assert [e["type"] for e in failed] == ["session_id", "error", "end"]
    assert "refused" in failed[1]["message"]
    sid = failed[0]["session_id"]
    read = http.get(f"/api/v1/chat/sessions/{sid}", params={"username": "hal"}).json()
    assert read["message_count"] == 0  # the failed turn left no half-answered history


def test_two_messages_to_one_session_run_one_after_the_other(
    http: httpx.Client, gw: Gateway, up: FakeOpenAI
) -> None:
    up.queue_text("first answer", chunks=["first ", "answer"], chunk_delay=0.3)
    up.queue_text("second answer")
    results: dict[str, dict[str, Any]] = {}

    def send(label: str) -> None:
        with httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as c:
            body = {"username": "ida", "message": label, "session_id": "ida-1", "stream": False}
            results[label] = c.post("/api/v1/chat", json=body).json()

    one = threading.Thread(target=send, args=("one",))
    one.start()
    while not up.requests:  # the first turn has reached the model
        threading.Event().wait(0.01)
    two = threading.Thread(target=send, args=("two",))
    two.start()
    one.join(30)
    two.join(30)
    assert results["one"]["text"] == "first answer" and results["two"]["text"] == "second answer"
    assert sent(up, 1)[:3] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
    ]


def test_acp_envelopes(http: httpx.Client, up: FakeOpenAI) -> None:
    def envelope(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "acp_version": "1.0",
            "type": "chat.request",
            "payload": payload,
            "metadata": {"timestamp": "2026-11-22T10:00:00Z", "user_id": "jan"},
        }

    up.queue_text("ACP hello")
    r = http.post("/api/v1/acp", json=envelope({"message": "hi", "context": {"tz": "UTC"}}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acp_version"] == "1.0" and body["type"] == "chat.response"
    assert body["payload"]["message"] == "ACP hello"
    assert body["metadata"]["user_id"] == "jan" and "T" in body["metadata"]["timestamp"]
    sid = body["payload"]["session_id"]
    assert {"role": "system", "content": '{"tz": "UTC"}'} in sent(up)  # context, this turn only

    up.queue_tool_call("terminal", {"command": "echo acp-9"})
    up.queue_text("done")
    r = http.post(
        "/api/v1/acp", json=envelope({"message": "run", "session_id": sid, "stream": True})
    )
    frames = events(r)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "tool.call" and kinds[1] == "tool.result" and kinds[-1] == "chat.response"
    assert frames[-1]["payload"]["done"] is True and frames[-1]["payload"]["session_id"] == sid
    assert all(f["acp_version"] == "1.0" and f["metadata"]["timestamp"] for f in frames)
    assert "acp-9" in frames[1]["payload"]["output"]
    assert '{"tz": "UTC"}' not in json.dumps(sent(up))  # the earlier turn's context is not kept
    read = http.get(f"/api/v1/chat/sessions/{sid}", params={"username": "jan"}).json()
    assert read["message_count"] == 6


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"acp_version": "2.0"}, "acp_version"),
        ({"type": "chat.reply"}, "type"),
        ({"payload": None}, "payload"),
        ({"payload": {"session_id": "x"}}, "payload.message"),
        ({"metadata": {}}, "metadata.user_id"),
    ],
)
def test_bad_acp_envelopes_say_which_field(
    http: httpx.Client, change: dict[str, Any], param: str
) -> None:
    body = {
        "acp_version": "1.0",
        "type": "chat.request",
        "payload": {"message": "hi"},
        "metadata": {"user_id": "kim"},
        **change,
    }
    r = http.post("/api/v1/acp", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param and param in error["message"]


def test_a_session_continues_across_a_gateway_restart(upstream: FakeOpenAI, tmp_path: Path) -> None:
    upstream.reset()
    make_profile(tmp_path, "zoe", upstream.base_url)
    upstream.queue_text("I will remember 31337.")
    with (
        run_gateway(tmp_path, "zoe") as gw,
        httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as http,
    ):
        sid = turn(http, "lee", "remember 31337")[0]["session_id"]
    upstream.queue_text("You said 31337.")
    with (
        run_gateway(tmp_path, "zoe") as gw,
        httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as http,
    ):
        answer = turn(http, "lee", "what did I say?", session_id=sid)
        assert answer[-2]["text"] == "You said 31337."
        listed = http.get("/api/v1/chat/sessions", params={"username": "lee"}).json()
    assert sent(upstream)[:2] == [
        {"role": "user", "content": "remember 31337"},
        {"role": "assistant", "content": "I will remember 31337."},
    ]
    assert listed["sessions"][0]["message_count"] == 4


def test_an_idle_stream_gets_heartbeats(upstream: FakeOpenAI, tmp_path: Path) -> None:
    upstream.reset()
    make_profile(tmp_path, "quiet", upstream.base_url, API_SERVER_KEEPALIVE_SECONDS="1")
    upstream.queue_stall(2.5)
    with (
        run_gateway(tmp_path, "quiet") as gw,
        httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as http,
    ):
        r = http.post("/api/v1/chat", json={"username": "max", "message": "slow one"})
    assert ": heartbeat" in r.text
    assert [e["type"] for e in events(r)][-2:] == ["complete", "end"]


def wire_tokens(body: dict[str, Any]) -> int:
    """The gateway's own estimate of what a request sent upstream weighs."""
    from hermes.agent import estimate_tokens
    from hermes.wire.openai_chat_request import parse_chat_request

    return estimate_tokens(parse_chat_request(body).messages, body.get("tools") or ())


def is_summary_request(body: dict[str, Any]) -> bool:
    return "summarizing a conversation" in body["messages"][0]["content"]


def small_context_profile(upstream: FakeOpenAI, home: Path, name: str) -> int:
    """A profile whose context budget a few turns exceed; returns the budget in tokens."""
    upstream.reset()
    make_profile(
        home,
        name,
        upstream.base_url,
        model__context_length="2000",
        agent__context_budget="0.6",
        agent__keep_last_turns="2",
        agent__summary_max_tokens="150",
        tools__enabled="[terminal]",
    )
    return 1200


def test_a_long_session_is_condensed_and_the_model_never_gets_more_than_the_budget(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    from hermes.agent import SUMMARY_PREFIX

    budget = small_context_profile(upstream, tmp_path, "tiny")

    def respond(body: dict[str, Any]) -> str:
        if is_summary_request(body):
            return "SUMMARY: the user listed topics, starting with the colour teal."
        return "Noted. " + "ok " * 60

    upstream.responder = respond
    try:
        with (
            run_gateway(tmp_path, "tiny") as gw,
            httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as http,
        ):
            sid = None
            for i in range(15):
                colour = "teal" if i == 0 else f"shade-{i}"
                said = turn(
                    http,
                    "ola",
                    f"Topic {i}: my colour is {colour}. " + "la " * 250,
                    **({"session_id": sid} if sid else {}),
                )
                sid = said[0]["session_id"]
                assert [e["type"] for e in said][-2:] == ["complete", "end"], said
            read = http.get(f"/api/v1/chat/sessions/{sid}", params={"username": "ola"}).json()
    finally:
        upstream.responder = None
    assert read["message_count"] == 30  # the whole history stays readable
    assert "Topic 0" in read["messages"][0]["content"]
    bodies = [body for body, _ in upstream.requests]
    assert all(wire_tokens(b) <= budget for b in bodies), [wire_tokens(b) for b in bodies]
    summaries = [b for b in bodies if is_summary_request(b)]
    assert summaries, "compression never triggered"
    assert "teal" in json.dumps(summaries[0]["messages"])  # the old turns went to the summarizer
    last = [b for b in bodies if not is_summary_request(b)][-1]["messages"]
    condensed = [m for m in last if (m.get("content") or "").startswith(SUMMARY_PREFIX)]
    assert len(condensed) == 1 and "teal" in condensed[0]["content"]
    assert "Topic 0:" not in json.dumps(last)  # not verbatim any more
    assert last[-1]["content"].startswith("Topic 14:")  # the newest turn verbatim


def test_responses_chains_are_condensed_too(upstream: FakeOpenAI, tmp_path: Path) -> None:
    budget = small_context_profile(upstream, tmp_path, "tinyr")
    upstream.responder = lambda body: (
        "SUMMARY: earlier turns." if is_summary_request(body) else "Fine. " + "ok " * 60
    )
    try:
        with (
            run_gateway(tmp_path, "tinyr") as gw,
            httpx.Client(base_url=gw.base_url, headers=gw.headers(), timeout=30) as http,
        ):
            previous = None
            for i in range(10):
                body: dict[str, Any] = {"input": f"Part {i}. " + "la " * 250}
                if previous:
                    body["previous_response_id"] = previous
                r = http.post("/responses", json=body)
                assert r.status_code == 200, r.text
                previous = r.json()["id"]
    finally:
        upstream.responder = None
    bodies = [body for body, _ in upstream.requests]
    assert any(is_summary_request(b) for b in bodies)
    assert all(wire_tokens(b) <= budget for b in bodies)


def test_a_retried_turn_with_the_same_idempotency_key_runs_once(
    http: httpx.Client, up: FakeOpenAI
) -> None:
    up.queue_text("only once")
    body = {"username": "nia", "message": "hello", "session_id": "nia-1"}
    headers = {"Idempotency-Key": "turn-nia-1"}
    first = http.post("/api/v1/chat", json=body, headers=headers)
    again = http.post("/api/v1/chat", json=body, headers=headers)
    assert again.headers.get("idempotency-replayed") == "true"
    assert events(first) == events(again) and len(up.requests) == 1
    read = http.get("/api/v1/chat/sessions/nia-1", params={"username": "nia"}).json()
    assert read["message_count"] == 2  # the retry did not add a second turn


def read_session(http: httpx.Client, sid: str, username: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/chat/sessions/{sid}", params={"username": username})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def leave_mid_answer(http: httpx.Client, username: str) -> str:
    """Start a streamed turn, read until its first delta, hang up; the session's id."""
    body = {"username": username, "message": "count slowly"}
    sid = ""
    with http.stream("POST", "/api/v1/chat", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and '"delta"' in line:
                break
            if line.startswith("data: ") and '"session_id"' in line:
                sid = str(json.loads(line[6:])["session_id"])
    return sid


@contextmanager
def slow_turn_left(home: Path, profile: str, up: FakeOpenAI) -> Iterator[tuple[httpx.Client, str]]:
    """Profile `profile` served, a slow answer queued, and a client that left in its middle."""
    up.queue_text(SLOW_ANSWER, chunk_delay=0.2)
    with (
        run_gateway(home, profile) as gw,
        httpx.Client(base_url=gw.url, headers=gw.headers(), timeout=30) as http,
    ):
        yield http, leave_mid_answer(http, "moe")


SLOW_ANSWER = "one two three four five six"


def test_a_session_turn_whose_client_left_still_lands_in_the_session(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    """session_on_disconnect: finish (the default): the answer is recorded though nobody read it;
    with cancel, the run stops with the client and nothing is kept."""
    upstream.reset()
    make_profile(tmp_path, "mobile", upstream.base_url)
    with slow_turn_left(tmp_path, "mobile", upstream) as (http, sid):
        deadline = time.monotonic() + 10
        while read_session(http, sid, "moe")["message_count"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        read = read_session(http, sid, "moe")
        assert [m["content"] for m in read["messages"]] == ["count slowly", SLOW_ANSWER]
    make_profile(tmp_path, "strict", upstream.base_url, api_server__session_on_disconnect="cancel")
    with slow_turn_left(tmp_path, "strict", upstream) as (http, sid):
        deadline = time.monotonic() + 5
        while upstream.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.disconnects == 1  # the run went with its client
        assert read_session(http, sid, "moe")["message_count"] == 0
