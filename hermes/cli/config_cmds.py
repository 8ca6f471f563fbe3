"""`hermes config …`: set, get, unset, list, path, for the current profile, or with --global
for the whole HERMES_HOME ($HERMES_HOME/hermes.yaml: the front door's settings)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hermes.cli.output import echo, note, print_json, table
from hermes.cli.state import State

app = typer.Typer(no_args_is_help=True)

RevealOpt = Annotated[bool, typer.Option("--reveal", help="Show secrets unmasked.")]
GlobalOpt = Annotated[
    bool,
    typer.Option("--global", help="$HERMES_HOME/hermes.yaml (frontdoor.*), not a profile's."),
]


def _state(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


def _show(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value)


# A value may look like an option (`model.temperature -0.5`, `-5`): an unknown option is taken
# as the VALUE argument, to be judged by the schema, rather than refused by the parser.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(help="UPPER_SNAKE (goes to .env) or dotted.lower (goes to config.yaml)."),
    ],
    value: Annotated[str, typer.Argument(help="Typed the YAML way: true, 3, [a, b].")],
    global_: GlobalOpt = False,
) -> None:
    """Set a key in the profile's .env or config.yaml (or, with --global, in hermes.yaml)."""
    from hermes.config.secrets import is_secret_env, is_secret_name, mask
    from hermes.profiles.settings import is_env_key, set_value

    state = _state(ctx)
    if global_:
        from hermes.config.home import set_home_value

        typed = set_home_value(state.store.home, key, value)
        echo(f"hermes.yaml: {key} = {_show(typed)}")
        return
    profile = state.profile()
    before = _model(profile) if key == "model.provider" else None
    for line in set_value(state.store, profile, key, value):
        note(line)
    if before is not None:
        _stale_model_note(profile, before)
    in_env = is_env_key(key)
    secret = is_secret_env(key) if in_env else is_secret_name(key)
    shown = mask(value) if secret else value
    where = ".env" if in_env else "config.yaml"
    echo(f"{profile.name}: {key} = {shown}  ({where})")


def _model(profile: Any) -> tuple[str, str]:
    from hermes.profiles.settings import get_value

    return (
        str(get_value(profile, "model.provider").value),
        str(get_value(profile, "model.name").value),
    )


def _stale_model_note(profile: Any, before: tuple[str, str]) -> None:
    """A new provider with the previous one's model name (the template's gemma-3-270m sent to
    OpenAI): say so, naming the stale name and the command that fixes it."""
    provider, name = _model(profile)
    if provider != before[0] and name == before[1]:
        note(
            f"model.name is still {name!r}, the model of provider {before[0]!r}; set one "
            f"{provider!r} serves: `hermes -p {profile.name} config set model.name MODEL`"
        )


@app.command("get")
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument()],
    reveal: RevealOpt = False,
    global_: GlobalOpt = False,
) -> None:
    """Print a key's value (secrets masked unless --reveal)."""
    from hermes.profiles.settings import get_value

    if global_:
        from hermes.config.home import home_value

        echo(_show(home_value(_state(ctx).store.home, key)))
        return

    setting = get_value(_state(ctx).profile(), key)
    echo(_show(setting.shown(reveal)))


@app.command("unset")
def unset(
    ctx: typer.Context, key: Annotated[str, typer.Argument()], global_: GlobalOpt = False
) -> None:
    """Remove a key, returning it to its default."""
    from hermes.profiles.settings import unset_value

    if global_:
        from hermes.config.home import unset_home_value

        done = unset_home_value(_state(ctx).store.home, key)
        (echo if done else note)(f"hermes.yaml: {key} {'unset' if done else 'was not set'}")
        return

    profile = _state(ctx).profile()
    if unset_value(profile, key):
        echo(f"{profile.name}: {key} unset")
    else:
        note(f"{key} was not set in profile {profile.name!r}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    reveal: RevealOpt = False,
    global_: GlobalOpt = False,
) -> None:
    """Every setting of config.yaml (with defaults) and .env, and where each comes from."""
    from hermes.profiles.settings import list_values

    if global_:
        from hermes.config.home import home_values

        rows = home_values(_state(ctx).store.home)
        if as_json:
            print_json([{"key": k, "value": v, "source": src} for k, v, src in rows])
        else:
            table(("KEY", "VALUE", "SOURCE"), [(k, _show(v), src) for k, v, src in rows])
        return

    settings = list_values(_state(ctx).profile())
    if as_json:
        print_json([{"key": s.key, "value": s.shown(reveal), "source": s.source} for s in settings])
        return
    table(("KEY", "VALUE", "SOURCE"), [(s.key, _show(s.shown(reveal)), s.source) for s in settings])


@app.command("path")
def path(
    ctx: typer.Context,
    env: Annotated[bool, typer.Option("--env", help="The .env path instead.")] = False,
    directory: Annotated[bool, typer.Option("--dir", help="The profile folder.")] = False,
) -> None:
    """Print the path of the profile's config.yaml (or .env, or folder)."""
    profile = _state(ctx).profile()
    echo(str(profile.root if directory else profile.env_path if env else profile.config_path))
