"""Process-lifetime helpers shared by the processes a supervisor runs."""

from __future__ import annotations

import os
import signal
import sys


def die_with_supervisor(supervisor_pid: str | None) -> None:
    """Under a supervisor, exit when it dies, even by SIGKILL, so nothing is left holding its
    port: Linux sends SIGTERM to this process when its parent goes away (PR_SET_PDEATHSIG)."""
    if not supervisor_pid or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(supervisor_pid):  # the supervisor died before prctl took effect
        raise SystemExit(0)
