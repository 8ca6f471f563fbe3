"""Scripted seams for the supervisor's state machine (`hermes.supervisor.launch`): a process
factory whose children print a ready line, exit, ignore SIGTERM or stop answering /health as
a test says; a health probe that asks them; a clock whose time moves only when the code under
test waits. A gateway's whole life then runs in milliseconds, on the real asyncio loop."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hermes.supervisor.plan import GatewaySpec
from hermes.supervisor.process import Seams

T = TypeVar("T")
SPINS = 50  # loop iterations a wait gives the scripted children before its time runs out


@dataclass
class Script:
    """How one spawned child behaves."""

    ready: bool = True  # prints its spec's ready line at once
    healthy: bool = True  # /health answers 200
    exit_at_once: int | None = None  # exits with this code right after printing `output`
    ignores_term: bool = False  # only SIGKILL ends it
    output: list[bytes] = field(default_factory=list)


_pids = itertools.count(4_000_000)  # above any real pid: nothing real is ever signalled


class FakeChild:
    def __init__(self, spec: GatewaySpec, script: Script) -> None:
        self.spec = spec
        self.script = script
        self.healthy = script.healthy
        self._pid = next(_pids)
        self._returncode: int | None = None
        self._exited = asyncio.Event()
        self._output: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.signals: list[signal.Signals] = []
        for line in script.output:
            self._output.put_nowait(line)
        if script.ready:
            self._output.put_nowait(spec.ready_mark + b" on port %d\n" % spec.port)
        if script.exit_at_once is not None:
            self.exit(script.exit_at_once)

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        await self._exited.wait()
        assert self._returncode is not None
        return self._returncode

    async def output(self) -> AsyncIterator[bytes]:
        while (chunk := await self._output.get()) is not None:
            yield chunk

    def signal_group(self, sig: signal.Signals) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or (sig == signal.SIGTERM and not self.script.ignores_term):
            self.exit(-sig)

    def group_alive(self) -> bool:
        return self._returncode is None

    def print(self, line: bytes) -> None:
        self._output.put_nowait(line)

    def ready(self) -> None:
        self.print(self.spec.ready_mark + b"\n")

    def exit(self, code: int) -> None:
        if self._returncode is None:
            self._returncode = code
            self._output.put_nowait(None)
            self._exited.set()


class FakeLauncher:
    """Spawns FakeChildren, each by the next script queued for its profile (default: a healthy
    gateway). `busy` ports are held by someone else; `refuse` makes the next spawns fail."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Script]] = {}
        self.spawned: list[FakeChild] = []
        self.busy: dict[int, str] = {}
        self.refuse: OSError | None = None
        self.thawed: list[str] = []

    def script(self, profile: str, *scripts: Script) -> None:
        self.scripts.setdefault(profile, []).extend(scripts)

    def of(self, profile: str) -> list[FakeChild]:
        return [c for c in self.spawned if c.spec.profile == profile]

    async def spawn(self, spec: GatewaySpec) -> FakeChild:
        if self.refuse is not None:
            raise self.refuse
        queued = self.scripts.get(spec.profile) or []
        child = FakeChild(spec, queued.pop(0) if queued else Script())
        self.spawned.append(child)
        return child

    def port_holder(self, port: int) -> str | None:
        return self.busy.get(port)

    def thaw(self, spec: GatewaySpec) -> None:
        self.thawed.append(spec.profile)

    async def probe(self, host: str, port: int) -> bool:
        """Like GET /health: the live child on `port`, if any, answers as scripted."""
        live = [c for c in self.spawned if c.spec.port == port and c.returncode is None]
        return bool(live) and live[-1].healthy


class FakeClock:
    """Time moves only when waited on: a sleep moves it by its length at once; a bounded wait
    gives the scripted children SPINS loop iterations, then moves time to its deadline."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.frozen = False  # True: time stands still, a bounded wait waits as long as it takes

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)

    async def within(self, awaitable: Awaitable[T], seconds: float) -> tuple[bool, T | None]:
        task = asyncio.ensure_future(awaitable)
        if self.frozen:
            return True, await task
        for _ in range(SPINS):
            if task.done():
                return True, task.result()
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.t += seconds
        return False, None


@dataclass
class Machine:
    launcher: FakeLauncher = field(default_factory=FakeLauncher)
    clock: FakeClock = field(default_factory=FakeClock)

    @property
    def seams(self) -> Seams:
        return Seams(launcher=self.launcher, probe=self.launcher.probe, clock=self.clock)


async def until(condition: Callable[[], bool], spins: int = 20_000) -> None:
    """Run the loop until `condition` holds; fails (rather than hangs) if it never does."""
    for _ in range(spins):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
