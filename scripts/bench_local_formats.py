#!/usr/bin/env python3
"""The prompt formats tried for the bundled base model, side by side: llama-cpp-python in this
process, the ten prompts of scripts/bench_local_replies.py, one reply each; per format the median
and max time to the whole reply, how many end with `stop` without a loop, the median tokens.
How the model server's format (hermes/model_server/template.py) was chosen; not a bench.py
section (the formats that never stop take minutes).

Run: .venv/bin/python scripts/bench_local_formats.py [--only F3,F0] [--threads N]
Writes bench-results/local-formats.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_local_replies import PROMPTS, loops

from hermes.messages import Message
from hermes.model_server import template
from hermes.model_server.model import model_path

ROOT = Path(__file__).resolve().parent.parent
PERSONA = (
    "You are Hermes, a capable, candid assistant running on the user's own machine. "
    "You answer in one or two short sentences."
)
MARKERS = ["<end_of_turn>", "<start_of_turn>"]


def _turn(role: str, text: str) -> str:
    return f"<start_of_turn>{role}\n{text}<end_of_turn>\n"


def gemma_bare(q: str) -> str:  # what llama-cpp's "gemma" chat format made of it before
    return _turn("user", q) + "<start_of_turn>model\n"


def gemma_persona(q: str) -> str:
    return _turn("user", f"{PERSONA}\n\n{q}") + "<start_of_turn>model\n"


def gemma_examples(q: str) -> str:
    shots = "".join(_turn("user", u) + _turn("model", a) for u, a in template.EXAMPLES)
    head = _turn("user", PERSONA) + _turn("model", "Understood.")
    return head + shots + _turn("user", q) + "<start_of_turn>model\n"


def transcript(q: str) -> str:
    return template.render([Message("system", PERSONA), Message("user", q)])


def transcript_bare(q: str) -> str:
    return f"{PERSONA}\n\nUser: {q}\nAssistant:"


Format = tuple[str, Callable[[str], str], list[str], dict[str, Any]]
SHORT = {"top_p": 0.95, "repeat_penalty": template.REPEAT_PENALTY, "max_tokens": 160}
FORMATS: dict[str, Format] = {
    "F0": (
        "Gemma markers, no system (before), t 0.7, no penalty, 512 tokens",
        gemma_bare,
        MARKERS,
        {"top_p": 0.95, "repeat_penalty": 1.0, "max_tokens": 512, "temperature": 0.7},
    ),
    "F1": ("Gemma markers + persona, t 0.2", gemma_persona, MARKERS, {**SHORT, "temperature": 0.2}),
    "F2": (
        "Gemma markers + persona + example turns, t 0.2",
        gemma_examples,
        [*MARKERS, "\n\n"],
        {**SHORT, "temperature": 0.2},
    ),
    "F3": (
        "transcript + persona + example turns, t 0.2 (the model server's)",
        transcript,
        template.stops(),
        {**SHORT, "temperature": template.TEMPERATURE},
    ),
    "F3b": (
        "transcript + persona, no examples, t 0.2",
        transcript_bare,
        template.stops(),
        {**SHORT, "temperature": 0.2},
    ),
    "F3c": (
        "transcript + persona + example turns, t 0.7",
        transcript,
        template.stops(),
        {**SHORT, "temperature": 0.7},
    ),
}


def measure(llm: Any, fmt: Format) -> dict[str, Any]:
    _, build, stop, options = fmt
    llm.create_completion(build("Hi!"), stop=stop, **{**options, "max_tokens": 1})  # warm up
    load = os.getloadavg()[0]
    rows = []
    for prompt in PROMPTS:
        start = time.perf_counter()
        out = llm.create_completion(build(prompt), stop=stop, **options)
        choice, text = out["choices"][0], out["choices"][0]["text"].strip()
        rows.append(
            {
                "prompt": prompt,
                "seconds": time.perf_counter() - start,
                "finish_reason": choice["finish_reason"],
                "tokens": out["usage"]["completion_tokens"],
                "clean": choice["finish_reason"] == "stop" and bool(text) and not loops(text),
                "reply": text,
            }
        )
    times = [r["seconds"] for r in rows]
    return {
        "median_s": statistics.median(times),
        "max_s": max(times),
        "clean": sum(r["clean"] for r in rows),
        "median_tokens": statistics.median(r["tokens"] for r in rows),
        "load_average": load,
        "replies": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FORMATS), help="formats, comma-separated")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    from llama_cpp import Llama

    home = Path(tempfile.gettempdir()) / "hermes-formats-bench"
    llm = Llama(model_path=str(model_path(home)), n_ctx=4096, n_threads=args.threads, verbose=False)
    results = {}
    print(f"{'':4}  {'format':66}  {'median':>7}  {'max':>7}  {'clean':>5}  {'tokens':>6}  load")
    for key in args.only.split(","):
        r = results[key] = {"format": FORMATS[key][0], **measure(llm, FORMATS[key])}
        print(
            f"{key:4}  {r['format']:66}  {r['median_s']:6.2f}s  {r['max_s']:6.2f}s  "
            f"{r['clean']:2}/{len(PROMPTS)}  {r['median_tokens']:6}  {r['load_average']:.1f}",
            flush=True,
        )
    out = ROOT / "bench-results" / "local-formats.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
