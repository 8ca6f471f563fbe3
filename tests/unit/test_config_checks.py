"""What the schema declares about a key (its range, the names it may take, the keys every entry
needs) is checked by the one validator: at `config set`, for API_SERVER_* values, and when a
config.yaml is loaded. A refused value names the key and what is allowed, and writes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from hermes.config import load_config
from hermes.config.known import PROVIDER_TYPES, TOOL_NAMES
from hermes.config.schema import MIN_BYTES, Config
from hermes.config.validate import hints
from hermes.errors import ConfigError
from tests.conftest import Cli


def files(home: Path) -> tuple[bytes, bytes]:
    root = home / "profiles" / "default"
    return (root / "config.yaml").read_bytes(), (root / ".env").read_bytes()


REFUSED = [
    ("model.timeout", "0", "model.timeout: expected a number >= 1, got 0"),
    ("model.timeout", "-5", "model.timeout: expected a number >= 1, got -5"),
    ("agent.max_iterations", "0", "agent.max_iterations: expected a number >= 1, got 0"),
    ("agent.tool_concurrency", "-1", "agent.tool_concurrency: expected a number >= 1"),
    ("tools.terminal.timeout", "0", "tools.terminal.timeout: expected a number >= 1"),
    ("tools.web_search.max_results", "0", "max_results: expected a number >= 1"),
    (
        "api_server.max_request_bytes",
        "0",
        f"api_server.max_request_bytes: expected a number >= {MIN_BYTES}, got 0",
    ),
    ("tools.web_fetch.max_bytes", "1023", f"expected a number >= {MIN_BYTES}, got 1023"),
    ("api_server.port", "70000", "api_server.port: expected a number >= 1 and <= 65535"),
    ("model.temperature", "-0.5", "model.temperature: expected a number >= 0 and <= 2, got -0.5"),
    (
        "API_SERVER_MAX_REQUEST_BYTES",
        "0",
        f"API_SERVER_MAX_REQUEST_BYTES: expected a number >= {MIN_BYTES}",
    ),
    ("API_SERVER_KEEPALIVE_SECONDS", "-1", "API_SERVER_KEEPALIVE_SECONDS: expected a number >= 1"),
    ("model.provider", "evil", "model.provider: unknown 'evil'; expected one of anthropic, "),
    ("model.provider", "evil", "or the name of an entry of `providers` (none defined)"),
    ("model.fallbacks", "[spare]", "model.fallbacks.0: unknown 'spare'; expected the name of"),
    ("tools.enabled", "[nonexistent]", "tools.enabled.0: unknown 'nonexistent'; expected one of"),
    ("tools.enabled", "[terminal, memroy]", "tools.enabled.1: unknown 'memroy'"),
    ("tools.enabled", "[terminal, memroy]", "(did you mean 'memory'?)"),
    ("providers", "[{name: x}]", "providers.0.model: required (model id)"),
    ("providers", "[{model: m}]", "providers.0.name: required"),
    ("providers", "[{name: x, model: m, provider: nope}]", "providers.0.provider: unknown 'nope'"),
]


@pytest.mark.parametrize(("key", "value", "expected"), REFUSED)
def test_a_value_outside_what_the_schema_declares_is_refused(
    cli: Cli, home: Path, key: str, value: str, expected: str
) -> None:
    cli("profile", "list")
    before = files(home)
    result = cli("config", "set", key, value)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("hermes: error: ") and expected in result.stderr
    assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr
    assert files(home) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.name", "-x"),  # a string that looks like an option
        ("model.name", "--json"),
        ("CUSTOM_OFFSET", "-5"),
        ("model.timeout", "1"),
        ("api_server.max_request_bytes", str(MIN_BYTES)),
        ("model.temperature", "2"),
        ("tools.enabled", "[]"),
        ("tools.enabled", "[terminal, web_fetch]"),
        ("model.provider", "openrouter"),
    ],
)
def test_values_that_look_like_options_or_sit_on_a_bound_are_taken(
    cli: Cli, key: str, value: str
) -> None:
    result = cli("config", "set", key, value)
    assert result.exit_code == 0, result.output
    shown = cli("config", "get", key, "--reveal").stdout
    if key in TEXT_KEYS:
        assert shown == value + "\n"
    else:
        assert yaml.safe_load(shown) == yaml.safe_load(value)


TEXT_KEYS = ("model.name", "CUSTOM_OFFSET", "model.provider")


def test_a_provider_entry_may_be_named_once_it_exists(cli: Cli, home: Path) -> None:
    assert cli("config", "set", "providers", "[{name: spare, model: m}]").exit_code == 0
    assert cli("config", "set", "model.fallbacks", "[spare]").exit_code == 0
    assert cli("config", "set", "model.provider", "spare").exit_code == 0
    config = load_config(home / "profiles" / "default" / "config.yaml")
    assert config.model.provider == "spare" and config.model.fallbacks == ["spare"]
    refused = cli("config", "set", "model.provider", "spore")
    assert refused.exit_code == 2 and "(spare)" in refused.stderr
    assert "did you mean 'spare'?" in refused.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model:\n  timeout: 0\n", ":2: model.timeout: expected a number >= 1, got 0"),
        ("agent:\n  max_iterations: -3\n", ":2: agent.max_iterations: expected a number >= 1"),
        ("model:\n  provider: evil\n", ":2: model.provider: unknown 'evil'"),
        ("tools:\n  enabled: [terminal, bogus]\n", ":2: tools.enabled.1: unknown 'bogus'"),
        ("providers:\n  - name: x\n", ":2: providers.0.model: required (model id)"),
    ],
)
def test_loading_a_config_that_breaks_a_rule_names_path_key_and_rule(
    cli: Cli, home: Path, text: str, expected: str
) -> None:
    cli("profile", "list")
    path = home / "profiles" / "default" / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.message.startswith(f"{path}{expected}")
    shown = cli("config", "get", "model.name")
    assert shown.exit_code == 2 and shown.stderr.startswith(f"hermes: error: {path}{expected}")
    listed = cli("profile", "list")
    assert listed.exit_code == 0 and f"{path}{expected}" in listed.stderr


def test_the_key_that_breaks_a_rule_can_be_set_right_and_only_that_one(
    cli: Cli, home: Path
) -> None:
    cli("profile", "list")
    path = home / "profiles" / "default" / "config.yaml"
    path.write_text("# mine\nmodel:\n  timeout: 0\n")
    other = cli("config", "set", "model.name", "x")
    assert other.exit_code == 2 and "model.timeout: expected a number >= 1" in other.stderr
    assert cli("config", "set", "model.timeout", "0").exit_code == 2  # still wrong: refused
    assert path.read_text() == "# mine\nmodel:\n  timeout: 0\n"
    assert cli("config", "set", "model.timeout", "30").exit_code == 0
    assert load_config(path).model.timeout == 30 and path.read_text().startswith("# mine\n")
    path.write_text("model:\n  timeout: 0\n")
    assert cli("config", "unset", "model.timeout").exit_code == 0
    assert load_config(path).model.timeout == 120


def test_every_number_and_name_list_in_the_schema_declares_its_rule() -> None:
    """No int field without a declared minimum; every list of names says which names."""

    def walk(cls: type, prefix: str = "") -> list[tuple[str, object, dict[str, object]]]:
        out = []
        for f in dataclasses.fields(cls):
            hint = hints(cls)[f.name]
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                out += walk(hint, f"{prefix}{f.name}.")
            else:
                out.append((f"{prefix}{f.name}", hint, dict(f.metadata)))
        return out

    unbounded = [
        key
        for key, hint, meta in walk(Config)
        if hint in (int, int | None) and not {"least", "above"} & meta.keys()
    ]
    assert unbounded == []


def test_the_known_names_match_the_providers_and_the_tools() -> None:
    from hermes.providers import known_kinds
    from hermes.tools import default_tools

    assert sorted(PROVIDER_TYPES) == known_kinds()
    assert list(TOOL_NAMES) == [t.name for t in default_tools()]
