"""How a tool's process is confined: bubblewrap namespaces and mounts, cgroup and rlimit limits,
and (for gateways) a Landlock domain. Knows nothing of HTTP or of profiles' files: only a
Policy saying what to mount, whether there is a network, and which limits apply."""

from __future__ import annotations

from hermes.sandbox.run import CappedOutput, Outcome, run
from hermes.sandbox.spec import Limits, Policy

__all__ = ["CappedOutput", "Limits", "Outcome", "Policy", "run"]
