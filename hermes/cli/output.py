"""Plain, fast terminal output: aligned tables and JSON without importing rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def error(message: str) -> None:
    sys.stderr.write(f"hermes: error: {message}\n")


def note(message: str) -> None:
    sys.stderr.write(f"hermes: {message}\n")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
