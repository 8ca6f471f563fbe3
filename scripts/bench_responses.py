#!/usr/bin/env python3
"""Responses API benchmark: the store's write/read time per response, and the latency of turn 2
vs turn 200 of one conversation through the real gateway (the point of keeping each response's
whole history in one row: turn 200 is one read, not a walk of the chain).

Used by scripts/bench.py (`--only responses`); bench_responses() returns the figures.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_servers import (
    PROFILE,
    Procs,
    helper_server,
    hermes_server,
    make_hermes_home,
    wait_healthy,
)

from hermes.messages import Message, ToolCall
from hermes.stores.responses import ResponseStore, StoredResponse


def _history(turns: int) -> tuple[Message, ...]:
    out: list[Message] = []
    for i in range(turns):
        out.append(Message("user", f"question {i} " + "words " * 20))
        if i % 5 == 0:
            call = ToolCall(f"call_{i}", "terminal", '{"command": "ls -la"}')
            out.append(Message("assistant", None, (call,)))
            out.append(Message("tool", "file-a\nfile-b\n" * 10, tool_call_id=call.id))
        out.append(Message("assistant", f"answer {i} " + "words " * 40))
    return tuple(out)


async def bench_store(n: int = 300, turns: int = 10) -> dict[str, float]:
    """Mean ms per put and per get of a response with `turns` turns of history."""
    tmp = Path(tempfile.mkdtemp(prefix="hermes-store-bench-"))
    try:
        async with ResponseStore(tmp / "r.sqlite3", max_responses=n * 2) as store:
            history = _history(turns)
            response = {"id": "x", "object": "response", "output": []}
            start = time.perf_counter()
            for i in range(n):
                await store.put(
                    StoredResponse(
                        f"resp_{i}", 0, "c", None, None, history, {**response, "id": f"resp_{i}"}
                    )
                )
            put_ms = (time.perf_counter() - start) * 1000 / n
            start = time.perf_counter()
            for i in range(n):
                await store.get(f"resp_{i}")
            get_ms = (time.perf_counter() - start) * 1000 / n
            long = _history(200)
            await store.put(StoredResponse("resp_long", 0, None, None, None, long, response))
            start = time.perf_counter()
            for _ in range(50):
                await store.get("resp_long")
            get_200_ms = (time.perf_counter() - start) * 1000 / 50
        return {
            "put_ms": put_ms,
            "get_ms": get_ms,
            "get_turn_200_ms": get_200_ms,
            "history_turns": turns,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _turn(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], conversation: str, i: int
) -> float:
    body = {"input": f"question {i}", "conversation": conversation}
    start = time.perf_counter()
    async with session.post(url, json=body, headers=headers) as response:
        await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


async def bench_turns(turns: int = 200, samples: int = 20) -> dict[str, float]:
    """Median latency of turn 2 (over `samples` fresh conversations) and of turns near 200."""
    tmp = Path(tempfile.mkdtemp(prefix="hermes-resp-bench-"))
    procs = Procs(tmp)
    try:
        upstream = helper_server(procs, "upstream")
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, upstream)
            key = make_hermes_home(tmp / "home", upstream.url + "/v1")
            hermes = hermes_server(procs, tmp / "home", key)
            await wait_healthy(session, hermes)
            url = hermes.url + "/v1/responses"
            turn2 = []
            for s in range(samples):
                await _turn(session, url, hermes.headers, f"short-{s}", 1)
                turn2.append(await _turn(session, url, hermes.headers, f"short-{s}", 2))
            late = []
            for i in range(1, turns + samples // 2 + 1):
                ms = await _turn(session, url, hermes.headers, "long", i)
                if i > turns - samples // 2:
                    late.append(ms)
        return {
            "turn_2_p50_ms": statistics.median(turn2),
            f"turn_{turns}_p50_ms": statistics.median(late),
            "turns": turns,
        }
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


async def _session_turn(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], sid: str, i: int
) -> float:
    body = {"username": "bench", "session_id": sid, "message": f"question {i} " + "words " * 20}
    start = time.perf_counter()
    async with session.post(url, json={**body, "stream": False}, headers=headers) as response:
        await response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


async def bench_sessions(turns: int = 1000, samples: int = 20) -> dict[str, float]:
    """Session API: median latency of turn 2 and of the turns near `turns` of one session, with a
    context budget (6,000 tokens) the session outgrows early, so compression keeps it bounded."""
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    tmp = Path(tempfile.mkdtemp(prefix="hermes-session-bench-"))
    procs = Procs(tmp)
    try:
        upstream = helper_server(procs, "upstream")
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, upstream)
            key = make_hermes_home(tmp / "home", upstream.url + "/v1")
            store = ProfileStore(tmp / "home")
            for name, value in {"model.context_length": "8000", "tools.enabled": "[]"}.items():
                set_value(store, store.get(PROFILE), name, value)
            hermes = hermes_server(procs, tmp / "home", key)
            await wait_healthy(session, hermes)
            url = hermes.url + "/api/v1/chat"
            late = []
            for i in range(1, turns + 1):
                ms = await _session_turn(session, url, hermes.headers, "long", i)
                if i > turns - samples:
                    late.append(ms)
            turn2 = []  # measured after the long session: both warm
            for s in range(samples):
                await _session_turn(session, url, hermes.headers, f"short-{s}", 1)
                turn2.append(await _session_turn(session, url, hermes.headers, f"short-{s}", 2))
        return {
            "turn_2_p50_ms": statistics.median(turn2),
            "late_p50_ms": statistics.median(late),
            "turns": turns,
        }
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_responses(quick: bool = False) -> dict[str, Any]:
    store = asyncio.run(bench_store(100 if quick else 300))
    turns = asyncio.run(bench_turns(50 if quick else 200, 10 if quick else 20))
    sessions = asyncio.run(bench_sessions(100 if quick else 1000, 10 if quick else 20))
    return {"store": store, "conversation": turns, "session": sessions}


def print_responses(r: dict[str, Any]) -> None:
    s, c = r["store"], r["conversation"]
    n = c["turns"]
    print("\nResponses API store (SQLite, WAL; one row holds a response's whole history)")
    print(f"  put, {s['history_turns']}-turn history      {s['put_ms']:7.2f} ms per response")
    print(f"  get, {s['history_turns']}-turn history      {s['get_ms']:7.2f} ms per response")
    print(f"  get, 200-turn history     {s['get_turn_200_ms']:7.2f} ms per response")
    print(
        f"  through the gateway: turn 2 p50 {c['turn_2_p50_ms']:.2f} ms, "
        f"turn {n} p50 {c[f'turn_{n}_p50_ms']:.2f} ms "
        "(the upstream request grows with the history; the store read does not walk it)"
    )
    if "session" in r:
        t = r["session"]
        print(
            f"  session API, one session: turn 2 p50 {t['turn_2_p50_ms']:.2f} ms, turns near "
            f"{t['turns']} p50 {t['late_p50_ms']:.2f} ms (context compression keeps it bounded)"
        )


if __name__ == "__main__":
    print_responses(bench_responses(quick="--quick" in sys.argv))
