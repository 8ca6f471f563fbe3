"""`-p` naming a profile that does not exist is one error line and exit 2 for every command
that acts on a profile (`status` used to ignore it and exit as if asked about all)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli

COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["config", "list"],
    ["config", "get", "model.name"],
    ["config", "set", "model.name", "x"],
    ["profile", "show"],
    ["keys", "list"],
    ["logs"],
]
NAMED = [["start", "nosuch"], ["stop", "nosuch"], ["restart", "nosuch"]]


@pytest.mark.parametrize("args", [["-p", "nosuch", *c] for c in COMMANDS] + NAMED, ids=" ".join)
def test_an_unknown_profile_is_exit_2_for_every_command(cli: Cli, args: list[str]) -> None:
    cli("profile", "list")
    result = cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "hermes: error: no profile named 'nosuch' (profiles: default); "
        "create it with `hermes profile create nosuch`"
    ]


def test_status_with_a_profile_shows_only_that_one(cli: Cli) -> None:
    import json

    cli("profile", "create", "alice")
    result = cli("-p", "alice", "status", "--json")
    assert result.exit_code == 3  # no supervisor running
    assert [g["profile"] for g in json.loads(result.output)["gateways"]] == ["alice"]
