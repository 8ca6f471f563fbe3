"""execute_code against a real interpreter: output and exit codes, tracebacks with line numbers,
timeouts that kill the program's children too, no secrets, the workspace as cwd, and the program
file removed afterwards."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from hermes.config.schema import CodeToolConfig, SandboxConfig, ToolsConfig
from hermes.tools import ToolContext, ToolError, ToolRegistry
from hermes.tools.code import SCRATCH_DIR, execute_code
from tests.processes import marked, none_marked


def make_ctx(workspace: Path, mode: str = "bwrap", **code_settings: int) -> ToolContext:
    settings = dataclasses.replace(
        ToolsConfig(),
        execute_code=CodeToolConfig(**code_settings),
        sandbox=SandboxConfig(mode=mode),  # type: ignore[arg-type]
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(workspace), "LANG": "C.UTF-8"}
    return ToolContext(workspace, settings, "alice", frozenset(), env)


async def run(ctx: ToolContext, code: str) -> str:
    out = await execute_code(ctx, textwrap.dedent(code))
    assert isinstance(out, str)
    return out


def scratch_files(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / SCRATCH_DIR).iterdir())


async def test_output_and_exit_codes(ws: Path) -> None:
    ctx = make_ctx(ws)
    assert await run(ctx, "print('hi')") == "hi\n[exit code 0]"
    assert await run(ctx, "pass") == "[exit code 0]"
    out = await run(ctx, "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
    assert out == "out\nerr\n[exit code 3]"


async def test_traceback_shows_line_numbers_and_source(ws: Path) -> None:
    out = await run(
        make_ctx(ws),
        """\
        x = 1
        def f():
            raise ValueError("boom")
        f()
        """,
    )
    assert 'File "<code>", line 4, in <module>' in out
    assert 'File "<code>", line 3, in f' in out and 'raise ValueError("boom")' in out
    assert out.endswith("ValueError: boom\n[exit code 1]")
    assert scratch_files(ws) == []


async def test_runs_in_the_workspace_from_a_temp_file_removed_after(ws: Path) -> None:
    out = await run(
        make_ctx(ws),
        """\
        import os, sys
        print(os.getcwd())
        print(os.path.dirname(__file__) == os.path.join(os.getcwd(), ".hermes"))
        print(os.path.exists(__file__), sys.flags.isolated, sys.flags.safe_path)
        """,
    )
    assert out == f"{ws.resolve()}\nTrue\nTrue 1 True\n[exit code 0]"
    assert scratch_files(ws) == []


async def test_secrets_are_not_in_the_environment(ws: Path) -> None:
    ctx = make_ctx(ws)
    env = {**ctx.base_env, "OPENAI_API_KEY": "sk-leak-1", "API_SERVER_KEY": "leak-2", "DB": "l3"}
    ctx = dataclasses.replace(ctx, base_env=env, secret_names=frozenset({"DB"}))
    out = await run(ctx, "import os; print(sorted(os.environ.items()))")
    assert "leak" not in out and "l3" not in out
    assert "('HERMES_PROFILE', 'alice')" in out


async def test_timeout_stops_the_program_and_its_children(ws: Path, mode: str, marker: str) -> None:
    code = f"""\
        import subprocess, time
        child = subprocess.Popen(["sleep", "30.{marker}"])
        print("started")  # no flush: the interpreter is unbuffered
        time.sleep(30)
        """
    start = time.monotonic()
    out = await run(make_ctx(ws, mode, timeout=1), code)
    assert time.monotonic() - start < 5
    code_text = -signal.SIGTERM
    assert out == (
        "started\n[timed out after 1 s; the program and its children were stopped]\n"
        f"[exit code {code_text}]"
    )
    assert await none_marked(marker, within=5)
    assert scratch_files(ws) == []


async def test_output_is_capped(ws: Path) -> None:
    out = await run(make_ctx(ws, output_limit=100), "print('HEAD' + 'x' * 10000 + 'TAIL')")
    assert out.startswith("HEAD" + "x" * 46 + "\n[... 9909 bytes cut ...]\n")
    assert out.endswith("x" * 45 + "TAIL\n[exit code 0]")


async def test_scratch_folder_is_confined(
    ws: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (ws / SCRATCH_DIR).symlink_to(elsewhere)
    with pytest.raises(ToolError, match=r"refusing path outside the workspace: '\.hermes'"):
        await run(make_ctx(ws), "print('never')")
    assert list(elsewhere.iterdir()) == []


async def test_through_the_registry(ws: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    registry = ToolRegistry([execute_code])
    result = await registry.call("execute_code", json.dumps({"code": "print(6 * 7)"}), make_ctx(ws))
    assert result.ok and result.output == "42\n[exit code 0]"
    assert registry.marker("execute_code", json.dumps({"code": "import os"})) == "🐍 python"
    missing = await registry.call("execute_code", "{}", make_ctx(ws))
    assert not missing.ok and "missing required argument 'code'" in missing.output
    gone = tmp_path_factory.mktemp("x") / "missing"
    result = await registry.call("execute_code", '{"code": "1"}', make_ctx(gone))
    assert not result.ok and "does not exist" in result.output


async def test_cancellation_stops_the_program_and_removes_its_file(
    ws: Path, mode: str, marker: str
) -> None:
    code = f"""\
        import subprocess, time
        subprocess.Popen(["sleep", "30.{marker}"])
        time.sleep(30)
        """
    task = asyncio.create_task(run(make_ctx(ws, mode), code))
    deadline = time.monotonic() + 10
    while not marked(marker):
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await none_marked(marker, within=5)
    assert scratch_files(ws) == []
