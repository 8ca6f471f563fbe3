#!/usr/bin/env python3
"""Sandbox benchmark: `echo hi` through the terminal tool, sandboxed (tools.sandbox.mode bwrap)
and not (mode off), interleaved call by call in one run, so both see the same machine.

Two places: in this process, and inside a gateway's own view of the machine (bubblewrap
around this script, as `hermes.gateway` confines itself), where each tool sandbox is a
nested one: that is the path a real gateway's tool calls take.

Used by scripts/bench.py (`--only sandbox`); bench_sandbox() returns the figures. Target: the
sandbox adds at most 10 ms at p50.
"""

from __future__ import annotations

import dataclasses
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

TARGET_ADDED_MS = 10.0


async def _interleaved(workspace: Path, calls: int) -> dict[str, Any]:
    from hermes.config.schema import SandboxConfig, ToolsConfig
    from hermes.tools import ToolContext
    from hermes.tools.terminal import terminal

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    contexts = {
        mode: ToolContext(
            workspace,
            dataclasses.replace(ToolsConfig(), sandbox=SandboxConfig(mode=mode)),
            "bench",
            frozenset(),
            env,
        )
        for mode in ("bwrap", "off")
    }
    samples: dict[str, list[float]] = {"bwrap": [], "off": []}
    for ctx in contexts.values():  # warm-up: the probe, the /etc walk, page cache
        for _ in range(3):
            await terminal.fn(ctx, "echo hi")
    for i in range(calls):
        order = ("bwrap", "off") if i % 2 == 0 else ("off", "bwrap")
        for mode in order:
            start = time.perf_counter()
            out = await terminal.fn(contexts[mode], "echo hi")
            samples[mode].append((time.perf_counter() - start) * 1000)
            assert out == "hi\n[exit code 0]", out
    return {mode: _stats(values) for mode, values in samples.items()}


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "p50_ms": statistics.median(values),
        "p90_ms": values[int(0.9 * (len(values) - 1))],
        "min_ms": values[0],
        "calls": len(values),
    }


def _inner(calls: int, workspace: Path | None = None) -> dict[str, Any]:
    """The interleaved calls in a workspace of a profile directory (a scratch one if None)."""
    import uvloop  # the gateway's loop

    scratch = None
    if workspace is None:
        scratch = Path(tempfile.mkdtemp(prefix="hermes-sandbox-bench-"))
        workspace = scratch / "workspace"
    workspace.mkdir(exist_ok=True)
    try:
        return uvloop.run(_interleaved(workspace, calls))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _in_gateway_view(calls: int) -> dict[str, Any] | str:
    """This script's inner loop run inside the view a confined gateway has."""
    from hermes.sandbox import bwrap, cgroups
    from hermes.sandbox.confine import view_args

    binary = bwrap.executable()
    if binary is None or bwrap.probe() is not None:
        return "bubblewrap unavailable"
    scratch = Path(tempfile.mkdtemp(prefix="hermes-sandbox-bench-home-"))
    profile = scratch / "profiles" / "bench"
    profile.mkdir(parents=True)
    cgroups.prepare_group(cgroups.group_name(profile))  # as a gateway does before confining
    try:
        argv = [binary, *view_args(profile, scratch), "--setenv", "TMPDIR", str(profile)]
        argv += ["--setenv", "HERMES_CONFINED_BY", str(os.getpid())]  # as a gateway has it
        inner = [str(Path(__file__).resolve()), "--inner", str(calls), str(profile / "workspace")]
        argv += ["--", sys.executable, *inner]
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench_sandbox(quick: bool = False) -> dict[str, Any]:
    calls = 40 if quick else 200
    places: dict[str, Any] = {"in this process (unconfined)": _inner(calls)}
    nested = _in_gateway_view(calls)
    if isinstance(nested, dict):
        places["inside a confined gateway (as gateways run)"] = nested
    out: dict[str, Any] = {"places": places}
    for r in places.values():
        r["added_p50_ms"] = r["bwrap"]["p50_ms"] - r["off"]["p50_ms"]
        r["ok"] = r["added_p50_ms"] <= TARGET_ADDED_MS
    out["target_added_p50_ms"] = TARGET_ADDED_MS
    return out


def print_sandbox(result: dict[str, Any]) -> None:
    print("\nSandbox: `echo hi` through the terminal tool, bwrap vs off, interleaved")
    print(f"{'where':44}  {'off p50':>8}  {'bwrap p50':>9}  {'bwrap p90':>9}  {'added':>8}  target")
    for name, r in result["places"].items():
        verdict = "ok" if r["ok"] else "MISSED"
        print(
            f"{name:44}  {r['off']['p50_ms']:6.2f}ms  {r['bwrap']['p50_ms']:7.2f}ms  "
            f"{r['bwrap']['p90_ms']:7.2f}ms  {r['added_p50_ms']:6.2f}ms  "
            f"<= {result['target_added_p50_ms']:.0f} ms {verdict}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--inner":
        print(json.dumps(_inner(int(sys.argv[2]), Path(sys.argv[3]))))
    else:
        print_sandbox(bench_sandbox(quick="--quick" in sys.argv))
