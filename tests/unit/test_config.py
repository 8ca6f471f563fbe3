"""`hermes config …` and the config layer: typed keys, .env editing, masking, broken files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from hermes.config import envfile, load_config, mask
from hermes.errors import ConfigError
from hermes.profiles import ProfileStore
from tests.conftest import Cli


def profile_dir(home: Path, name: str = "default") -> Path:
    return home / "profiles" / name


def test_env_keys_go_to_env_keeping_other_lines(cli: Cli, home: Path) -> None:
    cli("profile", "list")
    env_path = profile_dir(home) / ".env"
    env_path.write_text(env_path.read_text() + "# my comment\nCUSTOM=1\n")
    assert cli("config", "set", "OPENAI_API_KEY", "sk-abc def#x").exit_code == 0
    assert cli("config", "set", "CUSTOM", "2").exit_code == 0
    text = env_path.read_text()
    assert "# my comment" in text and "CUSTOM=2" in text and "CUSTOM=1" not in text
    assert envfile.read(env_path)["OPENAI_API_KEY"] == "sk-abc def#x"
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b"])
def test_env_values_with_newline_or_nul_are_refused(cli: Cli, home: Path, value: str) -> None:
    cli("profile", "list")
    before = (profile_dir(home) / ".env").read_text()
    result = cli("config", "set", "TOKEN", value)
    assert result.exit_code != 0 and "newline or NUL" in result.output
    assert (profile_dir(home) / ".env").read_text() == before


# What str.splitlines() takes for a line break besides \n and \r: a value may hold any of them.
SPLITLINES_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("brk", SPLITLINES_BREAKS)
def test_env_values_with_other_line_breaks_round_trip_through_the_next_set(
    cli: Cli, home: Path, brk: str
) -> None:
    cli("profile", "list")
    env_path = profile_dir(home) / ".env"
    value = f"a{brk}STRAY=1 # x"
    assert cli("config", "set", "TOKEN", value).exit_code == 0
    assert cli("config", "set", "OTHER", "2").exit_code == 0  # rewrites every line of .env
    assert cli("config", "unset", "OTHER").exit_code == 0
    lines = env_path.read_text().split("\n")
    assert not [line for line in lines if line.startswith("STRAY")], lines
    assert envfile.read(env_path)["TOKEN"] == value and "STRAY" not in envfile.read(env_path)
    assert cli("config", "get", "TOKEN", "--reveal").stdout == value + "\n"


def test_env_value_that_is_not_utf8_text_is_refused(cli: Cli, home: Path) -> None:
    cli("profile", "list")
    before = (profile_dir(home) / ".env").read_bytes()
    result = cli("config", "set", "TOKEN", "caf\udce9")  # how argv carries a byte 0xe9
    assert result.exit_code == 2 and "not valid UTF-8 text" in result.output
    assert (profile_dir(home) / ".env").read_bytes() == before


@pytest.mark.parametrize("key", ["FOO\n", "FOO\r", "model.name\n", "FOO\x1b[2J"])
def test_a_key_with_a_control_character_is_refused_in_one_line(
    cli: Cli, home: Path, key: str
) -> None:
    cli("profile", "list")
    before = [(profile_dir(home) / f).read_bytes() for f in (".env", "config.yaml")]
    result = cli("config", "set", key, "bar")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "unknown key" in result.stderr and "\x1b" not in result.stderr
    assert [(profile_dir(home) / f).read_bytes() for f in (".env", "config.yaml")] == before


def test_env_reader_splits_lines_at_newline_only(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('A="x\u2028B=2"\r\nC=3\x85D=4\n', newline="")
    assert envfile.read(path) == {"A": "x\u2028B=2", "C": "3\x85D=4"}


def test_yaml_keys_are_typed_the_yaml_way(cli: Cli, home: Path) -> None:
    assert cli("config", "set", "model.temperature", "0.5").exit_code == 0
    assert cli("config", "set", "api_server.cors_origins", "[https://a.example]").exit_code == 0
    assert cli("config", "set", "tools.web_fetch.allow_private", "true").exit_code == 0
    assert cli("config", "set", "agent.max_iterations", "7").exit_code == 0
    assert cli("config", "set", "model.name", "3").exit_code == 0  # a string field stays a string
    config = load_config(profile_dir(home) / "config.yaml")
    assert config.model.temperature == 0.5
    assert config.api_server.cors_origins == ["https://a.example"]
    assert config.tools.web_fetch.allow_private is True
    assert config.agent.max_iterations == 7
    assert config.model.name == "3"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("model.temprature", "0.3", "did you mean 'temperature'"),
        ("modle.name", "x", "did you mean 'model'"),
        ("model.temperature", "hot", "expected a number"),
        ("agent.max_iterations", "many", "expected a whole number"),
        ("api_server.tool_progress", "inlin", "did you mean 'inline'"),
        ("api_server.enabled", "maybe", "expected true/false"),
        ("model.name.sub", "x", "has no sub-keys"),
        ("API_SERVER_PORT", "abc", "expected a whole number"),
        ("bad-key", "x", "unknown key"),
    ],
)
def test_bad_keys_and_values_are_refused_with_choices(
    cli: Cli, home: Path, key: str, value: str, expected: str
) -> None:
    cli("profile", "list")
    before = (profile_dir(home) / "config.yaml").read_text()
    result = cli("config", "set", key, value)
    assert result.exit_code != 0
    assert expected in result.output and "Traceback" not in result.output
    assert (profile_dir(home) / "config.yaml").read_text() == before


def test_set_keeps_comments_in_config_yaml(cli: Cli, home: Path) -> None:
    assert cli("config", "set", "model.provider", "anthropic").exit_code == 0
    text = (profile_dir(home) / "config.yaml").read_text()
    assert "# hermes profile configuration" in text and "provider: anthropic" in text
    assert "# openai (any OpenAI-compatible API)" in text


def test_every_env_value_is_masked_whatever_its_name(cli: Cli) -> None:
    """.env is where secrets live: a DATABASE_URL or GITHUB_PAT is masked like an API key;
    only the API server's plain settings show as they are."""
    url = "postgres://app:hunter2-secret@db.internal/app"
    assert cli("config", "set", "DATABASE_URL", url).exit_code == 0
    cli("config", "set", "GITHUB_PAT", "ghp_0123456789abcdefghij")
    assert "hunter2" not in cli("config", "get", "DATABASE_URL").stdout
    assert cli("config", "get", "DATABASE_URL", "--reveal").stdout.strip() == url
    listed = cli("config", "list").stdout
    assert "hunter2" not in listed and "0123456789abcdefghij" not in listed
    assert cli("config", "get", "API_SERVER_PORT").stdout.strip().isdigit()


def test_get_masks_secrets_unless_reveal(cli: Cli) -> None:
    cli("config", "set", "OPENAI_API_KEY", "sk-proj-0123456789abcdef")
    assert cli("config", "get", "OPENAI_API_KEY").stdout.strip() == "sk-…cdef"
    assert (
        cli("config", "get", "OPENAI_API_KEY", "--reveal").stdout.strip()
        == "sk-proj-0123456789abcdef"
    )
    listed = cli("config", "list").stdout
    assert "sk-proj-0123456789abcdef" not in listed and "sk-…cdef" in listed
    set_out = cli("config", "set", "OPENAI_API_KEY", "sk-proj-zzzzzzzzzzzz9999").stdout
    assert "zzzzzzzz" not in set_out


def test_get_reports_defaults_and_missing_env_keys(cli: Cli) -> None:
    assert cli("config", "get", "agent.max_iterations").stdout.strip() == "20"
    assert json.loads(cli("config", "get", "model").stdout)["provider"] == "local"
    missing = cli("config", "get", "NOPE_KEY")
    assert missing.exit_code == 2 and "not set" in missing.output


def test_unset_returns_to_default(cli: Cli) -> None:
    cli("config", "set", "agent.max_iterations", "3")
    assert cli("config", "get", "agent.max_iterations").stdout.strip() == "3"
    assert cli("config", "unset", "agent.max_iterations").exit_code == 0
    assert cli("config", "get", "agent.max_iterations").stdout.strip() == "20"
    cli("config", "set", "FOO_TOKEN", "abc")
    assert cli("config", "unset", "FOO_TOKEN").exit_code == 0
    assert cli("config", "get", "FOO_TOKEN").exit_code == 2
    assert cli("config", "unset", "model.nope").exit_code != 0


def test_list_says_where_each_value_comes_from(cli: Cli) -> None:
    cli("config", "set", "model.temperature", "0.2")
    rows = {r["key"]: r for r in json.loads(cli("config", "list", "--json").stdout)}
    assert rows["model.temperature"]["source"] == "config.yaml"
    assert rows["model.context_length"]["source"] == "default"
    assert rows["API_SERVER_PORT"]["source"] == ".env"
    assert rows["api_server.port"]["source"] == "API_SERVER_PORT in .env (over default)"
    assert rows["api_server.port"]["value"] == int(rows["API_SERVER_PORT"]["value"])
    assert rows["API_SERVER_KEY"]["value"].startswith("hsk-…")
    revealed = {r["key"]: r for r in json.loads(cli("config", "list", "--json", "--reveal").stdout)}
    assert len(revealed["API_SERVER_KEY"]["value"]) >= 32


def test_setting_a_port_of_another_profile_is_refused(cli: Cli) -> None:
    cli("profile", "create", "alice")
    result = cli("-p", "alice", "config", "set", "API_SERVER_PORT", "8642")
    assert result.exit_code != 0 and "profile 'default'" in result.output
    assert cli("-p", "alice", "config", "set", "API_SERVER_PORT", "9311").exit_code == 0


def test_config_path(cli: Cli, home: Path) -> None:
    assert cli("config", "path").stdout.strip() == str(profile_dir(home) / "config.yaml")
    assert cli("config", "path", "--env").stdout.strip() == str(profile_dir(home) / ".env")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("model:\n  name: [unclosed\n", "config.yaml:3"),
        ("model:\n  temperature: hot\n", "config.yaml:2"),
        ("agent:\n  max_iterations: 2\nmodle:\n  name: x\n", "config.yaml:3"),
        ("- just\n- a list\n", "config.yaml:1"),
    ],
)
def test_broken_config_names_file_and_line(cli: Cli, home: Path, text: str, where: str) -> None:
    cli("profile", "list")
    (profile_dir(home) / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=where):
        load_config(profile_dir(home) / "config.yaml")
    result = cli("config", "set", "model.name", "x")
    assert result.exit_code != 0 and where in result.output and "Traceback" not in result.output
    assert cli("profile", "list").exit_code == 0  # listing still works


def test_envfile_round_trip(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('# c\nexport A=1\nB=\'x y\'\nC="q\\"z" # note\nD=plain # c2\n')
    assert envfile.read(path) == {"A": "1", "B": "x y", "C": 'q"z', "D": "plain"}
    envfile.update(path, {"B": "new value", "E": "e", "A": None})
    assert envfile.read(path) == {"B": "new value", "C": 'q"z', "D": "plain", "E": "e"}
    assert path.read_text().startswith("# c\n")


def test_mask() -> None:
    assert mask("sk-proj-abcdefghf3a9") == "sk-…f3a9"
    assert mask("hk_0123456789abcd") == "hk_…abcd"
    assert mask("abcdefghijklmnop") == "…mnop"
    assert mask("short") == "………"


def test_config_cache_follows_the_file(tmp_path: Path) -> None:
    path, cache = tmp_path / "config.yaml", tmp_path / "state-cache.json"
    path.write_text("model:\n  name: first\n")
    assert load_config(path, cache=cache).model.name == "first"
    assert oct(cache.stat().st_mode & 0o777) == "0o600"
    assert load_config(path, cache=cache).model.name == "first"  # served from the cache
    path.write_text("model:\n  name: second-longer\n")  # any edit changes the stat key
    assert load_config(path, cache=cache).model.name == "second-longer"
    cache.write_text("{not json")
    assert load_config(path, cache=cache).model.name == "second-longer"
    path.write_text("model:\n  name: [not, a, string]\n")
    with pytest.raises(ConfigError, match=r"config.yaml:2"):
        load_config(path, cache=cache)  # a cached earlier version is never served instead


def test_config_cache_skips_what_json_cannot_hold(tmp_path: Path) -> None:
    path, cache = tmp_path / "config.yaml", tmp_path / "cache.json"
    path.write_text("description: 2026-11-22\n")  # YAML reads a date: not cached, still an error
    with pytest.raises(ConfigError):
        load_config(path, cache=cache)
    assert not cache.exists()


CONFIG_WITH_COMMENTS = """\
# top comment

description: ""

model:
  # which provider
  provider: openai
  name: gpt-4o-mini   # end of line
  # seconds of silence
  timeout: 120
  # base_url: https://example.invalid/v1

agent:
  max_iterations: 20

# tools:
#   enabled: [terminal]
"""


def test_config_set_and_unset_keep_every_comment_and_blank_line_where_it_was(
    store: ProfileStore,
) -> None:
    """Every line a user wrote stays, in its place, but the lines of the keys removed."""
    from hermes.config.editing import set_yaml_key, unset_yaml_key

    path = store.get("default").config_path
    path.write_text(CONFIG_WITH_COMMENTS)
    set_yaml_key(path, "model.timeout", 30)
    assert unset_yaml_key(path, "model.name")
    assert unset_yaml_key(path, "agent.max_iterations")
    expected = (
        CONFIG_WITH_COMMENTS.replace("timeout: 120", "timeout: 30")
        .replace("  name: gpt-4o-mini   # end of line\n", "")
        .replace("agent:\n  max_iterations: 20\n", "")
    )
    assert path.read_text() == expected


def test_config_get_and_list_show_the_value_the_gateway_runs_with(cli: Cli) -> None:
    """`.env` wins over config.yaml for api_server keys: get and list say what is in effect
    (they printed config.yaml's 8642 and false while the gateway ran on 18601, enabled)."""
    import json

    cli("profile", "list")
    assert cli("config", "set", "api_server.port", "8650").exit_code == 0
    assert cli("config", "set", "API_SERVER_PORT", "18601").exit_code == 0
    assert cli("config", "set", "API_SERVER_ENABLED", "true").exit_code == 0
    assert cli("config", "get", "api_server.port").output.strip() == "18601"
    assert cli("config", "get", "api_server.enabled").output.strip() == "true"
    listed = {s["key"]: s for s in json.loads(cli("config", "list", "--json").output)}
    assert listed["api_server.port"]["value"] == 18601
    assert "API_SERVER_PORT in .env" in listed["api_server.port"]["source"]


def test_a_new_provider_with_the_old_model_name_is_named(cli: Cli) -> None:
    cli("profile", "list")
    cli("config", "set", "model.provider", "local")
    cli("config", "set", "model.name", "gemma-3-270m")
    result = cli("config", "set", "model.provider", "openai")
    assert result.exit_code == 0
    assert "model.name is still 'gemma-3-270m', the model of provider 'local'" in result.output
    cli("config", "set", "model.name", "gpt-4o-mini")
    quiet = cli("config", "set", "model.temperature", "0.3")
    assert "model.name is still" not in quiet.output
