"""Run the front door in the foreground (what the supervisor and `hermes-frontdoor.service`
start): uvloop, one ready line, graceful shutdown on SIGTERM / SIGINT."""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Sequence

import aiohttp
from aiohttp import web

from hermes.config import serving
from hermes.errors import ConfigError, HermesError
from hermes.frontdoor.app import STATE, State, create_app, new_state
from hermes.frontdoor.protocol import FrontdoorRunner
from hermes.frontdoor.routes import Router, combined_source
from hermes.procutil import die_with_supervisor, make_undumpable, stop_requested
from hermes.profiles import ProfileStore
from hermes.stores.frontdoor_credential import load_secret

SHUTDOWN_TIMEOUT = 10.0
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=2)
log = logging.getLogger("hermes.frontdoor")


def build(store: ProfileStore) -> State:
    """The front door's state for `store`'s HERMES_HOME, routes from the supervisor (or, with
    none, from the profiles' settings and their gateways' /health)."""
    state: State

    async def probe(host: str, port: int, profile: str) -> bool:
        if state.session is None:
            return False
        url = f"http://{serving.url_host(serving.health_host(host))}:{port}/health"
        try:
            async with state.session.get(url, timeout=PROBE_TIMEOUT) as answer:
                body = await answer.json() if answer.status == 200 else {}
        except (aiohttp.ClientError, OSError, ValueError, TimeoutError):
            return False
        return isinstance(body, dict) and body.get("profile") == profile

    router = Router(store, combined_source(store.home, store, probe), load_secret(store.home))
    state = new_state(store.home, router)
    return state


def serve(host: str | None = None, port: int | None = None) -> int:
    from hermes import log as hermes_log
    from hermes.config.home import load_home

    hermes_log.setup()
    die_with_supervisor(os.environ.get("HERMES_SUPERVISOR_PID"))
    make_undumpable()  # it holds the secret every gateway credential is made from
    store = ProfileStore()
    config = load_home(store.home).frontdoor
    state = build(store)
    import uvloop

    return uvloop.run(_run(state, host or config.host, port or config.port))


async def _run(state: State, host: str, port: int) -> int:
    app = create_app(state)
    runner = FrontdoorRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    stop = stop_requested()
    routes = len(app[STATE].router.table.routes)
    print(
        f"hermes frontdoor ready: {serving.base_url(host, port)} profiles={routes} "
        f"pid={os.getpid()}",
        flush=True,
    )
    await stop.wait()
    log.info("shutting down: finishing in-flight requests (up to %.0fs)", SHUTDOWN_TIMEOUT)
    await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hermes.frontdoor [--host H] [--port P]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hermes.frontdoor")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        return serve(args.host, args.port)
    except HermesError as exc:
        sys.stderr.write(f"hermes frontdoor: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
