"""Shared fixtures: an isolated HERMES_HOME for every test, and the CLI through Typer's runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hermes.cli.app import app
from hermes.profiles import ProfileStore


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh HERMES_HOME; HERMES_PROFILE and provider keys from the outer shell are removed."""
    home = tmp_path / "hermes-home"
    monkeypatch.setenv("HERMES_HOME", str(home))
    for var in ("HERMES_PROFILE", "OPENAI_API_KEY", "HERMES_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    yield home


@pytest.fixture
def store(home: Path) -> ProfileStore:
    return ProfileStore(home)


class Cli:
    """Runs `hermes ARGS` in-process through Typer's CliRunner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), input=input)


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli()
