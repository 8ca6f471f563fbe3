"""What a sandbox is asked for: which host paths it sees, whether it has a network, its limits.

Plain data, no knowledge of profiles or config files: the tools layer turns a profile's
`tools.sandbox` settings into a Policy, the gateway turns its profile into a GatewayView."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-command limits; None leaves one unset. Memory and processes are enforced by a cgroup
    where one can be made, otherwise by rlimits (see limits.py for what that means)."""

    memory_mb: int | None = 2048
    processes: int | None = 512
    file_size_mb: int | None = 1024
    open_files: int | None = 1024
    cpu_seconds: int | None = 600


@dataclass(frozen=True, slots=True)
class Policy:
    """One confined command's world.

    Inside it sees `workspace` read-write (its working directory, HOME under it), a private
    /tmp, its own /proc (only its own processes), the system read-only as an unprivileged user
    sees it, the Python that runs hermes, `read_only` extras, and nothing of `hide` except the
    workspace: `hide` is typically HERMES_HOME, covered by an empty tmpfs first."""

    workspace: Path
    hide: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()
    network: bool = True
    limits: Limits = field(default_factory=Limits)
    home_name: str = ".home"  # HOME = workspace / home_name, so pip --user and caches persist
    group: str = "tools"  # whose commands these are (a profile): their cgroups are grouped by it

    @property
    def home(self) -> Path:
        return self.workspace / self.home_name
