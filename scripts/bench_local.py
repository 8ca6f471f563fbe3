#!/usr/bin/env python3
"""Local model benchmark: tokens per second and time-to-first-token of the bundled model
through the gateway (and its shared model server) vs llama-cpp-python called directly with the
same prompt; and the memory of the one model server vs the N gateways that use it.

Used by scripts/bench.py (`--only local`); needs the `local` extra.
"""

from __future__ import annotations

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

import httpx
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


def direct(home: Path, runs: int) -> dict[str, float]:
    """llama-cpp-python in this process, with the prompt the gateway would send."""
    from hermes.agent.prompt import build_system_prompt, layer
    from hermes.messages import Message
    from hermes.model_server.model import LocalModel, model_path
    from hermes.profiles import ProfileStore
    from hermes.tools import ToolRegistry, default_tools

    profile = ProfileStore(home).get("p0")
    core = build_system_prompt(profile, ToolRegistry(default_tools()).names())
    model = LocalModel(model_path(home), threads=os.cpu_count() or 2)
    ttft, rates = [], []
    for run in range(runs + 1):  # the first run warms the model up and is not counted
        messages = layer(core, [Message("user", PROMPTS[run % len(PROMPTS)])])
        start = time.perf_counter()
        first, tokens = None, 0
        for piece in model.generate(
            messages, max_tokens=MAX_TOKENS, temperature=0.0, top_p=None, stop=()
        ):
            if piece.text:
                tokens += 1
                first = first or time.perf_counter()
        end = time.perf_counter()
        if first is not None:
            ttft.append((first - start) * 1000)
            rates.append(tokens / max(end - start, 1e-9))
    return {"ttft_ms": statistics.median(ttft[1:]), "tokens_per_s": statistics.median(rates[1:])}


def through_gateway(home: Path, port: int, key: str, runs: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    ttft, rates = [], []
    for run in range(runs + 1):
        body = {
            "model": "x",
            "stream": True,
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "messages": [{"role": "user", "content": PROMPTS[run % len(PROMPTS)]}],
        }
        start = time.perf_counter()
        first, tokens = None, 0
        with httpx.stream(
            "POST", url, json=body, timeout=300, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    delta = json.loads(line[6:])["choices"]
                    if delta and delta[0]["delta"].get("content"):
                        tokens += 1
                        first = first or time.perf_counter()
        end = time.perf_counter()
        if first is not None:
            ttft.append((first - start) * 1000)
            rates.append(tokens / max(end - start, 1e-9))
    return {"ttft_ms": statistics.median(ttft[1:]), "tokens_per_s": statistics.median(rates[1:])}


def bench_local(quick: bool = False, gateways: int = 3) -> dict[str, Any]:
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    runs = 2 if quick else 5
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
    env.update(HERMES_HOME=str(home), HERMES_MODEL_PORT=str(_free_port()))
    proc = subprocess.Popen(
        [HERMES, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_running(home, gateways + 1)
        via = through_gateway(home, ports[0], keys[0], runs)
        memory = _memory(proc.pid)
        direct_figures = direct(home, runs)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(home, ignore_errors=True)
    added = (
        (direct_figures["tokens_per_s"] - via["tokens_per_s"])
        / direct_figures["tokens_per_s"]
        * 100
    )
    return {
        "direct": direct_figures,
        "gateway": via,
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
    d, g, m = r["direct"], r["gateway"], r["memory"]
    print(
        f"\nLocal model (Gemma 3 270M, streaming, up to {r['max_tokens']} tokens; target: the "
        "gateway adds < 5 %)"
    )
    print(
        f"  llama-cpp-python directly: TTFT {d['ttft_ms']:.0f} ms, {d['tokens_per_s']:.1f} tokens/s"
    )
    print(
        f"  through the gateway:       TTFT {g['ttft_ms']:.0f} ms, "
        f"{g['tokens_per_s']:.1f} tokens/s ({r['slowdown_pct']:+.1f} % slower)"
    )
    print(
        f"  memory: one model server {m['model_server_rss_mb']:.0f} MB for {r['gateways']} "
        f"gateways of {m['per_gateway_rss_mb']:.0f} MB each "
        f"({m['gateways_rss_mb']:.0f} MB together)"
    )


if __name__ == "__main__":
    print_local(bench_local(quick="--quick" in sys.argv))
