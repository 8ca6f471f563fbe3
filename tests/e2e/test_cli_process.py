"""The real `hermes` executable: exit codes, one-line errors, concurrent writers, and what an
untrusted profile archive may not set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hermes.config import envfile, load_config
from tests.e2e.conftest import HERMES, Run
from tests.tarballs import Member, archive_bytes, manifest
from tests.unit.test_archive import EXPECTED_DROPS, evil_archive


def test_create_list_show_json(run: Run, home: Path) -> None:
    created = run("profile", "create", "alice", "--json", check=True)
    info = json.loads(created.stdout)
    # The first free port after default's 8642 (one another program holds on this machine is
    # skipped, so not always 8643).
    assert info["name"] == "alice" and info["port"] >= 8643 and len(info["api_key"]) >= 32
    listed = json.loads(run("profile", "list", "--json", check=True).stdout)
    assert [p["name"] for p in listed] == ["alice", "default"]
    assert listed[0]["port"] == info["port"] != listed[1]["port"]
    assert run("-p", "alice", "profile", "show", check=True).stdout.count("alice") >= 1


def test_errors_are_one_line_with_exit_codes(run: Run) -> None:
    cases = [
        (("-p", "ghost", "config", "list"), 2, "no profile named 'ghost'"),
        (("profile", "create", "../x"), 2, "invalid profile name"),
        (("config", "set", "model.temprature", "1"), 2, "did you mean 'temperature'"),
        (("nosuchcommand",), 2, "No such command"),
        (("profile", "create"), 2, "Missing argument"),
    ]
    for args, code, text in cases:
        result = run(*args)
        assert result.returncode == code, (args, result.stderr)
        assert text in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_broken_config_is_an_error_naming_the_line(run: Run, home: Path) -> None:
    run("profile", "list", check=True)
    (home / "profiles" / "default" / "config.yaml").write_text("model:\n  name: [x\n")
    result = run("config", "get", "model.name")
    assert result.returncode != 0 and "config.yaml:3" in result.stderr
    assert "Traceback" not in result.stderr


def test_python_dash_m_hermes(hermes_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hermes", "--version"],
        env=hermes_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("hermes ")


def test_concurrent_config_set_loses_no_update(
    run: Run, hermes_env: dict[str, str], home: Path
) -> None:
    run("profile", "list", check=True)
    writes = [["config", "set", f"VAR_{i}", str(i)] for i in range(8)]
    yaml_keys = [
        ("model.temperature", "0.7"),
        ("model.max_tokens", "512"),
        ("agent.max_iterations", "9"),
        ("api_server.tool_progress", "event"),
        ("model.context_length", "32000"),
        ("tools.web_search.max_results", "3"),
        ("providers", "[{name: p0, provider: openai, model: m0}]"),
    ]
    writes += [["config", "set", key, value] for key, value in yaml_keys]
    procs = [
        subprocess.Popen(
            [HERMES, *args], env=hermes_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for args in writes
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    env = envfile.read(home / "profiles" / "default" / ".env")
    assert all(env[f"VAR_{i}"] == str(i) for i in range(8))
    config = load_config(home / "profiles" / "default" / "config.yaml")
    assert config.model.temperature == 0.7 and config.model.max_tokens == 512
    assert config.agent.max_iterations == 9 and config.api_server.tool_progress == "event"
    assert config.model.context_length == 32000 and config.tools.web_search.max_results == 3
    assert config.providers[0].name == "p0"


def test_import_of_an_untrusted_archive_drops_and_lists_exposure_settings(
    run: Run, tmp_path: Path
) -> None:
    archive = evil_archive(tmp_path / "evil.tar.gz")
    result = run("profile", "import", str(archive), check=True)
    notes = [line for line in result.stderr.splitlines() if line]
    assert sorted(notes) == sorted(f"hermes: dropped from the archive: {d}" for d in EXPECTED_DROPS)
    assert "sk-evil" not in result.stderr + result.stdout  # masked, never shown
    assert "URL:      http://127.0.0.1:" in result.stdout
    effective = {
        key: run("-p", "evil", "config", "get", key, check=True).stdout.strip()
        for key in (
            "api_server.host",
            "api_server.cors_origins",
            "api_server.allowed_hosts",
            "api_server.max_concurrent_runs",
            "api_server.max_request_bytes",
            "tools.web_fetch.allow_private",
        )
    }
    assert effective == {
        "api_server.host": "127.0.0.1",
        "api_server.cors_origins": "[]",
        "api_server.allowed_hosts": "[]",
        "api_server.max_concurrent_runs": "32",
        "api_server.max_request_bytes": "10485760",
        "tools.web_fetch.allow_private": "false",
    }
    for env_key in ("API_SERVER_HOST", "API_SERVER_CORS_ORIGINS", "API_SERVER_MAX_CONCURRENT_RUNS"):
        assert run("-p", "evil", "config", "get", env_key).returncode == 2  # not set in .env
    shown = json.loads(run("-p", "evil", "profile", "show", "--json", check=True).stdout)
    assert shown["host"] == "127.0.0.1" and shown["port"] != 9999


def test_import_json_lists_what_was_dropped_and_stays_one_document(
    run: Run, tmp_path: Path
) -> None:
    archive = evil_archive(tmp_path / "evil.tar.gz")
    result = run("profile", "import", str(archive), "--name", "evil2", "--json", check=True)
    info = json.loads(result.stdout)
    dropped = {f"{d['key']} = {d['value']} ({d['reason']})" for d in info["dropped"]}
    assert dropped == EXPECTED_DROPS and info["name"] == "evil2"


def test_bad_input_is_one_line_and_exit_2_never_an_internal_error(
    run: Run, home: Path, tmp_path: Path
) -> None:
    """Issue 13's cases through the real executable: each is one `hermes: error:` line on
    stderr, exit code 2, and nothing written."""
    run("profile", "list", check=True)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive_bytes([manifest({"name": "y"}), Member("evil/SOUL.md", size=99_999)]))
    listed = tmp_path / "list.tar.gz"
    listed.write_bytes(archive_bytes([manifest([1, 2])]))
    newline = tmp_path / "newline.tar.gz"
    newline.write_bytes(archive_bytes([manifest({"name": "evil\n"})]))
    before = [p.read_bytes() for p in sorted((home / "profiles" / "default").glob("*.*"))]
    cases = [
        (("profile", "create", "abc\n"), "invalid profile name 'abc\\n': use 1-32 characters"),
        (("-p", "abc\n", "config", "list"), "invalid profile name 'abc\\n'"),
        (("config", "set", "model.timeout", "-5"), "model.timeout: expected a number >= 1, got -5"),
        (("config", "set", "agent.max_iterations", "0"), "agent.max_iterations: expected a"),
        (("config", "set", "api_server.max_request_bytes", "0"), "expected a number >= 1024"),
        (("config", "set", "model.provider", "evil"), "model.provider: unknown 'evil'"),
        (("config", "set", "tools.enabled", "[nonexistent]"), "tools.enabled.0: unknown"),
        (("config", "set", "providers", "[{name: x}]"), "providers.0.model: required"),
        (("config", "set", "FOO\n", "bar"), "FOO\\n: unknown key"),
        (("profile", "import", str(cut)), f"{cut}: not a readable .tar.gz profile export"),
        (("profile", "import", str(listed)), f"{listed}: no valid hermes-profile.json"),
        (("profile", "import", str(newline)), "invalid profile name 'evil\\n'"),
    ]
    for args, text in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("hermes: error: ") and text in result.stderr, args
        assert result.stderr.count("\n") == 1 and result.stdout == "", args
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in (home / "profiles").iterdir()] == ["default"]
    after = [p.read_bytes() for p in sorted((home / "profiles" / "default").glob("*.*"))]
    assert after == before


def test_one_profile_env_that_is_not_utf8_breaks_only_that_profile(run: Run, home: Path) -> None:
    run("profile", "create", "alice", check=True)
    env = home / "profiles" / "alice" / ".env"
    env.write_bytes(env.read_bytes() + b"NOTE=\xff\xfe\n")
    listed = run("profile", "list")
    assert listed.returncode == 0 and "alice" in listed.stdout and "default" in listed.stdout
    assert listed.stderr.startswith(f"hermes: profile 'alice': {env}:")
    assert "not valid UTF-8" in listed.stderr and listed.stderr.count("\n") == 1
    status = run("status", "--json")
    gateways = {g["profile"]: g for g in json.loads(status.stdout)["gateways"]}
    assert status.returncode == 3 and "not valid UTF-8" in gateways["alice"]["last_error"]
    own = run("-p", "alice", "config", "get", "API_SERVER_PORT")
    assert own.returncode == 2 and own.stderr.startswith(f"hermes: error: {env}:")
    assert "byte 0xff at offset" in own.stderr and own.stderr.count("\n") == 1
    assert run("config", "get", "API_SERVER_PORT", check=True).stdout.strip() == "8642"
