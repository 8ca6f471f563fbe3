"""Run one profile's gateway in the foreground: uvloop, one ready line, graceful shutdown.

Signal handlers only set an event; the main coroutine acts on it: stop accepting, let in-flight
requests finish (bounded), close the upstream sessions, exit 0."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hermes.errors import ConfigError, HermesError
from hermes.procutil import die_with_supervisor
from hermes.profiles import ProfileStore

if TYPE_CHECKING:
    from hermes.gateway.settings import Loaded
    from hermes.profiles import Profile
    from hermes.providers.base import Provider

SHUTDOWN_TIMEOUT = 10.0
log = logging.getLogger("hermes.gateway")


def serve(
    profile_name: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT. Start-up problems raise HermesError (a one-line message)."""
    from hermes import log as hermes_log
    from hermes.gateway.settings import load
    from hermes.providers import build_provider

    env = dict(os.environ if environ is None else environ)
    die_with_supervisor(env.get("HERMES_SUPERVISOR_PID"))
    hermes_log.setup()
    profile = ProfileStore().resolve(profile_name)
    loaded = load(profile, env, host=host, port=port)
    provider = build_provider(loaded.config, loaded.env, profile=profile.name)
    import uvloop  # a runtime dependency: the gateway always runs on uvloop

    return uvloop.run(_run(profile, loaded, provider, env))


async def _run(profile: Profile, loaded: Loaded, provider: Provider, env: dict[str, str]) -> int:
    from aiohttp import web

    from hermes.gateway.app import create_app
    from hermes.gateway.runtime import RUNTIME

    settings = loaded.settings
    app = create_app(profile, loaded.config, settings, provider=provider, environ=env)
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {settings.port} on {settings.host} is already in use"
            ) from None
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from None
    if settings.key is None and not app[RUNTIME].keys.has_keys():
        log.warning(
            "no API_SERVER_KEY and no `hermes keys` key: the API is open to anyone who can "
            "reach %s",
            settings.url,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"hermes gateway ready: {settings.url} profile={profile.name} "
        f"model={settings.model_name} provider={provider.label} pid={os.getpid()}",
        flush=True,
    )
    await stop.wait()
    log.info("shutting down: finishing in-flight requests (up to %.0fs)", SHUTDOWN_TIMEOUT)
    await runner.cleanup()
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m hermes.gateway --profile NAME [--host H] [--port P]`: what the supervisor runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hermes.gateway")
    parser.add_argument("--profile", "-p", default=None)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        return serve(args.profile, host=args.host, port=args.port)
    except HermesError as exc:
        sys.stderr.write(f"hermes gateway: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
