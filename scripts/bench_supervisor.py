#!/usr/bin/env python3
"""Supervisor benchmark: time from `hermes up` to every gateway ready for 1, 10 and 20 profiles;
recovery after `kill -9` of a gateway (until it answers /health again); the supervisor's RSS
and its idle CPU.

Used by scripts/bench.py (`--only supervisor`); bench_supervisor() returns the figures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

HERMES = str(Path(sys.executable).parent / "hermes")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _home(n: int) -> Path:
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    home = Path(tempfile.mkdtemp(prefix="hermes-sup-bench-"))
    store = ProfileStore(home)
    set_value(store, store.get("default"), "API_SERVER_ENABLED", "false")
    for i in range(n):
        profile = store.create(f"p{i:02d}").profile
        for key, value in {
            "API_SERVER_PORT": str(_free_port()),
            "model.provider": "openai",
            "model.base_url": "http://127.0.0.1:9/v1",
            "OPENAI_API_KEY": "sk-bench-0000000000",
        }.items():
            set_value(store, profile, key, value)
    return home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "API_SERVER_"))}
    env["HERMES_HOME"] = str(home)
    return env


def _status(home: Path) -> dict[str, Any] | None:
    out = subprocess.run(
        [HERMES, "status", "--json"], env=_env(home), capture_output=True, text=True
    )
    data: dict[str, Any] = json.loads(out.stdout) if out.stdout else {}
    return data if data.get("pid") else None


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _wait_all_running(home: Path, n: int, deadline: float) -> None:
    """Until the supervisor reports n gateways running (each confirmed by its /health). Asking
    the control socket every 20 ms costs the machine far less than probing n ports, which
    would steal CPU from the very start-up being measured."""
    from hermes.errors import HermesError
    from hermes.supervisor.client import ControlClient

    client = ControlClient(home)
    while time.monotonic() < deadline:
        try:
            states = [g["state"] for g in client.status()["gateways"]]
        except HermesError:
            states = []
        if len(states) == n and all(s == "running" for s in states):
            return
        time.sleep(0.02)
    raise TimeoutError("gateways not running in time")


def _ports(home: Path) -> list[int]:
    from hermes.profiles import ProfileStore

    return [i.port for i in ProfileStore(home).infos() if i.enabled]


def up_to_ready(n: int) -> dict[str, Any]:
    home = _home(n)
    ports = _ports(home)
    start = time.monotonic()
    proc = subprocess.Popen(
        [HERMES, "up"], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_all_running(home, n, start + 120)
        ready = time.monotonic() - start
        result: dict[str, Any] = {"profiles": n, "ready_s": ready}
        if n == 10:
            result.update(_footprint(proc.pid))
            result.update(_recovery(home, ports[:5]))
        return result
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(home, ignore_errors=True)


def _recovery(home: Path, ports: list[int]) -> dict[str, Any]:
    """kill -9 one gateway of each of several profiles (each has its own backoff, which only
    resets after 60 s up); time until its /health answers again; the median."""
    times = []
    status = _status(home)
    assert status is not None
    pids = {g["port"]: g["pid"] for g in status["gateways"]}
    for port in ports:
        os.kill(pids[port], signal.SIGKILL)
        killed = time.monotonic()
        while _healthy(port):  # the old process may answer for an instant
            time.sleep(0.005)
        while not _healthy(port):
            time.sleep(0.005)
        times.append(time.monotonic() - killed)
    return {"recovery_s": statistics.median(times), "recovery_all_s": times}


def _footprint(pid: int, seconds: float = 10.0) -> dict[str, Any]:
    """Supervisor RSS, and its CPU share while idle (gateways up, no traffic)."""
    proc = psutil.Process(pid)
    time.sleep(1)
    cpu_before = sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    cpu = (sum(proc.cpu_times()[:2]) - cpu_before) / seconds * 100
    return {
        "supervisor_rss_mb": proc.memory_info().rss / 2**20,
        "supervisor_idle_cpu_pct": cpu,
        "idle_window_s": seconds,
    }


def bench_supervisor(quick: bool = False) -> dict[str, Any]:
    sizes = (1, 10) if quick else (1, 10, 20)
    return {"runs": [up_to_ready(n) for n in sizes]}


def print_supervisor(result: dict[str, Any]) -> None:
    print(
        "\nSupervisor (targets: 20 profiles ready <= 6 s, recovery <= 1.5 s, RSS <= 40 MB, "
        "idle CPU < 1 %)"
    )
    for run in result["runs"]:
        print(f"  hermes up -> {run['profiles']:2d} gateway(s) ready: {run['ready_s']:.2f} s")
    for run in result["runs"]:
        if "recovery_s" in run:
            detail = ", ".join(f"{t:.2f}" for t in run["recovery_all_s"])
            print(f"  recovery after kill -9 (median): {run['recovery_s']:.2f} s  ({detail})")
        if "supervisor_rss_mb" in run:
            print(
                f"  supervisor RSS with {run['profiles']} gateways: "
                f"{run['supervisor_rss_mb']:.1f} MB, idle CPU over "
                f"{run['idle_window_s']:.0f} s: {run['supervisor_idle_cpu_pct']:.2f} %"
            )


if __name__ == "__main__":
    print_supervisor(bench_supervisor(quick="--quick" in sys.argv))
