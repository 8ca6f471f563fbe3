"""Responses background mode against the real gateway with the openai SDK and a slow scripted
upstream: a run that outlives its client, a stream resumed after a disconnect without a gap or
a duplicate, cancel, and a run cut off by kill -9 marked failed after the restart."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.gateway_process import Gateway, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI

SLOW = "one two three four five six"


@pytest.fixture
def gw(upstream: FakeOpenAI, home: Path) -> Iterator[Gateway]:
    make_profile(home, "alice", upstream.base_url)
    with run_gateway(home, "alice") as gateway:
        yield gateway


def sdk(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30)


def wait_status(client: openai.OpenAI, rid: str, statuses: set[str], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.responses.retrieve(rid)
        if r.status in statuses:
            return r
        time.sleep(0.05)
    raise AssertionError(f"{rid} never reached {statuses}")


def test_a_background_run_answers_at_once_and_finishes_alone(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text(SLOW, chunk_delay=0.15)
    client = sdk(gw)
    start = time.monotonic()
    first = client.responses.create(model="alice", input="count", background=True)
    assert time.monotonic() - start < 1.0  # not the ~1 s the answer takes
    assert first.status in ("queued", "in_progress") and first.background is True
    done = wait_status(client, first.id, {"completed"})
    assert done.output_text == SLOW and done.background is True
    up.queue_text("next")  # and it is a stored response like any other
    follow = client.responses.create(model="alice", input="more", previous_response_id=first.id)
    assert follow.output_text == "next"


def test_a_dropped_stream_resumes_without_gap_or_duplicate(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_text(SLOW, chunk_delay=0.15)
    client = sdk(gw)
    seen: list[Any] = []
    with client.responses.create(
        model="alice", input="count", background=True, stream=True
    ) as stream:
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break  # the client goes away mid-answer
    rid = seen[0].response.id
    last = seen[-1].sequence_number
    rest = list(client.responses.retrieve(rid, stream=True, starting_after=last))
    numbers = [e.sequence_number for e in seen] + [e.sequence_number for e in rest]
    assert numbers == list(range(len(numbers)))  # no gap, no duplicate
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in (*seen, *rest) if e.type == "response.output_text.delta")
    assert text == SLOW
    again = list(client.responses.retrieve(rid, stream=True, starting_after=-1))  # all of it
    assert [e.sequence_number for e in again] == list(range(len(numbers)))


def test_cancel_stops_the_run_and_its_upstream_request(gw: Gateway, up: FakeOpenAI) -> None:
    up.queue_stall(30, mid_stream=True)
    client = sdk(gw)
    first = client.responses.create(model="alice", input="wait", background=True)
    deadline = time.monotonic() + 10
    while not up.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    start = time.monotonic()
    cancelled = client.responses.cancel(first.id)
    assert cancelled.status == "cancelled"
    assert time.monotonic() - start < 1.0
    deadline = time.monotonic() + 5
    while up.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert up.disconnects == 1  # the upstream request was cancelled too
    assert client.responses.retrieve(first.id).status == "cancelled"


def test_a_run_cut_off_by_kill_9_is_failed_after_the_restart(
    upstream: FakeOpenAI, home: Path, up: FakeOpenAI
) -> None:
    make_profile(home, "alice", upstream.base_url)
    up.queue_stall(30, mid_stream=True)
    with run_gateway(home, "alice") as gw:
        client = sdk(gw)
        first = client.responses.create(model="alice", input="wait", background=True)
        deadline = time.monotonic() + 10
        while not up.requests and time.monotonic() < deadline:
            time.sleep(0.02)  # the run is waiting on its upstream: mid-run
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait(10)
    with run_gateway(home, "alice") as gw:
        after = sdk(gw).responses.retrieve(first.id)
        assert after.status == "failed" and after.error is not None
        assert "stopped while this response was running" in after.error.message


def test_background_needs_store_and_only_background_runs_cancel(
    gw: Gateway, up: FakeOpenAI
) -> None:
    client = sdk(gw)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="alice", input="x", background=True, store=False)
    assert "store" in str(err.value)
    up.queue_text("plain")
    plain = client.responses.create(model="alice", input="x")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(plain.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_nosuch")
    with pytest.raises(openai.NotFoundError):
        list(client.responses.retrieve(plain.id, stream=True))
    up.queue_text("done")
    bg = client.responses.create(model="alice", input="x", background=True)
    for bad in ("x", "10" * 20, "-5"):
        with pytest.raises(openai.BadRequestError):
            list(client.responses.retrieve(bg.id, stream=True, extra_query={"starting_after": bad}))
    wait_status(client, bg.id, {"completed"})


def test_a_run_going_when_the_gateway_stops_is_failed_not_cancelled(
    upstream: FakeOpenAI, home: Path, up: FakeOpenAI
) -> None:
    make_profile(home, "alice", upstream.base_url)
    up.queue_stall(30, mid_stream=True)
    with run_gateway(home, "alice") as gw:
        first = sdk(gw).responses.create(model="alice", input="wait", background=True)
        deadline = time.monotonic() + 10
        while not up.requests and time.monotonic() < deadline:
            time.sleep(0.02)
    with run_gateway(home, "alice") as gw:  # the first stopped with SIGTERM, as a restart does
        after = sdk(gw).responses.retrieve(first.id)
        assert after.status == "failed" and after.error is not None
        assert "stopped while this response was running" in after.error.message


def test_a_chat_answer_outlives_its_client_with_finish(
    upstream: FakeOpenAI, home: Path, up: FakeOpenAI
) -> None:
    """chat_on_disconnect: finish: the client that hung up after the first chunk fetches the
    whole answer by the id that chunk carried."""
    make_profile(home, "alice", upstream.base_url, api_server__chat_on_disconnect="finish")
    up.queue_text(SLOW, chunk_delay=0.15)
    with run_gateway(home, "alice") as gw:
        client = sdk(gw)
        stream = client.chat.completions.create(
            model="alice", messages=[{"role": "user", "content": "count"}], stream=True
        )
        cid = next(iter(stream)).id
        stream.close()  # the client goes away
        with httpx.Client(base_url=gw.base_url, headers=gw.headers(), timeout=10) as http:
            deadline = time.monotonic() + 10
            while (r := http.get(f"/chat/completions/{cid}")).status_code == 404:
                assert time.monotonic() < deadline, "the answer was never kept"
                time.sleep(0.05)
            assert r.status_code == 200
            body = r.json()
            assert body["id"] == cid and body["choices"][0]["message"]["content"] == SLOW
            assert http.get(f"/responses/{cid}").status_code == 404  # not a Responses object
            assert http.get("/chat/completions/chatcmpl-nosuch").status_code == 404
