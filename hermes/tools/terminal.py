"""The terminal tool: one bash command in the profile's workspace, inside its sandbox."""

from __future__ import annotations

from typing import Any

from hermes.tools.base import ToolContext, tool
from hermes.tools.sandboxing import describe_outcome, run_command


def _marker(args: dict[str, Any]) -> str:
    return f"💻 {args.get('command', '')}"


@tool(marker=_marker)
async def terminal(ctx: ToolContext, command: str, timeout: int | None = None) -> str:
    """Run a bash command in the workspace directory and return its combined stdout and stderr
    and its exit code.

    The command runs non-interactively (stdin is empty) in a sandbox that sees the workspace
    (read-write, also HOME) and the system (read-only), and must finish on its own; any process
    it leaves running in the background is stopped when it ends. Long output is shortened to
    its beginning and end.

    Args:
        command: the bash command line, e.g. `ls -la` or `python3 script.py`
        timeout: seconds before the command is stopped (default and maximum set by the profile)
    """
    settings = ctx.settings.terminal
    seconds = settings.timeout if timeout is None else timeout
    seconds = max(1, min(seconds, settings.max_timeout))
    # `bash -c`, never a login shell: the host user's profile files are not the agent's.
    outcome = await run_command(
        ctx, ["bash", "-c", command], timeout=seconds, output_limit=settings.output_limit
    )
    return describe_outcome(outcome, seconds=seconds, what="the command")
