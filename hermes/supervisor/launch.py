"""The seams between a gateway's state machine (`process.Gateway`) and the machine: how a
process is started and signalled, how its health is probed, what time it is. The real ones are
here; unit tests hand in scripted ones, so every transition is tested in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from hermes.procutil import group_alive
from hermes.supervisor.logs import chunks
from hermes.supervisor.plan import GatewaySpec

T = TypeVar("T")

HealthProbe = Callable[[str, int], Awaitable[bool]]  # (host, port) → GET /health answered 200


class Child(Protocol):
    """A started gateway: the leader of its own process group."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def output(self) -> AsyncIterator[bytes]:
        """Its stdout and stderr as they arrive, until it closes them."""
        ...

    def signal_group(self, sig: signal.Signals) -> None: ...

    def group_alive(self) -> bool:
        """A process of its group is still there (a confined gateway outlives its bwrap)."""
        ...


class Launcher(Protocol):
    async def spawn(self, spec: GatewaySpec) -> Child:
        """Start `spec` in a new process group; OSError when it cannot be started."""
        ...

    def port_holder(self, port: int) -> str | None:
        """Who listens on `port` already ("another process" when unknown), or None if free."""
        ...

    def thaw(self, spec: GatewaySpec) -> None:
        """Thaw the cgroup a gateway may have frozen (it owns it), or no signal lands."""
        ...


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    async def within(self, awaitable: Awaitable[T], seconds: float) -> tuple[bool, T | None]:
        """(True, its result) if `awaitable` finishes within `seconds`, else (False, None)
        and it is cancelled."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def within(self, awaitable: Awaitable[T], seconds: float) -> tuple[bool, T | None]:
        # Not asyncio.wait_for: on Python 3.11 it can return the result and swallow a
        # cancellation that came in the same moment (a stop as the ready line arrived), and the
        # stop then waited forever for a gateway that went on running.
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, seconds))
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done:
            return True, task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False, None


class OsChild:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    def output(self) -> AsyncIterator[bytes]:
        assert self._proc.stdout is not None
        return chunks(self._proc.stdout)

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def group_alive(self) -> bool:
        return group_alive(self._proc.pid)


class OsLauncher:
    async def spawn(self, spec: GatewaySpec) -> Child:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=dict(spec.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals the whole group
        )
        return OsChild(proc)

    def port_holder(self, port: int) -> str | None:
        from hermes.profiles.ports import port_holder, port_in_use

        if not port_in_use(port):
            return None
        return port_holder(port) or "another process"

    def thaw(self, spec: GatewaySpec) -> None:
        if spec.profile_root is not None:
            from hermes.sandbox.cgroups import thaw

            thaw(spec.profile_root)


async def health_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """GET /health answered 200. A plain HTTP/1.1 exchange on a stream keeps an HTTP client
    library (and its memory) out of the supervisor: the gateway is ours and answers simply."""
    writer = None
    try:
        async with asyncio.timeout(timeout):  # (not wait_for: see MonotonicClock.within)
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            status_line = await reader.readline()
        return status_line.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
