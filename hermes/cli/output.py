"""Plain, fast terminal output: aligned tables and JSON without importing rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hermes.stores.keys import ApiKey


def echo(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def error(message: str) -> None:
    sys.stderr.write(f"hermes: error: {one_line(message)}\n")


def note(message: str) -> None:
    sys.stderr.write(f"hermes: {one_line(message)}\n")


def one_line(text: str) -> str:
    """`text` with control characters escaped: a message quoting what someone typed or a file
    held (a key ending in a newline, an escape sequence) stays one line and never drives the
    terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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


# -- named keys (`hermes keys`, `hermes frontdoor keys`) ---------------------------------------


def key_dict(record: ApiKey, now: float) -> dict[str, Any]:
    return {
        "label": record.label,
        "prefix": record.prefix,
        "status": record.status(now),
        "created_at": iso(record.created_at),
        "last_used_at": iso(record.last_used_at),
        "expires_at": iso(record.expires_at),
        "revoked_at": iso(record.revoked_at),
    }


def key_row(record: ApiKey, now: float) -> tuple[Any, ...]:
    """LABEL, PREFIX, STATUS, CREATED, LAST USED, EXPIRES, REVOKED."""
    r = record
    return (r.label, f"{r.prefix}…", r.status(now), when(r.created_at), when(r.last_used_at),
            when(r.expires_at), when(r.revoked_at))  # fmt: skip


def iso(ts: float | None) -> str | None:
    from datetime import UTC, datetime

    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def when(ts: float | None) -> str | None:
    """Minutes are enough in a table; None prints as '-'."""
    stamp = iso(ts)
    return None if stamp is None else stamp[:16].replace("T", " ") + "Z"
