"""`hermes model serve`: the shared local model server on its own (the supervisor runs it for
you when a profile uses the `local` provider)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (default $HERMES_MODEL_PORT or 8639).")
    ] = None,
) -> None:
    """Serve the bundled Gemma 3 270M as an OpenAI-compatible API until Ctrl-C / SIGTERM."""
    from hermes.model_server.server import serve as run

    raise typer.Exit(run(host, port))
