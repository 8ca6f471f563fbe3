"""From a profile's `tools.sandbox` settings to a confined command: the one way the tools that
run commands or code (terminal, execute_code, and any later one) start a process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hermes.config.schema import SandboxConfig
from hermes.sandbox import Limits, Outcome, Policy, run
from hermes.sandbox.cgroups import group_name
from hermes.tools.base import ToolContext, child_env
from hermes.tools.errors import ToolError


def policy_for(ctx: ToolContext) -> Policy:
    """The sandbox of `ctx`'s profile: its workspace, nothing else of HERMES_HOME."""
    cfg: SandboxConfig = ctx.settings.sandbox
    extra = []
    for raw in cfg.read_only:
        path = Path(raw)
        if not path.is_absolute():
            raise ToolError(f"tools.sandbox.read_only: {raw!r} is not an absolute path")
        extra.append(path)
    lim = cfg.limits
    return Policy(
        workspace=ctx.workspace,
        hide=ctx.hide or (ctx.workspace.parent,),
        read_only=tuple(extra),
        network=cfg.network == "on",
        group=group_name(ctx.workspace.parent),
        limits=Limits(
            memory_mb=lim.memory_mb,
            processes=lim.processes,
            file_size_mb=lim.file_size_mb,
            open_files=lim.open_files,
            cpu_seconds=lim.cpu_seconds,
        ),
    )


def unavailable(ctx: ToolContext) -> str | None:
    """Why this profile's commands cannot run (sandbox on but impossible here), or None."""
    if ctx.settings.sandbox.mode == "off":
        return None
    from hermes.sandbox import bwrap

    problem = bwrap.probe()
    if problem is None:
        return None
    return (
        f"commands run only in a sandbox and none can be made on this machine: {problem}. "
        "An operator who accepts unconfined commands can set `tools.sandbox.mode: off`."
    )


async def run_command(
    ctx: ToolContext, argv: Sequence[str], *, timeout: float, output_limit: int
) -> Outcome:
    """Run `argv` in the profile's sandbox (or unconfined when the profile says so)."""
    if not ctx.workspace.is_dir():
        raise ToolError(f"the workspace {ctx.workspace} does not exist")
    problem = unavailable(ctx)
    if problem is not None:
        raise ToolError(problem)
    confined = policy_for(ctx)
    policy = None if ctx.settings.sandbox.mode == "off" else confined
    if policy is not None:
        policy.home.mkdir(exist_ok=True)
    return await run(
        argv,
        cwd=ctx.workspace,
        env=child_env(ctx),
        timeout=timeout,
        output_limit=output_limit,
        policy=policy,
        limits_of=(confined.limits, confined.group),  # unconfined commands keep their limits
    )


def describe_outcome(outcome: Outcome, *, seconds: float, what: str) -> str:
    """The model's view of a finished command: its output, why it ended, its exit code."""
    text = outcome.output
    if text and not text.endswith("\n"):
        text += "\n"
    if outcome.timed_out:
        text += f"[timed out after {seconds:g} s; {what} and its children were stopped]\n"
    if outcome.limit:
        text += f"[{outcome.limit}]\n"
    code = "unknown" if outcome.returncode is None else outcome.returncode
    return f"{text}[exit code {code}]"
