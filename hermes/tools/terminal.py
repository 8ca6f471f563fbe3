"""The terminal tool: one bash command in the profile's workspace."""

from __future__ import annotations

from typing import Any

from hermes.tools.base import ToolContext, child_env, tool
from hermes.tools.errors import ToolError
from hermes.tools.process import run_process


def _marker(args: dict[str, Any]) -> str:
    return f"💻 {args.get('command', '')}"


@tool(marker=_marker)
async def terminal(ctx: ToolContext, command: str, timeout: int | None = None) -> str:
    """Run a bash command in the workspace directory and return its combined stdout and stderr
    and its exit code.

    The command runs non-interactively (stdin is empty) and must finish on its own; any process
    it leaves running in the background is killed when it ends. Long output is shortened to its
    beginning and end.

    Args:
        command: the bash command line, e.g. `ls -la` or `python3 script.py`
        timeout: seconds before the command is killed (default and maximum set by the profile)
    """
    settings = ctx.settings.terminal
    seconds = settings.timeout if timeout is None else timeout
    seconds = max(1, min(seconds, settings.max_timeout))
    if not ctx.workspace.is_dir():
        raise ToolError(f"the workspace {ctx.workspace} does not exist")
    outcome = await run_process(
        ["bash", "-lc", command],
        cwd=ctx.workspace,
        env=child_env(ctx),
        timeout=seconds,
        output_limit=settings.output_limit,
    )
    text = outcome.output
    if text and not text.endswith("\n"):
        text += "\n"
    if outcome.timed_out:
        text += f"[timed out after {seconds} s; the command and its children were killed]\n"
    code = "unknown" if outcome.returncode is None else outcome.returncode
    return f"{text}[exit code {code}]"
