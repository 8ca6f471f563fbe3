"""Per-command limits: a cgroup of its own for memory and processes where this process may make
one (cgroup v2, or the v1 `memory` and `pids` hierarchies), rlimits for the rest.

Without a cgroup, memory falls back to an address-space rlimit, which is not the same thing
(a program's virtual size is far above what it uses; some runtimes reserve gigabytes and fail
under it), and processes to RLIMIT_NPROC, which counts every process of the user and does not
apply to root. `describe()` says which is in force, so status pages never pretend."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import secrets
import shlex
from pathlib import Path

from hermes.sandbox.cgroups import (
    MIB,
    counter_of,
    hierarchies,
    pending,
    remove,
    retry_removals,
    rmdir,
    usable,
    write_limit,
)
from hermes.sandbox.spec import Limits

log = logging.getLogger("hermes.sandbox")

CPU_GRACE = 5  # seconds between SIGXCPU (soft limit) and SIGKILL (hard limit)
# rlimit -> (POSIX sh `ulimit` flag, unit in bytes or 1): what /bin/sh (dash, or bash in POSIX
# mode) takes; its -f and -c count 512-byte blocks, -v KiB.
_ULIMIT = {
    resource.RLIMIT_CORE: ("c", 512),
    resource.RLIMIT_FSIZE: ("f", 512),
    resource.RLIMIT_NOFILE: ("n", 1),
    resource.RLIMIT_CPU: ("t", 1),
    resource.RLIMIT_AS: ("v", 1024),
    resource.RLIMIT_NPROC: ("u", 1),
}


def describe(limits: Limits) -> dict[str, str]:
    """How each limit is enforced on this machine, e.g. {"memory": "cgroup (v1)"}."""
    have = {c: p for c, p in hierarchies().items() if os.access(p.base, os.W_OK)}
    root = os.geteuid() == 0

    def by_cgroup(controller: str, fallback: str) -> str:
        place = have.get(controller)
        return f"cgroup ({'v2' if place.v2 else 'v1'})" if place else fallback

    return {
        "memory": by_cgroup("memory", "address-space rlimit (virtual size, not memory use)"),
        "processes": by_cgroup(
            "pids", "not enforced (root ignores RLIMIT_NPROC)" if root else "RLIMIT_NPROC"
        ),
        "file_size": "rlimit",
        "open_files": "rlimit",
        "cpu_seconds": "rlimit (per process)",
    }


class CommandLimits:
    """One command's cgroups and rlimits: made before the spawn, entered by a small /bin/sh
    launcher that then executes the command (`launcher()`), read for a verdict after, removed
    at the end. A launcher rather than a preexec function: Python can then spawn with vfork,
    about 0.3 ms, instead of forking the whole gateway, about 4 ms."""

    def __init__(self, limits: Limits, group: str) -> None:
        self.limits = limits
        self.group = group  # the profile: its commands' cgroups live under <base>/<group>/
        self.groups: dict[str, Path] = {}
        self._rlimits: list[tuple[int, tuple[int, int]]] = []

    def prepare(self) -> None:
        retry_removals()
        name = f"cmd-{secrets.token_hex(6)}"
        have = usable(self.group)
        wanted = {"memory": self.limits.memory_mb, "pids": self.limits.processes}
        for controller, value in wanted.items():
            place = have.get(controller)
            if value is None or place is None:
                continue
            group = place.base / self.group / name
            try:
                group.mkdir()
                write_limit(place, group, value)
            except OSError as exc:
                log.warning("cannot make a %s cgroup for a command: %s", controller, exc)
                rmdir(group)
                continue
            self.groups[controller] = group
        self._rlimits = _rlimits(self.limits, cgroups=set(self.groups))

    def launcher(self) -> list[str]:
        """argv to put before the command: joins the cgroups, sets the rlimits, execs it."""
        steps = [f"echo 0 > {shlex.quote(str(g / 'cgroup.procs'))}" for g in self.groups.values()]
        for which, (soft, hard) in self._rlimits:
            flag, unit = _ULIMIT[which]
            low, high = _ulimit_value(soft, unit), _ulimit_value(hard, unit)
            if low == high:
                steps.append(f"ulimit -{flag} {low}")
            else:  # soft first: a hard limit below the current soft one is refused
                steps += [f"ulimit -S -{flag} {low}", f"ulimit -H -{flag} {high}"]
        script = " && ".join([*steps, 'exec "$@"'])
        script += "; echo 'hermes: the sandbox limits could not be applied' >&2; exit 125"
        return ["/bin/sh", "-c", script, "hermes-limits"]

    def verdict(self, returncode: int | None, output: str) -> str | None:
        """Which limit the command ran into, as a note for the model, or None."""
        lim = self.limits
        memory = self.groups.get("memory")
        killed = returncode in (-9, 128 + 9)  # the OOM killer's SIGKILL, as bwrap reports it
        if memory is not None and killed and counter_of(memory, "oom_kill") > 0:
            return _note("killed: over the memory limit", f"{lim.memory_mb} MiB", "memory_mb")
        pids = self.groups.get("pids")
        if pids is not None and counter_of(pids, "max", events="pids.events") > 0:
            return _note(
                "a new process was refused: over the limit",
                f"{lim.processes} processes",
                "processes",
            )
        return _from_exit(lim, returncode, output)

    def cleanup(self) -> bool:
        """Remove the command's cgroups; False if one was still busy (retry later)."""
        for group in self.groups.values():
            remove(group)
        self.groups.clear()
        return not pending()


def _note(what: str, limit: str, key: str) -> str:
    return f"{what} of {limit} (tools.sandbox.limits.{key})"


def _from_exit(lim: Limits, returncode: int | None, output: str) -> str | None:
    """The limits the kernel enforces by signal (CPU: SIGXCPU, file size: SIGXFSZ, which a
    shell reports as 128 + the signal) or by an error the program prints."""
    by_signal = {152: "cpu", -24: "cpu", 153: "file", -25: "file"}.get(returncode or 0)
    if by_signal == "cpu" or "CPU time limit exceeded" in output:
        return _note("stopped: over the CPU time limit", f"{lim.cpu_seconds} s", "cpu_seconds")
    if by_signal == "file" or "File too large" in output or "File size limit" in output:
        return _note(
            "a write was refused: over the file size limit",
            f"{lim.file_size_mb} MiB",
            "file_size_mb",
        )
    if "Too many open files" in output:
        return _note("over the open files limit", str(lim.open_files), "open_files")
    return None


def _rlimits(lim: Limits, *, cgroups: set[str]) -> list[tuple[int, tuple[int, int]]]:
    out: list[tuple[int, tuple[int, int]]] = [(resource.RLIMIT_CORE, (0, 0))]

    def cap(which: int, soft: int, hard: int | None = None) -> None:
        _, current = resource.getrlimit(which)
        high = soft if hard is None else hard
        if current != resource.RLIM_INFINITY:
            soft, high = min(soft, current), min(high, current)
        out.append((which, (soft, high)))

    if lim.file_size_mb is not None:
        cap(resource.RLIMIT_FSIZE, lim.file_size_mb * MIB)
    if lim.open_files is not None:
        cap(resource.RLIMIT_NOFILE, lim.open_files)
    if lim.cpu_seconds is not None:
        cap(resource.RLIMIT_CPU, lim.cpu_seconds, lim.cpu_seconds + CPU_GRACE)
    if lim.memory_mb is not None and "memory" not in cgroups:
        cap(resource.RLIMIT_AS, lim.memory_mb * MIB)
    if lim.processes is not None and "pids" not in cgroups and os.geteuid() != 0:
        # RLIMIT_NPROC counts all of this user's processes, so allow the ones already running.
        cap(resource.RLIMIT_NPROC, lim.processes + _user_processes())
    return out


def _user_processes() -> int:
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count


def _ulimit_value(value: int, unit: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value // unit)
