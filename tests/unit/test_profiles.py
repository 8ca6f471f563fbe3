"""Profiles through the CLI (Typer's runner): create, clone, list, show, use, rename, delete."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from hermes.config import envfile
from hermes.profiles import ProfileStore
from tests.conftest import Cli


def env_of(home: Path, name: str) -> dict[str, str]:
    return envfile.read(home / "profiles" / name / ".env")


def listing(cli: Cli) -> dict[str, dict[str, Any]]:
    result = cli("profile", "list", "--json")
    assert result.exit_code == 0, result.output
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_default_profile_is_created_on_first_use(cli: Cli, home: Path) -> None:
    profiles = listing(cli)
    assert list(profiles) == ["default"]
    assert profiles["default"]["port"] == 8642
    assert profiles["default"]["active"] is True
    root = home / "profiles" / "default"
    for part in (
        "config.yaml",
        ".env",
        "SOUL.md",
        "memory/MEMORY.md",
        "memory/USER.md",
        "skills",
        "workspace",
        "state",
        "logs",
    ):
        assert (root / part).exists(), part


def test_create_writes_a_private_env_and_prints_url_and_key_once(cli: Cli, home: Path) -> None:
    result = cli("profile", "create", "alice", "--description", "Alice's agent")
    assert result.exit_code == 0, result.output
    env_path = home / "profiles" / "alice" / ".env"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    env = env_of(home, "alice")
    assert env["API_SERVER_ENABLED"] == "true"
    assert len(env["API_SERVER_KEY"]) >= 32
    assert env["API_SERVER_KEY"] in result.stdout
    assert f"http://127.0.0.1:{env['API_SERVER_PORT']}/v1" in result.stdout
    assert listing(cli)["alice"]["description"] == "Alice's agent"
    # the key is never shown again unmasked
    shown = cli("profile", "show", "alice")
    assert env["API_SERVER_KEY"] not in shown.stdout


BAD_NAMES = ["../x", "A", "a b", "", "all", "hermes", "run", "x" * 33, "1abc", "-x", "a/b", "a.b"]
# `$` also matches before a final newline: each of these once made a folder of its own.
BAD_NAMES += ["abc\n", "abc\r", "\nabc", "abc\n\n", "a\u2028", ".", "..", "ab\x00"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_are_refused_and_nothing_is_written(cli: Cli, home: Path, bad: str) -> None:
    cli("profile", "list")  # default exists
    before = sorted(p.name for p in (home / "profiles").iterdir())
    result = cli("profile", "create", "--", bad)
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in (home / "profiles").iterdir()) == before
    assert not (home.parent / "x").exists()


@pytest.mark.parametrize("bad", ["abc\n", "Alice", "..", "x" * 33])
def test_every_way_a_name_comes_in_follows_the_one_rule(
    cli: Cli, home: Path, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create, --clone-from, rename, -p and HERMES_PROFILE: one line naming the rule, exit 2,
    and no folder made or renamed."""
    cli("profile", "create", "alice")
    before = sorted(os.listdir(home / "profiles"))
    for args in (
        ("profile", "create", "--", bad),
        ("profile", "create", "bob", "--clone-from", bad),
        ("profile", "create", "--clone-from", "alice", "--", bad),
        ("profile", "rename", "alice", "--", bad),
        ("profile", "rename", "--", bad, "carol"),
        ("-p", bad, "config", "list"),
        ("profile", "use", "--", bad),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and "Traceback" not in result.output, args
        assert "invalid profile name" in result.output, (args, result.output)
        assert "a lower-case letter first" in result.output, args
    assert sorted(os.listdir(home / "profiles")) == before
    monkeypatch.setenv("HERMES_PROFILE", bad)
    via_env = cli("config", "list")
    assert via_env.exit_code == 2 and "invalid profile name" in via_env.output


def test_a_folder_named_against_the_rule_is_never_listed(cli: Cli, home: Path) -> None:
    cli("profile", "list")
    (home / "profiles" / "abc\n").mkdir()
    (home / "profiles" / "Upper").mkdir()
    assert list(listing(cli)) == ["default"]


def test_ports_are_unique_and_skip_ports_in_use(cli: Cli, home: Path) -> None:
    cli("profile", "list")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 8643))
        busy.listen()
        assert cli("profile", "create", "alice").exit_code == 0
        refused = cli("profile", "create", "bob", "--port", "8643")
        assert refused.exit_code != 0 and "in use" in refused.output
    ports = {n: p["port"] for n, p in listing(cli).items()}
    assert ports["default"] == 8642 and ports["alice"] == 8644
    taken = cli("profile", "create", "carol", "--port", "8642")
    assert taken.exit_code != 0 and "already used by profile 'default'" in taken.output
    assert cli("profile", "create", "carol", "--port", "9100").exit_code == 0
    assert listing(cli)["carol"]["port"] == 9100
    assert len({p["port"] for p in listing(cli).values()}) == 3


def test_clone_copies_character_but_never_secrets_or_state(cli: Cli, home: Path) -> None:
    src = home / "profiles" / "default"
    cli("profile", "list")
    assert cli("config", "set", "OPENAI_API_KEY", "sk-secret-value-1234567890").exit_code == 0
    assert cli("config", "set", "model.name", "gpt-4.1").exit_code == 0
    (src / "SOUL.md").write_text("I am the original.\n")
    (src / "skills" / "mine").mkdir()
    (src / "skills" / "mine" / "SKILL.md").write_text("---\nname: mine\n---\nhi\n")
    (src / "memory" / "MEMORY.md").write_text("- likes tea\n")
    (src / "state" / "sessions.db").write_text("private")
    (src / "logs" / "gateway.log").write_text("private")
    (src / "workspace" / "notes.txt").write_text("private")

    assert cli("profile", "create", "bob", "--clone-from", "default").exit_code == 0
    dst = home / "profiles" / "bob"
    assert (dst / "SOUL.md").read_text() == "I am the original.\n"
    assert (dst / "skills" / "mine" / "SKILL.md").exists()
    assert "likes tea" in (dst / "memory" / "MEMORY.md").read_text()
    # Only bob's own parse of his config.yaml (cached by reading it), none of default's state.
    assert {p.name for p in (dst / "state").iterdir()} <= {"config-cache.json"}
    assert not any((dst / "logs").iterdir())
    assert "private" not in "".join(p.read_text() for p in (dst / "state").iterdir())
    assert listing(cli)["bob"]["model"] == "gpt-4.1"
    assert not (dst / "workspace" / "notes.txt").exists()
    bob_env, src_env = env_of(home, "bob"), env_of(home, "default")
    assert "OPENAI_API_KEY" not in bob_env
    assert bob_env["API_SERVER_KEY"] != src_env["API_SERVER_KEY"]
    assert bob_env["API_SERVER_PORT"] != src_env["API_SERVER_PORT"]


def test_a_clone_starts_with_an_empty_description_unless_given_one(cli: Cli, home: Path) -> None:
    cli("profile", "create", "alice", "--description", "Alice's research agent")
    assert cli("profile", "create", "bob", "--clone-from", "alice").exit_code == 0
    assert (
        cli("profile", "create", "carol", "--clone-from", "alice", "--description", "C").exit_code
        == 0
    )
    shown = listing(cli)
    assert shown["alice"]["description"] == "Alice's research agent"
    assert shown["bob"]["description"] == "" and shown["carol"]["description"] == "C"


def test_clone_from_unknown_profile_fails_cleanly(cli: Cli, home: Path) -> None:
    result = cli("profile", "create", "bob", "--clone-from", "ghost")
    assert result.exit_code == 2 and "no profile named 'ghost'" in result.output
    assert not (home / "profiles" / "bob").exists()


def test_create_existing_name_is_refused(cli: Cli) -> None:
    assert cli("profile", "create", "alice").exit_code == 0
    again = cli("profile", "create", "alice")
    assert again.exit_code != 0 and "already exists" in again.output


def test_use_and_profile_precedence(cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("alice", "bob", "carol"):
        assert cli("profile", "create", name).exit_code == 0

    def current() -> str:
        name: str = json.loads(cli("profile", "show", "--json").stdout)["name"]
        return name

    def via_p() -> str:
        name: str = json.loads(cli("-p", "carol", "profile", "show", "--json").stdout)["name"]
        return name

    assert current() == "default"
    assert cli("profile", "use", "alice").exit_code == 0
    assert (home / "active_profile").read_text().strip() == "alice"
    assert current() == "alice"
    monkeypatch.setenv("HERMES_PROFILE", "bob")
    assert current() == "bob"
    assert via_p() == "carol"
    assert listing(cli)["alice"]["active"] is True


def test_unknown_profile_is_one_line_and_exit_2(cli: Cli) -> None:
    result = cli("-p", "ghost", "config", "list")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "no profile named 'ghost'" in result.output


def test_rename_keeps_port_and_data_and_follows_active(cli: Cli, home: Path) -> None:
    cli("profile", "create", "alice")
    cli("profile", "use", "alice")
    port = listing(cli)["alice"]["port"]
    (home / "profiles" / "alice" / "workspace" / "data.txt").write_text("keep me")
    assert cli("profile", "rename", "alice", "alicia").exit_code == 0
    profiles = listing(cli)
    assert "alice" not in profiles and profiles["alicia"]["port"] == port
    assert profiles["alicia"]["active"] is True
    assert (home / "profiles" / "alicia" / "workspace" / "data.txt").read_text() == "keep me"
    assert cli("profile", "rename", "alicia", "default").exit_code != 0
    assert cli("profile", "rename", "default", "x").exit_code != 0
    assert cli("profile", "rename", "alicia", "Bad Name").exit_code == 2


def test_delete_asks_unless_yes_and_protects_default(cli: Cli, home: Path) -> None:
    cli("profile", "create", "alice")
    declined = cli("profile", "delete", "alice", input="n\n")
    assert declined.exit_code != 0 and (home / "profiles" / "alice").exists()
    assert cli("profile", "delete", "alice", input="y\n").exit_code == 0
    assert not (home / "profiles" / "alice").exists()
    cli("profile", "create", "bob")
    assert cli("profile", "delete", "bob", "--yes").exit_code == 0
    refused = cli("profile", "delete", "default", "--yes")
    assert refused.exit_code != 0 and "--force" in refused.output
    assert (home / "profiles" / "default").exists()
    assert cli("profile", "delete", "default", "--yes", "--force").exit_code == 0
    assert not (home / "profiles" / "default").exists()
    assert cli("profile", "delete", "ghost", "--yes").exit_code == 2


def test_deleting_the_active_profile_falls_back_to_default(cli: Cli, home: Path) -> None:
    cli("profile", "create", "alice")
    cli("profile", "use", "alice")
    cli("profile", "delete", "alice", "--yes")
    assert json.loads(cli("profile", "show", "--json").stdout)["name"] == "default"


def test_list_table_and_show(cli: Cli) -> None:
    cli("profile", "create", "alice", "--description", "research")
    out = cli("profile", "list").stdout
    assert "NAME" in out and "alice" in out and "research" in out and "local/gemma-3-270m" in out
    shown = json.loads(cli("profile", "show", "alice", "--json").stdout)
    assert shown["url"].startswith("http://127.0.0.1:") and shown["provider"] == "local"


def test_store_survives_a_broken_config_in_list(store: ProfileStore, home: Path) -> None:
    store.create("alice")
    (home / "profiles" / "alice" / "config.yaml").write_text("model: [unclosed\n")
    infos = {i.name: i for i in store.infos()}
    assert infos["alice"].error and "config.yaml:" in infos["alice"].error
    assert infos["default"].error is None


def test_concurrent_creates_get_distinct_ports(home: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = ProfileStore(home)
    store.ensure_default()
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda n: ProfileStore(home).create(f"p{n}"), range(8)))
    ports = [c.port for c in created]
    assert len(set(ports)) == 8 and 8642 not in ports
    assert not [p for p in os.listdir(home / "profiles") if p.startswith(".")]


def test_list_reflects_hand_edits_despite_its_index(cli: Cli, home: Path) -> None:
    cli("profile", "create", "alice")
    assert listing(cli)["alice"]["model"] == "gemma-3-270m"
    assert (home / "run" / "profile-index.json").exists()
    config = home / "profiles" / "alice" / "config.yaml"
    config.write_text(config.read_text().replace("gemma-3-270m", "llama3"))  # in place, same inode
    assert listing(cli)["alice"]["model"] == "llama3"
    env = home / "profiles" / "alice" / ".env"
    env.write_text(env.read_text().replace("API_SERVER_PORT=8643", "API_SERVER_PORT=9999"))
    assert listing(cli)["alice"]["port"] == 9999
    (home / "run" / "profile-index.json").write_text("{not json")
    assert listing(cli)["alice"]["port"] == 9999
    cli("profile", "rename", "alice", "bob")
    assert set(listing(cli)) == {"bob", "default"}
