#!/usr/bin/env python3
"""The processes the gateway benchmarks start, and how they are started and stopped.

  upstream  a fake OpenAI-compatible model: answers at once (scripts/bench_gateway.py) or one
            content piece per `--token-delay` seconds, as a slow model would
            (scripts/bench_streams.py);
  relay     a bare aiohttp + uvloop pass-through with one shared ClientSession (the floor for any
            Python gateway on this machine), its connection pool `--pool` connections;
  hermes    `python -m hermes.gateway --profile bench` pointed at the upstream.

Entry points (one subprocess each, started by helper_server()):
  scripts/bench_servers.py --serve-upstream PORT [--token-delay S] [--tokens N]
  scripts/bench_servers.py --serve-relay PORT UPSTREAM_BASE_URL [--pool N] [--backlog N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import psutil
import uvloop
from aiohttp import web

PROFILE = "bench"
TEXT = "Hello from the hermes bench upstream: a short fixed answer."
PIECES = tuple(re.findall(r" ?\S+", TEXT))  # ten content chunks when streamed
PROMPT_TOKENS = 12
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
UPSTREAM_BACKLOG = 4096  # the fake model stands in for a provider's fleet: never the bottleneck
RELAY_POOL = 100


def usage(pieces: tuple[str, ...]) -> dict[str, int]:
    n = len(pieces)
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": n,
        "total_tokens": PROMPT_TOKENS + n,
    }


USAGE = usage(PIECES)

# --- the fake upstream -------------------------------------------------------------------------


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


_BASE = {"id": "chatcmpl-bench0001", "created": 1_700_000_000, "model": "bench-upstream"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**_BASE, "object": "chat.completion.chunk", "choices": [choice]}


def _completion(pieces: tuple[str, ...]) -> bytes:
    message = {"role": "assistant", "content": "".join(pieces), "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    body = {**_BASE, "object": "chat.completion", "choices": [choice], "usage": usage(pieces)}
    return json.dumps(body).encode()


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def upstream_app(pieces: tuple[str, ...] = PIECES, delay: float = 0.0) -> web.Application:
    """The whole JSON, or the SSE chunks written one by one as a model would: the role chunk at
    once, then each content piece after `delay` seconds (0: all at once)."""
    completion = _completion(pieces)
    contents = [_sse(_chunk({"content": piece})) for piece in pieces]
    head = _sse(_chunk({"role": "assistant", "content": ""}))
    tail = _sse(_chunk({}, "stop"))
    usage_chunk = _sse(
        {**_BASE, "object": "chat.completion.chunk", "choices": [], "usage": usage(pieces)}
    )

    async def chat(request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        if not body.get("stream"):
            if delay:
                await asyncio.sleep(delay * len(pieces))
            return web.Response(body=completion, content_type="application/json")
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        await response.write(head)
        for event in contents:
            if delay:
                await asyncio.sleep(delay)
            await response.write(event)
        await response.write(tail)
        if (body.get("stream_options") or {}).get("include_usage"):
            await response.write(usage_chunk)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    return app


# --- the minimal relay -------------------------------------------------------------------------

SESSION = web.AppKey("session", aiohttp.ClientSession)


def relay_app(upstream: str, pool: int = RELAY_POOL) -> web.Application:
    target = upstream.rstrip("/") + "/chat/completions"

    async def session_lifetime(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))
        yield
        await app[SESSION].close()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": "application/json"}
        async with request.app[SESSION].post(target, data=body, headers=headers) as up:
            if up.content_type != "text/event-stream":
                data = await up.read()
                return web.Response(status=up.status, body=data, content_type=up.content_type)
            response = web.StreamResponse(status=up.status, headers=SSE_HEADERS)
            await response.prepare(request)
            async for data in up.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response

    app = web.Application()
    app.cleanup_ctx.append(session_lifetime)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def serve(app: web.Application, port: int, backlog: int = 128) -> None:
    """Run `app` on 127.0.0.1:port under uvloop until SIGTERM/SIGINT. The relay keeps aiohttp's
    default backlog (128), as the hermes gateway does: both face a burst of connects alike."""

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=backlog, reuse_address=True).start()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print(f"ready on 127.0.0.1:{port}", flush=True)
        await stop.wait()
        await runner.cleanup()

    uvloop.run(run())


def raise_nofile() -> int:
    """Raise this process' soft RLIMIT_NOFILE to its hard limit (1,000 streams through a gateway
    hold 2,000+ sockets; many systems default the soft limit to 1,024). Children started after
    this inherit the raised limit across fork and exec. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nofile_of(pid: int) -> int:
    """The soft open-files limit another process runs with (Linux /proc), -1 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return -1


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Procs:
    """Every subprocess a benchmark starts; stop_all() in a finally leaves none behind."""

    logdir: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)
    spawned: int = 0

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Server:
        self.spawned += 1
        log_path = self.logdir / f"{name}-{self.spawned}.log"
        with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would block it
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.running.append(proc)
        return Server(name, proc, log_path)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""  # http://127.0.0.1:PORT
    headers: dict[str, str] = field(default_factory=dict)
    _pid: int = 0

    @property
    def chat_url(self) -> str:
        return self.url + "/v1/chat/completions"

    @property
    def pid(self) -> int:
        """The process that serves (call once it answers): a confined hermes gateway re-executes
        itself under bubblewrap, so the spawned PID is bwrap's and the gateway a descendant."""
        if not self._pid:
            spawned = psutil.Process(self.proc.pid)
            serving = [
                child
                for child in spawned.children(recursive=True)
                if child.name().startswith("python") and "hermes.gateway" in child.cmdline()
            ]
            self._pid = serving[-1].pid if serving else spawned.pid
        return self._pid


async def wait_healthy(session: aiohttp.ClientSession, server: Server, timeout: float = 20) -> None:
    """Poll GET /health every 2 ms until it answers 200 (or the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            log = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{log}")
        try:
            async with session.get(server.url + "/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.002)
    raise TimeoutError(f"{server.name} did not answer /health within {timeout:.0f}s")


def helper_server(procs: Procs, name: str, *args: str) -> Server:
    """Start this file's `--serve-NAME PORT ARGS…` (name: upstream or relay)."""
    port = free_port()
    argv = [sys.executable, __file__, f"--serve-{name}", str(port), *args]
    server = procs.spawn(name, argv)
    server.url = f"http://127.0.0.1:{port}"
    return server


def make_hermes_home(
    home: Path, upstream_v1: str, settings: Mapping[str, str] | None = None
) -> str:
    """HERMES_HOME with profile `bench` aimed at the fake upstream (plus `settings`, as
    `hermes config set` takes them); returns the profile's key."""
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    store = ProfileStore(home)
    created = store.create(PROFILE)
    for key, value in {
        "model.provider": "openai",
        "model.base_url": upstream_v1,
        "model.name": "bench-upstream",
        "OPENAI_API_KEY": "sk-bench-any-key-0000",
        **(settings or {}),
    }.items():
        set_value(store, created.profile, key, value)
    return created.api_key


def hermes_server(procs: Procs, home: Path, key: str) -> Server:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HERMES_", "OPENAI_", "API_SERVER_"))
    }
    env.update(HERMES_HOME=str(home), HERMES_LOG_LEVEL="WARNING")
    argv = [sys.executable, "-m", "hermes.gateway", "--profile", PROFILE, "--port", str(port)]
    server = procs.spawn("hermes", argv, env)
    server.url = f"http://127.0.0.1:{port}"
    server.headers = {"Authorization": f"Bearer {key}"}
    return server


T = TypeVar("T")


def run_with_servers(name: str, bench: Callable[[Procs], Coroutine[Any, Any, T]]) -> T:
    """`bench` under uvloop with a Procs of its own: every server it started is stopped and the
    logs removed afterwards, also on error or Ctrl-C (no server outlives a benchmark)."""
    procs = Procs(Path(tempfile.mkdtemp(prefix=f"hermes-bench-{name}-")))
    try:
        return uvloop.run(bench(procs))
    finally:
        procs.stop_all()
        shutil.rmtree(procs.logdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-upstream", type=int, metavar="PORT")
    parser.add_argument("--serve-relay", nargs=2, metavar=("PORT", "UPSTREAM_BASE_URL"))
    parser.add_argument("--token-delay", type=float, default=0.0, help="upstream: s per piece")
    parser.add_argument("--tokens", type=int, default=len(PIECES), help="upstream: pieces sent")
    parser.add_argument("--pool", type=int, default=RELAY_POOL, help="relay: upstream conns")
    parser.add_argument("--backlog", type=int, default=128, help="relay: listen backlog")
    args = parser.parse_args()
    raise_nofile()
    if args.serve_upstream is not None:
        app = upstream_app(PIECES[: args.tokens], args.token_delay)
        serve(app, args.serve_upstream, backlog=UPSTREAM_BACKLOG)
    elif args.serve_relay is not None:
        app = relay_app(args.serve_relay[1], args.pool)
        serve(app, int(args.serve_relay[0]), backlog=args.backlog)
    else:
        parser.error("give --serve-upstream or --serve-relay")


if __name__ == "__main__":
    main()
