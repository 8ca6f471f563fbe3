#!/usr/bin/env python3
"""hermes benchmarks: prints a table and writes bench-results/bench.json.

Not a test: nothing here gates CI on an absolute time. Sections:
  cli       `hermes profile list` (table and --json) with 50 profiles, and `hermes --version`.
  gateway   latency, req/s and time-to-first-token direct to a fake upstream, through a minimal
            aiohttp relay and through the hermes gateway; the gateway's RSS and start-up time
            (scripts/bench_gateway.py).
  streams   1,000 concurrent streams of a slow upstream direct, through the relay and through
            hermes: successes, time to first token, hermes' RSS (scripts/bench_streams.py).
  frontdoor the same gateway direct and through the front door, interleaved: added p50 at c1,
            req/s at c16, time to first token; the front door's RSS with 50 profiles routed
            (scripts/bench_frontdoor.py).
  sandbox   `echo hi` through the terminal tool with and without the sandbox, interleaved, in
            this process and inside a confined gateway's view (scripts/bench_sandbox.py).
  local     the bundled model's tokens/s and time to first token in-process, over HTTP and
            through a gateway; memory (scripts/bench_local.py).
  local-replies  ten everyday prompts through a fresh default profile's gateway: time to the
            whole reply, finish_reason, loops (scripts/bench_local_replies.py).

Run: make bench   (or: .venv/bin/python scripts/bench.py [--only cli|gateway|streams|...] [--quick]
                   [--runs N] [--profiles N])
Sections not run keep their previous results in the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_gateway import bench_gateway, print_targets

ROOT = Path(__file__).resolve().parent.parent
HERMES = str(Path(sys.executable).parent / "hermes")


def timed(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Wall-clock milliseconds of `cmd` over `runs` runs (after one warm-up run)."""
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "min_ms": samples[0],
        "p90_ms": samples[int(0.9 * (len(samples) - 1))],
        "runs": runs,
    }


def bench_cli(runs: int, profiles: int) -> dict[str, dict[str, float]]:
    home = Path(tempfile.mkdtemp(prefix="hermes-bench-"))
    env = {**os.environ, "HERMES_HOME": str(home)}
    env.pop("HERMES_PROFILE", None)
    try:
        from hermes.profiles import ProfileStore  # creating 50 profiles via the CLI is slow

        store = ProfileStore(home)
        for i in range(profiles - 1):
            store.create(f"p{i:02d}")
        assert len(store.names()) == profiles
        return {
            f"hermes profile list ({profiles} profiles)": timed(
                [HERMES, "profile", "list"], env, runs
            ),
            f"hermes profile list --json ({profiles} profiles)": timed(
                [HERMES, "profile", "list", "--json"], env, runs
            ),
            "hermes --version": timed([HERMES, "--version"], env, runs),
            "python -c pass (interpreter floor)": timed([sys.executable, "-c", "pass"], env, runs),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    width = max(len(k) for k in rows)
    print(f"{'command':{width}}  {'median':>9}  {'p90':>9}  {'min':>9}")
    for name, r in rows.items():
        print(
            f"{name:{width}}  {r['median_ms']:7.1f}ms  {r['p90_ms']:7.1f}ms  {r['min_ms']:7.1f}ms"
        )


def print_gateway(g: dict[str, Any]) -> None:
    paths, added = g["paths"], g["added_vs_direct"]
    print_gateway_whole(paths, added)
    print_gateway_streamed(paths, added)
    rss = paths["hermes"]["rss_mb"]
    print("hermes RSS: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} MB" for k, v in rss.items()))
    for name, samples in g["start_to_ready_s"].items():
        starts = ", ".join(f"{s:.3f}" for s in samples)
        print(f"{name:6} start-to-ready (spawn -> /health 200): {starts} s")
    print("CPU ms per request at c=16, non-streamed | streamed (client = this load generator):")
    for name, r in paths.items():
        cpu, scpu = r["c16"]["cpu_ms_per_req"], r["stream_c16"]["cpu_ms_per_req"]
        print(
            f"  {name:8}  "
            + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
            + "  |  "
            + ", ".join(f"{k} {v:.2f}" for k, v in scpu.items())
        )
    print_targets("Gateway targets (hermes)", g["targets"], GATEWAY_LABELS)


def print_gateway_whole(paths: dict[str, Any], added: dict[str, Any]) -> None:
    print("\nGateway: non-streamed latency and throughput")
    print(
        f"{'path':8}  {'c=1 p50':>8}  {'c=1 p99':>8}  {'c=1 req/s':>9}  {'c=16 p50':>8}  "
        f"{'c=16 p99':>8}  {'c=16 req/s':>10}  {'+p50 c=1':>8}"
    )
    for name, r in paths.items():
        plus = added.get(name)
        print(
            f"{name:8}  {r['c1']['p50_ms']:6.2f}ms  {r['c1']['p99_ms']:6.2f}ms  "
            f"{r['c1']['rps']:9.0f}  {r['c16']['p50_ms']:6.2f}ms  {r['c16']['p99_ms']:6.2f}ms  "
            f"{r['c16']['rps']:10.0f}  " + (f"{plus['p50_c1_ms']:6.2f}ms" if plus else f"{'-':>8}")
        )


def print_gateway_streamed(paths: dict[str, Any], added: dict[str, Any]) -> None:
    print("\nGateway: streamed, time to first token (TTFT) and streams drained per second")
    print(
        f"{'path':8}  {'c=1 TTFT':>8}  {'c=1 p99':>8}  {'+TTFT':>7}  {'c=16 TTFT':>9}  "
        f"{'c=16 p99':>8}  {'+TTFT':>7}  {'c=16 streams/s':>14}"
    )
    for name, r in paths.items():
        plus = added.get(name)
        one, many = r["ttft_c1"], r["stream_c16"]
        print(
            f"{name:8}  {one['p50_ms']:6.2f}ms  {one['p99_ms']:6.2f}ms  "
            + (f"{plus['ttft_p50_ms']:5.2f}ms  " if plus else f"{'-':>7}  ")
            + f"{many['p50_ms']:7.2f}ms  {many['p99_ms']:6.2f}ms  "
            + (f"{plus['ttft_p50_c16_ms']:5.2f}ms  " if plus else f"{'-':>7}  ")
            + f"{many['rps']:14.0f}"
        )
    print("(+ = added vs direct; TTFT = first non-empty delta.content; c=16 streams read whole)")


GATEWAY_LABELS = {
    "added_p50_c1_ms": ("added p50 at c=1 vs direct", "<= {:.0f} ms", "{:.2f} ms"),
    "rps_c16_pct_of_relay": ("req/s at c=16, % of relay", ">= {:.0f} %", "{:.0f} %"),
    "stream_rps_c16_pct_of_relay": ("streams/s at c=16, % of relay", ">= {:.0f} %", "{:.0f} %"),
    "added_ttft_ratio_vs_relay": ("added TTFT p50, x relay's", "<= {:.0f}x", "{:.2f}x"),
    "rss_mb": ("RSS, max of 3 samples", "<= {:.0f} MB", "{:.1f} MB"),
    "rss_growth_mb": ("RSS growth, last step", "<= {:.0f} MB", "{:+.2f} MB"),
    "start_to_ready_s": ("start-to-ready, median", "<= {:.1f} s", "{:.3f} s"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=(
            "cli",
            "gateway",
            "streams",
            "frontdoor",
            "responses",
            "supervisor",
            "local",
            "local-replies",
            "sandbox",
        ),
        default=None,
    )
    parser.add_argument("--quick", action="store_true", help="fewer gateway requests (smoke run)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profiles", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.only in (None, "cli"):
        results["cli"] = bench_cli(args.runs, args.profiles)
        print_table(
            "CLI start-up (wall clock, target: profile list with 50 profiles < 250 ms)",
            results["cli"],
        )
    if args.only in (None, "gateway"):
        results["gateway"] = bench_gateway(quick=args.quick)
        print_gateway(results["gateway"])
    if args.only in (None, "streams"):
        from bench_streams import bench_streams, print_streams

        results["streams"] = bench_streams(quick=args.quick)
        print_streams(results["streams"])
    if args.only in (None, "frontdoor"):
        from bench_frontdoor import bench_frontdoor, print_frontdoor

        results["frontdoor"] = bench_frontdoor(quick=args.quick)
        print_frontdoor(results["frontdoor"])
    if args.only in (None, "responses"):
        from bench_responses import bench_responses, print_responses

        results["responses"] = bench_responses(quick=args.quick)
        print_responses(results["responses"])
    if args.only in (None, "supervisor"):
        from bench_supervisor import bench_supervisor, print_supervisor

        results["supervisor"] = bench_supervisor(quick=args.quick)
        print_supervisor(results["supervisor"])
    if args.only in (None, "sandbox"):
        from bench_sandbox import bench_sandbox, print_sandbox

        results["sandbox"] = bench_sandbox(quick=args.quick)
        print_sandbox(results["sandbox"])
    if args.only in (None, "local"):
        from bench_local import bench_local, print_local

        results["local"] = bench_local(quick=args.quick)
        print_local(results["local"])
    if args.only in (None, "local-replies"):
        from bench_local_replies import bench_local_replies, print_local_replies

        results["local_replies"] = bench_local_replies(quick=args.quick)
        print_local_replies(results["local_replies"])
    write_results(args.out, results)
    print(f"\nwrote {args.out}")


def write_results(out: Path, results: dict[str, Any]) -> None:
    """Merge into `out`: a section not run this time keeps its previous figures."""
    previous: dict[str, Any] = {}
    if out.exists():
        try:
            previous = json.loads(out.read_text()).get("results", {})
        except (ValueError, AttributeError):
            previous = {}
    results = {**previous, **results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
