"""`hermes keys …`: named, revocable API keys for the current profile's gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from hermes.cli.output import echo, key_dict, key_row, note, print_json, table, when
from hermes.cli.state import State

app = typer.Typer(no_args_is_help=True)

LabelArg = Annotated[
    str, typer.Argument(help="A name for the key: 1-64 letters, digits, '.', '_' or '-'.")
]


def _state(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


@app.command("create")
def create(
    ctx: typer.Context,
    label: LabelArg,
    expires_days: Annotated[
        int | None,
        typer.Option("--expires-days", metavar="N", help="Refuse the key N days from now."),
    ] = None,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    from hermes.stores.keys import KeyStore

    profile = _state(ctx).profile()
    with KeyStore.for_profile(profile) as keys:
        record, key = keys.create(label, expires_days)
    echo(key)  # the one and only time the key is shown: stdout, so `$(hermes keys create …)` works
    expires = "" if record.expires_at is None else f", expires {when(record.expires_at)}"
    note(f"key {label!r} created for profile {profile.name!r}{expires}; it will not be shown again")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every key: label, prefix, status, created, last used, expires, revoked."""
    import time

    from hermes.stores.keys import KeyStore

    profile = _state(ctx).profile()
    with KeyStore.for_profile(profile) as keys:
        records = keys.list()
    now = time.time()
    if as_json:
        print_json([key_dict(r, now) for r in records])
        return
    if not records:
        note(f"profile {profile.name!r} has no keys; create one with `hermes keys create LABEL`")
        return
    headers = ("LABEL", "PREFIX", "STATUS", "CREATED", "LAST USED", "EXPIRES", "REVOKED")
    table(headers, [key_row(r, now) for r in records])


@app.command("revoke")
def revoke(ctx: typer.Context, label: LabelArg) -> None:
    """Revoke a key: a running gateway refuses it from its next request on."""
    from hermes.stores.keys import KeyStore

    profile = _state(ctx).profile()
    with KeyStore.for_profile(profile) as keys:
        record = keys.revoke(label)
    echo(f"{profile.name}: key {label!r} ({record.prefix}…) revoked")
