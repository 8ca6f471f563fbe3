"""A gateway confined to its own profile: it re-executes itself inside bubblewrap, with
- a mount namespace where $HERMES_HOME shows nothing but that profile's directory (no other
  profile, no run/ with the supervisor's socket, no supervisor log), the system read-only as
  an unprivileged user sees it, and no home directory of the host;
- a PID namespace of its own: it can see, signal or trace no other process, and can move none
  into a cgroup (a cgroup takes pids, and it can name only its own);
- a user namespace in which it holds no capability at all.
A Landlock scope (landlock.py) adds that it can reach no abstract Unix socket outside.

Signals: bwrap forwards none, and dies with the supervisor (PR_SET_PDEATHSIG, SIGKILL), taking
the gateway's PID namespace with it (--die-with-parent). It ignores SIGTERM and SIGINT (inherited
dispositions), so a stop, which is a signal to the process group, reaches only the gateway;
the gateway shuts down gracefully and bwrap exits with its status. A SIGTERM to bwrap's pid
alone does nothing: stop a gateway by its group, as the supervisor and `hermes gateway` do."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hermes.sandbox import bwrap, cgroups
from hermes.sandbox.bwrap import CONFINED_BY
from hermes.sandbox.mounts import python_dirs, read_only_args, system_args

GATEWAY_UID = 1000  # who a root-run gateway is inside its user namespace (kuid 0 outside)
NESTED_PROC_BASE = "/run/hermes"
NESTED_PROC_DIR = "/run/hermes/host"


def confined_by(environ: Mapping[str, str]) -> int | None:
    raw = environ.get(CONFINED_BY, "")
    return int(raw) if raw.isdigit() else None


def view_args(profile_root: Path, hide: Path) -> list[str]:
    """bwrap arguments for a gateway's view of the machine."""
    root = str(profile_root)
    return [
        *_identity(),
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        *system_args(),
        *read_only_args(_python_paths(hide)),
        "--proc",
        "/proc",
        *bwrap.gateway_proc_covers(),
        *_nested_proc_args(),
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        *_cgroup_args(cgroups.group_name(profile_root)),
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


def _identity() -> list[str]:
    """A user namespace in which the gateway holds no capability and is not uid 0: bwrap run
    as uid 0 would think itself privileged and fail to map the tools' namespaces. Mapped to
    the real uid outside, so files keep their owner."""
    inside = ["--uid", str(GATEWAY_UID), "--gid", str(GATEWAY_UID)] if os.getuid() == 0 else []
    return ["--unshare-user", *inside, "--cap-drop", "ALL"]


def _nested_proc_args() -> list[str]:
    """The kernel lets a user namespace mount a new /proc (what each tool sandbox does) only
    where a /proc with nothing mounted over it is already in the mount namespace; the
    gateway's own /proc has bwrap's read-only covers. So the host's /proc is bound there too,
    beneath a directory of mode 0 on a read-only tmpfs: present for that check, unreachable
    for the gateway, which has no capability to pass the directory or change its mode."""
    return [
        "--tmpfs",
        NESTED_PROC_BASE,
        "--dir",
        NESTED_PROC_DIR,
        "--bind",
        "/proc",
        f"{NESTED_PROC_DIR}/proc",
        "--chmod",
        "0000",
        NESTED_PROC_DIR,
        "--remount-ro",
        NESTED_PROC_BASE,
    ]


def exec_confined(
    argv: Sequence[str], *, profile_root: Path, hide: Path, environ: Mapping[str, str]
) -> str:
    """Replace this process with `argv` confined; returns (only) why that cannot be done."""
    problem = bwrap.probe()
    binary = bwrap.executable()
    if problem is not None or binary is None:
        return problem or "bubblewrap is not installed"
    cgroups.prepare_group(cgroups.group_name(profile_root))  # before the view is fixed
    args = [binary, *view_args(profile_root, hide), "--", *argv]
    # The view holds HERMES_HOME at its real path only: the gateway must use that spelling.
    env = {**environ, CONFINED_BY: str(os.getpid()), "HERMES_HOME": str(hide)}
    # bwrap forwards no signal, and --die-with-parent would take the gateway down with it at
    # once: so it ignores SIGTERM and SIGINT (the gateway, which installs its own handlers,
    # still gets them from its process group) and exits when the gateway has shut down.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(binary, args, env)


def _python_paths(hide: Path) -> list[Path]:
    """The interpreter and every import path of this process (an editable install's source
    included), never the home directory as a whole nor anything of HERMES_HOME."""
    home = Path.home().resolve()
    out: list[Path] = list(python_dirs())
    for index, entry in enumerate(sys.path):
        if not entry or not os.path.isabs(entry):
            continue
        if index == 0 and not sys.flags.safe_path and entry == os.getcwd():
            continue  # `python -m` put the working directory first: not hermes' to show
        path = Path(entry).resolve()
        if path in (Path("/"), home) or _within(path, hide) or not path.exists():
            continue
        if not any(_within(path, known) for known in out):
            out.append(path)
    return out


def _cgroup_args(group: str) -> list[str]:
    """The cgroup tree read-only, this profile's command cgroups (cgroups.py) writable. Moving a
    process into a cgroup names it by pid: in its own PID namespace a gateway can name none
    but its own."""
    places = cgroups.hierarchies().values()
    if not places:
        return []
    args = ["--ro-bind", "/sys/fs/cgroup", "/sys/fs/cgroup"]
    for place in places:
        mine = str(place.base / group)
        args += ["--bind", mine, mine]
    return args


def _within(path: Path, parents: Path | Iterable[Path]) -> bool:
    candidates = [parents] if isinstance(parents, Path) else list(parents)
    return any(path == p or p in path.parents for p in candidates)
