"""One supervised gateway: spawn it in its own process group, wait until /health answers,
watch it (exit, or 3 failed health checks in a row), restart it with backoff, give up after 5
failed starts, and stop it: SIGTERM to the group, SIGKILL after stop_timeout.

States use Supervisor's vocabulary: stopped, starting, running, backoff, stopping, exited, fatal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hermes.procutil import group_alive, serving_pid
from hermes.profiles.ports import port_holder, port_in_use
from hermes.supervisor.logs import LastLines, RotatingLog, capture
from hermes.supervisor.plan import GatewaySpec

_READY_MARK = re.compile(rb"\b(pid|sandbox|confined)=(\S+)")

log = logging.getLogger("hermes.supervisor")


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Policy:
    start_timeout: float = 10.0
    stop_timeout: float = 10.0
    health_interval: float = 5.0
    health_failures: int = 3
    max_failed_starts: int = 5
    backoff_first: float = 0.5
    backoff_max: float = 30.0
    backoff_reset_after: float = 60.0


class Gateway:
    """The lifecycle of one profile's gateway, driven by its own task (`run`)."""

    def __init__(
        self,
        spec: GatewaySpec,
        policy: Policy,
        *,
        ready_gate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.ready_gate = ready_gate  # awaited before `running`: a server it cannot answer without
        self.state = State.STOPPED
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.failed_starts = 0
        self.last_error: str | None = None
        self.last_lines = LastLines(20)
        self.settled = asyncio.Event()  # set once running, fatal or stopped: `up` reports then
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._log = RotatingLog(spec.log_path)
        self._pump: asyncio.Task[None] | None = None
        self._ps: Any = None  # psutil.Process of the current pid, for CPU% between status calls
        self.served_by: int | None = None  # the serving process's pid, from its ready line
        self.marks: dict[str, str] = {}  # sandbox= and confined= from the ready line

    @property
    def pid(self) -> int | None:
        """The process that serves: a gateway confined by bubblewrap is bwrap's child."""
        if self.proc is None or self.proc.returncode is not None:
            return None
        return self.served_by or self.proc.pid

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self.failed_starts = 0
            self.settled.clear()
            self._task = asyncio.create_task(self.run(), name=f"gateway-{self.spec.profile}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._terminate()
        if self.state != State.FATAL:
            self.state = State.STOPPED
        self.settled.set()
        self._log.close()

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        delay = self.policy.backoff_first
        while True:
            started = await self._start_once()
            if started is None:
                return
            if not started:
                self.failed_starts += 1
                if self.failed_starts >= self.policy.max_failed_starts:
                    self._fatal(f"{self.failed_starts} failed starts in a row: {self.last_error}")
                    return
            else:
                self.failed_starts = 0
                ran = await self._watch()
                self.restarts += 1
                if ran >= self.policy.backoff_reset_after:
                    delay = self.policy.backoff_first
            self.state = State.BACKOFF
            log.info("%s: restarting in %.1fs", self.spec.profile, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.policy.backoff_max)

    async def _start_once(self) -> bool | None:
        """True: running. False: this start failed (retry). None: fatal, retrying cannot help."""
        spec = self.spec
        if spec.error is not None:  # a broken .env or config.yaml: no start can succeed
            self._fatal(spec.error)
            return None
        if port_in_use(spec.port):
            holder = port_holder(spec.port) or "another process"
            self._fatal(f"port {spec.port} is in use by {holder}")
            return None
        self.state = State.STARTING
        self._ready.clear()
        self.served_by = None
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=dict(spec.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals the whole group
            )
        except OSError as exc:
            self.last_error = f"cannot start: {exc}"
            return False
        assert self.proc.stdout is not None
        self._pump = asyncio.create_task(
            capture(self.proc.stdout, self._log, on_line=self._on_line)
        )
        log.info("%s: started pid %d on port %d", spec.profile, self.proc.pid, spec.port)
        if await self._wait_ready():
            self.state = State.RUNNING
            self.started_at = time.monotonic()
            self.last_error = None
            self.settled.set()
            log.info("%s: running at %s", spec.profile, spec.url)
            return True
        await self._terminate()
        return False

    def _on_line(self, line: bytes) -> None:
        self.last_lines.add(line)
        if self.spec.ready_mark in line:
            marks = {k.decode(): v.decode() for k, v in _READY_MARK.findall(line)}
            reported = marks.get("pid", "")
            if reported.isdigit() and self.proc is not None:
                self.served_by = serving_pid(self.proc.pid, int(reported))
            self.marks = {k: v for k, v in marks.items() if k in ("sandbox", "confined")}
            self._ready.set()

    async def _wait_ready(self) -> bool:
        """Running = the ready line was printed and /health answered 200, within start_timeout."""
        assert self.proc is not None
        exited = asyncio.create_task(self.proc.wait())
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {exited, ready},
                timeout=self._start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            exited.cancel()
            ready.cancel()
        if ready in done and await self._healthy():
            if self.ready_gate is not None:
                await self.ready_gate()  # still `starting` meanwhile
            return True
        if self.proc.returncode is not None:
            tail = self.last_lines.lines()[-1:] or ["(no output)"]
            self.last_error = f"exited with code {self.proc.returncode}: {tail[0]}"
        else:
            self.last_error = f"not healthy within {self._start_timeout:.0f}s"
        log.warning("%s: %s", self.spec.profile, self.last_error)
        return False

    async def _watch(self) -> float:
        """Until the gateway exits or fails 3 health checks in a row; returns seconds it ran."""
        assert self.proc is not None
        failures = 0
        while True:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self.proc.wait()), self.policy.health_interval
                )
                self.last_error = f"exited unexpectedly with code {self.proc.returncode}"
                break
            except TimeoutError:
                pass
            failures = 0 if await self._healthy() else failures + 1
            if failures >= self.policy.health_failures:
                self.last_error = f"{failures} failed health checks in a row (hung?)"
                await self._terminate()
                break
        self.state = State.EXITED
        await self._group_gone(self.policy.stop_timeout)
        log.warning("%s: %s", self.spec.profile, self.last_error)
        return time.monotonic() - (self.started_at or time.monotonic())

    async def _healthy(self) -> bool:
        return await health_ok(self.spec.health_host, self.spec.port)

    async def _terminate(self) -> None:
        """SIGTERM to the process group, SIGKILL to the group after stop_timeout; always reap.

        The group, not only the child, must be gone: a confined gateway's bwrap exits at once
        on SIGTERM while the gateway itself (its child, told by PR_SET_PDEATHSIG) still
        finishes its in-flight requests and holds the port."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self.state = State.STOPPING
        self._thaw()
        _signal_group(proc.pid, signal.SIGTERM)
        _signal_group(proc.pid, signal.SIGCONT)  # a stopped (SIGSTOP) process must see it too
        deadline = time.monotonic() + self.policy.stop_timeout
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.policy.stop_timeout)
        if not await self._group_gone(max(0.0, deadline - time.monotonic())):
            log.warning(
                "%s: no exit after %.0fs; SIGKILL", self.spec.profile, self.policy.stop_timeout
            )
        await proc.wait()

    def _thaw(self) -> None:
        """A gateway can freeze its own cgroup (it owns it): thaw it, or no signal lands."""
        if self.spec.profile_root is not None:
            from hermes.sandbox.cgroups import thaw

            thaw(self.spec.profile_root)

    async def _group_gone(self, timeout: float) -> bool:
        """Wait until no process of the gateway's group is left; SIGKILL the rest after
        `timeout`. True if they all went on their own."""
        if self.proc is None:
            return True
        pgid = self.proc.pid
        deadline = time.monotonic() + timeout
        while group_alive(pgid):
            if time.monotonic() >= deadline:
                self._thaw()
                _signal_group(pgid, signal.SIGKILL)
                return False
            await asyncio.sleep(0.05)
        return True

    def _fatal(self, reason: str) -> None:
        self.state = State.FATAL
        self.last_error = reason
        self.settled.set()
        log.error("%s: fatal: %s", self.spec.profile, reason)

    @property
    def _start_timeout(self) -> float:
        return self.spec.start_timeout or self.policy.start_timeout

    # -- reporting -----------------------------------------------------------------------------

    def _usage(self) -> dict[str, Any]:
        """RSS (bytes) and CPU% since the previous status call (psutil, imported lazily)."""
        pid = self.pid
        if pid is None:
            return {}
        import psutil

        try:
            if self._ps is None or self._ps.pid != pid:
                self._ps = psutil.Process(pid)
            return {"rss": self._ps.memory_info().rss, "cpu": self._ps.cpu_percent(interval=None)}
        except psutil.Error:
            return {}

    def status(self) -> dict[str, Any]:
        spec = self.spec
        uptime = (
            time.monotonic() - self.started_at
            if self.state == State.RUNNING and self.started_at
            else None
        )
        out: dict[str, Any] = {
            "profile": spec.profile,
            "state": self.state.value,
            "pid": self.pid,
            "port": spec.port,
            "url": spec.url,
            "uptime": uptime,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "rss": None,
            "cpu": None,
        }
        out.update(self._usage())
        if self.marks and self.state == State.RUNNING:
            out["sandbox"] = self.marks.get("sandbox")
            out["confined"] = self.marks.get("confined") == "yes"
        if self.state in (State.FATAL, State.BACKOFF, State.EXITED):
            out["log_tail"] = self.last_lines.lines()[-10:]
        return out


async def health_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """GET /health answered 200. A plain HTTP/1.1 exchange on a stream keeps an HTTP client
    library (and its memory) out of the supervisor: the gateway is ours and answers simply."""
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        return status_line.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
