#!/usr/bin/env python3
"""Profile the hermes gateway's streaming path: streamed requests at concurrency 16 (each stream
drained whole) from the instant fake upstream, while py-spy samples the gateway process; then the
lines and functions with the largest share of the samples, own time and including callees
(`--target relay` profiles the bare relay under the same load, for comparison).

py-spy is not a project dependency: `.venv/bin/pip install py-spy` first. It attaches with
ptrace to the confined gateway (inside its bubblewrap namespaces), which needs root or
CAP_SYS_PTRACE: the gateway makes itself non-dumpable. Samples are taken without pausing the
process (--nonblocking) and only of the thread holding the GIL (--gil): py-spy cannot tell an
idle thread from a busy one across the gateway's PID namespace (an executor thread waiting on
its queue showed as two thirds of the samples), and uvloop releases the GIL while it waits in
epoll, so the shares are of the time the gateway ran Python (C calls made from Python, such as
socket writes and orjson, included).

  .venv/bin/python scripts/bench_profile.py [--seconds 20] [--top 25] [--target hermes|relay]
      [--keep FILE] [--whole] [--spy-arg=--ARG ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gateway import complete, first_token, run_level
from bench_servers import Procs, helper_server, hermes_server, make_hermes_home, wait_healthy


def py_spy() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    return found


async def load_while_sampling(
    procs: Procs, seconds: float, out: Path, target: str, extra: list[str], whole: bool = False
) -> int:
    """Streams (whole answers with `whole`) at c=16 until py-spy, attached to `target` for
    `seconds`, exits; returns the number of requests served meanwhile."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        upstream = helper_server(procs, "upstream")
        await wait_healthy(session, upstream)
        home = procs.logdir / "home"
        if target == "hermes":
            server = hermes_server(procs, home, make_hermes_home(home, upstream.url + "/v1"))
        else:
            server = helper_server(procs, "relay", upstream.url + "/v1")
        await wait_healthy(session, server)
        request = partial(complete if whole else first_token, session, server)
        await run_level(200, 16, request)  # warm: pools open, caches filled
        argv = [py_spy(), "record", "--pid", str(server.pid), "--duration", str(int(seconds))]
        pause = [] if "--native" in extra else ["--nonblocking"]  # native needs it paused
        argv += ["--rate", "250", "--gil", *pause, "--format", "raw", "--output", str(out)]
        argv += extra
        spy = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL)
        served = 0
        while spy.returncode is None:
            served += len((await run_level(320, 16, request)).samples)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(spy.wait(), 0.001)
        if spy.returncode:
            raise RuntimeError(f"py-spy exited with {spy.returncode}")
        return served


def hotspots(raw: Path) -> tuple[dict[str, Counter[str]], int]:
    """Samples per line and per function, as the running frame (own) and anywhere on the stack
    (inclusive; a recursive frame counts once per sample)."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [short(frame.strip()) for frame in stack.split(";")]
        n = int(count)
        total += n
        counts["own, by line"][frames[-1]] += n
        counts["own, by function"][function(frames[-1])] += n
        for frame in set(frames):
            counts["including callees, by line"][frame] += n
        for name in {function(frame) for frame in frames}:
            counts["including callees, by function"][name] += n
    return counts, total


KINDS = (
    "own, by line",
    "own, by function",
    "including callees, by line",
    "including callees, by function",
)


def short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py:12)`."""
    name, _, where = frame.partition(" (")
    for marker in ("site-packages/", "/lib/python3.", "/hermes/"):
        _, sep, tail = where.partition(marker)
        if sep:
            tail = tail.split("/", 1)[1] if marker == "/lib/python3." else tail
            return f"{name} ({'hermes/' if marker == '/hermes/' else ''}{tail}"
    return frame


def function(frame: str) -> str:
    """`func (pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    return frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame


def report(raw: Path, top: int, served: int, seconds: float, target: str) -> None:
    counts, total = hotspots(raw)
    print(f"{served} streams at c=16 in ~{seconds:.0f} s; {total} samples of {target} on the CPU")
    for kind in KINDS:
        print(f"\ntop {top}, {kind}:")
        for frame, n in counts[kind].most_common(top):
            print(f"  {100 * n / total:5.1f} %  {frame}")
    hermes = Counter({k: v for k, v in counts[KINDS[3]].items() if "(hermes/" in k})
    if hermes:
        print(f"\nhermes' own functions, including callees (top {top}):")
        for frame, n in hermes.most_common(top):
            print(f"  {100 * n / total:5.1f} %  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--target", choices=("hermes", "relay"), default="hermes")
    parser.add_argument("--spy-arg", action="append", default=[], help="passed to py-spy")
    parser.add_argument("--keep", type=Path, help="also write the raw (collapsed) stacks here")
    parser.add_argument("--whole", action="store_true", help="non-streamed requests instead")
    args = parser.parse_args()
    procs = Procs(Path(tempfile.mkdtemp(prefix="hermes-bench-profile-")))
    raw = procs.logdir / f"{args.target}.stacks"
    try:
        served = uvloop.run(
            load_while_sampling(procs, args.seconds, raw, args.target, args.spy_arg, args.whole)
        )
        report(raw, args.top, served, args.seconds, args.target)
        if args.keep:
            shutil.copy(raw, args.keep)
    finally:
        procs.stop_all()
        shutil.rmtree(procs.logdir, ignore_errors=True)


if __name__ == "__main__":
    main()
