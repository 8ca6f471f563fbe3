"""The supervisor: plan, start every gateway, serve the control socket, act on signals (which
only set flags or queue work, as in uvicorn), and stop everything in a fixed order."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hermes.errors import ConfigError, Conflict, HermesError, NotFound
from hermes.profiles import ProfileStore
from hermes.supervisor.control import Action, ControlServer
from hermes.supervisor.plan import FRONTDOOR, GatewaySpec, plan
from hermes.supervisor.process import Gateway, Policy, Seams, State

log = logging.getLogger("hermes.supervisor")


class Supervisor:
    def __init__(
        self,
        store: ProfileStore,
        names: Sequence[str] = (),
        *,
        environ: Mapping[str, str] | None = None,
        policy: Policy = Policy(),
        notify: Callable[..., bool] | None = None,
        seams: Seams | None = None,
    ) -> None:
        self.store = store
        self.names = list(names)
        self.environ = dict(os.environ if environ is None else environ)
        self.policy = policy
        self.seams = seams or Seams()
        self.notify = notify or (lambda *messages: False)
        self.gateways: dict[str, Gateway] = {}
        self.stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # one control action (reload, start, stop) at a time

    @property
    def run_dir(self) -> Path:
        return self.store.home / "run"

    def _plan(self, names: Sequence[str] | None = None) -> list[GatewaySpec]:
        return plan(
            self.store, names if names is not None else self.names, self.environ, os.getpid()
        )

    # -- the main sequence ---------------------------------------------------------------------

    async def run(self) -> int:
        specs = self._plan()  # refuses (raises) before anything starts
        control = ControlServer(
            self.control_actions(),
            self.run_dir / "supervisor.sock",
            process_groups=self.process_groups,
        )
        await control.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_logged()))
        try:
            for spec in specs:
                self._add(spec)
            announce = asyncio.create_task(self._announce_ready())
            await self.stopping.wait()
            announce.cancel()
        finally:
            self.notify("STOPPING=1")
            log.info("stopping %d gateway(s)", len(self.gateways))
            await self._stop_all()
            await control.stop()
        log.info("stopped")
        return 0

    def _one(self, name: str) -> GatewaySpec:
        """The spec of profile `name` as its files say now (a plan of one profile also holds
        the model server's spec when the profile uses the bundled model)."""
        return next(s for s in self._plan([name]) if s.profile == name)

    def _ready_gate(self, spec: GatewaySpec) -> Callable[[], Awaitable[None]] | None:
        """What a gateway's readiness waits for besides its own /health: the spec it needs
        having settled (running, or fatal: then the gateway's own errors say so)."""
        if spec.needs is None:
            return None

        async def gate() -> None:
            while (needed := self.gateways.get(spec.needs or "")) is not None:
                await needed.settled.wait()
                if self.gateways.get(spec.needs or "") is needed:
                    return

        return gate

    def _add(self, spec: GatewaySpec) -> Gateway:
        gateway = Gateway(spec, self.policy, ready_gate=self._ready_gate(spec), seams=self.seams)
        self.gateways[spec.profile] = gateway
        gateway.start()
        return gateway

    async def _announce_ready(self) -> None:
        await self.settled()
        self.notify("READY=1", f"STATUS={self.summary()}")
        log.info("ready: %s", self.summary())

    async def settled(self) -> None:
        await asyncio.gather(*(g.settled.wait() for g in self.gateways.values()))

    def summary(self) -> str:
        states = [g.state.value for g in self.gateways.values()]
        counts = {s: states.count(s) for s in dict.fromkeys(states)}
        return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no gateways"

    async def _stop_all(self) -> None:
        await asyncio.gather(*(g.stop() for g in self.gateways.values()))

    # -- control actions -----------------------------------------------------------------------

    def process_groups(self) -> set[int]:
        """The pid of each running gateway's process group leader (what it was started as).
        Not the front door's: it runs no tools, and asks the control socket for `routes`."""
        return {
            g.proc.pid
            for g in self.gateways.values()
            if g.proc is not None and g.proc.returncode is None and g.spec.profile != FRONTDOOR
        }

    def status(self) -> list[dict[str, Any]]:
        return [g.status() for g in self.gateways.values()]

    def routes(self) -> list[dict[str, Any]]:
        """The profiles' gateways that are running, and where: the front door's routing table."""
        now, wall = self.seams.clock.now(), time.time()
        return [
            {
                "profile": g.spec.profile,
                "host": g.spec.host,
                "port": g.spec.port,
                "started": wall - (now - g.started_at) if g.started_at is not None else None,
            }
            for g in self.gateways.values()
            if g.state == State.RUNNING and g.spec.profile_root is not None
        ]

    def _status_reply(self) -> dict[str, Any]:
        """`hermes status`: the gateways, and the front door as an entry of its own."""
        entries = self.status()
        door = next((e for e in entries if e["profile"] == FRONTDOOR), None)
        return {
            "pid": os.getpid(),
            "summary": self.summary(),
            "gateways": [e for e in entries if e["profile"] != FRONTDOOR],
            "frontdoor": None if door is None else {**door, "name": "frontdoor"},
        }

    async def start(self, name: str) -> dict[str, Any]:
        """Start a stopped (or fatal) gateway with the config on disk now, not the one it was
        started with before (a port changed while it was stopped is the one it comes back on)."""
        async with self._lock:
            gateway = self.gateways.get(name)
            if gateway is not None and gateway.state in (
                State.RUNNING,
                State.STARTING,
                State.BACKOFF,
            ):
                raise Conflict(f"{name} is already {gateway.state.value}")
            gateway = self._add(self._one(name))
        await gateway.settled.wait()
        return gateway.status()

    async def stop(self, name: str) -> dict[str, Any]:
        async with self._lock:
            gateway = self._get(name)
            await gateway.stop()
            return gateway.status()

    async def forget(self, name: str) -> dict[str, Any]:
        """Stop a gateway and drop it (its profile is being deleted or renamed); a profile the
        supervisor does not run is no error: there is nothing to stop."""
        async with self._lock:
            gateway = self.gateways.pop(name, None)
            if gateway is None:
                return {"profile": name, "state": "absent", "was_running": False}
            running = gateway.state in (State.RUNNING, State.STARTING, State.BACKOFF)
            await gateway.stop()
            return {"profile": name, "state": "removed", "was_running": running}

    async def restart(self, name: str) -> dict[str, Any]:
        """Restart with the config on disk now; a config that cannot start leaves the running
        gateway as it is and is the command's error."""
        async with self._lock:
            old = self._get(name)
            spec = self._one(name)  # picks up config changes
            if spec.error is not None and old.state == State.RUNNING:
                old.config_error = spec.error
                raise ConfigError(f"{name} not restarted, it keeps running: {spec.error}")
            await old.stop()
            gateway = self._add(spec)
        await gateway.settled.wait()
        return gateway.status()

    async def reload(self) -> dict[str, Any]:
        """Re-read profiles: start new ones, stop removed or disabled ones, restart only those
        whose config.yaml or .env changed; the others keep their pid. A profile whose files are
        broken is listed under "failed", its error under "errors"; the others are reloaded."""
        self.notify("RELOADING=1")
        async with self._lock:
            wanted = {s.profile: s for s in self._plan()}
            changes: dict[str, Any] = {"started": [], "stopped": [], "restarted": [], "failed": []}
            for name in [n for n in self.gateways if n not in wanted]:
                await self.gateways.pop(name).stop()
                changes["stopped"].append(name)
            errors: dict[str, str] = {}
            for spec in wanted.values():
                kind, error = await self._reload_one(spec)
                if kind is not None:
                    changes[kind].append(spec.profile)
                if error is not None:
                    errors[spec.profile] = error
            changes["errors"] = errors
        log.info("reload: %s", changes)
        await self.settled()
        self.notify("READY=1", f"STATUS={self.summary()}")
        return changes

    async def _reload_one(self, spec: GatewaySpec) -> tuple[str | None, str | None]:
        """Bring one profile's gateway in line with its new spec: "started", "restarted",
        "failed" (its files are broken, or its new port is taken) or None (unchanged), and the
        error that made it fail."""
        current = self.gateways.get(spec.profile)
        if current is not None and current.spec.fingerprint == spec.fingerprint:
            current.config_error = None  # its files were put back as they were
            return ("failed", spec.error) if spec.error else (None, None)
        if spec.error is None and current is not None and self._taken_port(current, spec):
            spec = dataclasses.replace(spec, error=f"port {spec.port} is already in use")
        if spec.error is not None and current is not None and current.state == State.RUNNING:
            # Stopping a working gateway would not help: it keeps the settings it started with.
            current.config_error = spec.error
            return "failed", spec.error
        if current is not None:
            await current.stop()
        self._add(spec)  # a broken profile's goes fatal at once, with its error
        if spec.error is not None:
            return "failed", spec.error
        return ("started" if current is None else "restarted"), None

    async def _reload_logged(self) -> None:
        """SIGHUP's reload: nobody waits for its reply, so a refusal goes to the log."""
        try:
            await self.reload()
        except HermesError as exc:
            log.error("reload refused: %s", exc.message)

    def _taken_port(self, current: Gateway, spec: GatewaySpec) -> bool:
        """The new spec's port differs and something already listens there: the new gateway
        could not start, so the running one must not be stopped for it."""
        return spec.port != current.spec.port and (
            self.seams.launcher.port_holder(spec.port) is not None
        )

    def control_actions(self) -> dict[str, Action]:
        """What the control socket serves (`hermes status / start / stop / …` send these)."""

        async def status(_: dict[str, Any]) -> dict[str, Any]:
            return self._status_reply()

        async def routes(_: dict[str, Any]) -> list[dict[str, Any]]:
            return self.routes()

        async def down(_: dict[str, Any]) -> dict[str, Any]:
            self.stopping.set()
            return {"stopping": True}

        async def reload(_: dict[str, Any]) -> dict[str, Any]:
            return await self.reload()

        def on_profile(method: Callable[[str], Awaitable[Any]]) -> Action:
            async def act(request: dict[str, Any]) -> Any:
                return await method(str(request.get("profile") or ""))

            return act

        return {
            "status": status,
            "routes": routes,
            "down": down,
            "reload": reload,
            "start": on_profile(self.start),
            "stop": on_profile(self.stop),
            "restart": on_profile(self.restart),
            "forget": on_profile(self.forget),
        }

    def _get(self, name: str) -> Gateway:
        gateway = self.gateways.get(name)
        if gateway is None:
            raise NotFound(f"the supervisor does not run profile {name!r}", param="profile")
        return gateway


def write_pid(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
