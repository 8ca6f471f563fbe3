"""Run the real supervisor (`hermes up`) for a test, and make sure nothing outlives the test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from hermes.profiles import ProfileStore
from hermes.profiles.settings import set_value
from tests.e2e.conftest import HERMES
from tests.e2e.gateway_process import free_port, gateway_env
from tests.processes import alive

UPSTREAM = "http://127.0.0.1:9/v1"  # never called: these tests only start and stop gateways


def add_profile(home: Path, name: str, **settings: str) -> int:
    """An enabled profile on a free ephemeral port; returns the port."""
    store = ProfileStore(home)
    if name != "default":
        store.create(name)
    profile = store.get(name)
    port = free_port()
    values = {
        "API_SERVER_PORT": str(port),
        "model.provider": "openai",
        "model.base_url": UPSTREAM,
        "OPENAI_API_KEY": "sk-test-0000000000",
        **settings,
    }
    for key, value in values.items():
        set_value(store, profile, key, value)
    return port


def disable_default(home: Path) -> None:
    store = ProfileStore(home)
    set_value(store, store.get("default"), "API_SERVER_ENABLED", "false")


def hermes(
    home: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERMES, *args], env=gateway_env(home, env), capture_output=True, text=True, timeout=timeout
    )


def status(home: Path) -> dict[str, Any]:
    result = hermes(home, "status", "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def by_profile(home: Path) -> dict[str, dict[str, Any]]:
    return {g["profile"]: g for g in status(home)["gateways"]}


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    home: Path

    def gateway_pids(self) -> dict[str, int]:
        return {name: g["pid"] for name, g in by_profile(self.home).items() if g["pid"]}

    def settled(self) -> dict[str, dict[str, Any]]:
        """Every gateway running, fatal or stopped under a live supervisor; else {}."""
        try:
            data = status(self.home)
        except (ValueError, json.JSONDecodeError):
            return {}
        if data["pid"] is None:
            return {}
        gateways = {g["profile"]: g for g in data["gateways"]}
        if gateways and all(g["state"] not in ("starting", "backoff") for g in gateways.values()):
            return gateways
        return {}


@contextmanager
def supervisor(home: Path, *names: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    log = open(home / "supervisor-test.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [HERMES, "up", *names], env=gateway_env(home, env), stdout=log, stderr=log
    )
    running = Running(proc, home)
    seen: set[int] = {proc.pid}
    try:
        wait_for(lambda: proc.poll() is not None or running.settled(), timeout=60)
        yield running
    finally:
        with contextlib.suppress(psutil.Error):
            seen |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        leftovers = [p for p in seen if alive(p)]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes left behind: {leftovers}"
