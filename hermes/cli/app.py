"""The Typer application: the global -p/--profile option and the command groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hermes import __version__
from hermes.cli.output import error
from hermes.cli.state import State
from hermes.errors import HermesError


class HermesGroup(TyperGroup):
    """Turns hermes' own errors into one line on stderr and their exit code, for every command
    (the Typer test runner goes through here too)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except HermesError as exc:
            error(exc.message)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            error(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=HermesGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="hermes: a multi-profile agent gateway with an OpenAI-compatible API.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hermes {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "-p",
            "--profile",
            metavar="NAME",
            help="Profile to act on (default: $HERMES_PROFILE, then `profile use`, then default).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    ctx.obj = State(profile_name=profile)


def _register() -> None:
    from hermes.cli import (
        config_cmds,
        doctor_cmds,
        frontdoor_cmds,
        gateway_cmds,
        keys_cmds,
        logs_cmds,
        model_cmds,
        profile_cmds,
        supervisor_cmds,
        systemd_cmds,
    )

    app.add_typer(profile_cmds.app, name="profile", help="Create and manage profiles.")
    app.add_typer(config_cmds.app, name="config", help="Read and change a profile's settings.")
    app.add_typer(keys_cmds.app, name="keys", help="Named, revocable API keys for the gateway.")
    app.add_typer(frontdoor_cmds.app, name="frontdoor", help="One URL and key for every profile.")
    app.command("gateway")(gateway_cmds.gateway)
    for name in ("up", "down", "status", "start", "stop", "restart", "reload"):
        app.command(name)(getattr(supervisor_cmds, name))
    app.command("logs")(logs_cmds.logs)
    app.command("doctor")(doctor_cmds.doctor)
    app.add_typer(systemd_cmds.app, name="systemd", help="Write systemd units for hermes.")
    app.add_typer(model_cmds.app, name="model", help="The bundled local model.")


_register()


def run(application: typer.Typer, argv: list[str], *, debug: bool = False) -> int:
    """Run the CLI with `argv`; returns the exit code. Usage errors are one line too."""
    from typer.main import get_command

    command = get_command(application)
    try:
        result = command.main(args=argv, prog_name="hermes", standalone_mode=False)
    except HermesError as exc:
        error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except Exception as exc:  # every other failure: one line, never a traceback
        return _handle_other(exc, debug)
    # Without standalone mode, click returns the code of a typer.Exit instead of raising it.
    return result if isinstance(result, int) else 0


def _handle_other(exc: Exception, debug: bool) -> int:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if isinstance(exc, typer.Abort):
        error("aborted")
        return 1
    if isinstance(exc, NoArgsIsHelpError):  # `hermes profile` alone: the help was shown
        return 0
    if isinstance(exc, ClickException):
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error(f"{exc.format_message()}{hint}")
        return int(exc.exit_code)
    if debug:
        raise exc
    error(f"internal error: {type(exc).__name__}: {exc} (set HERMES_DEBUG=1 for details)")
    return 1
