"""The execute_code tool: a Python program run in the profile's workspace, as the terminal tool
runs a command (own process group, timeout, capped output, no secrets in its environment)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path

from hermes.tools.base import ToolContext, tool
from hermes.tools.beneath import Tree
from hermes.tools.errors import ToolError
from hermes.tools.paths import resolve_in_workspace, workspace_root
from hermes.tools.sandboxing import describe_outcome, run_command, unavailable

__all__ = ["SCRATCH_DIR", "execute_code"]

SCRATCH_DIR = ".hermes"  # inside the workspace: where the program file lives while it runs
SHOWN_NAME = "<code>"  # how the program file is named in tracebacks


@tool(marker=lambda args: "🐍 python")
async def execute_code(ctx: ToolContext, code: str) -> str:
    """Run a Python 3 program in the workspace directory and return what it printed (stdout and
    stderr together) and its exit code. It runs in a fresh, isolated, unbuffered interpreter
    (`python -I -u`) with no stdin and no API keys in `os.environ`, in the same sandbox as the
    terminal tool (the workspace read-write, the system read-only); the workspace is not on
    `sys.path` (add `sys.path.insert(0, ".")` to import its modules). It is killed, with every
    process it started, when it exceeds the profile's time limit; long output is shortened to
    its beginning and end. Use `print` to see results.

    Args:
        code: the complete Python program, e.g. `import json; print(json.dumps({"a": 1}))`
    """
    settings = ctx.settings.execute_code
    problem = unavailable(ctx)
    if problem is not None:
        raise ToolError(problem)
    program, dirfd = _write_program(ctx, code)
    try:
        outcome = await run_command(
            ctx,
            [sys.executable, "-I", "-u", str(program)],
            timeout=settings.timeout,
            output_limit=settings.output_limit,
        )
    finally:
        with contextlib.suppress(OSError):
            os.unlink(program.name, dir_fd=dirfd)  # through the folder's handle, not its path
        os.close(dirfd)
    # The file is gone by now: name it as what it is, the model's code, not a path to open.
    outcome = dataclasses.replace(outcome, output=outcome.output.replace(str(program), SHOWN_NAME))
    return describe_outcome(outcome, seconds=settings.timeout, what="the program")


def _write_program(ctx: ToolContext, code: str) -> tuple[Path, int]:
    """The code in a private file under the workspace's scratch folder, so tracebacks carry
    line numbers and source lines, and the folder's handle to remove it by. `.hermes` is
    confined like any path a model names, and made and written beneath the workspace."""
    try:
        data = code.encode()
    except UnicodeEncodeError as exc:
        raise ToolError(f"the code is not valid Unicode text: {exc.reason}") from exc
    scratch = resolve_in_workspace(ctx.workspace, SCRATCH_DIR)
    name = f"code_{os.urandom(6).hex()}.py"
    try:
        with Tree(workspace_root(ctx.workspace)) as tree:
            tree.make_dirs(scratch)
            dirfd = tree.open(scratch, os.O_PATH | os.O_DIRECTORY)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with os.fdopen(os.open(name, flags, 0o600, dir_fd=dirfd), "wb") as fh:
                fh.write(data)
        except BaseException:
            os.close(dirfd)
            raise
    except OSError as exc:
        raise ToolError(f"cannot write the program to {SCRATCH_DIR}/: {exc.strerror}") from exc
    return scratch / name, dirfd
