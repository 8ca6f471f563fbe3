"""`hermes logs [PROFILE] [-f] [-n N]`: a gateway's log as `hermes up` captured it, or the
supervisor's own."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from hermes.cli.output import note
from hermes.cli.state import State

SUPERVISOR = "supervisor"  # a reserved profile name, so it cannot hide a profile's log


def logs(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Argument(
            help="Profile whose gateway log to show (default: the current profile); "
            "`supervisor` for the supervisor's own log.",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "-f", "--follow", help="Keep printing new lines as they arrive, until Ctrl-C."
        ),
    ] = False,
    lines: Annotated[
        int, typer.Option("-n", "--lines", min=0, metavar="N", help="How many last lines to print.")
    ] = 50,
) -> None:
    """Print the last lines of a gateway's log (or the supervisor's); -f follows it."""
    from hermes.supervisor import logs as logfiles

    path, hint = _log_path(ctx.obj, profile)
    exists = path.exists() or logfiles.backup_path(path, 1).exists()
    try:
        if not follow:
            if not exists:
                note(f"no log yet at {path}: {hint}")
                return
            _write(logfiles.tail(path, lines))
            return
        if not exists:
            note(f"no log yet at {path}: {hint} Waiting for it (Ctrl-C to stop).")
        with contextlib.closing(logfiles.follow(path, lines=lines)) as stream:
            for line in stream:
                _write((line,))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    except BrokenPipeError:  # `hermes logs | head`: the reader is gone, which is fine
        _silence_stdout()
        raise typer.Exit(0) from None


def _log_path(state: State, name: str | None) -> tuple[Path, str]:
    """The log to show, and the hint for when it does not exist yet."""
    from hermes.supervisor.logs import GATEWAY_LOG, SUPERVISOR_LOG

    if name == SUPERVISOR:
        return state.store.home / "logs" / SUPERVISOR_LOG, "has `hermes up` run?"
    profile = state.store.get(name) if name else state.profile()
    return profile.logs_dir / GATEWAY_LOG, "has the gateway run under `hermes up`?"


def _write(lines: Iterable[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
