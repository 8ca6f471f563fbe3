"""The terminal tool against real bash, sandboxed and not: workspace, exit codes, merged output,
timeouts and cancellation that stop the command and everything it started (SIGTERM, then SIGKILL
after a grace), the output cap, no login shell and no secrets in the child."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import platform
import signal
import time
from pathlib import Path

import pytest

from hermes.config.schema import SandboxConfig, TerminalToolConfig, ToolsConfig
from hermes.tools import ToolContext, ToolRegistry, default_tools
from hermes.tools.terminal import terminal
from tests.processes import marked, none_marked


def make_ctx(workspace: Path, mode: str = "bwrap", **terminal_settings: int) -> ToolContext:
    settings = dataclasses.replace(
        ToolsConfig(),
        terminal=TerminalToolConfig(**terminal_settings),
        sandbox=SandboxConfig(mode=mode),  # type: ignore[arg-type]
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(workspace), "LANG": "C.UTF-8"}
    return ToolContext(workspace, settings, "alice", frozenset(), env)


def spawn(marker: str) -> str:
    """A command that starts a background child and waits for it."""
    return f"sleep 30.{marker} & echo started; wait"


async def run(ctx: ToolContext, command: str, timeout: int | None = None) -> str:
    out = await terminal(ctx, command, timeout)
    assert isinstance(out, str)
    return out


async def test_runs_in_the_workspace_and_reports_exit_code(ws: Path, mode: str) -> None:
    out = await run(make_ctx(ws, mode), "pwd -P; echo $PWD; echo oops >&2; exit 3")
    assert out == f"{ws.resolve()}\n{ws}\noops\n[exit code 3]"


async def test_empty_output_and_invalid_utf8(ws: Path, mode: str) -> None:
    assert await run(make_ctx(ws, mode), "true") == "[exit code 0]"
    assert await run(make_ctx(ws, mode), r"printf '\xff ok'") == "\ufffd ok\n[exit code 0]"


async def test_never_a_login_shell(ws: Path, mode: str) -> None:
    """`bash -c`: the host user's profile files never run before a command."""
    out = await run(make_ctx(ws, mode), "shopt -q login_shell && echo login || echo plain")
    assert out == "plain\n[exit code 0]"


async def test_timeout_stops_the_command_and_its_children(ws: Path, mode: str, marker: str) -> None:
    start = time.monotonic()
    out = await run(make_ctx(ws, mode), spawn(marker), timeout=1)
    assert time.monotonic() - start < 4
    assert out.startswith("started\n[timed out after 1 s; the command and its children were")
    # SIGTERM ended it: bash itself, or the sandbox's bwrap, which dies of it at once.
    assert out.endswith(f"[exit code {-signal.SIGTERM}]")
    assert await none_marked(marker)


async def test_timeout_lets_the_command_clean_up_then_kills(ws: Path, mode: str) -> None:
    """SIGTERM first: a trap runs; a command that ignores it gets SIGKILL after the grace."""
    trap = "trap 'echo cleaned > cleaned.txt; exit 7' TERM; echo up; sleep 30 & wait"
    out = await run(make_ctx(ws, mode), trap, timeout=1)
    assert (ws / "cleaned.txt").read_text() == "cleaned\n"
    # Unsandboxed, the trap's own exit code; sandboxed, bwrap's (it died of the SIGTERM).
    assert out.endswith(f"[exit code {7 if mode == 'off' else -signal.SIGTERM}]")
    start = time.monotonic()
    out = await run(make_ctx(ws, mode), "trap '' TERM; echo stubborn; sleep 30", timeout=1)
    assert 2.5 < time.monotonic() - start < 6, "SIGKILL comes about 2 s after SIGTERM"
    assert out.startswith("stubborn\n[timed out after 1 s")


async def test_timeout_defaults_to_settings_and_is_capped(ws: Path) -> None:
    assert "timed out after 1 s" in await run(make_ctx(ws, timeout=1), "sleep 10")
    assert "timed out after 1 s" in await run(make_ctx(ws, max_timeout=1), "sleep 10", 600)


async def test_background_children_do_not_hold_the_call(ws: Path, mode: str, marker: str) -> None:
    start = time.monotonic()
    out = await run(make_ctx(ws, mode), f"sleep 30.{marker} & echo done")
    assert out == "done\n[exit code 0]"
    assert time.monotonic() - start < 3
    assert await none_marked(marker)


async def test_a_background_job_that_ends_within_the_command(ws: Path, mode: str) -> None:
    command = "(sleep 0.2; echo from-the-job > job.txt) & echo waiting; wait; cat job.txt"
    assert await run(make_ctx(ws, mode), command) == "waiting\nfrom-the-job\n[exit code 0]"


async def test_output_is_capped_head_and_tail(ws: Path) -> None:
    command = r"printf HEAD; head -c 10000 /dev/zero | tr '\0' x; printf TAIL"
    out = await run(make_ctx(ws, output_limit=100), command)
    assert out.startswith("HEAD" + "x" * 46 + "\n[... 9908 bytes cut ...]\n")
    assert out.endswith("x" * 46 + "TAIL\n[exit code 0]")


async def test_secrets_never_reach_the_command(ws: Path, mode: str) -> None:
    ctx = make_ctx(ws, mode)
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


async def test_cancellation_stops_the_command_and_its_children(
    ws: Path, mode: str, marker: str
) -> None:
    task = asyncio.create_task(run(make_ctx(ws, mode), spawn(marker)))
    deadline = time.monotonic() + 30
    while len(marked(marker)) < 2:  # bash and its sleep are up
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await none_marked(marker)


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


async def test_no_keyring_is_reachable_from_a_sandbox(ws: Path) -> None:
    """Keyrings are not namespaced well (a service's session keyring is shared by all it
    starts): in a sandbox add_key, request_key and keyctl fail."""
    from hermes.sandbox.seccomp import _ARCHES

    numbers = _ARCHES.get(platform.machine())
    if numbers is None:
        pytest.skip("no seccomp filter for this architecture")
    code = (
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
        f"print([libc.syscall(n, 0, -3, 0) == -1 and ctypes.get_errno() for n in {numbers[1:]}])"
    )
    out = await run(make_ctx(ws, "bwrap"), f'python3 -c "{code}"')
    assert out == f"[{errno.EPERM}, {errno.EPERM}, {errno.EPERM}]\n[exit code 0]"


async def test_read_only_paths_under_tmp_are_seen_over_the_private_tmp(
    ws: Path, tmp_path: Path
) -> None:
    """A Python (a clean clone's virtualenv) or a `tools.sandbox.read_only` folder may live
    under /tmp: it is bound over the sandbox's private /tmp, not covered by it, and read-only."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("visible\n")
    (tmp_path / "beside.txt").write_text("private\n")
    settings = dataclasses.replace(
        ToolsConfig(), sandbox=SandboxConfig(mode="bwrap", read_only=[str(shared)])
    )
    ctx = dataclasses.replace(make_ctx(ws), settings=settings)
    out = await run(
        ctx,
        f"cat {shared}/data.txt; test -e {tmp_path}/beside.txt || echo hidden; "
        f"touch {shared}/new 2>/dev/null || echo read-only",
    )
    assert out == "visible\nhidden\nread-only\n[exit code 0]"
