#!/usr/bin/env python3
"""Local model replies: what a first run gets from the bundled model. A fresh default profile
(provider `local`) under `hermes up`; ten short everyday prompts sent through its gateway the
way the `make run` banner's curl sends `Hello!` (non-streaming, no max_tokens, no temperature);
for each, the time to the complete reply, its finish_reason, and whether it loops (the same
phrase of 3+ words 3+ times, or the same line twice). Target: each reply within 3 s, ending
with `stop`, no loop.

Used by scripts/bench.py (`--only local-replies`); needs the `local` extra.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_local import HERMES, _free_port, _wait_running

# None of these is one of the model server's example turns (hermes/model_server/template.py).
PROMPTS = [
    "Hello!",
    "Thank you very much!",
    "What is the capital of Italy?",
    "How do I clean a frying pan?",
    "How do you say 'cat' in German?",
    "What is 2+2?",
    "Summarize in one line: the meeting moved from Monday to Wednesday because the manager "
    "was ill.",
    "Good evening, how are you?",
    "What color is the sky on a clear day?",
    "Give me a tip for sleeping better.",
]
# The banner's own request, first after start: it also evaluates the model server's shared
# prompt prefix (persona and example turns), which every later request reuses. Not counted.
FIRST = "Hello!"
TARGET_S = 3.0


def loops(text: str) -> bool:
    """A repeated-phrase loop: an n-gram of 3+ words 3+ times, or one non-empty line twice."""
    words = re.findall(r"\w+", text.lower())
    for n in range(3, 7):
        seen: dict[tuple[str, ...], int] = {}
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            seen[gram] = seen.get(gram, 0) + 1
            if seen[gram] >= 3:
                return True
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return len(lines) != len(set(lines))


def ask(url: str, key: str, prompt: str) -> dict[str, Any]:
    """One request like the banner's curl, timed from send to the whole JSON answer."""
    import httpx

    body = {"model": "hermes-agent", "messages": [{"role": "user", "content": prompt}]}
    start = time.perf_counter()
    r = httpx.post(url, headers={"Authorization": f"Bearer {key}"}, json=body, timeout=300)
    seconds = time.perf_counter() - start
    r.raise_for_status()
    answer = r.json()
    text = answer["choices"][0]["message"]["content"] or ""
    finish = answer["choices"][0]["finish_reason"]
    return {
        "prompt": prompt,
        "seconds": seconds,
        "finish_reason": finish,
        "completion_tokens": answer["usage"]["completion_tokens"],
        "prompt_tokens": answer["usage"]["prompt_tokens"],
        "loops": loops(text),
        "clean": finish == "stop" and bool(text.strip()) and not loops(text),
        "reply": text,
    }


def bench_local_replies(quick: bool = False, rounds: int = 3) -> dict[str, Any]:
    from hermes.config import envfile
    from hermes.profiles import ProfileStore
    from hermes.profiles.settings import set_value

    rounds = 1 if quick else rounds
    home = Path(tempfile.mkdtemp(prefix="hermes-replies-bench-"))
    store = ProfileStore(home)
    profile = store.get("default")  # straight from the template: provider local, no key
    set_value(store, profile, "API_SERVER_PORT", str(_free_port()))
    env_file = envfile.read(profile.env_path)
    url = f"http://127.0.0.1:{env_file['API_SERVER_PORT']}/v1/chat/completions"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "API_SERVER_"))}
    env.update(HERMES_HOME=str(home), HERMES_MODEL_PORT=str(_free_port()))
    proc = subprocess.Popen(
        [HERMES, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_running(home, 2)
        load = os.getloadavg()[0]
        first = ask(url, env_file["API_SERVER_KEY"], FIRST)
        replies = [
            ask(url, env_file["API_SERVER_KEY"], prompt)
            for _ in range(rounds)
            for prompt in PROMPTS
        ]
        load_end = os.getloadavg()[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(home, ignore_errors=True)
    times = [r["seconds"] for r in replies]
    return {
        "rounds": rounds,
        "first_request": first,
        "replies": replies,
        "median_s": statistics.median(times),
        "max_s": max(times),
        "within_target": sum(t <= TARGET_S for t in times),
        "clean_stops": sum(r["clean"] for r in replies),
        "count": len(replies),
        "target_s": TARGET_S,
        "load_average": [load, load_end],  # at the start and the end: a shared machine's
    }


def print_local_replies(r: dict[str, Any]) -> None:
    print(
        f"\nLocal model replies (Gemma 3 270M base through a gateway, as the banner's curl; "
        f"{r['rounds']} round(s) of {len(PROMPTS)} prompts; target: each <= {r['target_s']:.0f} s, "
        "finish_reason stop, no loop)"
    )
    print(f"{'prompt':34}  {'time':>6}  {'finish':6}  {'tokens':>6}  {'loop':4}  reply")
    for x in r["replies"]:
        reply = " ".join(x["reply"].split())
        print(
            f"{x['prompt'][:34]:34}  {x['seconds']:5.2f}s  {x['finish_reason']:6}  "
            f"{x['completion_tokens']:6}  {'yes' if x['loops'] else 'no':4}  {reply[:70]}"
        )
    f = r["first_request"]
    print(
        f"median {r['median_s']:.2f} s, max {r['max_s']:.2f} s; {r['within_target']}/{r['count']} "
        f"within {r['target_s']:.0f} s; {r['clean_stops']}/{r['count']} end with stop and no loop "
        f"(first request after start, {f['prompt']!r}: {f['seconds']:.2f} s; load average "
        f"{r['load_average'][0]:.2f} at the start, {r['load_average'][1]:.2f} at the end)"
    )


if __name__ == "__main__":
    result = bench_local_replies(quick="--quick" in sys.argv)
    print_local_replies(result)
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
