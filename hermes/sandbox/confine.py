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


def confined_by(environ: Mapping[str, str]) -> int | None:
    raw = environ.get(CONFINED_BY, "")
    return int(raw) if raw.isdigit() else None


def view_args(profile_root: Path, hide: Path, *, tools_sandboxed: bool = True) -> list[str]:
    """bwrap arguments for a gateway's view of the machine. A gateway whose tools are not
    sandboxed needs no user namespace of its own making, so it may make none."""
    root = str(profile_root)
    return [
        *_identity(),
        *(() if tools_sandboxed else ("--disable-userns",)),
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        *system_args(),
        "--proc",
        "/proc",
        *bwrap.gateway_proc_covers(),
        "--dev",
        "/dev",
        "--remount-ro",
        "/dev",  # a tool's writes there would outlive it, shared and unbounded
        "--tmpfs",
        "/tmp",
        # After the private /tmp, which would otherwise cover a Python installed under it.
        *read_only_args(_python_paths(hide)),
        *_cgroup_args(cgroups.group_name(profile_root)),
        "--tmpfs",
        str(hide),
        "--bind",
        root,
        root,
        "--remount-ro",
        str(hide),
        "--remount-ro",
        "/",  # bwrap's root tmpfs: nothing but /tmp and the profile is the gateway's to write
        "--chdir",
        root,
    ]


def _identity() -> list[str]:
    """A user namespace in which the gateway holds no capability and is not uid 0: bwrap run
    as uid 0 would think itself privileged and fail to map the tools' namespaces. Mapped to
    the real uid outside, so files keep their owner."""
    inside = ["--uid", str(GATEWAY_UID), "--gid", str(GATEWAY_UID)] if os.getuid() == 0 else []
    return ["--unshare-user", *inside, "--cap-drop", "ALL"]


def exec_confined(
    argv: Sequence[str],
    *,
    profile_root: Path,
    hide: Path,
    environ: Mapping[str, str],
    tools_sandboxed: bool = True,
) -> str:
    """Replace this process with `argv` confined; returns (only) why that cannot be done."""
    problem = bwrap.probe()
    binary = bwrap.executable()
    if problem is not None or binary is None:
        return problem or "bubblewrap is not installed"
    group = cgroups.group_name(profile_root)
    cgroups.enter_own(group)  # before anything below finds or makes a cgroup
    cgroups.prepare_group(group)
    args = [binary, *view_args(profile_root, hide, tools_sandboxed=tools_sandboxed), "--", *argv]
    # The view holds HERMES_HOME at its real path only: the gateway must use that spelling.
    env = {**environ, CONFINED_BY: str(os.getpid()), "HERMES_HOME": str(hide)}
    env[cgroups.BASES_ENV] = cgroups.bases_env()
    # bwrap forwards no signal, and --die-with-parent would take the gateway down with it at
    # once: so it ignores SIGTERM and SIGINT (the gateway, which installs its own handlers,
    # still gets them from its process group) and exits when the gateway has shut down.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing inherited beyond stdio: a descriptor whoever started hermes left open (a folder,
    # a socket) would otherwise reach every gateway through bwrap, which passes them on.
    os.closerange(3, _fd_limit())
    os.execve(binary, args, env)


def _fd_limit() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 1 << 20


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
    """Of the cgroup tree, only this profile's command cgroups (cgroups.py), writable: nothing
    of other profiles, not even their names. Moving a process into a cgroup names it by pid:
    in its own PID namespace a gateway can name none but its own."""
    args: list[str] = []
    for place in cgroups.usable(group).values():
        mine = str(place.base / group)
        args += ["--bind", mine, mine]
    return args


def _within(path: Path, parents: Path | Iterable[Path]) -> bool:
    candidates = [parents] if isinstance(parents, Path) else list(parents)
    return any(path == p or p in path.parents for p in candidates)
