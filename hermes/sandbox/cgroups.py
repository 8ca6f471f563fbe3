"""Where a command's cgroups are made: this process's own cgroup (cgroup v2, or the v1 `memory`
and `pids` hierarchies), a `hermes-sandbox` folder under it, a folder per profile under that
(its name and a digest of its directory), and one cgroup per command, made and removed here."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("hermes.sandbox")

MIB = 1024 * 1024
BASE_NAME = "hermes-sandbox"
BASES_ENV = "HERMES_CGROUP_BASES"  # set by the confining stage: where the commands' cgroups are
_pending: set[Path] = set()  # command cgroups still busy when their command ended


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Where one controller's per-command cgroups are made."""

    controller: str  # "memory" or "pids"
    base: Path  # <this process's cgroup>/hermes-sandbox
    v2: bool


@functools.cache
def hierarchies() -> dict[str, Hierarchy]:
    """The controllers this process can use for its commands, found once: as the confining
    stage handed them down (a confined gateway sees no cgroup tree to find them in), or in
    this process's own cgroups."""
    handed = os.environ.get(BASES_ENV)
    if handed is not None:
        return _parse_bases(handed)
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


def write_limit(place: Hierarchy, group: Path, value: int) -> None:
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


def counter_of(group: Path, key: str, *, events: str | None = None) -> int:
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


def rmdir(group: Path) -> bool:
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


def remove(group: Path) -> bool:
    """Remove a command's cgroup; if it is still busy, it is retried later. False then."""
    if rmdir(group):
        return True
    _pending.add(group)
    return False


def pending() -> bool:
    return bool(_pending)


def retry_removals() -> None:
    for group in list(_pending):
        if rmdir(group):
            _pending.discard(group)


def sweep(group: str) -> None:
    """Remove the command cgroups of `group` a previous gateway left behind (one killed while
    its commands ran); called when a gateway starts. A busy one stays (rmdir refuses it)."""
    for place in usable(group).values():
        with contextlib.suppress(OSError):
            for entry in (place.base / group).iterdir():
                if entry.name.startswith("cmd-") and entry.is_dir():
                    rmdir(entry)


def bases_env() -> str:
    """hierarchies() as the value of BASES_ENV, for the confined gateway."""
    return ",".join(
        f"{c}={'v2' if h.v2 else 'v1'}:{h.base}" for c, h in sorted(hierarchies().items())
    )


def _parse_bases(text: str) -> dict[str, Hierarchy]:
    found: dict[str, Hierarchy] = {}
    for item in filter(None, text.split(",")):
        controller, _, rest = item.partition("=")
        version, _, base = rest.partition(":")
        if controller in ("memory", "pids") and version in ("v1", "v2") and base:
            found[controller] = Hierarchy(controller, Path(base), version == "v2")
    return found


def enter_own(group: str) -> list[str]:
    """Move this process into a cgroup of its own, <its cgroup>/hermes-gateways/<group>, in
    every hierarchy where it may (best effort; nothing changes where it may not), before
    anything is started or confined. Why: a process that can make a user namespace (a
    gateway must, for its tools' sandboxes) can mount a cgroup hierarchy in a cgroup namespace
    of its own, rooted at its cgroup, and write its files; rooted at a cgroup of its own, that
    reaches nothing but itself and its commands, never the supervisor or another gateway.
    Returns the hierarchies it moved in, for the log."""
    moved: list[str] = []
    mounts = _cgroup_mounts()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        key = "cgroup2" if hid == "0" and controllers == "" else controllers.split(",")[0]
        mount = mounts.get(key)
        if mount is None:
            continue
        own = mount / path.lstrip("/") / "hermes-gateways" / group
        if Path(path).parts[-2:] == ("hermes-gateways", group):
            continue  # already there (a restart in place)
        try:
            _fresh(own)
            if key == "cpuset":  # a v1 cpuset takes no task before it has cpus and mems
                _inherit_cpuset(mount / path.lstrip("/"), [own.parent, own])
            (own / "cgroup.procs").write_text("0")
        except OSError as exc:
            log.warning("gateway left in its %s cgroup: %s", key, exc.strerror or exc)
            continue
        moved.append(key)
    hierarchies.cache_clear()
    usable.cache_clear()
    return moved


def _inherit_cpuset(source: Path, nodes: list[Path]) -> None:
    for node in nodes:
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not (node / name).read_text().strip():
                (node / name).write_text((source / name).read_text())


def _fresh(own: Path) -> None:
    """`own` made anew where it is empty, so nothing a previous gateway set on it (a limit,
    a frozen state) carries over; kept (with its cgroups) where something still runs."""
    if own.is_dir():
        for child in sorted(own.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if child.is_dir():
                rmdir(child)
        rmdir(own)
    own.mkdir(parents=True, exist_ok=True)


def thaw(owner: Path) -> None:
    """Thaw the gateway of profile directory `owner` (v1 freezer, v2 cgroup.freeze), so a
    gateway that froze itself can still be stopped: a frozen process ignores even SIGKILL."""
    group = group_name(owner)
    mounts = _cgroup_mounts()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        v2 = hid == "0" and controllers == ""
        if not v2 and "freezer" not in controllers.split(","):
            continue
        mount = mounts.get("cgroup2" if v2 else "freezer")
        if mount is None:
            continue
        own = mount / path.lstrip("/") / "hermes-gateways" / group
        for node in [own, *own.rglob("*")] if own.is_dir() else []:
            name, value = ("cgroup.freeze", "0") if v2 else ("freezer.state", "THAWED")
            with contextlib.suppress(OSError):
                (node / name).write_text(value)


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
