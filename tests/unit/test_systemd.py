"""systemd units: their directives, `systemd-analyze verify`, install, and `hermes systemd`."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hermes.cli import systemd_cmds
from hermes.cli.app import HermesGroup
from hermes.errors import InvalidRequest
from hermes.supervisor import systemd
from hermes.supervisor.systemd import (
    FRONTDOOR_UNIT,
    GATEWAY_UNIT,
    SUPERVISOR_UNIT,
    Scope,
    UnitInstallError,
    frontdoor_unit,
    gateway_unit,
    install,
    next_steps,
    supervisor_unit,
    unit_dir,
)

PYTHON = os.path.abspath(sys.executable)
SCOPES: tuple[Scope, ...] = ("user", "system")
Run = Callable[..., Any]


@pytest.fixture(autouse=True)
def units_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never let a test write to the real ~/.config/systemd/user or /etc/systemd/system."""
    target = tmp_path / "units"
    monkeypatch.setattr(systemd, "unit_dir", lambda scope: target / scope)
    return target


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if "=" in line and not line.startswith("#")]


@pytest.mark.parametrize("scope", SCOPES)
def test_supervisor_unit_has_every_directive(scope: Scope, tmp_path: Path) -> None:
    home = tmp_path / "home"
    lines = directives(supervisor_unit(scope=scope, home=home))
    for expected in (
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={PYTHON} -m hermes up",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartSec=2",
        "KillMode=mixed",
        "TimeoutStopSec=30",
        f"Environment=HERMES_HOME={home}",
        "Environment=PYTHONUNBUFFERED=1",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={home}",
    ):
        assert expected in lines
    if scope == "system":
        assert "WantedBy=multi-user.target" in lines
        assert "After=network-online.target" in lines
        assert "Wants=network-online.target" in lines
        assert any(line.startswith("User=") for line in lines)
    else:
        assert "WantedBy=default.target" in lines
        assert not any(line.startswith(("User=", "Group=", "After=")) for line in lines)


def test_system_unit_runs_as_the_given_or_current_user(tmp_path: Path) -> None:
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    assert f"User={me}" in directives(supervisor_unit(scope="system", home=tmp_path))
    lines = directives(supervisor_unit(scope="system", home=tmp_path, user="nobody-here-x"))
    assert "User=nobody-here-x" in lines
    assert not any(line.startswith("Group=") for line in lines)  # unknown account: no guess
    with pytest.raises(InvalidRequest):
        supervisor_unit(scope="system", home=tmp_path, user="bad name")


def test_python_is_absolute_but_not_resolved(tmp_path: Path) -> None:
    """A venv's python is a symlink; resolving it would lose the venv and so this hermes."""
    link = tmp_path / "venv" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    text = supervisor_unit(scope="user", home=tmp_path, python=str(link))
    assert f"ExecStart={link} -m hermes up" in directives(text)


def test_paths_are_quoted_and_escaped_for_systemd(tmp_path: Path) -> None:
    home = Path("/srv/my hermes/100%")
    python = "/opt/py $x/bin/python"
    lines = directives(supervisor_unit(scope="user", home=home, python=python))
    assert 'Environment="HERMES_HOME=/srv/my hermes/100%%"' in lines
    assert 'ReadWritePaths="/srv/my hermes/100%%"' in lines
    assert 'ExecStart="/opt/py $$x/bin/python" -m hermes up' in lines
    with pytest.raises(InvalidRequest):
        supervisor_unit(scope="user", home=Path("/a\nb"))
    with pytest.raises(InvalidRequest):
        supervisor_unit(scope="user", home=Path("relative"))


@pytest.mark.parametrize("scope", SCOPES)
def test_gateway_template(scope: Scope, tmp_path: Path) -> None:
    lines = directives(gateway_unit(scope=scope, home=tmp_path))
    assert f"ExecStart={PYTHON} -m hermes.gateway --profile %i" in lines
    for expected in (
        "Type=simple",
        "Restart=on-failure",
        f"Environment=HERMES_HOME={tmp_path}",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={tmp_path}",
    ):
        assert expected in lines


# --- systemd-analyze verify ---------------------------------------------------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not on PATH")


def verify(unit: Path, scope: Scope, runtime: Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    command = [SYSTEMD_ANALYZE, *(["--user"] if scope == "user" else []), "verify", "--man=no"]
    # --user needs a runtime dir even offline; the tmp one keeps the real session out of it.
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(
        [*command, str(unit)], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@needs_systemd
@pytest.mark.parametrize("scope", SCOPES)
def test_units_pass_systemd_analyze_verify(scope: Scope, tmp_path: Path) -> None:
    home = tmp_path / "hermes home %"  # a space and a specifier character: quoting is verified
    home.mkdir()
    written = install(scope, home, directory=tmp_path / "out")
    assert [p.name for p in written] == [SUPERVISOR_UNIT, GATEWAY_UNIT, FRONTDOOR_UNIT]
    instance = tmp_path / "out" / "hermes-gateway@alice.service"
    instance.symlink_to(written[1])  # a template is verified through one of its instances
    for unit in (written[0], instance, written[2]):
        result = verify(unit, scope, tmp_path / "run")
        # verify exits 0 on many problems (an unknown key, a bad value): stderr must be empty.
        assert (result.returncode, result.stderr) == (0, ""), f"{unit.name}: {result.stderr}"


@needs_systemd
def test_verify_does_catch_a_bad_unit(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously."""
    bad = tmp_path / SUPERVISOR_UNIT
    text = supervisor_unit(scope="system", home=tmp_path)
    bad.write_text(text.replace("Type=notify", "Type=notify\nRestartt=always"))
    result = verify(bad, "system", tmp_path / "run")
    assert "Restartt" in result.stderr


# --- install, unit_dir, next_steps ----------------------------------------------------------


def test_install_writes_every_unit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = tmp_path / "deep" / "units"
    names = [SUPERVISOR_UNIT, GATEWAY_UNIT, FRONTDOOR_UNIT]
    paths = install("user", home, directory=target)
    assert paths == [target / name for name in names]
    assert paths[0].read_text() == supervisor_unit(scope="user", home=home)
    assert paths[1].read_text() == gateway_unit(scope="user", home=home)
    assert paths[2].read_text() == frontdoor_unit(scope="user", home=home)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.iterdir()) == sorted(names)
    install("user", home, directory=target)  # again: replaced in place
    assert len(list(target.iterdir())) == 3


def test_frontdoor_unit_runs_the_front_door(tmp_path: Path) -> None:
    lines = directives(frontdoor_unit(scope="system", home=tmp_path))
    assert f"ExecStart={PYTHON} -P -m hermes.frontdoor" in lines
    assert "Restart=on-failure" in lines and f"ReadWritePaths={tmp_path}" in lines


def test_install_defaults_to_unit_dir(units_dir: Path, tmp_path: Path) -> None:
    paths = install("system", tmp_path)
    names = [SUPERVISOR_UNIT, GATEWAY_UNIT, FRONTDOOR_UNIT]
    assert paths == [units_dir / "system" / name for name in names]


def test_install_permission_denied_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: Path, data: str, *, mode: int) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(systemd, "atomic_write", denied)
    with pytest.raises(UnitInstallError) as caught:
        install("system", tmp_path, directory=tmp_path / "etc")
    assert caught.value.message == (
        f"cannot write {tmp_path / 'etc' / SUPERVISOR_UNIT}: permission denied; "
        "use --user or run as root"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only directory")
def test_install_into_a_read_only_directory(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir(mode=0o555)
    with pytest.raises(UnitInstallError, match="permission denied; use --user"):
        install("system", tmp_path, directory=target)
    assert list(target.iterdir()) == []


def test_unit_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert unit_dir("system") == Path("/etc/systemd/system")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert unit_dir("user") == tmp_path / "cfg" / "systemd" / "user"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert unit_dir("user") == tmp_path / ".config" / "systemd" / "user"


def test_next_steps() -> None:
    assert next_steps("system") == [
        "systemctl daemon-reload",
        "systemctl enable --now hermes.service",
        "journalctl -u hermes -f",
    ]
    assert next_steps("user", user="alice") == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now hermes.service",
        "journalctl --user -u hermes -f",
        "loginctl enable-linger alice",
    ]


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def run(home: Path) -> Run:
    """`hermes systemd ARGS` through a Typer app with hermes' error handling (one line)."""
    application = typer.Typer(cls=HermesGroup, add_completion=False)
    application.add_typer(systemd_cmds.app, name="systemd")
    runner = CliRunner()
    return lambda *args: runner.invoke(application, ["systemd", *args])


def test_cli_print(run: Run, home: Path) -> None:
    result = run("print", "--user")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip("\n") == supervisor_unit(scope="user", home=home).rstrip("\n")
    result = run("print", "--system", "--gateway", "--run-as", "daemon")
    assert result.exit_code == 0, result.output
    assert "-m hermes.gateway --profile %i" in result.stdout
    assert "User=daemon" in result.stdout


def test_cli_default_scope_follows_root(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "WantedBy=multi-user.target" in run("print").stdout
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "WantedBy=default.target" in run("print").stdout


def test_cli_home_is_absolute_and_resolved(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "link"
    link.symlink_to(home.parent)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HERMES_HOME", f"link/{home.name}")
    result = run("print", "--user")
    assert f"Environment=HERMES_HOME={home.resolve()}" in result.stdout


def test_cli_install(run: Run, units_dir: Path, home: Path) -> None:
    home.mkdir()
    result = run("install", "--user")
    assert result.exit_code == 0, result.output
    written = [units_dir / "user" / SUPERVISOR_UNIT, units_dir / "user" / GATEWAY_UNIT]
    for path in written:
        assert path.is_file()
        assert f"wrote {path}" in result.stdout
    for step in next_steps("user"):
        assert step in result.stdout
    assert result.stderr == ""


def test_cli_install_warns_when_home_is_missing(run: Run, home: Path) -> None:
    result = run("install", "--system")
    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.stderr


def test_cli_install_error_is_one_line(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: Path, data: str, *, mode: int) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(systemd, "atomic_write", denied)
    result = run("install", "--system")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hermes: error: cannot write ")
    assert lines[0].endswith(": permission denied; use --user or run as root")


def test_cli_run_as_needs_system(run: Run) -> None:
    result = run("print", "--user", "--run-as", "bob")
    assert result.exit_code == 2
    assert result.stderr == "hermes: error: --run-as only applies to --system units\n"
