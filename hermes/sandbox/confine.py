"""A gateway confined to its own profile: it re-executes itself inside a bubblewrap mount
namespace where $HERMES_HOME shows nothing but that profile's directory (no other profile,
no run/ with the supervisor's socket, no supervisor log), the system is read-only as an
unprivileged user sees it, and the host's home directories are absent.

Deliberately no PID namespace: the tools' own sandboxes (nested bubblewrap) need a /proc
without bubblewrap's read-only overmounts to mount theirs. Seeing other processes is made
harmless instead: no secret in any gateway's environment, gateways not dumpable, and a
Landlock domain (landlock.py) that forbids signalling or ptracing anything outside it.

Signals: the exec'd bwrap ignores SIGTERM and SIGINT (a disposition it inherits and keeps),
so a supervisor's SIGTERM to the group reaches the gateway, which shuts down gracefully, and
bwrap exits with the gateway's status. If the supervisor dies, bwrap gets SIGKILL
(PR_SET_PDEATHSIG set before the exec) and the gateway SIGTERM (set again inside)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hermes.sandbox import bwrap, limits
from hermes.sandbox.bwrap import CONFINED_BY
from hermes.sandbox.mounts import python_dirs, read_only_args, system_args


def confined_by(environ: Mapping[str, str]) -> int | None:
    raw = environ.get(CONFINED_BY, "")
    return int(raw) if raw.isdigit() else None


def view_args(profile_root: Path, hide: Path) -> list[str]:
    """bwrap arguments for a gateway's view of the machine."""
    root = str(profile_root)
    return [
        "--unshare-user-try",
        "--unshare-ipc",
        *system_args(),
        *read_only_args(_python_paths(hide)),
        "--bind",
        "/proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        *_cgroup_args(),
        "--tmpfs",
        str(hide),
        "--bind",
        root,
        root,
        "--remount-ro",
        str(hide),
        "--chdir",
        root,
    ]


def exec_confined(
    argv: Sequence[str], *, profile_root: Path, hide: Path, environ: Mapping[str, str]
) -> str:
    """Replace this process with `argv` confined; returns (only) why that cannot be done."""
    problem = bwrap.probe()
    binary = bwrap.executable()
    if problem is not None or binary is None:
        return problem or "bubblewrap is not installed"
    limits.hierarchies()  # the tools' cgroup bases exist before the view is fixed
    args = [binary, *view_args(profile_root, hide), "--", *argv]
    env = {**environ, CONFINED_BY: str(os.getpid())}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(binary, args, env)


def _python_paths(hide: Path) -> list[Path]:
    """The interpreter and every import path of this process (an editable install's source
    included), never the home directory as a whole nor anything of HERMES_HOME."""
    home = Path.home().resolve()
    out: list[Path] = list(python_dirs())
    for entry in sys.path:
        if not entry or not os.path.isabs(entry):
            continue
        path = Path(entry).resolve()
        if path in (Path("/"), home) or _within(path, hide) or not path.exists():
            continue
        if not any(_within(path, known) for known in out):
            out.append(path)
    return out


def _cgroup_args() -> list[str]:
    """The cgroup tree read-only, the tools' command cgroups (limits.py) writable."""
    places = limits.hierarchies().values()
    if not places:
        return []
    args = ["--ro-bind", "/sys/fs/cgroup", "/sys/fs/cgroup"]
    for place in places:
        args += ["--bind", str(place.base), str(place.base)]
    return args


def _within(path: Path, parents: Path | Iterable[Path]) -> bool:
    candidates = [parents] if isinstance(parents, Path) else list(parents)
    return any(path == p or p in path.parents for p in candidates)
