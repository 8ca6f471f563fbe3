"""One supervised gateway: spawn it in its own process group, wait until /health answers,
watch it (exit, or 3 failed health checks in a row), restart it with backoff, give up after 5
failed starts, and stop it: SIGTERM to the group, SIGKILL after stop_timeout.

States use Supervisor's vocabulary: stopped, starting, running, backoff, stopping, exited, fatal.
Every change of state goes through `Gateway._to`, which refuses one `TRANSITIONS` does not list.
The machine is reached only through the seams in `launch` (process factory, health probe,
clock), so the unit tests drive every transition with scripted ones in milliseconds."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hermes.procutil import serving_pid
from hermes.supervisor.launch import (
    Child,
    Clock,
    HealthProbe,
    Launcher,
    MonotonicClock,
    OsLauncher,
    health_ok,
)
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


# Where each state may go. A stop (`Gateway.stop`) may come at any moment and ends in STOPPED,
# or leaves FATAL as it is so that `hermes status` still says why.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.STARTING, State.FATAL}),  # fatal: it cannot start at all
    State.STARTING: frozenset(
        {State.RUNNING, State.STOPPING, State.BACKOFF, State.FATAL, State.STOPPED}
    ),
    State.RUNNING: frozenset({State.EXITED, State.STOPPING}),
    State.STOPPING: frozenset({State.STOPPED, State.EXITED, State.BACKOFF, State.FATAL}),
    State.EXITED: frozenset({State.BACKOFF, State.STOPPED}),
    State.BACKOFF: frozenset({State.STARTING, State.FATAL, State.STOPPED}),
    State.FATAL: frozenset(),  # a new start is a new Gateway with the config on disk now
}


class IllegalTransition(RuntimeError):
    pass


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
    group_poll: float = 0.05  # how often a stop looks whether the group is gone


@dataclass(frozen=True, slots=True)
class Seams:
    """How a Gateway reaches the machine; the defaults are the real ones."""

    launcher: Launcher = field(default_factory=OsLauncher)
    probe: HealthProbe = health_ok
    clock: Clock = field(default_factory=MonotonicClock)


class Gateway:
    """The lifecycle of one profile's gateway, driven by its own task (`run`)."""

    def __init__(
        self,
        spec: GatewaySpec,
        policy: Policy,
        *,
        ready_gate: Callable[[], Awaitable[None]] | None = None,
        seams: Seams | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.ready_gate = ready_gate  # awaited before `running`: a server it cannot answer without
        self.seams = seams or Seams()
        self.state = State.STOPPED
        self.history: deque[State] = deque([State.STOPPED], maxlen=64)
        self.proc: Child | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self.failed_starts = 0
        self.last_error: str | None = None
        # Its files changed and are broken: it keeps running on the settings it started with.
        self.config_error: str | None = None
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

    def _to(self, state: State) -> None:
        """The one place the state changes."""
        if state == self.state:
            return
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.spec.profile}: {self.state} → {state}")
        log.debug("%s: %s → %s", self.spec.profile, self.state, state)
        self.state = state
        self.history.append(state)
        if state in (State.RUNNING, State.FATAL, State.STOPPED):
            self.settled.set()

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self.failed_starts = 0
            self.settled.clear()
            self._task = asyncio.create_task(self.run(), name=f"gateway-{self.spec.profile}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        # Cancelled until it is done: a cancellation lost in a library (asyncio.wait_for on
        # Python 3.11 can swallow one) must not leave a stop waiting forever.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("%s: its task failed: %r", self.spec.profile, task.exception())
        await self._terminate()
        if self.state != State.FATAL:
            self._to(State.STOPPED)
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
            self._to(State.BACKOFF)
            log.info("%s: restarting in %.1fs", self.spec.profile, delay)
            await self.seams.clock.sleep(delay)
            delay = min(delay * 2, self.policy.backoff_max)

    async def _start_once(self) -> bool | None:
        """True: running. False: this start failed (retry). None: fatal, retrying cannot help."""
        spec = self.spec
        if spec.error is not None:  # a broken .env or config.yaml: no start can succeed
            self._fatal(spec.error)
            return None
        holder = self.seams.launcher.port_holder(spec.port)
        if holder is not None:
            self._fatal(f"port {spec.port} is in use by {holder}")
            return None
        self._to(State.STARTING)
        self._ready.clear()
        self.served_by = None
        try:
            self.proc = await self.seams.launcher.spawn(spec)
        except OSError as exc:
            self.last_error = f"cannot start: {exc}"
            return False
        self._pump = asyncio.create_task(
            capture(self.proc.output(), self._log, on_line=self._on_line)
        )
        log.info("%s: started pid %d on port %d", spec.profile, self.proc.pid, spec.port)
        if await self._wait_ready():
            self._to(State.RUNNING)
            self.started_at = self.seams.clock.now()
            self.last_error = None
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
        in_time, ready = await self.seams.clock.within(
            _ready_or_exit(self._ready, self.proc), self._start_timeout
        )
        if in_time and ready and await self._healthy():
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
            exited, _ = await self.seams.clock.within(self.proc.wait(), self.policy.health_interval)
            if exited:
                self.last_error = f"exited unexpectedly with code {self.proc.returncode}"
                break
            failures = 0 if await self._healthy() else failures + 1
            if failures >= self.policy.health_failures:
                self.last_error = f"{failures} failed health checks in a row (hung?)"
                await self._terminate()
                break
        self._to(State.EXITED)
        await self._group_gone(self.policy.stop_timeout)
        log.warning("%s: %s", self.spec.profile, self.last_error)
        return self.seams.clock.now() - (self.started_at or self.seams.clock.now())

    async def _healthy(self) -> bool:
        return await self.seams.probe(self.spec.health_host, self.spec.port)

    async def _terminate(self) -> None:
        """SIGTERM to the process group, SIGKILL to the group after stop_timeout; always reap.

        The group, not only the child, must be gone: a confined gateway's bwrap exits at once
        on SIGTERM while the gateway itself (its child, told by PR_SET_PDEATHSIG) still
        finishes its in-flight requests and holds the port."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        self._to(State.STOPPING)
        clock = self.seams.clock
        self.seams.launcher.thaw(self.spec)
        proc.signal_group(signal.SIGTERM)
        proc.signal_group(signal.SIGCONT)  # a stopped (SIGSTOP) process must see it too
        deadline = clock.now() + self.policy.stop_timeout
        await clock.within(proc.wait(), self.policy.stop_timeout)
        if not await self._group_gone(max(0.0, deadline - clock.now())):
            log.warning(
                "%s: no exit after %.0fs; SIGKILL", self.spec.profile, self.policy.stop_timeout
            )
        await proc.wait()

    async def _group_gone(self, timeout: float) -> bool:
        """Wait until no process of the gateway's group is left; SIGKILL the rest after
        `timeout`. True if they all went on their own."""
        proc, clock = self.proc, self.seams.clock
        if proc is None:
            return True
        deadline = clock.now() + timeout
        while proc.group_alive():
            if clock.now() >= deadline:
                self.seams.launcher.thaw(self.spec)
                proc.signal_group(signal.SIGKILL)
                return False
            await clock.sleep(self.policy.group_poll)
        return True

    def _fatal(self, reason: str) -> None:
        self.last_error = reason
        self._to(State.FATAL)
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
            self.seams.clock.now() - self.started_at
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
            "config_error": self.config_error,
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


async def _ready_or_exit(ready: asyncio.Event, proc: Child) -> bool:
    """True once the ready line came, False if the process exited first."""
    waits = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(proc.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
    return ready.is_set()
