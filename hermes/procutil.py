"""Process-lifetime helpers shared by the processes a supervisor runs."""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


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
