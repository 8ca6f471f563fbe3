"""`hermes gateway`: serve the current profile in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from hermes.cli.state import State


def gateway(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: api_server.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: the profile's port).")] = None,
) -> None:
    """Serve the profile as an OpenAI-compatible API until Ctrl-C / SIGTERM."""
    from hermes.gateway.server import serve_foreground

    state: State = ctx.obj
    raise typer.Exit(serve_foreground(state.profile_name, host=host, port=port))
