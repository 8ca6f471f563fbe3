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
import hashlib
import logging
import os
import resource
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from hermes.sandbox.spec import Limits

log = logging.getLogger("hermes.sandbox")

MIB = 1024 * 1024
BASE_NAME = "hermes-sandbox"
CPU_GRACE = 5  # seconds between SIGXCPU (soft limit) and SIGKILL (hard limit)
_pending: set[Path] = set()  # command cgroups still busy when their command ended
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


@functools.cache
def usable(group: str) -> dict[str, Hierarchy]:
    """The hierarchies in which this process can make command cgroups for `group` (a
    profile): <base>/<group> exists, or is made now, and is writable. A confined gateway sees
    only its own group's directory writable."""
    found: dict[str, Hierarchy] = {}
    for controller, place in hierarchies().items():
        mine = place.base / group
        try:
            mine.mkdir(exist_ok=True)
        except OSError:
            continue
        if place.v2 and controller not in _words(mine / "cgroup.subtree_control"):
            with contextlib.suppress(OSError):
                (mine / "cgroup.subtree_control").write_text(f"+{controller}")
            if controller not in _words(mine / "cgroup.subtree_control"):
                continue
        if os.access(mine, os.W_OK):
            found[controller] = place
    return found


def group_name(owner: Path) -> str:
    """The cgroup group of a profile: its name and a digest of its directory, so that the
    profiles of two HERMES_HOMEs on one machine never share their commands' cgroups."""
    digest = hashlib.sha256(str(owner.resolve()).encode()).hexdigest()[:10]
    return f"{owner.name}-{digest}"


def prepare_group(group: str) -> None:
    """Make `group`'s cgroup directories while this process still may (before confinement)."""
    usable(group)


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
                _write_limit(place, group, value)
            except OSError as exc:
                log.warning("cannot make a %s cgroup for a command: %s", controller, exc)
                _rmdir(group)
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
        if memory is not None and killed and _counter_of(memory, "oom_kill") > 0:
            return _note("killed: over the memory limit", f"{lim.memory_mb} MiB", "memory_mb")
        pids = self.groups.get("pids")
        if pids is not None and _counter_of(pids, "max", events="pids.events") > 0:
            return _note(
                "a new process was refused: over the limit",
                f"{lim.processes} processes",
                "processes",
            )
        return _from_exit(lim, returncode, output)

    def cleanup(self) -> bool:
        """Remove the command's cgroups; False if one was still busy (retry later)."""
        for group in self.groups.values():
            if not _rmdir(group):
                _pending.add(group)
        self.groups.clear()
        return not _pending


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


def _rmdir(group: Path) -> bool:
    """True once `group` is gone. A cgroup whose last process is still being torn down is
    busy for a moment: it is removed at the next command (or by `sweep` at the next start)."""
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            log.warning("cannot remove cgroup %s: %s", group, exc.strerror)
            return True  # not ours to retry
        return False
    return True


def retry_removals() -> None:
    for group in list(_pending):
        if _rmdir(group):
            _pending.discard(group)


def _ulimit_value(value: int, unit: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value // unit)


def sweep(group: str) -> None:
    """Remove the command cgroups of `group` a previous gateway left behind (one killed while
    its commands ran); called when a gateway starts. A busy one stays (rmdir refuses it)."""
    for place in usable(group).values():
        with contextlib.suppress(OSError):
            for entry in (place.base / group).iterdir():
                if entry.name.startswith("cmd-") and entry.is_dir():
                    _rmdir(entry)


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
    with contextlib.suppress(OSError):  # inside a confined gateway it exists, read-only
        base.mkdir(exist_ok=True)
    if not base.is_dir():
        return None
    if v2 and controller not in _words(base / "cgroup.subtree_control"):
        with contextlib.suppress(OSError):
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
        if controller not in _words(base / "cgroup.subtree_control"):
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
