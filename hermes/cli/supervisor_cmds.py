"""`hermes up / down / status / start / stop / restart / reload`: the supervisor and its control
socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hermes.cli.output import echo, error, print_json
from hermes.cli.state import State

DETACH_TIMEOUT = 120.0


def _home(ctx: typer.Context) -> Path:
    state: State = ctx.obj
    return state.store.home


def _client(ctx: typer.Context) -> Any:
    from hermes.supervisor.client import ControlClient

    return ControlClient(_home(ctx))


def up(
    ctx: typer.Context,
    profiles: Annotated[list[str] | None, typer.Argument(help="Only these profiles.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
) -> None:
    """Run one gateway per enabled profile (or the ones named), and keep them running."""
    names = profiles or []
    if not detach:
        from hermes.supervisor.main import run

        raise typer.Exit(run(names))
    raise typer.Exit(_detach(ctx, names))


def _detach(ctx: typer.Context, names: list[str]) -> int:
    """Start the supervisor in the background; return once every gateway is ready or failed."""
    from hermes.errors import Conflict

    client = _client(ctx)
    if client.running():
        raise Conflict("a supervisor is already running; see `hermes status`")
    home = _home(ctx)
    out = home / "logs" / "supervisor.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HERMES_HOME": str(home)}
    with open(out, "ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hermes.supervisor", "--background", *names],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    deadline = time.monotonic() + DETACH_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = out.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            error(f"the supervisor exited with code {proc.returncode}: {tail[0]}")
            return 1
        if client.running():
            status = client.status()
            children = _children(status)
            if all(g["state"] not in ("starting", "backoff") for g in children):
                _print_status(status)
                failed = [g for g in children if g["state"] == "fatal"]
                for g in failed:
                    error(f"{g['profile']}: {g['last_error']}")
                return 1 if failed else 0
        time.sleep(0.1)
    error(f"gateways not settled after {DETACH_TIMEOUT:.0f}s; see `hermes status`")
    return 1


def down(ctx: typer.Context) -> None:
    """Stop every gateway and the supervisor."""
    client = _client(ctx)
    status = client.status()
    client.action("down")
    deadline = time.monotonic() + 60
    while client.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    echo(f"Stopped the supervisor (pid {status['pid']}) and {len(status['gateways'])} gateway(s)")


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Every profile's gateway (only the one named with -p): state, pid, port, URL, uptime,
    restarts, memory, CPU, errors. Exit code 3 when no supervisor is running."""
    from hermes.supervisor.client import SupervisorNotRunning

    state: State = ctx.obj
    # -p names one profile: an unknown one is an error (exit 2) like for every other command.
    only = state.profile().name if state.profile_name is not None else None
    try:
        data = _client(ctx).status()
        code = 0
    except SupervisorNotRunning:
        infos = state.store.infos()
        data = {
            "frontdoor": _stopped_frontdoor(state),
            "pid": None,
            "summary": "no supervisor running",
            "gateways": [
                {
                    "profile": i.name,
                    "state": "stopped",
                    "pid": None,
                    "port": i.port,
                    "url": i.url,
                    "uptime": None,
                    "restarts": 0,
                    "rss": None,
                    "cpu": None,
                    "last_error": i.error,
                }
                for i in infos
            ],
        }
        code = 3
    if only is not None:
        data["gateways"] = [g for g in data["gateways"] if g["profile"] == only]
        data.pop("frontdoor", None)
    if as_json:
        print_json(data)
    else:
        _print_status(data)
    raise typer.Exit(code)


def _children(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateways, then the front door when there is one."""
    door = status.get("frontdoor")
    return [*status["gateways"], *([door] if door else [])]


def _stopped_frontdoor(state: State) -> dict[str, Any] | None:
    """With no supervisor: the front door as hermes.yaml sets it up, if it is enabled."""
    from hermes.config import serving
    from hermes.config.home import load_home
    from hermes.errors import HermesError

    entry: dict[str, Any] = dict.fromkeys(("pid", "port", "url", "uptime", "rss", "cpu"))
    entry.update(name="frontdoor", profile="@frontdoor", state="stopped", restarts=0)
    entry["last_error"] = None
    try:
        config = load_home(state.store.home).frontdoor
    except HermesError as exc:
        return {**entry, "last_error": exc.message}
    if not config.enabled:
        return None
    return {**entry, "port": config.port, "url": serving.base_url(config.host, config.port)}


def _print_status(data: dict[str, Any], width: int | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width)
    # An 80-column terminal gets the port instead of the URL and the last errors as lines under
    # the table, so no header or value is folded mid-word.
    wide = console.width >= 120
    colors = {"running": "green", "fatal": "red", "backoff": "yellow", "starting": "cyan"}
    table = Table(
        title=f"hermes: {data['summary']}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ["PROFILE", "STATE", "PID", "URL" if wide else "PORT", "UPTIME", "RESTARTS"]
    for column in [*columns, "RSS", "CPU%"]:
        table.add_column(column, no_wrap=True)
    if wide:
        table.add_column("LAST ERROR", overflow="fold")
    for g in _children(data):
        color = colors.get(g["state"], "white")
        # Running on its old settings, its files broken: said in full where there is room, by
        # a `*` before the error line under the table where there is not.
        flag = " (config error)" if wide else "*"
        shown = f"{g['state']}{flag}" if g.get("config_error") else g["state"]
        row = [
            "(front door)" if g.get("name") == "frontdoor" else g["profile"],
            f"[{color}]{shown}[/]",
            _s(g["pid"]),
            g["url"] if wide else _s(g["port"]),
            _duration(g["uptime"]),
            _s(g["restarts"]),
            f"{g['rss'] / 2**20:.0f} MB" if g.get("rss") else "-",
            f"{g['cpu']:.0f}" if g.get("cpu") is not None else "-",
        ]
        table.add_row(*row, *([_error_of(g)] if wide else []))
    console.print(table)
    if not wide:
        for g in _children(data):
            if _error_of(g):
                console.print(f"{g['profile']}: {_error_of(g)}", highlight=False)
    for g in data["gateways"]:
        for note in _sandbox_notes(g):
            console.print(f"[yellow]{g['profile']}[/]: {note}", highlight=False)
    for g in _children(data):
        if g["state"] == "fatal" and g.get("log_tail"):
            Console(stderr=True).print(
                f"[red]{g['profile']}[/] last log lines:\n  " + "\n  ".join(g["log_tail"]),
                highlight=False,
            )


def _error_of(g: dict[str, Any]) -> str:
    """A config error the running gateway survived comes first: it is what to fix now."""
    if g.get("config_error"):
        return f"config error: {g['config_error']} (still running on its previous settings)"
    return str(g["last_error"] or "")


def _sandbox_notes(g: dict[str, Any]) -> list[str]:
    """A line for each way a running gateway's tools or process are not confined."""
    sandbox, confined = g.get("sandbox"), g.get("confined")
    notes = []
    if sandbox == "off":
        notes.append("tools run unconfined (tools.sandbox.mode: off)")
    if sandbox == "unavailable":
        notes.append("terminal and execute_code refuse to run: no sandbox here (hermes doctor)")
    if sandbox is not None and confined is False:
        notes.append("gateway not confined to its profile (see `hermes doctor`)")
    return notes


def _s(value: Any) -> str:
    return "-" if value is None else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _act(ctx: typer.Context, action: str, profile: str | None = None) -> None:
    if profile is not None:  # an unknown name is bad usage (exit 2), supervisor or not
        state: State = ctx.obj
        profile = state.store.resolve(profile).name
    result = _client(ctx).action(action, profile)
    if isinstance(result, dict) and "state" in result:
        echo(
            f"{result['profile']}: {result['state']}"
            + (f" (pid {result['pid']})" if result.get("pid") else "")
            + (f": {result['last_error']}" if result.get("last_error") else "")
        )
        if result["state"] == "fatal":
            raise typer.Exit(1)
    else:
        echo(json.dumps(result))


def start(ctx: typer.Context, profile: Annotated[str, typer.Argument()]) -> None:
    """Start one profile's gateway under the running supervisor."""
    _act(ctx, "start", profile)


def stop(ctx: typer.Context, profile: Annotated[str, typer.Argument()]) -> None:
    """Stop one profile's gateway (it stays stopped until `hermes start`)."""
    _act(ctx, "stop", profile)


def restart(ctx: typer.Context, profile: Annotated[str, typer.Argument()]) -> None:
    """Restart one profile's gateway, picking up config changes."""
    _act(ctx, "restart", profile)


def reload(ctx: typer.Context) -> None:
    """Re-read profiles: start new, stop removed, restart changed; the others keep running.
    A broken profile is named with its error (exit code 1); the others are reloaded."""
    changes = _client(ctx).action("reload")
    kinds = ("started", "stopped", "restarted", "failed")
    for kind in kinds:
        if changes.get(kind):
            echo(f"{kind}: {', '.join(changes[kind])}")
    if not any(changes.get(kind) for kind in kinds):
        echo("nothing changed")
    errors = changes.get("errors") or {}
    for name, message in errors.items():
        error(f"profile {name!r}: {message}")
    if errors:
        raise typer.Exit(1)
