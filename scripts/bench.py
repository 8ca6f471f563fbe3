#!/usr/bin/env python3
"""hermes benchmarks: prints a table and writes bench-results/bench.json.

Not a test: nothing here gates CI on an absolute time. Sections:
  cli   `hermes profile list` (table and --json) with 50 profiles, and `hermes --version`.

Run: make bench   (or: .venv/bin/python scripts/bench.py [--runs N] [--profiles N])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profiles", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench.json")
    args = parser.parse_args()
    results = {"cli": bench_cli(args.runs, args.profiles)}
    print_table(
        "CLI start-up (wall clock, target: profile list with 50 profiles < 250 ms)", results["cli"]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
