"""Process-lifetime helpers shared by the processes a supervisor runs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


def stop_requested() -> asyncio.Event:
    """An event SIGTERM or SIGINT sets, for a server's main coroutine to wait on: the signal
    handlers only set it, the coroutine does the shutting down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def die_with_supervisor(supervisor_pid: str | None) -> None:
    """Under a supervisor, exit when it dies, even by SIGKILL, so nothing is left holding its
    port: Linux sends SIGTERM to this process when its parent goes away (PR_SET_PDEATHSIG)."""
    if supervisor_pid and supervisor_pid.isdigit():
        die_with_parent(int(supervisor_pid), signal.SIGTERM)


def die_with_parent(parent_pid: int, sig: signal.Signals) -> None:
    """Get `sig` when the parent dies; exit now if `parent_pid` is already gone (it died
    before the request took effect, and this process was handed to another parent)."""
    if not sys.platform.startswith("linux"):
        return
    _prctl(PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:
        raise SystemExit(0)


def make_undumpable() -> None:
    """No core dumps, and no other process of this user may read this one's memory or
    environment through /proc or ptrace (PR_SET_DUMPABLE 0): it holds API keys."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_DUMPABLE, 0)


def _prctl(option: int, value: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, value, 0, 0, 0)


def serving_pid(started: int, reported: int) -> int | None:
    """The host pid of the process that reported `reported` as its pid, among `started` and
    its descendants: a confined gateway is bwrap's grandchild and knows only its pid in its
    own PID namespace (the last entry of NSpid in /proc/<pid>/status)."""
    import psutil

    try:
        candidates = [started, *(p.pid for p in psutil.Process(started).children(recursive=True))]
    except psutil.Error:
        return None
    for pid in candidates:
        try:
            with open(f"/proc/{pid}/status") as fh:
                status = fh.read()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == str(reported):
                return pid
    return None


def group_alive(pgid: int) -> bool:
    """True while any process of process group `pgid` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
