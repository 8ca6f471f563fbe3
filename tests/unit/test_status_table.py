"""`hermes status` stays readable in an 80-column terminal and shows URLs when there is room."""

from __future__ import annotations

from typing import Any

import pytest

import hermes.cli.app  # noqa: F401  (registers the commands before importing one module)
from hermes.cli.supervisor_cmds import _print_status

DATA: dict[str, Any] = {
    "summary": "1 running, 1 fatal",
    "gateways": [
        {
            "profile": "default", "state": "running", "pid": 32257, "port": 18642,
            "url": "http://127.0.0.1:18642/v1", "uptime": 4, "restarts": 0,
            "rss": 44 * 2**20, "cpu": 0.0, "last_error": None,
        },
        {
            "profile": "@local-model", "state": "fatal", "pid": None, "port": 18640,
            "url": "http://127.0.0.1:18640/v1", "uptime": None, "restarts": 5, "rss": None,
            "cpu": None, "last_error": "5 failed starts: config.yaml:1: invalid YAML",
        },
    ],
}  # fmt: skip


def test_narrow_terminal_gets_ports_and_errors_under_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_status(DATA, width=80)
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines())
    header = next(line for line in out.splitlines() if "PROFILE" in line).split()
    assert header == ["PROFILE", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "RSS", "CPU%"]
    assert "@local-model: 5 failed starts: config.yaml:1: invalid YAML" in out
    assert "18642" in out and "44 MB" in out


def test_wide_terminal_gets_urls_and_the_error_column(capsys: pytest.CaptureFixture[str]) -> None:
    _print_status(DATA, width=140)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:18642/v1" in out and "LAST ERROR" in out
    assert "5 failed starts" in out
