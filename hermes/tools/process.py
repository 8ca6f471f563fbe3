"""Running a tool's subprocess: its own process group, merged output capped head and tail, a
timeout, and the whole group killed when the command ends, times out or its caller is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# After the main process exits, how long the rest of its output may take to arrive.
DRAIN_SECONDS = 0.5
# After SIGKILL, how long to wait for the exit status.
REAP_SECONDS = 5.0


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


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    output_limit: int,
) -> Outcome:
    """Run `argv` with stdin from /dev/null and stdout+stderr merged, in a new session."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.subprocess_exec(
        lambda: _Capture(output_limit),
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    pid = transport.get_pid()
    try:
        try:
            done, _ = await asyncio.wait([proto.exited], timeout=timeout)
        finally:
            # Whatever happened (exit, timeout, cancellation), nothing of the command outlives it.
            kill_group(pid)
        await asyncio.wait([proto.exited], timeout=REAP_SECONDS)
        await asyncio.wait([proto.eof], timeout=DRAIN_SECONDS)
    finally:
        transport.close()
    return Outcome(proto.output.text(), transport.get_returncode(), timed_out=not done)


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
