#!/usr/bin/env python3
"""Streams at scale: 1,000 concurrent streams of a slow upstream, direct, through the bare relay
and through hermes, one after the other in one run against the same upstream.

The upstream sends its role chunk at once, then one content piece every 0.5 s (six pieces: a
stream lasts ~3 s; its time to first token alone is ~0.5 s). hermes runs with
`api_server.max_concurrent_runs` 1,100 and the relay's connection pool is as large, so neither
caps the 1,000. Each burst is 1,000 new clients (a fresh client session, 1,000 connects at once)
started together. For each path: how many streams succeeded (HTTP 200, the whole text, [DONE]),
median and p99 time to first token, the burst's wall time; for hermes its RSS before, at the peak
of and after the bursts. Targets: every stream succeeds, hermes' p99 TTFT at most 2x the relay's,
RSS growth under 100 MB.

File descriptors: 1,000 streams through a gateway hold 2,000+ sockets in it (client side and
upstream side) and 1,000 in the load generator. This process raises its soft RLIMIT_NOFILE to
the hard limit before it starts any server, so the servers inherit it (the helper servers raise
theirs again themselves); the limits in force are reported.

Used by scripts/bench.py (`--only streams`); bench_streams() returns the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import JSON_HEADERS, STREAM_BODY, percentile, verdicts
from bench_servers import (
    PIECES,
    Procs,
    Server,
    helper_server,
    hermes_server,
    make_hermes_home,
    nofile_of,
    raise_nofile,
    run_with_servers,
    wait_healthy,
)

TARGETS = {"ttft_p99_ratio_vs_relay": 2.0, "rss_growth_mb": 100.0}


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    streams: int = 1000
    token_delay: float = 0.5  # seconds per content piece
    tokens: int = 6
    runs: int = 1100  # hermes' api_server.max_concurrent_runs; the relay's pool as large
    rounds: int = 2  # direct, relay, hermes, then again: a passing disturbance hits all alike
    # The relay listens with the backlog hermes derives from its run limit (runs + 64), so the
    # two are compared on the same accept queue; aiohttp's default of 128 overflows at once.
    relay_backlog: int = 1164


QUICK = ScalePlan(streams=300, rounds=1)


async def one_stream(session: aiohttp.ClientSession, server: Server, text: str) -> float:
    """Seconds to the first non-empty delta.content; raises unless the stream is whole."""
    start = time.perf_counter()
    ttft, done = 0.0, False
    got: list[str] = []
    headers = {**JSON_HEADERS, **server.headers}
    async with session.post(server.chat_url, data=STREAM_BODY, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        async for line in response.content:
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b"data:"):
                for choice in json.loads(line[5:]).get("choices", []):
                    piece = choice["delta"].get("content")
                    if piece and not ttft:
                        ttft = time.perf_counter() - start
                    got.append(piece or "")
    if "".join(got) != text or not done:
        raise RuntimeError("incomplete stream")
    return ttft


async def burst(server: Server, n: int, text: str) -> tuple[list[float], Counter[str], float]:
    """`n` streams started together from `n` new connections: TTFTs, errors by kind, wall s."""
    connector = aiohttp.TCPConnector(limit=n + 64)  # the default 100 would queue the rest
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(one_stream(session, server, text) for _ in range(n)), return_exceptions=True
        )
        wall = time.perf_counter() - start
    ttfts = [r for r in results if isinstance(r, float)]
    errors = Counter(
        f"{type(r).__name__}: {r}"[:120] for r in results if isinstance(r, BaseException)
    )
    return ttfts, errors, wall


def tcp_counters() -> Counter[str]:
    """This network namespace's listen-queue overflows and SYN retransmits (Linux TcpExt): a
    client whose connect found the accept queue full retries after a second, which shows as a
    TTFT one second late. Shared with anything else on the machine, so read as an indication."""
    wanted = ("ListenOverflows", "TCPSynRetrans")
    try:
        rows = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()]
    except OSError:
        return Counter()
    for names, values in zip(rows[::2], rows[1::2], strict=False):
        if names and names[0] == "TcpExt:":
            return Counter({k: int(v) for k, v in zip(names, values, strict=False) if k in wanted})
    return Counter()


class PeakRss:
    """Samples a process' RSS every 20 ms while running (as `async with`)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.now()
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        return float(self.proc.memory_info().rss) / 2**20

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now())
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        self.peak = max(self.peak, self.now())


@dataclasses.dataclass
class PathTally:
    """One path's bursts: TTFTs of the streams that succeeded, errors by kind, wall times, and the
    machine's listen-queue counters over its bursts."""

    ttfts: list[float] = dataclasses.field(default_factory=list)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    walls: list[float] = dataclasses.field(default_factory=list)
    tcp: Counter[str] = dataclasses.field(default_factory=Counter)

    async def burst(self, server: Server, n: int, text: str) -> None:
        counted = tcp_counters()
        ttfts, errors, wall = await burst(server, n, text)
        self.tcp.update(tcp_counters() - counted)
        self.ttfts.extend(ttfts)
        self.errors.update(errors)
        self.walls.append(wall)

    def summary(self, n: int) -> dict[str, Any]:
        ordered = sorted(self.ttfts)
        return {
            "n": n,
            "ok": len(ordered),
            "errors": dict(self.errors),
            "ttft_p50_s": percentile(ordered, 0.50) if ordered else None,
            "ttft_p99_s": percentile(ordered, 0.99) if ordered else None,
            "ttft_max_s": ordered[-1] if ordered else None,
            "wall_s": self.walls,
            "tcp": {"ListenOverflows": 0, "TCPSynRetrans": 0, **self.tcp},
        }


def start_paths(plan: ScalePlan, procs: Procs) -> dict[str, Server]:
    """The slow upstream, the relay and hermes in front of it (none of them waited for yet)."""
    args = ("--token-delay", str(plan.token_delay), "--tokens", str(plan.tokens))
    upstream = helper_server(procs, "upstream", *args)
    sizes = ("--pool", str(plan.runs), "--backlog", str(plan.relay_backlog))
    relay = helper_server(procs, "relay", upstream.url + "/v1", *sizes)
    home = procs.logdir / "home"
    runs = {"api_server.max_concurrent_runs": str(plan.runs)}
    hermes = hermes_server(procs, home, make_hermes_home(home, upstream.url + "/v1", runs))
    return {"direct": upstream, "relay": relay, "hermes": hermes}


async def _scale(plan: ScalePlan, procs: Procs) -> dict[str, Any]:
    nofile = {"load_generator": raise_nofile()}  # before any server starts: they inherit it
    paths = start_paths(plan, procs)
    text = "".join(PIECES[: plan.tokens])
    alone: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for name, server in paths.items():
            await wait_healthy(session, server)
            alone[name] = await one_stream(session, server, text)  # also checks the path
    nofile.update({name: nofile_of(server.pid) for name, server in paths.items()})
    tallies = {name: PathTally() for name in paths}
    rss = PeakRss(paths["hermes"].pid)
    before = rss.now()
    for _ in range(plan.rounds):
        for name, server in paths.items():
            async with rss if name == "hermes" else contextlib.nullcontext():
                await tallies[name].burst(server, plan.streams, text)
    results = {
        name: {**tally.summary(plan.streams * plan.rounds), "alone_ttft_s": alone[name]}
        for name, tally in tallies.items()
    }
    results["hermes"]["rss_mb"] = {"before": before, "peak": rss.peak, "after": rss.now()}
    return {"paths": results, "nofile": nofile}


def derive(raw: dict[str, Any], plan: ScalePlan) -> dict[str, Any]:
    paths = raw["paths"]
    hermes, relay = paths["hermes"], paths["relay"]
    rss = hermes["rss_mb"]
    figures = {
        "ttft_p99_ratio_vs_relay": (hermes["ttft_p99_s"] or float("inf"))
        / max(relay["ttft_p99_s"] or 0.0, 1e-3),
        "rss_growth_mb": max(rss["peak"], rss["after"]) - rss["before"],
    }
    targets = verdicts(figures, TARGETS)
    targets["all_succeed"] = {
        "value": hermes["ok"],
        "target": hermes["n"],
        "ok": hermes["ok"] == hermes["n"],
    }
    return {**raw, "targets": targets, "plan": dataclasses.asdict(plan)}


def bench_streams(quick: bool = False, relay_backlog: int | None = None) -> dict[str, Any]:
    """Run the scale phase (about half a minute; `quick`: 300 streams, one round)."""
    plan = QUICK if quick else ScalePlan()
    if relay_backlog is not None:
        plan = dataclasses.replace(plan, relay_backlog=relay_backlog)
    raw = run_with_servers("streams", lambda procs: _scale(plan, procs))
    return derive(raw, plan)


def print_streams(s: dict[str, Any]) -> None:
    from bench_gateway import print_targets

    plan = s["plan"]
    print(
        f"\nStreams at scale: {plan['streams']} concurrent streams x {plan['rounds']} rounds, "
        f"upstream {plan['token_delay']} s per token x {plan['tokens']}"
    )
    print(
        f"{'path':8}  {'ok':>11}  {'alone TTFT':>10}  {'TTFT p50':>8}  {'TTFT p99':>8}  "
        f"{'TTFT max':>8}  {'overflows':>9}  {'SYN rtx':>7}  wall per burst"
    )
    for name, r in s["paths"].items():
        walls = ", ".join(f"{w:.2f}" for w in r["wall_s"])
        print(
            f"{name:8}  {r['ok']:>5}/{r['n']:<5}  {r['alone_ttft_s']:9.3f}s  "
            f"{_s(r['ttft_p50_s'])}  {_s(r['ttft_p99_s'])}  {_s(r['ttft_max_s'])}  "
            f"{r['tcp']['ListenOverflows']:9}  {r['tcp']['TCPSynRetrans']:7}  {walls} s"
        )
        for error, count in r["errors"].items():
            print(f"          {count} x {error}")
    rss = s["paths"]["hermes"]["rss_mb"]
    print("hermes RSS: " + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()))
    print("(overflows = listen-queue overflows, SYN rtx = SYN retransmits: the machine's counters)")
    print("open-files soft limit: " + ", ".join(f"{k} {v}" for k, v in s["nofile"].items()))
    print_targets("Streams-at-scale targets (hermes)", s["targets"], LABELS)


LABELS = {
    "ttft_p99_ratio_vs_relay": ("TTFT p99, x the relay's", "<= {:.0f}x", "{:.2f}x"),
    "rss_growth_mb": ("RSS growth (peak - before)", "< {:.0f} MB", "{:+.1f} MB"),
    "all_succeed": ("streams that succeeded", "{}", "{}"),
}


def _s(value: float | None) -> str:
    return f"{value:7.3f}s" if value is not None else f"{'-':>8}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--relay-backlog", type=int, help="an experiment: the relay's listen backlog (1164)"
    )
    parser.add_argument("--json", action="store_true", help="the figures as JSON, not a table")
    args = parser.parse_args()
    figures = bench_streams(args.quick, args.relay_backlog)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_streams(figures)


if __name__ == "__main__":
    main()
