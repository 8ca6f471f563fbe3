"""`hermes frontdoor keys …`: the front door's keys, each reaching the profiles it names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hermes.cli.output import echo, key_dict, key_row, note, print_json, table, when
from hermes.cli.state import State
from hermes.errors import InvalidRequest

app = typer.Typer(no_args_is_help=True)
keys_app = typer.Typer(no_args_is_help=True)
app.add_typer(keys_app, name="keys", help="Keys for the front door: create, list, revoke.")

LabelArg = Annotated[
    str, typer.Argument(help="A name for the key: 1-64 letters, digits, '.', '_' or '-'.")
]


def _home(ctx: typer.Context) -> Path:
    state: State = ctx.obj
    return state.store.home


@keys_app.command("create")
def create(
    ctx: typer.Context,
    label: LabelArg,
    profiles: Annotated[
        str | None,
        typer.Option("--profiles", metavar="A,B", help="The profiles the key reaches."),
    ] = None,
    all_profiles: Annotated[bool, typer.Option("--all", help="Every profile.")] = False,
    expires_days: Annotated[
        int | None,
        typer.Option("--expires-days", metavar="N", help="Refuse the key N days from now."),
    ] = None,
    trust_identity: Annotated[
        bool,
        typer.Option(
            "--trust-identity",
            help="Believe the user its client names (Open WebUI's X-OpenWebUI-User-* headers, "
            "frontdoor.identity_header, the `user` field), mapped by frontdoor.users.",
        ),
    ] = False,
) -> None:
    """Create a front-door key and print it once (only its hash is kept)."""
    from hermes.frontdoor.keys import key_store, scope_of

    if (profiles is None) == (not all_profiles):
        raise InvalidRequest("give either --profiles a,b or --all", param="profiles")
    names = None if all_profiles else [p.strip() for p in (profiles or "").split(",") if p.strip()]
    scope = scope_of(names, trust_identity=trust_identity)
    with key_store(_home(ctx)) as keys:
        record, key = keys.create(label, expires_days, scope=scope)
    echo(key)  # the one and only time the key is shown: stdout, so `$(hermes … create …)` works
    reach = "every profile" if names is None else ", ".join(sorted(set(names)))
    expires = "" if record.expires_at is None else f", expires {when(record.expires_at)}"
    trusted = ", trusting its client's user" if trust_identity else ""
    note(f"front-door key {label!r} created for {reach}{trusted}{expires}; not shown again")


@keys_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every front-door key: label, prefix, profiles, identity, status, dates."""
    import time

    from hermes.frontdoor.keys import describe, grant_of, key_store

    with key_store(_home(ctx)) as keys:
        records = keys.list()
    now = time.time()
    grants = [grant_of(r) for r in records]
    if as_json:
        print_json(
            [
                {**key_dict(r, now), "profiles": describe(g), "trust_identity": g.trust_identity}
                for r, g in zip(records, grants, strict=True)
            ]
        )
        return
    if not records:
        note("no front-door keys; create one with `hermes frontdoor keys create LABEL --all`")
        return
    headers = ("LABEL", "PREFIX", "STATUS", "CREATED", "LAST USED", "EXPIRES", "REVOKED")
    rows = [
        (*key_row(r, now), describe(g), "trusted" if g.trust_identity else "-")
        for r, g in zip(records, grants, strict=True)
    ]
    table((*headers, "PROFILES", "IDENTITY"), rows)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, label: LabelArg) -> None:
    """Revoke a front-door key: the front door refuses it from its next request on."""
    from hermes.frontdoor.keys import key_store

    with key_store(_home(ctx)) as keys:
        record = keys.revoke(label)
    echo(f"front door: key {label!r} ({record.prefix}…) revoked")
