"""`hermes profile …`: create, list, show, use, rename, delete, export, import."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hermes.cli.output import echo, note, print_json, table
from hermes.cli.state import State

if TYPE_CHECKING:
    from hermes.profiles import Created, ProfileInfo, ProfileStore

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _state(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


def _info_dict(info: ProfileInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "active": info.active,
        "port": info.port,
        "host": info.host,
        "url": info.url,
        "provider": info.provider,
        "model": info.model,
        "description": info.description,
        "enabled": info.enabled,
        "path": str(info.path),
        "error": info.error,
    }


def _report_created(
    store: ProfileStore,
    created: Created,
    as_json: bool,
    verb: str,
    extra: dict[str, Any] | None = None,
) -> None:
    info = store.info(created.profile)
    if as_json:
        print_json({**_info_dict(info), "api_key": created.api_key, **(extra or {})})
        return
    name = created.profile.name
    echo(f"{verb} profile {name!r} in {created.profile.root}")
    echo(f"  URL:      {info.url}")
    echo(f"  Model id: {name if name != 'default' else 'hermes-agent'}")
    echo(f"  API key:  {created.api_key}")
    echo(
        f"  The key is shown once; `hermes -p {name} config get API_SERVER_KEY --reveal` "
        "prints it again."
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="New profile name: a-z first, then a-z 0-9 - _.")],
    clone_from: Annotated[
        str | None,
        typer.Option(
            "--clone-from",
            metavar="SRC",
            help="Copy SRC's config, SOUL.md, skills and memory (never its secrets or state).",
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on (default: next free).")] = None,
    description: Annotated[str | None, typer.Option(help="One line about the profile.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a profile from the template, or as a clone of another."""
    store = _state(ctx).store
    created = store.create(name, clone_from=clone_from, port=port, description=description)
    _report_created(store, created, as_json, "Created")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List profiles: port, provider/model, and which one is active."""
    store = _state(ctx).store
    infos = store.infos()
    live = _live_states(store.home)
    if as_json:
        print_json([{**_info_dict(i), "state": live.get(i.name)} for i in infos])
        return
    rows = [
        (
            "*" if i.active else "",
            i.name,
            i.port,
            *((live.get(i.name, "stopped"),) if live else ()),
            f"{i.provider}/{i.model}",
            "config error" if i.error else (i.description or ""),
        )
        for i in infos
    ]
    headers = ("", "NAME", "PORT", *(("STATE",) if live else ()), "MODEL", "DESCRIPTION")
    table(headers, rows)
    for info in infos:  # each broken profile's reason, one line each, after the others
        if info.error:
            note(f"profile {info.name!r}: {info.error}")


def _live_states(home: Path) -> dict[str, str]:
    """Each profile's gateway state when a supervisor runs (nothing to ask otherwise)."""
    if not (home / "run" / "supervisor.sock").exists():
        return {}
    from hermes.errors import HermesError
    from hermes.supervisor.client import ControlClient

    try:
        gateways = ControlClient(home).status()["gateways"]
    except HermesError:
        return {}
    return {g["profile"]: g["state"] for g in gateways}


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Profile (default: the current one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one profile."""
    state = _state(ctx)
    profile = state.store.get(name) if name else state.profile()
    info = state.store.info(profile)
    data = _info_dict(info)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if value not in (None, ""):
            echo(f"{key + ':':13}{value}")


@app.command("use")
def use(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Make NAME the default profile for later commands."""
    _state(ctx).store.use(name)
    echo(f"Active profile: {name}")


@app.command("rename")
def rename(
    ctx: typer.Context, old: Annotated[str, typer.Argument()], new: Annotated[str, typer.Argument()]
) -> None:
    """Rename a profile, keeping its port and data; a running gateway is restarted under the
    new name (through the supervisor, when one runs)."""
    store = _state(ctx).store
    store.get(old)  # an unknown profile is an error before the supervisor is asked anything
    running = _forget(ctx, old)
    store.rename(old, new)
    echo(f"Renamed profile {old!r} to {new!r}")
    if running:
        from hermes.supervisor.client import ControlClient

        result = ControlClient(store.home).action("start", new)
        echo(f"{new}: {result.get('state')}")


def _forget(ctx: typer.Context, name: str) -> bool:
    """Have a running supervisor stop and drop `name`'s gateway; whether one was running."""
    from hermes.supervisor.client import ControlClient, SupervisorNotRunning

    try:
        result = ControlClient(_state(ctx).store.home).action("forget", name)
    except SupervisorNotRunning:
        return False
    if result.get("was_running"):
        echo(f"{name}: stopped")
    return bool(result.get("was_running"))


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    force: Annotated[bool, typer.Option(help="Required to delete the default profile.")] = False,
) -> None:
    """Delete a profile and all its data."""
    store = _state(ctx).store
    profile = store.get(name) if name != "default" else store.path(name)
    if name == "default" and not force:
        store.delete(name, force=False)  # raises the explanatory error
    if not yes and not typer.confirm(
        f"Delete profile {name!r} and everything in {profile.root}?", default=False
    ):
        raise typer.Abort()
    _forget(ctx, name)  # its gateway stops before its files go
    store.delete(name, force=force)
    echo(f"Deleted profile {name!r}")


@app.command("export")
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Archive path.")] = None,
    workspace: Annotated[
        bool, typer.Option("--workspace/--no-workspace", help="Include the workspace folder.")
    ] = True,
) -> None:
    """Export a profile as .tar.gz, without secrets, state or logs."""
    from hermes.profiles.archive import export_profile

    out = output or Path(f"hermes-profile-{name}.tar.gz")
    count = export_profile(_state(ctx).store, name, out, workspace=workspace)
    echo(f"Exported profile {name!r} ({count} files) to {out}")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An archive made by `profile export`.")],
    name: Annotated[str | None, typer.Option(help="Name for the new profile.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on (default: next free).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a profile archive under a fresh port and key; the archive's exposure and trust
    settings (host, CORS, limits, allow_private, sandbox…) are dropped, each one listed."""
    from hermes.profiles.archive import import_profile

    store = _state(ctx).store
    imported = import_profile(store, file, name=name, port=port)
    dropped = [dataclasses.asdict(d) for d in imported.dropped]
    sent_to = [dataclasses.asdict(d) for d in imported.endpoints]
    extra = {"dropped": dropped, "endpoints": sent_to}
    _report_created(store, imported.created, as_json, "Imported", extra)
    for setting in imported.dropped:  # stderr, so --json output stays one JSON document
        note(f"dropped from the archive: {setting}")
    for setting in imported.endpoints:
        note(f"kept from the archive, check it: {setting}")
