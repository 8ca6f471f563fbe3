"""Gateway process behaviour that needs its own configuration: start-up refusals, shutdown,
limits, timeouts, keep-alives, tool progress events and the agent's iteration cap."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from tests.e2e.conftest import HERMES
from tests.e2e.gateway_process import Gateway, free_port, gateway_env, make_profile, run_gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.processes import alive


@pytest.fixture
def up() -> Iterator[FakeOpenAI]:
    with FakeOpenAI.in_thread() as fake:
        yield fake


def post(gw: Gateway, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/chat/completions", headers=gw.headers(), json=body, timeout=30, **kw
    )


USER = {"messages": [{"role": "user", "content": "hi"}]}


def start_failure(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERMES, *args], env=gateway_env(home, env), capture_output=True, text=True, timeout=30
    )


def test_cli_gateway_serves_and_exits_0_on_sigterm(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url)
    port = free_port()
    proc = subprocess.Popen(
        [HERMES, "-p", "alice", "gateway", "--port", str(port)],
        env=gateway_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}/v1" in line
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["profile"] == "alice"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        proc.kill()
        proc.wait()


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_sigterm_lets_an_in_flight_request_finish(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url)
    up.queue_text("slow but complete", chunks=["slow ", "but ", "complete"], chunk_delay=0.5)
    with run_gateway(home, "alice") as gw:
        result: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: result.update(r=post(gw, USER)))
        thread.start()
        time.sleep(0.3)
        serving = gw.serving_pid
        os.killpg(gw.proc.pid, signal.SIGTERM)  # a stop is a signal to the group
        thread.join(20)
        assert result["r"].status_code == 200
        assert result["r"].json()["choices"][0]["message"]["content"] == "slow but complete"
        assert gw.proc.wait(15) == 0 and wait_gone(serving, 5)


def test_port_in_use_is_a_one_line_error(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = start_failure(home, "-p", "alice", "gateway", "--port", str(port))
    assert result.returncode != 0
    assert f"port {port}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "args", "expected"),
    [
        ({"API_SERVER_ENABLED": "false"}, (), "config set API_SERVER_ENABLED true"),
        ({"API_SERVER_KEY": ""}, ("--host", "0.0.0.0"), "refusing to listen on 0.0.0.0"),
        ({"API_SERVER_KEY": "changeme"}, ("--host", "0.0.0.0"), "weak API key (a placeholder)"),
        (
            {"API_SERVER_HOST": "0.0.0.0", "API_SERVER_KEY": " " * 20},
            (),
            "weak API key (it contains white space); set a random one: "
            "`hermes -p alice config set API_SERVER_KEY",
        ),
        (
            {"API_SERVER_HOST": "0.0.0.0", "API_SERVER_KEY": "a" * 24},
            (),
            "weak API key (fewer than 8 different characters)",
        ),
    ],
)
def test_start_up_refusals(
    home: Path, up: FakeOpenAI, setting: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    make_profile(home, "alice", up.base_url, **setting)
    result = start_failure(home, "-p", "alice", "gateway", "--port", str(free_port()), *args)
    assert result.returncode != 0, result.stdout
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_missing_provider_key_is_an_actionable_start_error(home: Path) -> None:
    store = ProfileStore(home)
    store.create("alice")
    set_value(store, store.get("alice"), "model.provider", "openai")  # and no OPENAI_API_KEY
    result = start_failure(
        home, "-p", "alice", "gateway", "--port", str(free_port()), env={"OPENAI_API_KEY": ""}
    )
    assert result.returncode != 0
    assert "hermes -p alice config set OPENAI_API_KEY" in result.stderr


def test_python_dash_m_gateway_reports_errors(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hermes.gateway", "--profile", "ghost"],
        env=gateway_env(home),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "no profile named 'ghost'" in result.stderr


def test_max_concurrent_runs_gives_429(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url, API_SERVER_MAX_CONCURRENT_RUNS="1")
    up.queue_stall(2)
    with run_gateway(home, "alice") as gw:
        first: dict[str, httpx.Response] = {}
        thread = threading.Thread(target=lambda: first.update(r=post(gw, USER)))
        thread.start()
        deadline = time.monotonic() + 5
        while not up.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        second = post(gw, USER)
        assert second.status_code == 429 and second.headers["retry-after"]
        thread.join(20)
        assert first["r"].status_code == 200


# Open WebUI's title prompt (its DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE, abridged).
TITLE_TASK = (
    "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history."
    '\n### Output:\nJSON format: { "title": "your concise title here" }\n### Chat History:\n'
    "<chat_history>\nUSER: how do I list files?\nASSISTANT: Use ls.\n</chat_history>"
)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_open_webui_title_requests_bypass_the_agent_and_the_run_limit(
    home: Path, up: FakeOpenAI, stream: bool
) -> None:
    make_profile(home, "alice", up.base_url, API_SERVER_MAX_CONCURRENT_RUNS="1")
    up.queue_stall(3)  # a user's agent run holds the only run slot
    up.queue_text('{"title": "📁 Listing files"}')
    with run_gateway(home, "alice") as gw:
        busy = threading.Thread(target=lambda: post(gw, USER))
        busy.start()
        deadline = time.monotonic() + 5
        while not up.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        task = {"messages": [{"role": "user", "content": TITLE_TASK}], "stream": stream}
        r = post(gw, task)
        busy.join(20)
    assert r.status_code == 200
    if stream:
        chunks = [json.loads(b[6:]) for b in r.text.split("\n\n") if b.startswith("data: {")]
        said = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
    else:
        said = r.json()["choices"][0]["message"]["content"]
    assert said == '{"title": "📁 Listing files"}'
    sent, _ = up.requests[1]
    # The model saw Open WebUI's prompt alone: no agent prompt, no tools offered.
    assert sent["messages"] == [{"role": "user", "content": TITLE_TASK}]
    assert "tools" not in sent


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_silent_upstream_is_a_504_after_model_timeout(
    home: Path, up: FakeOpenAI, stream: bool
) -> None:
    """model.timeout is the longest silence, for whole answers as for streams, and a silent
    provider is not asked again (with model.timeout 5 a whole answer used to take 76 s: three
    tries of 5 x model.timeout each, plus backoff)."""
    make_profile(home, "alice", up.base_url, model__timeout="1")
    up.queue_stall(30)
    with run_gateway(home, "alice") as gw:
        started = time.monotonic()
        r = post(gw, {**USER, "stream": stream})
        elapsed = time.monotonic() - started
    error = r.json()["error"]
    assert r.status_code == 504 and error["code"] == "upstream_timeout"
    assert "model.timeout" in error["message"] and set(error) == {
        "message",
        "type",
        "param",
        "code",
    }
    assert 0.9 < elapsed < 4 and len(up.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_an_upstream_that_only_trickles_is_a_504_after_model_request_timeout(
    home: Path, up: FakeOpenAI, stream: bool
) -> None:
    """Keep-alive filler (SSE comments, JSON white space) every 0.3 s never lets
    model.timeout fire; model.request_timeout ends the request (it used to be held forever)."""
    make_profile(home, "alice", up.base_url, model__timeout="1", model__request_timeout="2")
    up.queue_trickle(60, every=0.3)
    with run_gateway(home, "alice") as gw:
        started = time.monotonic()
        r = post(gw, {**USER, "stream": stream})
        elapsed = time.monotonic() - started
    assert r.status_code == 504 and "model.request_timeout" in r.json()["error"]["message"]
    assert 1.9 < elapsed < 5 and len(up.requests) == 1


def test_keepalive_comment_while_idle(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url, api_server__keepalive_seconds="1")
    up.queue_text("late reply", chunks=["late ", "reply"], chunk_delay=2.5)
    with run_gateway(home, "alice") as gw:
        r = post(gw, {**USER, "stream": True})
    assert ": keep-alive\n\n" in r.text
    assert r.text.rstrip().endswith("data: [DONE]") and "late " in r.text


def test_tool_progress_event_mode_keeps_content_clean(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url, API_SERVER_TOOL_PROGRESS="event")
    up.queue_tool_call("terminal", {"command": "echo hi"})
    up.queue_text("done")
    up.queue_tool_call("terminal", {"command": "echo again"})
    up.queue_text("done again")
    with run_gateway(home, "alice") as gw:
        r = post(gw, {**USER, "stream": True})
        # The official SDK reads the same stream without tripping on the progress chunks.
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=20)
        stream = client.chat.completions.create(
            model="alice", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        said = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert said == "done again"
    blocks = [b for b in r.text.split("\n\n") if b]
    assert all(b.startswith(("data: ", ": ")) for b in blocks)  # no named events
    chunks = [json.loads(b[6:]) for b in blocks if b.startswith("data: {")]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    progress = [c for c in chunks if "hermes_tool_progress" in c]
    assert len(progress) == 2 and all(c["choices"] == [] for c in progress)
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    started, done = (c["hermes_tool_progress"] for c in progress)
    assert started["tool"] == "terminal" and started["marker"].startswith("💻")
    assert done["status"] == "done" and done["marker"] == started["marker"]
    assert done["call_id"] == started["call_id"]
    content = "".join(
        json.loads(b[6:])["choices"][0]["delta"].get("content") or ""
        for b in blocks
        if b.startswith("data: {") and '"choices":[{' in b
    )
    assert content == "done"


def test_max_iterations_ends_with_length(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url, agent__max_iterations="2")
    up.queue_tool_call("terminal", {"command": "true"})
    up.queue_tool_call("terminal", {"command": "true"})
    with run_gateway(home, "alice") as gw:
        r = post(gw, USER)
    body = r.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert "agent.max_iterations" in body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] > 0 and len(up.requests) == 2


def test_tool_calls_of_one_turn_run_concurrently(home: Path, up: FakeOpenAI) -> None:
    make_profile(home, "alice", up.base_url)
    up.queue_tool_calls(
        [
            ("terminal", {"command": "sleep 2; echo a"}),
            ("terminal", {"command": "sleep 2; echo b"}),
            ("no_such_tool", {"x": 1}),
        ]
    )
    up.queue_text("both done")
    with run_gateway(home, "alice") as gw:
        start = time.monotonic()
        r = post(gw, USER)
        elapsed = time.monotonic() - start
    assert r.json()["choices"][0]["message"]["content"] == "both done"
    assert elapsed < 3.5, elapsed  # one after the other would take over 4 s
    tool_msgs = [m for m in up.requests[1][0]["messages"] if m["role"] == "tool"]
    assert "a" in tool_msgs[0]["content"] and "b" in tool_msgs[1]["content"]
    assert tool_msgs[2]["content"].startswith("error")  # unknown tool: a result, not a failure


def raw_exchange(gw: Gateway, request: bytes) -> tuple[int, bytes]:
    port = int(gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_the_gateway_process_answers_odd_http_in_the_openai_shape(
    home: Path, up: FakeOpenAI
) -> None:
    """The real process serves through its own connection handler (GatewayRunner): what aiohttp's
    parser refuses and a key in latin-1 bytes get JSON errors, and the log no traceback."""
    make_profile(home, "alice", up.base_url)
    with run_gateway(home, "alice") as gw:
        big = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000
        status, body = raw_exchange(gw, big + b"\r\n\r\n")
        assert status == 431 and json.loads(body)["error"]["type"] == "invalid_request_error"
        latin = "éééééééééé".encode("latin-1")
        request = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        status, body = raw_exchange(gw, request + b"Authorization: Bearer " + latin + b"\r\n\r\n")
        assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
        log = gw.log()
    assert "Traceback" not in log and '"- -" 431' in log
