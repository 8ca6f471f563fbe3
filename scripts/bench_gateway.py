#!/usr/bin/env python3
"""Gateway benchmark: three paths to one instant OpenAI-compatible upstream, measured in one run.

  direct   the load generator talks to the fake upstream itself (the baseline);
  relay    a bare aiohttp + uvloop pass-through with one shared ClientSession (the floor for any
           Python gateway on this machine);
  hermes   `python -m hermes.gateway --profile bench` pointed at the same upstream.

For each: p50/p99 latency and req/s of non-streaming requests at concurrency 1 and 16,
streaming time-to-first-token (first SSE `data:` line with non-empty delta.content) at
concurrency 1, and streamed requests per second at concurrency 16 (each stream drained whole;
its p50/p99 are of the time to first token under that load). For hermes also RSS over 2,000
further requests and start-to-ready time (spawn -> /health answers 200). The load generator, the
upstream and the server under test share the machine's cores, so absolute figures include their
contention; compare paths, not machines. The servers are in scripts/bench_servers.py.

Used by scripts/bench.py (`--only gateway`), which prints the table; bench_gateway() returns the
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_servers import (
    PROFILE,
    TEXT,
    USAGE,
    Procs,
    Server,
    helper_server,
    hermes_server,
    make_hermes_home,
    run_with_servers,
    wait_healthy,
)

TARGETS = {
    "added_p50_c1_ms": 2.0,  # hermes p50 at c=1 minus direct's
    "rps_c16_pct_of_relay": 85.0,
    "stream_rps_c16_pct_of_relay": 60.0,
    "added_ttft_ratio_vs_relay": 2.0,
    "rss_mb": 60.0,
    "rss_growth_mb": 1.0,  # over the second extra 1,000 requests
    "start_to_ready_s": 0.5,
}
AT_LEAST = frozenset({"rps_c16_pct_of_relay", "stream_rps_c16_pct_of_relay"})  # others: at most


@dataclass(frozen=True)
class Plan:
    """How many requests each phase sends."""

    warmup: int = 100
    warmup_stream: int = 20
    c1: int = 300
    c16: int = 2000
    stream: int = 200
    stream_c16: int = 1000
    rss_step: int = 1000
    starts: int = 5
    rounds: int = 4  # each level's requests are split into this many interleaved turns


QUICK = Plan(30, 10, c1=100, c16=400, stream=50, stream_c16=200, rss_step=300, starts=3, rounds=2)
# --- load --------------------------------------------------------------------------------------

_REQUEST = {"model": PROFILE, "messages": [{"role": "user", "content": "Hi."}], "max_tokens": 32}
BODY = json.dumps(_REQUEST).encode()
STREAM_BODY = json.dumps(
    {**_REQUEST, "stream": True, "stream_options": {"include_usage": True}}
).encode()
JSON_HEADERS = {"Content-Type": "application/json"}


def _first_content(line: bytes) -> bool:
    if not line.startswith(b"data:") or b'"content"' not in line:
        return False
    choices = json.loads(line[5:]).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def complete(session: aiohttp.ClientSession, server: Server) -> float:
    """One non-streaming request; seconds until the whole body was read."""
    start = time.perf_counter()
    headers = {**JSON_HEADERS, **server.headers}
    async with session.post(server.chat_url, data=BODY, headers=headers) as response:
        data = await response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{server.name}: HTTP {response.status}: {data[:300]!r}")
    return elapsed


async def first_token(session: aiohttp.ClientSession, server: Server) -> float:
    """One streaming request; seconds until the first non-empty delta.content (then drained)."""
    start = time.perf_counter()
    ttft = None
    headers = {**JSON_HEADERS, **server.headers}
    async with session.post(server.chat_url, data=STREAM_BODY, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{server.name}: HTTP {response.status}: {await response.text()}")
        async for line in response.content:
            if ttft is None and _first_content(line):
                ttft = time.perf_counter() - start
    if ttft is None:
        raise RuntimeError(f"{server.name}: the stream carried no content")
    return ttft


async def check(session: aiohttp.ClientSession, server: Server) -> None:
    """The path answers with the upstream's text, whole and streamed, before it is timed."""
    headers = {**JSON_HEADERS, **server.headers}
    async with session.post(server.chat_url, data=BODY, headers=headers) as response:
        body = await response.json()
    got = body["choices"][0]["message"]["content"]
    assert got == TEXT and body["usage"]["total_tokens"] == USAGE["total_tokens"], body
    text, done = [], False
    async with session.post(server.chat_url, data=STREAM_BODY, headers=headers) as response:
        async for line in response.content:
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b"data:"):
                for choice in json.loads(line[5:]).get("choices", []):
                    text.append(choice["delta"].get("content") or "")
    assert "".join(text) == TEXT and done, f"{server.name} streamed {''.join(text)!r}"


Request = Callable[[], Awaitable[float]]


async def run_level(n: int, concurrency: int, request: Request) -> Tally:
    """`n` requests from `concurrency` workers."""
    tally = Tally()
    await tally.run(n, concurrency, request)
    return tally


def cpu_seconds(pid: int | None = None) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


@dataclass
class Tally:
    """Latencies, wall time and CPU seconds (per process) gathered over one or more runs."""

    samples: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    async def run(
        self, n: int, concurrency: int, request: Request, watch: dict[str, int | None] | None = None
    ) -> None:
        watch = watch or {}
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                self.samples.append(await request())

        before = {name: cpu_seconds(pid) for name, pid in watch.items()}
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        self.wall += time.perf_counter() - start
        for name, pid in watch.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds(pid) - before[name]

    def summary(self, concurrency: int) -> dict[str, Any]:
        """Latency percentiles in ms, req/s, and CPU ms per request of each watched process."""
        ordered = sorted(s * 1000 for s in self.samples)
        n = len(ordered)
        return {
            "p50_ms": percentile(ordered, 0.50),
            "p99_ms": percentile(ordered, 0.99),
            "rps": n / self.wall,
            "n": n,
            "concurrency": concurrency,
            "cpu_ms_per_req": {name: 1000 * t / n for name, t in self.cpu.items()},
        }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def warm_up(session: aiohttp.ClientSession, server: Server, plan: Plan) -> None:
    await check(session, server)
    await run_level(plan.warmup, 4, partial(complete, session, server))
    await run_level(plan.warmup_stream, 1, partial(first_token, session, server))


async def measure(
    session: aiohttp.ClientSession, paths: dict[str, Server], upstream: Server, plan: Plan
) -> dict[str, dict[str, Any]]:
    """Each level's requests split into rounds, and in each round every path takes its turn, so
    a passing disturbance on the machine hits all paths alike."""
    levels = (
        ("c1", plan.c1, 1, complete),
        ("c16", plan.c16, 16, complete),
        ("ttft_c1", plan.stream, 1, first_token),
        ("stream_c16", plan.stream_c16, 16, first_token),
    )
    results: dict[str, dict[str, Any]] = {name: {} for name in paths}
    for level, n, concurrency, request in levels:
        tallies = {name: Tally() for name in paths}
        for _ in range(plan.rounds):
            for name, server in paths.items():
                watch: dict[str, int | None] = {server.name: server.pid}
                watch.update({upstream.name: upstream.pid, "client": None})  # None: this one
                task = partial(request, session, server)
                await tallies[name].run(n // plan.rounds, concurrency, task, watch)
        for name, tally in tallies.items():
            results[name][level] = tally.summary(concurrency)
    return results


async def rss_phase(session: aiohttp.ClientSession, server: Server, step: int) -> dict[str, float]:
    """RSS after warm-up, after `step` more requests and after another `step` (half streamed)."""
    proc = psutil.Process(server.pid)
    turn = itertools.count()

    async def mixed() -> float:
        if next(turn) % 2:
            return await first_token(session, server)
        return await complete(session, server)

    rss = {"after_warmup": proc.memory_info().rss / 2**20}  # taken after warm_up()
    await run_level(step, 16, mixed)
    rss[f"after_{step}_more"] = proc.memory_info().rss / 2**20
    await run_level(step, 16, mixed)
    rss[f"after_{2 * step}_more"] = proc.memory_info().rss / 2**20
    return rss


async def start_to_ready(
    session: aiohttp.ClientSession, procs: Procs, spawn: Callable[[], Server], starts: int
) -> list[float]:
    """Seconds from spawning a server to its first 200 on /health, each on a fresh process."""
    samples = []
    for _ in range(starts):
        start = time.perf_counter()
        server = spawn()
        try:
            await wait_healthy(session, server)
            samples.append(time.perf_counter() - start)
        finally:
            procs.stop(server.proc)
    return samples


# --- the run -----------------------------------------------------------------------------------


async def _bench(plan: Plan, procs: Procs) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        upstream = helper_server(procs, "upstream")
        await wait_healthy(session, upstream)
        relay = helper_server(procs, "relay", upstream.url + "/v1")
        await wait_healthy(session, relay)
        home = procs.logdir / "home"
        key = make_hermes_home(home, upstream.url + "/v1")
        starts = {
            "hermes": await start_to_ready(
                session, procs, lambda: hermes_server(procs, home, key), plan.starts
            ),
            "relay": await start_to_ready(
                session,
                procs,
                lambda: helper_server(procs, "relay", upstream.url + "/v1"),
                plan.starts,
            ),
        }
        hermes = hermes_server(procs, home, key)
        await wait_healthy(session, hermes)
        servers = {"direct": upstream, "relay": relay, "hermes": hermes}
        for server in servers.values():
            await warm_up(session, server, plan)
        rss = await rss_phase(session, hermes, plan.rss_step)
        paths = await measure(session, servers, upstream, plan)
    paths["hermes"]["rss_mb"] = rss
    return {"paths": paths, "start_to_ready_s": starts}


def verdicts(
    figures: dict[str, float], targets: dict[str, float], at_least: frozenset[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """Each figure with its target and whether it met it (at most, or at least if named)."""
    return {
        name: {
            "value": value,
            "target": targets[name],
            "ok": value >= targets[name] if name in at_least else value <= targets[name],
        }
        for name, value in figures.items()
    }


def derive(raw: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """Added latency vs direct, hermes vs relay, and each target with its verdict."""
    paths = raw["paths"]
    direct, relay, hermes = paths["direct"], paths["relay"], paths["hermes"]
    added = {
        name: {
            "p50_c1_ms": paths[name]["c1"]["p50_ms"] - direct["c1"]["p50_ms"],
            "p99_c1_ms": paths[name]["c1"]["p99_ms"] - direct["c1"]["p99_ms"],
            "p50_c16_ms": paths[name]["c16"]["p50_ms"] - direct["c16"]["p50_ms"],
            "ttft_p50_ms": paths[name]["ttft_c1"]["p50_ms"] - direct["ttft_c1"]["p50_ms"],
            "ttft_p50_c16_ms": paths[name]["stream_c16"]["p50_ms"] - direct["stream_c16"]["p50_ms"],
        }
        for name in ("relay", "hermes")
    }
    rss = hermes["rss_mb"]
    rss_values = list(rss.values())
    start = statistics.median(raw["start_to_ready_s"]["hermes"])
    figures = {
        "added_p50_c1_ms": added["hermes"]["p50_c1_ms"],
        "rps_c16_pct_of_relay": 100 * hermes["c16"]["rps"] / relay["c16"]["rps"],
        "stream_rps_c16_pct_of_relay": 100
        * hermes["stream_c16"]["rps"]
        / relay["stream_c16"]["rps"],
        "added_ttft_ratio_vs_relay": added["hermes"]["ttft_p50_ms"]
        / max(added["relay"]["ttft_p50_ms"], 0.01),
        "rss_mb": max(rss_values),
        "rss_growth_mb": rss_values[2] - rss_values[1],
        "start_to_ready_s": start,
    }
    targets = verdicts(figures, TARGETS, AT_LEAST)
    return {
        **raw,
        "added_vs_direct": added,
        "targets": targets,
        "plan": asdict(plan),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def print_targets(
    title: str, targets: dict[str, dict[str, Any]], labels: dict[str, tuple[str, str, str]]
) -> None:
    """One line per target: label, this run's value, the target, ok or MISSED."""
    print(f"\n{title}")
    for key, t in targets.items():
        label, target, value = labels[key]
        verdict = "ok" if t["ok"] else "MISSED"
        print(
            f"  {label:30}  {value.format(t['value']):>10}  {target.format(t['target']):>9}  "
            f"{verdict}"
        )


def bench_gateway(quick: bool = False) -> dict[str, Any]:
    """Run the whole gateway benchmark (about a minute; `quick` for a smoke run)."""
    plan = QUICK if quick else Plan()
    raw = run_with_servers("gw", lambda procs: _bench(plan, procs))
    return derive(raw, plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(bench_gateway(args.quick), indent=2))


if __name__ == "__main__":
    main()
