"""Run one profile's gateway in the foreground: uvloop, one ready line, graceful shutdown.

Signal handlers only set an event; the main coroutine acts on it: stop accepting, let in-flight
requests finish (bounded), close the upstream sessions, exit 0."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from hermes.errors import ConfigError, HermesError
from hermes.gateway.confinement import confine, tools_sandbox
from hermes.procutil import stop_requested
from hermes.profiles import ProfileStore

if TYPE_CHECKING:
    from hermes.gateway.settings import GatewaySettings, Loaded
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
    hermes_log.setup()
    store = ProfileStore()
    profile = store.resolve(profile_name)
    confinement = confine(store, profile, env, host=host, port=port)
    loaded = load(profile, env, host=host, port=port)
    provider = build_provider(
        loaded.config,
        loaded.env,
        profile=profile.name,
        max_runs=loaded.settings.max_concurrent_runs,
    )
    log.info("process: %s", confinement.detail)
    tools = tools_sandbox(loaded.config, profile.root)
    if tools.warning:
        log.warning("%s", tools.warning)
    marks = f"sandbox={tools.state} confined={'yes' if confinement.confined else 'no'}"
    import uvloop  # a runtime dependency: the gateway always runs on uvloop

    return uvloop.run(_run(profile, loaded, provider, marks))


def serve_foreground(
    profile_name: str | None = None, *, host: str | None = None, port: int | None = None
) -> int:
    """`hermes gateway`: the gateway as a child in a session of its own, this process passing
    SIGTERM, SIGINT and SIGHUP on as SIGINT to its group (which the confining bwrap ignores
    and the gateway treats as SIGTERM), so `kill PID` and Ctrl-C shut it down gracefully and
    this exits with the gateway's own status."""
    import subprocess

    name = ProfileStore().resolve(profile_name).name
    argv = [sys.executable, "-P", "-m", "hermes.gateway", "--profile", name]
    argv += [*(["--host", host] if host else []), *(["--port", str(port)] if port else [])]
    proc = subprocess.Popen(argv, start_new_session=True)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGINT)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    code = proc.wait()
    return code if code >= 0 else 128 - code


def listen_backlog(settings: GatewaySettings) -> int:
    """Connections the kernel may queue before the gateway accepts them: sized from the run
    limit, since a burst of that many clients is what the limit invites (aiohttp's 128 dropped
    most of a burst of 1,000, whose clients retried their SYNs 1, 3 and 7 s later). The kernel
    caps it at net.core.somaxconn."""
    return max(128, settings.max_concurrent_runs + 64)


async def _run(profile: Profile, loaded: Loaded, provider: Provider, marks: str) -> int:
    from aiohttp import web

    from hermes.gateway.app import create_app
    from hermes.gateway.protocol import GatewayRunner
    from hermes.gateway.runtime import RUNTIME

    settings = loaded.settings
    # loaded.env: this process's environment plus the profile's .env, held in memory only;
    # the tools' child environments are filtered from it (no secret reaches a command).
    app = create_app(profile, loaded.config, settings, provider=provider, environ=loaded.env)
    runner = GatewayRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_address=True, backlog=listen_backlog(settings)
    )
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
    stop = stop_requested()
    print(
        f"hermes gateway ready: {settings.url} profile={profile.name} "
        f"model={settings.model_name} provider={provider.label} pid={os.getpid()} {marks}",
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
