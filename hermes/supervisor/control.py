"""The control endpoint: HTTP over a Unix socket (mode 0600) under $HERMES_HOME/run/, used by
`hermes status / start / stop / restart / reload / down`."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hermes.errors import HermesError

if TYPE_CHECKING:
    from hermes.supervisor.supervisor import Supervisor

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HermesError as exc:
        return web.json_response(exc.to_openai(), status=exc.status)


class ControlServer:
    def __init__(self, supervisor: Supervisor, path: Path) -> None:
        self.supervisor = supervisor
        self.path = path
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[_errors])
        sup = self.supervisor
        app.router.add_get("/status", self._status)
        app.router.add_post("/reload", self._json(lambda _: sup.reload()))
        app.router.add_post("/down", self._down)
        for action in ("start", "stop", "restart"):
            app.router.add_post(f"/{action}/{{profile}}", self._on_profile(action))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # stale: the pid-file check already ruled out a live supervisor
        old = os.umask(0o177)  # the socket is born 0600: only this user may control hermes
        try:
            await web.UnixSite(self._runner, str(self.path)).start()
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.path.exists():
            self.path.unlink()

    @staticmethod
    def _json(action: Callable[[web.Request], Awaitable[Any]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.json_response(await action(request))

        return handler

    def _on_profile(self, action: str) -> Handler:
        method = getattr(self.supervisor, action)
        return self._json(lambda request: method(request.match_info["profile"]))

    async def _status(self, request: web.Request) -> web.Response:
        sup = self.supervisor
        return web.json_response(
            {"pid": os.getpid(), "summary": sup.summary(), "gateways": sup.status()}
        )

    async def _down(self, request: web.Request) -> web.Response:
        self.supervisor.stopping.set()
        return web.json_response({"stopping": True})
