"""One profile's broken .env or config.yaml (bytes that are not UTF-8, a bound broken by hand)
is an error naming the file, for that profile only: listing, status, the plan and reload carry
on with the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hermes.config import envfile
from hermes.errors import ConfigError
from hermes.profiles import ProfileStore
from hermes.supervisor.plan import plan
from hermes.supervisor.process import Gateway, Policy, State
from hermes.supervisor.supervisor import Supervisor
from tests.conftest import Cli


def break_env(home: Path, name: str) -> Path:
    """Two bytes that are not UTF-8 at the end of `name`'s .env; returns the file."""
    path = home / "profiles" / name / ".env"
    path.write_bytes(path.read_bytes() + b"NOTE=caf\xe9\xff\n")
    return path


def test_an_env_that_is_not_utf8_is_an_error_naming_file_line_and_byte(
    store: ProfileStore, home: Path
) -> None:
    store.create("alice")
    path = break_env(home, "alice")
    offset = path.read_bytes().index(b"\xe9")
    line = path.read_bytes()[:offset].count(b"\n") + 1
    with pytest.raises(ConfigError) as error:
        envfile.read(path)
    assert error.value.message.startswith(f"{path}:{line}:9: not valid UTF-8")
    assert f"byte 0xe9 at offset {offset}" in error.value.message
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        envfile.update(path, {"OTHER": "1"})
    assert b"OTHER" not in path.read_bytes()


def test_a_broken_env_breaks_only_its_own_profile(cli: Cli, home: Path) -> None:
    assert cli("profile", "create", "alice").exit_code == 0
    port = envfile.read(home / "profiles" / "alice" / ".env")["API_SERVER_PORT"]
    path = break_env(home, "alice")

    listed = cli("profile", "list")
    assert listed.exit_code == 0, listed.output
    assert "alice" in listed.stdout and "default" in listed.stdout
    (note,) = listed.stderr.splitlines()
    assert note.startswith(f"hermes: profile 'alice': {path}:") and "not valid UTF-8" in note

    infos = {p["name"]: p for p in json.loads(cli("profile", "list", "--json").stdout)}
    assert "not valid UTF-8" in infos["alice"]["error"] and infos["default"]["error"] is None
    assert infos["alice"]["port"] == int(port)  # still known: a new profile never gets it
    assert infos["alice"]["enabled"] is True

    status = cli("status", "--json")
    assert status.exit_code == 3
    gateways = {g["profile"]: g for g in json.loads(status.stdout)["gateways"]}
    assert "not valid UTF-8" in gateways["alice"]["last_error"]
    assert gateways["default"]["last_error"] is None
    table = cli("status")
    assert "alice" in table.stdout and "not valid UTF-8" in table.stdout

    own = cli("-p", "alice", "config", "list")
    assert own.exit_code == 2 and own.stderr.count("\n") == 1
    assert own.stderr.startswith(f"hermes: error: {path}:") and "internal error" not in own.output
    assert cli("config", "list").exit_code == 0  # the default profile's commands work
    created = cli("profile", "create", "bob", "--json")
    assert created.exit_code == 0 and json.loads(created.stdout)["port"] != int(port)


def test_a_config_yaml_that_is_not_utf8_is_named_like_a_yaml_error(cli: Cli, home: Path) -> None:
    cli("profile", "list")
    path = home / "profiles" / "default" / "config.yaml"
    path.write_bytes(b"model:\n  name: caf\xe9\n")
    result = cli("config", "get", "model.name")
    assert result.exit_code == 2
    assert result.stderr == (
        f"hermes: error: {path}:2:12: not valid UTF-8 (byte 0xe9 at offset 18); "
        "save the file as UTF-8\n"
    )
    assert cli("profile", "list").exit_code == 0


def test_the_plan_reports_a_broken_profile_and_plans_the_others(
    store: ProfileStore, home: Path
) -> None:
    store.create("alice")
    store.create("bob")
    bob_port = envfile.read(home / "profiles" / "bob" / ".env")["API_SERVER_PORT"]
    (home / "profiles" / "alice" / "config.yaml").write_text("model:\n  timeout: soon\n")
    envfile.update(home / "profiles" / "alice" / ".env", {"API_SERVER_PORT": bob_port})
    specs = {s.profile: s for s in plan(store, None, {}, 1)}  # no "both use port": alice won't
    assert specs["alice"].error is not None and "model.timeout" in specs["alice"].error
    assert specs["alice"].error.startswith(str(home / "profiles" / "alice" / "config.yaml"))
    assert specs["bob"].error is None and specs["default"].error is None
    (named,) = plan(store, ["alice"], {}, 1)
    assert named.error == specs["alice"].error


async def test_a_broken_profile_goes_fatal_at_once_without_a_process(
    store: ProfileStore, home: Path
) -> None:
    store.create("alice")
    break_env(home, "alice")
    (spec,) = plan(store, ["alice"], {}, 1)
    gateway = Gateway(spec, Policy())
    gateway.start()
    await gateway.settled.wait()
    status = gateway.status()
    assert gateway.state == State.FATAL and gateway.proc is None and status["pid"] is None
    assert status["restarts"] == 0 and "not valid UTF-8" in status["last_error"]
    await gateway.stop()
    assert gateway.state == State.FATAL


async def test_reload_lists_a_broken_profile_with_its_error(
    store: ProfileStore, home: Path
) -> None:
    """Every enabled profile broken or disabled, so nothing is spawned: reload reports."""
    store.ensure_default()
    envfile.update(home / "profiles" / "default" / ".env", {"API_SERVER_ENABLED": "false"})
    supervisor = Supervisor(store, environ={})
    assert await supervisor.reload() == {
        "started": [],
        "stopped": [],
        "restarted": [],
        "failed": [],
        "errors": {},
    }
    store.create("alice")
    path = break_env(home, "alice")
    changes = await supervisor.reload()
    assert changes["failed"] == ["alice"] and changes["started"] == []
    assert changes["errors"]["alice"].startswith(f"{path}:")
    assert supervisor.status()[0]["state"] == "fatal"
    again = await supervisor.reload()  # still broken: said again, nothing restarted
    assert again["failed"] == ["alice"] and again["restarted"] == []
    await supervisor._stop_all()
