#!/usr/bin/env python3
"""Local model benchmark: tokens per second and time-to-first-token of the bundled model
through the gateway (and its shared model server) vs llama-cpp-python called directly with the
same (compact) prompt; and the memory of the one model server vs the N gateways that use it.

Used by scripts/bench.py (`--only local`); needs the `local` extra.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

HERMES = str(Path(sys.executable).parent / "hermes")
# A different question each run, the same list for both paths: repeating one prompt would let
# llama.cpp reuse the whole cached prompt and show a time to first token no real chat gets.
PROMPTS = [
    "Write three sentences about the sea.",
    "Name three colors of autumn leaves.",
    "Describe a bicycle in two sentences.",
    "What do cats like to eat?",
    "Give a short tip for writing clearly.",
    "Say something about mountains.",
    "List two uses of a spoon.",
]
MAX_TOKENS = 64


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Sample = tuple[float, float]  # (time to first token in ms, tokens per second)
Messages = list[dict[str, str]]


def _messages(core: str, run: int) -> Messages:
    return [{"role": "system", "content": core}, *_question(run)]


def _question(run: int) -> Messages:
    return [{"role": "user", "content": PROMPTS[run % len(PROMPTS)]}]


def _sample(start: float, first: float | None, end: float, tokens: int) -> Sample | None:
    if first is None:
        return None
    return (first - start) * 1000, tokens / max(end - start, 1e-9)


def direct_once(model: Any, messages: Messages) -> Sample | None:
    """llama-cpp-python in this process, through hermes' own LocalModel (the same chat
    formatting and stop handling the model server uses)."""
    from hermes.messages import Message

    start = time.perf_counter()
    first, tokens = None, 0
    history = [Message(m["role"], m["content"]) for m in messages]  # type: ignore[arg-type]
    for piece in model.generate(
        history, max_tokens=MAX_TOKENS, temperature=0.0, top_p=None, stop=()
    ):
        if piece.text:
            tokens += 1
            first = first or time.perf_counter()
    return _sample(start, first, time.perf_counter(), tokens)


async def http_once(session: Any, url: str, messages: Messages, key: str = "") -> Sample | None:
    """One streamed chat completion. The client is one keep-alive aiohttp session: a client
    that opens a connection per request, or leaves Nagle on, measures itself (httpx without a
    Client adds ~40 ms of delayed ACK to every request here)."""
    body = {
        "model": "x",
        "stream": True,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "messages": messages,
    }
    start = time.perf_counter()
    first, tokens = None, 0
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with session.post(url, json=body, headers=headers) as response:
        async for line in response.content:
            if line.startswith(b"data: {"):
                delta = json.loads(line[6:])["choices"]
                if delta and delta[0]["delta"].get("content"):
                    tokens += 1
                    first = first or time.perf_counter()
    return _sample(start, first, time.perf_counter(), tokens)


async def measure(
    home: Path, runs: int, gateway: str, key: str, model_server: str
) -> dict[str, dict[str, float]]:
    """The three paths, interleaved run by run (so drift in the machine's speed hits all three
    alike), each with the same question per run; the first round warms up and is not counted."""
    import aiohttp

    from hermes.agent.prompt import build_compact_prompt
    from hermes.model_server.model import LocalModel, model_path
    from hermes.profiles import ProfileStore

    # What a gateway sends the local provider in front of the question.
    core = build_compact_prompt(ProfileStore(home).get("p0"))
    model = LocalModel(model_path(home), threads=os.cpu_count() or 2)
    samples: dict[str, list[Sample]] = {"direct": [], "model_server": [], "gateway": []}
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for run in range(runs + 1):
            # Each path its own question in a round (a question just asked of the same model
            # server would be answered from its prompt cache); over 7 rounds each path asks all 7.
            q = [3 * run + k for k in range(3)]
            got = {
                "direct": direct_once(model, _messages(core, q[0])),
                "model_server": await http_once(session, model_server, _messages(core, q[1])),
                "gateway": await http_once(session, gateway, _question(q[2]), key),
            }
            for path, sample in got.items():
                if run and sample is not None:
                    samples[path].append(sample)
    return {path: _medians(found) for path, found in samples.items()}


def _medians(samples: list[Sample]) -> dict[str, float]:
    return {
        "ttft_ms": statistics.median(s[0] for s in samples),
        "tokens_per_s": statistics.median(s[1] for s in samples),
    }


def bench_local(quick: bool = False, gateways: int = 3) -> dict[str, Any]:
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    runs = 2 if quick else len(PROMPTS)
    home = Path(tempfile.mkdtemp(prefix="hermes-local-bench-"))
    store = ProfileStore(home)
    set_value(store, store.get("default"), "API_SERVER_ENABLED", "false")
    ports, keys = [], []
    for i in range(gateways):
        created = store.create(f"p{i}")
        port = _free_port()
        set_value(store, created.profile, "API_SERVER_PORT", str(port))
        ports.append(port)
        keys.append(created.api_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "API_SERVER_"))}
    model_port = _free_port()
    env.update(HERMES_HOME=str(home), HERMES_MODEL_PORT=str(model_port))
    proc = subprocess.Popen(
        [HERMES, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_running(home, gateways + 1)
        gateway_url = f"http://127.0.0.1:{ports[0]}/v1/chat/completions"
        gateway_url = f"http://127.0.0.1:{ports[0]}/v1/chat/completions"
        model_url = f"http://127.0.0.1:{model_port}/v1/chat/completions"
        figures = asyncio.run(measure(home, runs, gateway_url, keys[0], model_url))
        memory = _memory(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(home, ignore_errors=True)
    direct_figures, via = figures["direct"], figures["gateway"]
    added = (direct_figures["tokens_per_s"] - via["tokens_per_s"]) / direct_figures["tokens_per_s"]
    added *= 100
    return {
        "direct": direct_figures,
        "gateway": via,
        "model_server": figures["model_server"],
        "slowdown_pct": added,
        "memory": memory,
        "gateways": gateways,
        "max_tokens": MAX_TOKENS,
    }


def _wait_running(home: Path, n: int, timeout: float = 180) -> None:
    from hermes.errors import HermesError
    from hermes.supervisor.client import ControlClient

    client = ControlClient(home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = [g["state"] for g in client.status()["gateways"]]
        except HermesError:
            states = []
        if len(states) == n and all(s == "running" for s in states):
            return
        time.sleep(0.1)
    raise TimeoutError("not running in time")


def _memory(supervisor_pid: int) -> dict[str, float]:
    children = psutil.Process(supervisor_pid).children()
    model = [c for c in children if "hermes.model_server" in " ".join(c.cmdline())]
    gateways = [c for c in children if "hermes.gateway" in " ".join(c.cmdline())]
    mb = 2**20
    return {
        "model_server_rss_mb": sum(p.memory_info().rss for p in model) / mb,
        "gateways_rss_mb": sum(p.memory_info().rss for p in gateways) / mb,
        "per_gateway_rss_mb": sum(p.memory_info().rss for p in gateways)
        / mb
        / max(1, len(gateways)),
    }


def print_local(r: dict[str, Any]) -> None:
    d, g, m, s = r["direct"], r["gateway"], r["memory"], r["model_server"]
    print(
        f"\nLocal model (Gemma 3 270M, streaming, up to {r['max_tokens']} tokens; target: the "
        "gateway adds < 5 %)"
    )
    print(
        f"  llama-cpp-python directly:  TTFT {d['ttft_ms']:.0f} ms, "
        f"{d['tokens_per_s']:.1f} tokens/s"
    )
    print(
        f"  the model server over HTTP: TTFT {s['ttft_ms']:.0f} ms, "
        f"{s['tokens_per_s']:.1f} tokens/s"
    )
    print(
        f"  through the gateway:        TTFT {g['ttft_ms']:.0f} ms, "
        f"{g['tokens_per_s']:.1f} tokens/s ({r['slowdown_pct']:+.1f} % slower)"
    )
    print(
        f"  memory: one model server {m['model_server_rss_mb']:.0f} MB for {r['gateways']} "
        f"gateways of {m['per_gateway_rss_mb']:.0f} MB each "
        f"({m['gateways_rss_mb']:.0f} MB together)"
    )


if __name__ == "__main__":
    print_local(bench_local(quick="--quick" in sys.argv))
