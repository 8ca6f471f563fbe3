"""Per-command limits: a cgroup of its own for memory and processes where this process may make
one (cgroup v2, or the v1 `memory` and `pids` hierarchies), rlimits for the rest.

Without a cgroup, memory falls back to an address-space rlimit, which is not the same thing
(a program's virtual size is far above what it uses; some runtimes reserve gigabytes and fail
under it), and processes to RLIMIT_NPROC, which counts every process of the user and does not
apply to root. `describe()` says which is in force, so status pages never pretend."""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import logging
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hermes.sandbox.spec import Limits

log = logging.getLogger("hermes.sandbox")

MIB = 1024 * 1024
BASE_NAME = "hermes-sandbox"
CPU_GRACE = 5  # seconds between SIGXCPU (soft limit) and SIGKILL (hard limit)
_counter = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where one controller's per-command cgroups are made."""

    controller: str  # "memory" or "pids"
    base: Path  # <this process's cgroup>/hermes-sandbox
    v2: bool


@functools.cache
def hierarchies() -> dict[str, Hierarchy]:
    """The controllers this process can use for its commands, found once."""
    found: dict[str, Hierarchy] = {}
    for controller in ("memory", "pids"):
        try:
            place = _find(controller)
        except OSError as exc:
            log.debug("no %s cgroup: %s", controller, exc)
            continue
        if place is not None:
            found[controller] = place
    return found


def describe(limits: Limits) -> dict[str, str]:
    """How each limit is enforced on this machine, e.g. {"memory": "cgroup (v1)"}."""
    have = hierarchies()
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
    """One command's cgroups and rlimits: made before the spawn, applied in the child between
    fork and exec (`preexec`), read for a verdict after, removed at the end."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.groups: dict[str, Path] = {}
        self._procs_fds: list[int] = []
        self._rlimits: list[tuple[int, tuple[int, int]]] = []

    def prepare(self) -> None:
        name = f"cmd-{os.getpid()}-{next(_counter)}"
        have = hierarchies()
        wanted = {"memory": self.limits.memory_mb, "pids": self.limits.processes}
        for controller, value in wanted.items():
            place = have.get(controller)
            if value is None or place is None:
                continue
            group = place.base / name
            try:
                group.mkdir()
                _write_limit(place, group, value)
                self._procs_fds.append(os.open(group / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
            except OSError as exc:
                log.warning("cannot make a %s cgroup for a command: %s", controller, exc)
                _rmdir(group)
                continue
            self.groups[controller] = group
        self._rlimits = _rlimits(self.limits, cgroups=set(self.groups))

    def preexec(self) -> Callable[[], None]:
        fds, rlimits = tuple(self._procs_fds), tuple(self._rlimits)

        def apply() -> None:  # runs in the child: no allocation-heavy Python here
            for fd in fds:
                os.write(fd, b"0")
            for which, value in rlimits:
                resource.setrlimit(which, value)

        return apply

    def after_spawn(self) -> None:
        for fd in self._procs_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._procs_fds.clear()

    def verdict(self, returncode: int | None, output: str) -> str | None:
        """Which limit the command ran into, as a note for the model, or None."""
        lim = self.limits
        memory = self.groups.get("memory")
        if memory is not None and _counter_of(memory, "oom_kill") > 0:
            return _note("killed: over the memory limit", f"{lim.memory_mb} MiB", "memory_mb")
        pids = self.groups.get("pids")
        if pids is not None and _counter_of(pids, "max", events="pids.events") > 0:
            return _note(
                "a new process was refused: over the limit",
                f"{lim.processes} processes",
                "processes",
            )
        return _from_exit(lim, returncode, output)

    def cleanup(self) -> None:
        self.after_spawn()
        for group in self.groups.values():
            _rmdir(group)
        self.groups.clear()


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


def _write_limit(place: Hierarchy, group: Path, value: int) -> None:
    if place.controller == "pids":
        (group / "pids.max").write_text(str(value))
        return
    limit = str(value * MIB)
    if place.v2:
        (group / "memory.max").write_text(limit)
        with contextlib.suppress(OSError):  # no swap accounting: nothing to close
            (group / "memory.swap.max").write_text("0")
        return
    (group / "memory.limit_in_bytes").write_text(limit)
    with contextlib.suppress(OSError):  # memsw exists only with swap accounting
        (group / "memory.memsw.limit_in_bytes").write_text(limit)


def _counter_of(group: Path, key: str, *, events: str | None = None) -> int:
    names = [events] if events else ["memory.events", "memory.oom_control"]
    for name in names:
        try:
            text = (group / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
                return int(parts[1])
    return 0


def _rmdir(group: Path) -> None:
    try:
        group.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno == errno.EBUSY:  # a process not yet reaped; swept at the next start
            log.debug("cgroup %s still busy", group)


def sweep() -> None:
    """Remove command cgroups left behind by this process or by dead ones."""
    for place in hierarchies().values():
        with contextlib.suppress(OSError):
            for entry in place.base.iterdir():
                pid = entry.name.split("-")[1] if entry.name.startswith("cmd-") else ""
                if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
                    _rmdir(entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- finding this process's cgroup -------------------------------------------------------------


def _find(controller: str) -> Hierarchy | None:
    mounts = _cgroup_mounts()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            mount = mounts.get("cgroup2")
            if mount is None:
                continue
            here = mount / path.lstrip("/")
            if controller in _words(here / "cgroup.controllers") and _enable_v2(here, controller):
                return _ready(controller, here, v2=True)
        elif controller in controllers.split(","):
            mount = mounts.get(controller)
            if mount is not None:
                return _ready(controller, mount / path.lstrip("/"), v2=False)
    return None


def _enable_v2(here: Path, controller: str) -> bool:
    """cgroup v2 lets a cgroup's children use a controller only once it is in the parent's
    subtree_control, which cannot be set on a non-root cgroup that holds processes."""
    if controller in _words(here / "cgroup.subtree_control"):
        return True
    try:
        (here / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:
        return False
    return True


def _ready(controller: str, here: Path, *, v2: bool) -> Hierarchy | None:
    base = here / BASE_NAME
    try:
        base.mkdir(exist_ok=True)
    except OSError:
        return None
    if v2 and controller not in _words(base / "cgroup.subtree_control"):
        with contextlib.suppress(OSError):
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
        if controller not in _words(base / "cgroup.subtree_control"):
            return None
    if not os.access(base, os.W_OK):
        return None
    return Hierarchy(controller, base, v2)


def _cgroup_mounts() -> dict[str, Path]:
    """Mount points by controller name ("cgroup2" for the unified hierarchy)."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        point = Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            found.setdefault("cgroup2", point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                found.setdefault(option, point)
    return found


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()
