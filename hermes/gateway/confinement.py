"""What confines this gateway and its tools, decided once at start: the gateway re-executes
itself inside its own view of the machine (hermes.sandbox.confine), and the profile's tools
either get a sandbox, run unconfined because the profile says so, or refuse to run."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from hermes.config.schema import Config
from hermes.errors import HermesError
from hermes.procutil import die_with_parent, die_with_supervisor, make_undumpable
from hermes.profiles import Profile, ProfileStore

log = logging.getLogger("hermes.gateway")


@dataclass(frozen=True, slots=True)
class Confinement:
    confined: bool  # inside its own mount namespace
    detail: str  # for the log: what holds and what does not


@dataclass(frozen=True, slots=True)
class ToolsSandbox:
    state: str  # bwrap | off | unavailable (the `sandbox=` mark of the ready line)
    warning: str | None  # said once in the log when the tools are not sandboxed


def confine(
    store: ProfileStore,
    profile: Profile,
    env: dict[str, str],
    *,
    host: str | None,
    port: int | None,
) -> Confinement:
    """Runs twice per start: outside, it re-executes this gateway inside its own view of the
    machine and returns only if that cannot be done; inside, it ties the process to its bwrap
    parent. Then, either way: not dumpable, and a Landlock scope."""
    from hermes.sandbox import confine as view
    from hermes.sandbox import landlock, seccomp

    supervisor = env.get("HERMES_SUPERVISOR_PID", "")
    holder = view.confined_by(env)
    if holder is None:
        if supervisor.isdigit():  # bwrap holds nothing: it may die at once with its supervisor
            die_with_parent(int(supervisor), signal.SIGKILL)
        argv = [sys.executable, "-P", "-m", "hermes.gateway", "--profile", profile.name]
        argv += [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
        reason = view.exec_confined(
            argv,
            profile_root=profile.root.resolve(),
            hide=store.home.resolve(),
            environ=env,
            tools_sandboxed=_tools_sandboxed(profile),
        )
        die_with_supervisor(supervisor)
        status = f"not confined to its profile ({reason})"
        log.warning("this gateway runs %s", status)
    else:  # its PID namespace ends, with it, when bwrap dies (--die-with-parent)
        status = "confined to its profile (bubblewrap: own mount, PID and user namespaces)"
        if not _sees_only(store, profile):
            holder = None
            status = "not confined: HERMES_CONFINED_BY is set, yet other profiles are visible"
            log.warning("this gateway is %s", status)
    make_undumpable()
    if not seccomp.own_session_keyring():
        log.warning("could not join a session keyring of its own")
    return Confinement(holder is not None, f"{status}; {landlock.restrict_scopes()}")


def _tools_sandboxed(profile: Profile) -> bool:
    """Whether this profile's tools need bubblewrap, so the gateway must be able to make user
    namespaces (a broken config.yaml is reported by the gateway itself: assume they do)."""
    from hermes.config.loader import load_config

    try:
        config = load_config(profile.config_path, cache=profile.config_cache_path)
    except HermesError:
        return True
    return config.tools.sandbox.mode != "off"


def _sees_only(store: ProfileStore, profile: Profile) -> bool:
    """What confinement promises, checked from inside: of HERMES_HOME, this process sees its
    own profile's directory and nothing else (no other profile, no run/)."""
    try:
        top = {p.name for p in store.home.iterdir()}
        profiles = {p.name for p in store.profiles_dir.iterdir()}
    except OSError:
        return False
    return top == {store.profiles_dir.name} and profiles == {profile.name}


def tools_sandbox(config: Config, root: Path) -> ToolsSandbox:
    if config.tools.sandbox.mode == "off":
        return ToolsSandbox(
            "off",
            "tools.sandbox.mode is off: terminal and execute_code run unconfined, with this "
            "gateway's access to the machine",
        )
    from hermes.sandbox import bwrap

    problem = bwrap.probe()
    if problem is not None:
        return ToolsSandbox(
            "unavailable", f"terminal and execute_code will refuse to run: {problem}"
        )
    from hermes.sandbox import cgroups

    cgroups.sweep(cgroups.group_name(root))  # command cgroups a killed gateway left behind
    return ToolsSandbox("bwrap", None)
