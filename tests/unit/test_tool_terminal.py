"""The terminal tool against real bash: workspace, exit codes, merged output, timeouts and
cancellation that kill the whole process group, the output cap, and no secrets in the child."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes.config.schema import TerminalToolConfig, ToolsConfig
from hermes.tools import ToolContext, ToolRegistry, default_tools
from hermes.tools.terminal import terminal

# Records each command writes so teardown can kill whatever a failed test left behind.
PID_FILES = ("pid", "bgpid")
SPAWN = "echo $$ > pid; sleep 30 & echo $! > bgpid; echo started; wait"


def make_ctx(workspace: Path, **terminal_settings: int) -> ToolContext:
    settings = dataclasses.replace(ToolsConfig(), terminal=TerminalToolConfig(**terminal_settings))
    env = {"PATH": os.environ["PATH"], "HOME": str(workspace), "LANG": "C.UTF-8"}
    return ToolContext(workspace, settings, "alice", frozenset(), env)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for name in PID_FILES:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((tmp_path / name).read_text()), signal.SIGKILL)


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for a reaper counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def gone(*pids: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def pids(ws: Path) -> list[int]:
    return [int((ws / name).read_text()) for name in PID_FILES]


async def run(ctx: ToolContext, command: str, timeout: int | None = None) -> str:
    out = await terminal(ctx, command, timeout)
    assert isinstance(out, str)
    return out


async def test_runs_in_the_workspace_and_reports_exit_code(ws: Path) -> None:
    out = await run(make_ctx(ws), "pwd -P; echo $PWD; echo oops >&2; exit 3")
    assert out == f"{ws.resolve()}\n{ws}\noops\n[exit code 3]"


async def test_empty_output_and_invalid_utf8(ws: Path) -> None:
    assert await run(make_ctx(ws), "true") == "[exit code 0]"
    assert await run(make_ctx(ws), r"printf '\xff ok'") == "\ufffd ok\n[exit code 0]"


async def test_timeout_kills_the_whole_group(ws: Path) -> None:
    start = time.monotonic()
    out = await run(make_ctx(ws), SPAWN, timeout=1)
    assert time.monotonic() - start < 3
    assert out.startswith("started\n[timed out after 1 s")
    assert out.endswith(f"[exit code {-signal.SIGKILL}]")
    assert await gone(*pids(ws))


async def test_timeout_defaults_to_settings_and_is_capped(ws: Path) -> None:
    assert "timed out after 1 s" in await run(make_ctx(ws, timeout=1), "sleep 10")
    assert "timed out after 1 s" in await run(make_ctx(ws, max_timeout=1), "sleep 10", 600)


async def test_background_children_do_not_hold_the_call(ws: Path) -> None:
    start = time.monotonic()
    out = await run(make_ctx(ws), "sleep 30 & echo $! > bgpid; echo done")
    assert out == "done\n[exit code 0]"
    assert time.monotonic() - start < 3
    assert await gone(int((ws / "bgpid").read_text()))


async def test_output_is_capped_head_and_tail(ws: Path) -> None:
    command = r"printf HEAD; head -c 10000 /dev/zero | tr '\0' x; printf TAIL"
    out = await run(make_ctx(ws, output_limit=100), command)
    assert out.startswith("HEAD" + "x" * 46 + "\n[... 9908 bytes cut ...]\n")
    assert out.endswith("x" * 46 + "TAIL\n[exit code 0]")


async def test_secrets_never_reach_the_command(ws: Path) -> None:
    ctx = make_ctx(ws)
    env = {
        **ctx.base_env,
        "OPENAI_API_KEY": "sk-leak-1",
        "API_SERVER_KEY": "leak-2",
        "LC_CUSTOM": "leak-3",
        "MY_DB_PASSWORD": "leak-4",
    }
    ctx = dataclasses.replace(ctx, base_env=env, secret_names=frozenset({"LC_CUSTOM"}))
    out = await run(ctx, "env; ls -d .")
    assert "leak" not in out
    assert "HERMES_PROFILE=alice" in out
    assert out.endswith(".\n[exit code 0]")


async def test_cancellation_kills_the_group(ws: Path) -> None:
    task = asyncio.create_task(run(make_ctx(ws), SPAWN))
    deadline = time.monotonic() + 30  # bash -l start-up is slow on a loaded machine
    while not (ws / "bgpid").exists() or not (ws / "bgpid").read_text().strip():
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(*pids(ws))


async def test_through_the_registry(ws: Path) -> None:
    registry = ToolRegistry(default_tools(), enabled=["terminal"])
    ctx = make_ctx(ws)
    result = await registry.call("terminal", json.dumps({"command": "echo hi"}), ctx)
    assert result.ok and result.output == "hi\n[exit code 0]"
    assert registry.marker("terminal", json.dumps({"command": "ls -la\nrm x"})) == "💻 ls -la…"
    missing = await registry.call("terminal", "{}", ctx)
    assert not missing.ok and "missing required argument 'command'" in missing.output


async def test_missing_workspace_is_an_error_result(tmp_path: Path) -> None:
    registry = ToolRegistry(default_tools())
    result = await registry.call("terminal", '{"command": "true"}', make_ctx(tmp_path / "no"))
    assert not result.ok and "does not exist" in result.output
