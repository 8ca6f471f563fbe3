"""`hermes systemd …`: print or install the systemd units that run hermes in production."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hermes.cli.output import echo, note
from hermes.errors import InvalidRequest

if TYPE_CHECKING:
    from hermes.supervisor.systemd import Scope

app = typer.Typer(no_args_is_help=True)

ScopeOpt = Annotated[
    bool | None,
    typer.Option(
        "--user/--system",
        help="A unit for your user's systemd, or a system-wide one "
        "(default: --user, or --system when run as root).",
        show_default=False,
    ),
]
RunAsOpt = Annotated[
    str | None,
    typer.Option(
        "--run-as",
        metavar="USER",
        help="With --system: the account hermes runs as (default: the current user).",
    ),
]


def _scope(user_scope: bool | None) -> Scope:
    if user_scope is None:
        return "system" if os.geteuid() == 0 else "user"
    return "user" if user_scope else "system"


def _run_as(scope: Scope, run_as: str | None) -> str | None:
    if run_as is not None and scope == "user":
        raise InvalidRequest("--run-as only applies to --system units", param="run_as")
    return run_as


def _home() -> Path:
    from hermes.profiles.paths import hermes_home

    return hermes_home().absolute().resolve()


@app.command("print")
def print_(
    user_scope: ScopeOpt = None,
    gateway: Annotated[
        bool,
        typer.Option("--gateway", help="The per-profile template hermes-gateway@.service."),
    ] = False,
    frontdoor: Annotated[
        bool, typer.Option("--frontdoor", help="hermes-frontdoor.service, the front door alone.")
    ] = False,
    run_as: RunAsOpt = None,
) -> None:
    """Print the hermes.service unit (the supervisor), or with --gateway the gateway template,
    or with --frontdoor the front door's unit."""
    from hermes.supervisor.systemd import frontdoor_unit, gateway_unit, supervisor_unit

    scope = _scope(user_scope)
    render = frontdoor_unit if frontdoor else gateway_unit if gateway else supervisor_unit
    text = render(scope=scope, home=_home(), user=_run_as(scope, run_as))
    echo(text.rstrip("\n"))


@app.command("install")
def install(user_scope: ScopeOpt = None, run_as: RunAsOpt = None) -> None:
    """Write hermes.service, hermes-gateway@.service and hermes-frontdoor.service, then show
    the commands to start them."""
    from hermes.supervisor import systemd

    scope = _scope(user_scope)
    user = _run_as(scope, run_as)
    home = _home()
    paths = systemd.install(scope, home, user=user)
    for path in paths:
        echo(f"wrote {path}")
    if not home.exists():
        # ProtectSystem=strict needs ReadWritePaths= to exist, or the service cannot start.
        note(f"{home} does not exist yet: create it (e.g. `hermes profile list`) before starting")
    echo("")
    echo("next:")
    for step in systemd.next_steps(scope, user=user):
        echo(f"  {step}")
    flag = " --user" if scope == "user" else ""
    echo(f"  # or one profile alone: systemctl{flag} enable --now hermes-gateway@PROFILE.service")
