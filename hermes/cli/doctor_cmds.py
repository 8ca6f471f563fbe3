"""`hermes doctor`: what this machine gives hermes' isolation, and what each profile's tools
get from it. Reads files only; needs no supervisor."""

from __future__ import annotations

import subprocess
from typing import Annotated, Any

import typer

from hermes.cli.output import echo, print_json, table
from hermes.cli.state import State

TOOLS_WITH_BWRAP = {True: "sandboxed", False: "refuse to run"}


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Check the tool sandbox (bubblewrap), gateway scoping (Landlock) and how limits are
    enforced here, then each profile's sandbox settings. Exit code 1 if a profile's tools
    would refuse to run."""
    state: State = ctx.obj
    report: dict[str, Any] = {"machine": _machine(), "profiles": _profiles(state)}
    broken = [p["name"] for p in report["profiles"] if p["tools"] == "refuse to run"]
    if as_json:
        print_json(report)
    else:
        _print(report)
    raise typer.Exit(1 if broken else 0)


def _machine() -> dict[str, Any]:
    from hermes.sandbox import bwrap, landlock, limits
    from hermes.sandbox.spec import Limits

    problem = bwrap.probe()
    binary = bwrap.executable()
    version = _version(binary) if binary else None
    abi = landlock.abi()
    scope = "signals, abstract sockets, ptrace" if abi >= 6 else "ptrace only (needs ABI 6)"
    return {
        "bubblewrap": {"ok": problem is None, "detail": problem or f"works ({version})"},
        "landlock": {"ok": abi >= 6, "detail": f"ABI {abi}: gateways scoped to {scope}"},
        "account": _account(),
        "limits": limits.describe(Limits()),
    }


def _account() -> dict[str, Any]:
    import os

    if os.geteuid() != 0:
        return {"ok": True, "detail": f"runs as uid {os.geteuid()}, not root"}
    return {
        "ok": False,
        "detail": "runs as root: a sandboxed command is the host's uid 0 without capabilities "
        "(sysctls read-only, root-only files covered); an unprivileged account is safer "
        "(`hermes systemd install --run-as USER`)",
    }


def _version(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "version unknown"
    return done.stdout.strip() or "version unknown"


def _profiles(state: State) -> list[dict[str, Any]]:
    from hermes.config.loader import load_config
    from hermes.errors import HermesError
    from hermes.sandbox import bwrap

    works = bwrap.probe() is None
    store = state.store
    names = [state.profile().name] if state.profile_name else store.names()
    out: list[dict[str, Any]] = []
    for name in names:
        profile = store.path(name)
        try:
            sandbox = load_config(profile.config_path).tools.sandbox
        except HermesError as exc:
            out.append({"name": name, "tools": "unknown", "error": exc.message})
            continue
        tools = "unconfined" if sandbox.mode == "off" else TOOLS_WITH_BWRAP[works]
        if sandbox.mode == "off" and not works:
            tools = "unconfined, with this account's access"  # no gateway view to hold them
        lim = sandbox.limits
        out.append(
            {
                "name": name,
                "mode": sandbox.mode,
                "tools": tools,
                "network": sandbox.network,
                "limits": {
                    "memory_mb": lim.memory_mb,
                    "processes": lim.processes,
                    "file_size_mb": lim.file_size_mb,
                    "open_files": lim.open_files,
                    "cpu_seconds": lim.cpu_seconds,
                },
                "read_only": list(sandbox.read_only),
            }
        )
    return out


def _print(report: dict[str, Any]) -> None:
    machine = report["machine"]
    echo("machine")
    for name in ("bubblewrap", "landlock", "account"):
        mark = "ok  " if machine[name]["ok"] else ("warn" if name == "account" else "MISS")
        echo(f"  {mark} {name:<11} {machine[name]['detail']}")
    limits = ", ".join(f"{k}: {v}" for k, v in machine["limits"].items())
    echo(f"       limits      {limits}")
    echo("")
    rows = []
    for p in report["profiles"]:
        if "error" in p:
            rows.append([p["name"], "-", p["tools"], "-", p["error"]])
            continue
        lim = p["limits"]
        summary = (
            f"{lim['memory_mb']} MiB, {lim['processes']} procs, {lim['file_size_mb']} MiB files, "
            f"{lim['open_files']} fds, {lim['cpu_seconds']} s CPU"
        )
        rows.append([p["name"], p["mode"], p["tools"], p["network"], summary])
    table(["PROFILE", "MODE", "TOOLS", "NETWORK", "LIMITS PER COMMAND"], rows)
