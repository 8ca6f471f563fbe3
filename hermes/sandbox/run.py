"""Running one command: confined by a Policy (or, when a profile turned the sandbox off, not),
stdin from /dev/null, stdout+stderr merged and capped head and tail, a timeout, and an end that
leaves nothing behind.

Ending a command that is still running (timeout, or its caller cancelled because the client
went away) is SIGTERM first, SIGKILL after a short grace, so programs can clean up. In a
sandbox the SIGTERM goes to the command's processes but not to bwrap itself, which would die
at once and take the sandbox with it; SIGKILL to bwrap then ends its PID namespace, and with it
every process the command left, however it detached itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hermes.sandbox import bwrap
from hermes.sandbox.limits import CommandLimits
from hermes.sandbox.spec import Policy

# After the main process exits, how long the rest of its output may take to arrive.
DRAIN_SECONDS = 0.5
# After SIGKILL, how long to wait for the exit status.
REAP_SECONDS = 5.0
# Between SIGTERM and SIGKILL when a running command is ended.
GRACE_SECONDS = 2.0


class CappedOutput:
    """Keeps the first and the last `limit / 2` bytes of a stream and counts what falls between,
    so memory stays bounded however much a command prints."""

    def __init__(self, limit: int) -> None:
        self.head_limit = max(0, limit) // 2
        self.tail_limit = max(0, limit) - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def feed(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        excess = len(self.tail) - self.tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.cut += excess

    def text(self) -> str:
        note = f"\n[... {self.cut} bytes cut ...]\n" if self.cut else ""
        head = self.head.decode("utf-8", errors="replace")
        return head + note + self.tail.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Outcome:
    output: str
    returncode: int | None  # None if the exit status never arrived
    timed_out: bool
    limit: str | None = None  # which sandbox limit the command ran into, for the model


class _Capture(asyncio.SubprocessProtocol):
    """Exit and end-of-output are reported apart: a backgrounded grandchild can hold the pipe
    open long after the shell has exited, and the caller must not wait for it."""

    def __init__(self, limit: int) -> None:
        loop = asyncio.get_running_loop()
        self.output = CappedOutput(limit)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.output.feed(data.encode() if isinstance(data, str) else data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.eof.done():
            self.eof.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


async def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    output_limit: int,
    policy: Policy | None,
) -> Outcome:
    """Run `argv` in a new session, inside `policy`'s sandbox unless it is None."""
    limits = CommandLimits(policy.limits) if policy is not None else None
    command, environment = list(argv), dict(env)
    if policy is not None:
        command, environment = bwrap.wrap(policy, command), bwrap.command_env(policy, environment)
    if limits is not None:
        limits.prepare()
    try:
        transport, proto = await _spawn(command, cwd, environment, output_limit, limits)
        try:
            done = await _wait(transport, proto, timeout, sandboxed=policy is not None)
        finally:
            transport.close()
        output = proto.output.text()
        returncode = transport.get_returncode()
        limit = limits.verdict(returncode, output) if limits is not None else None
    finally:
        if limits is not None:
            limits.cleanup()
    return Outcome(output, returncode, timed_out=not done, limit=limit)


async def _spawn(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    output_limit: int,
    limits: CommandLimits | None,
) -> tuple[asyncio.SubprocessTransport, _Capture]:
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.subprocess_exec(
            lambda: _Capture(output_limit),
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=limits.preexec() if limits is not None else None,
        )
    finally:
        if limits is not None:
            limits.after_spawn()
    return transport, proto


async def _wait(
    transport: asyncio.SubprocessTransport, proto: _Capture, timeout: float, *, sandboxed: bool
) -> bool:
    """True if the command exited within `timeout`. Whatever happened (exit, timeout,
    cancellation), nothing of the command outlives this."""
    pid = transport.get_pid()
    done = False
    try:
        finished, _ = await asyncio.wait([proto.exited], timeout=timeout)
        done = bool(finished)
    finally:
        if not done:
            await asyncio.shield(_end(pid, proto, sandboxed=sandboxed))
        kill_group(pid)
        await asyncio.wait([proto.exited], timeout=REAP_SECONDS)
        await asyncio.wait([proto.eof], timeout=DRAIN_SECONDS)
    return done


async def _end(pid: int, proto: _Capture, *, sandboxed: bool) -> None:
    """SIGTERM, then SIGKILL after GRACE_SECONDS unless everything exited by then."""
    if sandboxed:
        for child in _descendants(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGTERM)
    else:
        signal_group(pid, signal.SIGTERM)
    await asyncio.wait([proto.exited], timeout=GRACE_SECONDS)


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal every process of the group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_group(pgid: int) -> None:
    signal_group(pgid, signal.SIGKILL)
