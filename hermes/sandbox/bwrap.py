"""bubblewrap (`bwrap`, the sandbox Flatpak uses) as hermes uses it: arguments from a Policy,
and a probe that says once whether it works on this machine and, if not, why.

Why bubblewrap: it gives a command its own mount, PID, IPC and UTS namespaces (and network,
when asked) with nothing to install but one small Debian package, no daemon and no root, and
its argument list is the whole specification; Landlock alone cannot give a private /tmp or a
/proc that shows only the sandbox's own processes."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from pathlib import Path

from hermes.sandbox.mounts import (
    SYSTEM_DIRS,
    python_dirs,
    read_only_args,
    sandbox_path,
    system_args,
)
from hermes.sandbox.spec import Policy

CONFINED_BY = "HERMES_CONFINED_BY"  # set in a confined gateway (sandbox/confine.py)
# What bwrap's --dev makes: a /dev with only these is safe to hand on as it is.
MINIMAL_DEV = frozenset(
    {"core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout"}
    | {"tty", "urandom", "zero"}
)
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`)"


# Who a command is inside: its caller's uid (0 when hermes runs as root and the command runs
# outside a gateway, the gateway's otherwise) in a user namespace of its own, with no
# capability at all (as
# root, bwrap would otherwise leave every capability of that namespace to the command, enough to
# remount its read-only view writable or lift what covers /etc/shadow), and no way to make a
# further user namespace (where it would get them back). No --die-with-parent: SIGTERM to the
# command's group must reach the command while bwrap, which forwards nothing, goes; a gateway's
# own PID namespace ends every sandbox left if the gateway dies.
IDENTITY = ("--unshare-user", "--disable-userns", "--cap-drop", "ALL")


# What of /proc a process of uid 0 could write without any capability: sysctls (a write to
# kernel.core_pattern runs a program as the host's root), sysrq, IRQ and bus settings. When
# hermes runs as root a sandbox's uid 0 is the host's uid 0, so these are always read-only.
# A command's own /proc is read-only as a whole: one remount where covering each is one bind
# apiece; writing to /proc (oom_score_adj and the like) is not agent work.
PROC_COVERED = ("sysrq-trigger", "irq", "bus")
COMMAND_PROC_COVERS = ("--remount-ro", "/proc")


@functools.cache
def gateway_proc_covers() -> tuple[str, ...]:
    """The same for a gateway's view, but /proc/sys one entry at a time, leaving
    /proc/sys/user writable: its limits are per user namespace (a namespace can only lower
    them), and the tools' bwrap writes one there for --disable-userns."""
    try:
        names = sorted(n for n in os.listdir("/proc/sys") if n != "user")
    except OSError:
        names = []
    paths = [f"/proc/sys/{n}" for n in names] + [f"/proc/{n}" for n in PROC_COVERED]
    covers = [arg for path in paths for arg in ("--ro-bind-try", path, path)]
    # Files of /proc only root may read (kpageflags, slabinfo, timer_list, …): machine-wide
    # detail a gateway or command has no use for, readable by a root-run one.
    for name in _root_only_proc_files():
        covers += ["--ro-bind", "/dev/null", f"/proc/{name}"]
    return tuple(covers)


def _root_only_proc_files() -> list[str]:
    found = []
    with contextlib.suppress(OSError), os.scandir("/proc") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.name.isdigit() or not entry.is_file(follow_symlinks=False):
                    continue
                if not entry.stat(follow_symlinks=False).st_mode & 0o004:
                    found.append(entry.name)
    return sorted(found)


def executable() -> str | None:
    return shutil.which("bwrap")


def policy_args(policy: Policy) -> list[str]:
    """Everything before the command: namespaces, the filesystem view, the environment."""
    workspace = str(policy.workspace)
    args = [
        *IDENTITY,
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        *(() if policy.network else ("--unshare-net",)),
        *system_args(),
        *_proc_args(),
        *_dev_args(),
        *_tmp_size(policy),
        "--tmpfs",
        "/dev/shm",
        *_tmp_size(policy),
        "--tmpfs",
        "/tmp",
        # After the private /tmp, which would otherwise cover a Python installed under it.
        *read_only_args(python_dirs()),
        *read_only_args(policy.read_only),
    ]
    # A hidden path needs covering only where something bound shows it: otherwise the
    # workspace's parents exist inside as empty directories of the sandbox's own root.
    shown = [Path(p) for p in (*SYSTEM_DIRS, *map(str, python_dirs()), *map(str, policy.read_only))]
    hide = [h for h in policy.hide if any(h == b or b in h.parents for b in shown)]
    for hidden in hide:
        args += ["--tmpfs", str(hidden)]
    args += ["--bind", workspace, workspace]
    for hidden in hide:  # after the bind, which needed to make its mount point there
        args += ["--remount-ro", str(hidden)]
    return [*args, "--chdir", workspace]


@functools.cache
def in_gateway() -> bool:
    """True inside a confined gateway: its /proc is of its own PID namespace, with covers, and
    its /dev bwrap's minimal one, read-only (checked, not assumed: the host's /dev, disks and
    consoles included, must never be handed on)."""
    try:
        entries = set(os.listdir("/dev"))
    except OSError:
        return False
    return os.environ.get(CONFINED_BY, "").isdigit() and entries <= MINIMAL_DEV


def _proc_args() -> tuple[str, ...]:
    """Inside a gateway, a command sees the gateway's /proc (its PID namespace: the gateway and
    this profile's commands), read-only. A fresh /proc would need a /proc with nothing mounted
    over it in the gateway's view, and that would let the gateway itself, or a profile's
    unconfined commands, mount one with writable sysctls from a user namespace of their own.
    Elsewhere, a fresh /proc of the command's own PID namespace, read-only as a whole."""
    if in_gateway():
        return ("--ro-bind", "/proc", "/proc")
    return ("--proc", "/proc", *COMMAND_PROC_COVERS)


def _dev_args() -> tuple[str, ...]:
    """A confined gateway's /dev, bwrap's minimal one, read-only: binding it is one mount where
    making another is nine, about a millisecond per command."""
    return ("--dev-bind", "/dev", "/dev") if in_gateway() else ("--dev", "/dev")


def _tmp_size(policy: Policy) -> list[str]:
    """/tmp is memory: bound it by the memory limit (a cgroup counts it too)."""
    memory = policy.limits.memory_mb
    return [] if memory is None else ["--size", str(memory * 1024 * 1024)]


def command_env(policy: Policy, env: dict[str, str]) -> dict[str, str]:
    """The command's environment inside: HOME in the workspace, a PATH that exists there."""
    return {
        **env,
        "HOME": str(policy.home),
        "PATH": sandbox_path(policy.home),
        "TMPDIR": "/tmp",
        "PWD": str(policy.workspace),
    }


def wrap(policy: Policy, argv: list[str], *, seccomp_fd: int | None = None) -> list[str]:
    """bwrap's argv for `argv` in `policy`, with the seccomp filter read from `seccomp_fd`."""
    seccomp = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
    return [*_prefix(policy), *seccomp, "--", *argv]


@functools.lru_cache(maxsize=64)
def _prefix(policy: Policy) -> tuple[str, ...]:
    """bwrap and its arguments for `policy`: the same for every command of a profile."""
    binary = executable()
    if binary is None:
        raise FileNotFoundError("bwrap")
    return (binary, *policy_args(policy))


@functools.cache
def probe() -> str | None:
    """None if a sandbox can be made here; otherwise why not, in one line with the fix."""
    binary = executable()
    if binary is None:
        return f"bubblewrap is not installed; {INSTALL_HINT}"
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    policy = Policy(workspace=scratch, network=True)
    try:
        done = subprocess.run(
            [binary, *policy_args(policy), "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap cannot run ({exc}); {INSTALL_HINT}"
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        hint = ""
        if "ermission" in reason or "namespace" in reason:
            hint = (
                "; user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, "
                "or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)"
            )
        return f"bubblewrap cannot make a sandbox here ({reason}){hint}"
    return None
