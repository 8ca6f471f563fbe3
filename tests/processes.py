"""Finding the processes a test started, in or out of a sandbox.

Inside a sandbox a command sees only its own PID namespace, so the pids it could write to a
file mean nothing outside. Tests instead give their commands a unique marker (a random number
in an argument) and look for it in /proc/*/cmdline: only processes this test started carry it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path


def new_marker() -> str:
    """Digits, so it can be the fraction of a `sleep` duration: `sleep 30.<marker>`."""
    return str(random.randrange(10**8, 10**9))


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for a reaper counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def marked(marker: str) -> list[int]:
    """Live processes whose command line carries `marker`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


async def none_marked(marker: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while marked(marker):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def gone(*pids: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def kill_marked(marker: str) -> None:
    """Teardown: SIGKILL what a failed test left running (only this test's own processes)."""
    for pid in marked(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
