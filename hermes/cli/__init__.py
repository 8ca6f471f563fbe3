"""The `hermes` command. Start-up is kept lean: Typer is imported here only when a command runs,
and each command module imports what it needs inside its functions."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and `python -m hermes`. Never shows a traceback:
    errors are one line on stderr and a non-zero exit code (HERMES_DEBUG=1 shows the trace)."""
    from hermes.cli.app import app, run

    sys.exit(
        run(
            app, sys.argv[1:] if argv is None else argv, debug=os.environ.get("HERMES_DEBUG") == "1"
        )
    )
