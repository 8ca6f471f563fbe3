#!/usr/bin/env python3
"""Front door benchmark: one hermes gateway reached two ways, interleaved in one run.

  direct     the load generator talks to the profile's gateway itself (the baseline);
  frontdoor  the same requests through `python -m hermes.frontdoor`, routed by `model`.

The gateway is pointed at scripts/bench_gateway.py's instant fake upstream. For each path:
p50/p99 latency and req/s of non-streaming requests at concurrency 1 and 16, and streaming
time-to-first-token at concurrency 1 (the same phases and rounds as the gateway section). The
front door's RSS is taken with 50 profiles in its routing table (49 more answered by one small
helper process that plays their gateways' /health) after 2 x `rss_step` more requests.

Used by scripts/bench.py (`--only frontdoor`). Internal entry point (one subprocess):
  scripts/bench_frontdoor.py --serve-healths '{"PORT": "PROFILE", ...}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from bench_gateway import QUICK, Plan, measure, rss_phase, warm_up
from bench_servers import (
    PROFILE,
    Procs,
    Server,
    free_port,
    helper_server,
    hermes_server,
    make_hermes_home,
    run_with_servers,
    wait_healthy,
)

PROFILES = 50  # in the front door's routing table for the RSS figure
TARGETS = {
    "added_p50_c1_ms": 0.3,
    "rps_c16_pct_of_direct": 90.0,  # at least
    "added_ttft_ms": 0.5,
    "rss_mb": 50.0,
}


def serve_healths(ports: dict[int, str]) -> None:
    """Answer GET /health as profile `ports[port]` would, on every port: enough for the front
    door (run without a supervisor) to list those profiles."""

    async def run() -> None:
        runners = []
        for port, name in ports.items():
            app = web.Application()

            async def health(_: web.Request, name: str = name) -> web.Response:
                return web.json_response({"status": "ok", "profile": name})

            app.router.add_get("/health", health)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
            runners.append(runner)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print("ready", flush=True)
        await stop.wait()
        for runner in runners:
            await runner.cleanup()

    uvloop.run(run())


def more_profiles(home: Path, count: int) -> dict[int, str]:
    """`count` more enabled profiles, each on its own free port; returns port → name."""
    from hermes.config import envfile
    from hermes.profiles import ProfileStore

    store = ProfileStore(home)
    ports: dict[int, str] = {}
    for i in range(count):
        created = store.create(f"p{i:02d}")
        port = free_port()
        while port in ports:  # the kernel may hand out a port just released again
            port = free_port()
        envfile.update(created.profile.env_path, {"API_SERVER_PORT": str(port)})
        ports[port] = created.profile.name
    return ports


def settle_port(home: Path, port: int) -> None:
    """The bench profile's settings say where its gateway listens: the front door, run here
    without a supervisor, finds gateways where their profiles' settings say."""
    from hermes.config import envfile
    from hermes.profiles import ProfileStore

    # Not `config set`, which refuses a port in use: this one is, by the gateway meant.
    envfile.update(ProfileStore(home).get(PROFILE).env_path, {"API_SERVER_PORT": str(port)})


def frontdoor_server(procs: Procs, home: Path) -> Server:
    from hermes.frontdoor.keys import key_store, scope_of

    with key_store(home) as keys:
        _, key = keys.create(f"bench-{procs.spawned}", scope=scope_of(None, trust_identity=False))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "OPENAI_"))}
    env.update(HERMES_HOME=str(home), HERMES_LOG_LEVEL="WARNING")
    argv = [sys.executable, "-m", "hermes.frontdoor", "--port", str(port)]
    server = procs.spawn("frontdoor", argv, env)
    server.url = f"http://127.0.0.1:{port}"
    server.headers = {"Authorization": f"Bearer {key}"}
    return server


async def routed(session: aiohttp.ClientSession, server: Server, count: int) -> int:
    """Wait until the front door lists `count` models; returns how many it lists."""
    listed = 0
    for _ in range(200):
        async with session.get(server.url + "/v1/models", headers=server.headers) as answer:
            listed = len((await answer.json())["data"])
        if listed >= count:
            break
        await asyncio.sleep(0.1)
    return listed


async def _bench(plan: Plan, procs: Procs) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        upstream = helper_server(procs, "upstream")
        await wait_healthy(session, upstream)
        home = procs.logdir / "home"
        key = make_hermes_home(home, upstream.url + "/v1")
        gateway = hermes_server(procs, home, key)
        await wait_healthy(session, gateway)
        settle_port(home, int(gateway.url.rsplit(":", 1)[1]))
        door = frontdoor_server(procs, home)
        await wait_healthy(session, door)
        assert await routed(session, door, 1) >= 1, "the front door never saw the gateway"
        servers = {"direct": gateway, "frontdoor": door}
        for server in servers.values():
            await warm_up(session, server, plan)
        paths = await measure(session, servers, upstream, plan)
        ports = more_profiles(home, PROFILES - 1)
        argv = [sys.executable, __file__, "--serve-healths", json.dumps(ports)]
        healths = procs.spawn("healths", argv)
        listed = await routed(session, door, PROFILES)
        rss = await rss_phase(session, door, plan.rss_step)
        procs.stop(healths.proc)
    paths["frontdoor"]["rss_mb"] = rss
    paths["frontdoor"]["profiles_routed"] = listed
    return {"paths": paths}


def derive(raw: dict[str, Any], plan: Plan) -> dict[str, Any]:
    direct, door = raw["paths"]["direct"], raw["paths"]["frontdoor"]
    figures = {
        "added_p50_c1_ms": door["c1"]["p50_ms"] - direct["c1"]["p50_ms"],
        "rps_c16_pct_of_direct": 100 * door["c16"]["rps"] / direct["c16"]["rps"],
        "added_ttft_ms": door["ttft_c1"]["p50_ms"] - direct["ttft_c1"]["p50_ms"],
        "rss_mb": max(door["rss_mb"].values()),
    }
    targets = {
        name: {"value": value, "target": TARGETS[name], "ok": value <= TARGETS[name]}
        for name, value in figures.items()
    }
    pct = targets["rps_c16_pct_of_direct"]
    pct["ok"] = pct["value"] >= pct["target"]
    return {
        **raw,
        "targets": targets,
        "plan": {"c1": plan.c1, "c16": plan.c16, "stream": plan.stream, "rounds": plan.rounds},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def bench_frontdoor(quick: bool = False) -> dict[str, Any]:
    """Run the whole front door benchmark (about a minute; `quick` for a smoke run)."""
    plan = QUICK if quick else Plan()
    raw = run_with_servers("fd", lambda procs: _bench(plan, procs))
    return derive(raw, plan)


def print_frontdoor(f: dict[str, Any]) -> None:
    direct, door = f["paths"]["direct"], f["paths"]["frontdoor"]
    print(f"\nFront door vs direct to the same gateway ({f['machine']['cpus']} CPUs, interleaved)")
    print(f"  {'':10} {'p50 c1':>9} {'p99 c1':>9} {'rps c16':>9} {'ttft p50':>9}")
    for name, path in (("direct", direct), ("frontdoor", door)):
        print(
            f"  {name:10} {path['c1']['p50_ms']:8.2f}ms {path['c1']['p99_ms']:8.2f}ms "
            f"{path['c16']['rps']:9.0f} {path['ttft_c1']['p50_ms']:8.2f}ms"
        )
    print(f"  front door RSS with {door['profiles_routed']} profiles routed: {door['rss_mb']}")
    for name, t in f["targets"].items():
        verdict = "ok" if t["ok"] else "MISSED"
        print(f"  {name:24} {t['value']:8.2f}  (target {t['target']})  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-healths", metavar="PORTS_JSON")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.serve_healths is not None:
        serve_healths({int(p): n for p, n in json.loads(args.serve_healths).items()})
    else:
        result = bench_frontdoor(args.quick)
        print_frontdoor(result)


if __name__ == "__main__":
    main()
