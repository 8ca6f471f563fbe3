"""Running one command: confined by a Policy (or, when a profile turned the sandbox off, not),
stdin from /dev/null, stdout+stderr merged and capped head and tail, a timeout, and an end that
leaves nothing behind.

Ending a command that is still running (timeout, or its caller cancelled because the client
went away) is SIGTERM to its process group first, SIGKILL after a short grace, so programs can
clean up. In a sandbox bwrap dies at once on the SIGTERM (it forwards nothing), the command
inside gets it too, and the grace waits for the whole group; the SIGKILL then reaches the
sandbox's init, which ends its PID namespace and every process the command left, however it
detached itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hermes.procutil import group_alive
from hermes.sandbox import bwrap, seccomp
from hermes.sandbox.cgroups import retry_removals
from hermes.sandbox.limits import CommandLimits
from hermes.sandbox.spec import Limits, Policy

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


class _Reader(asyncio.Protocol):
    """The command's merged output, read as it comes, until every writer has closed it."""

    def __init__(self, limit: int) -> None:
        self.output = CappedOutput(limit)
        self.eof: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.output.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.eof.done():
            self.eof.set_result(None)


class _Child:
    """A spawned process watched through a pidfd. Exit and end-of-output are reported apart:
    a backgrounded grandchild can hold the pipe open long after the shell has exited, and the
    caller must not wait for it."""

    def __init__(self, pid: int, reader: _Reader) -> None:
        self.pid = pid
        self.reader = reader
        self.returncode: int | None = None
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._pidfd = os.pidfd_open(pid)
        loop.add_reader(self._pidfd, self._reap)

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        self.returncode = os.waitstatus_to_exitcode(status)
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
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
    limits_of: tuple[Limits, str] | None = None,
) -> Outcome:
    """Run `argv` in a new session, inside `policy`'s sandbox unless it is None. Its limits
    (and their cgroup group) are the policy's, or `limits_of` for an unconfined command."""
    if policy is not None:
        limits_of = (policy.limits, policy.group)
    limits = CommandLimits(*limits_of) if limits_of is not None else None
    command, environment = list(argv), dict(env)
    seccomp_fd = seccomp.filter_fd() if policy is not None else None
    if policy is not None:
        command = bwrap.wrap(policy, command, seccomp_fd=seccomp_fd)
        environment = bwrap.command_env(policy, environment)
    if limits is not None:
        limits.prepare()
    try:
        if limits is not None:
            command = limits.launcher() + command
        keep = (seccomp_fd,) if seccomp_fd is not None else ()
        try:
            child, transport = await _spawn(command, cwd, environment, output_limit, keep)
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        try:
            done = await _wait(child, timeout)
        finally:
            transport.close()
        output = child.reader.output.text()
        returncode = child.returncode
        limit = limits.verdict(returncode, output) if limits is not None else None
    finally:
        if limits is not None and not limits.cleanup():
            asyncio.get_running_loop().call_later(0.5, retry_removals)
    return Outcome(output, returncode, timed_out=not done, limit=limit)


async def _spawn(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    output_limit: int,
    keep: tuple[int, ...] = (),
) -> tuple[_Child, asyncio.ReadTransport]:
    """Start `command` in a session of its own, stdin from /dev/null, stdout and stderr into
    one pipe. subprocess.Popen without a preexec function uses vfork: about 0.3 ms where a
    fork of a gateway-sized process (what uvloop's spawn and any preexec_fn do) costs 4."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=keep,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    proc.returncode = 0  # reaped by _Child, never by Popen (which must not poll it)
    reader = _Reader(output_limit)
    transport, _ = await loop.connect_read_pipe(lambda: reader, os.fdopen(read_fd, "rb", 0))
    return _Child(proc.pid, reader), transport


async def _wait(child: _Child, timeout: float) -> bool:
    """True if the command exited within `timeout`. Whatever happened (exit, timeout,
    cancellation), nothing of the command outlives this."""
    done = False
    try:
        finished, _ = await asyncio.wait([child.exited], timeout=timeout)
        done = bool(finished)
    finally:
        if not done:
            await asyncio.shield(_end(child.pid))
        kill_group(child.pid)
        await asyncio.wait([child.exited], timeout=REAP_SECONDS)
        await asyncio.wait([child.reader.eof], timeout=DRAIN_SECONDS)
    return done


async def _end(pgid: int) -> None:
    """SIGTERM to the command's process group, then wait up to GRACE_SECONDS for the whole
    group (not just the first process: a sandbox's bwrap dies at once on SIGTERM while the
    command inside cleans up) before the caller's SIGKILL."""
    signal_group(pgid, signal.SIGTERM)
    signal_group(pgid, signal.SIGCONT)  # a stopped command must see it too
    deadline = asyncio.get_running_loop().time() + GRACE_SECONDS
    while group_alive(pgid) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal every process of the group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_group(pgid: int) -> None:
    signal_group(pgid, signal.SIGKILL)
