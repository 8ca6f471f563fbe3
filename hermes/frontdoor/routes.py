"""The routing table: which profiles are running, where, under which model id, with what.

Where the gateways run comes from the supervisor (its control socket's `routes` action: the
gateways it holds in `running`), or, with no supervisor (the front door run on its own, say by
its systemd unit), from the profiles' own settings (ProfileStore: enabled, host, port) with each
gateway's /health confirming it runs and is that profile. What each one is comes from the
profile's files, through the one resolution of its settings (ProfileStore.info, the config
loader, paths.model_id), re-read only when config.yaml or .env changed.

The table is rebuilt every REFRESH seconds in the background, so a profile created, deleted,
started or stopped shows up without a restart, and a request never waits for it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermes.config import serving
from hermes.frontdoor.models import describe_profile
from hermes.profiles import ProfileStore
from hermes.stores.frontdoor_credential import credential_for, publish

log = logging.getLogger("hermes.frontdoor")
REFRESH = 1.0  # seconds between two looks at what runs


@dataclass(frozen=True, slots=True)
class Running:
    """A gateway that answers: its profile and where."""

    profile: str
    host: str
    port: int
    started: float | None = None  # Unix time it became ready, when known


@dataclass(frozen=True, slots=True)
class Route:
    profile: str
    model: str  # the advertised model id
    host: str  # where the front door reaches the gateway (loopback for a wildcard bind)
    port: int
    credential: str = field(repr=False)  # the front door's, for this profile's gateway
    card: Mapping[str, Any] = field(default_factory=dict)  # its /v1/models entry


class RouteTable:
    """One snapshot of what runs; replaced whole on every refresh, never changed."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.routes = tuple(routes)
        self._by_name: dict[str, Route] = {}
        for route in self.routes:  # a model id first, then a profile's own name
            self._by_name.setdefault(route.model, route)
        for route in self.routes:
            self._by_name.setdefault(route.profile, route)
        self._by_profile = {r.profile: r for r in self.routes}

    def find(self, name: str) -> Route | None:
        """The route `name` (a model id, or a profile's name) names, if it runs."""
        return self._by_name.get(name)

    def profile(self, name: str) -> Route | None:
        return self._by_profile.get(name)


Source = Callable[[], Awaitable[list[Running]]]


class Router:
    """Holds the current table and keeps it fresh (`run` in a background task)."""

    def __init__(self, store: ProfileStore, source: Source, secret: bytes) -> None:
        self.store = store
        self.source = source
        self.secret = secret
        self.table = RouteTable()
        self._cards: dict[str, tuple[object, Mapping[str, Any], str]] = {}

    async def run(self, interval: float = REFRESH) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(interval)

    async def refresh(self) -> None:
        try:
            running = await self.source()
            self.table = await asyncio.to_thread(self._build, running)
        except Exception:  # keep serving the last table; say why once per failure
            log.exception("could not refresh the routing table")

    def _build(self, running: Iterable[Running]) -> RouteTable:
        routes = []
        for gateway in running:
            described = self._describe(gateway)
            if described is None:
                continue
            card, model = described
            credential = credential_for(self.secret, gateway.profile)
            publish(self.store.path(gateway.profile), credential)
            host = serving.health_host(gateway.host)
            routes.append(Route(gateway.profile, model, host, gateway.port, credential, card))
        return RouteTable(tuple(routes))

    def _describe(self, gateway: Running) -> tuple[Mapping[str, Any], str] | None:
        """The profile's /v1/models entry and model id, from its files (cached by their stat)."""
        profile = self.store.path(gateway.profile)
        stamp = _stamp(profile.config_path, profile.env_path)
        cached = self._cards.get(gateway.profile)
        if cached is None or cached[0] != stamp:
            try:
                described = describe_profile(self.store, profile)
            except Exception as exc:  # a broken profile is left out, the others served
                log.warning("%s: left out of the routing table: %s", gateway.profile, exc)
                return None
            cached = (stamp, *described)
            self._cards[gateway.profile] = cached
        _, card, model = cached
        created = int(gateway.started) if gateway.started else card.get("created", 0)
        return {**card, "created": created}, model


def _stamp(*paths: Path) -> object:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


async def supervisor_routes(home: Path) -> list[Running] | None:
    """The supervisor's running gateways; None when no supervisor answers."""
    path = home / "run" / "supervisor.sock"
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=2**22)
            try:
                writer.write(b'{"action": "routes"}\n')
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    try:
        reply = json.loads(line)
    except ValueError:
        return None
    if not isinstance(reply, dict) or not reply.get("ok"):
        return None
    return [
        Running(str(g["profile"]), str(g["host"]), int(g["port"]), g.get("started"))
        for g in reply.get("result") or []
    ]


Probe = Callable[[str, int, str], Awaitable[bool]]  # (host, port, profile) → it answers as that


async def probed_routes(store: ProfileStore, probe: Probe) -> list[Running]:
    """With no supervisor: every enabled, unbroken profile whose gateway answers /health."""
    infos = [i for i in await asyncio.to_thread(store.infos) if i.enabled and i.error is None]
    answers = await asyncio.gather(*(probe(i.host, i.port, i.name) for i in infos))
    return [Running(i.name, i.host, i.port) for i, ok in zip(infos, answers, strict=True) if ok]


def combined_source(home: Path, store: ProfileStore, probe: Probe) -> Source:
    async def source() -> list[Running]:
        found = await supervisor_routes(home)
        return found if found is not None else await probed_routes(store, probe)

    return source
