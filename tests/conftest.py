"""Shared fixtures: an isolated HERMES_HOME for every test, the CLI through Typer's runner, and
the scripted fake OpenAI upstream (one per module) for tests that run real gateways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hermes.cli.app import app
from hermes.profiles import ProfileStore
from tests.fakes.openai_upstream import FakeOpenAI
from tests.processes import kill_marked, new_marker


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

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), input=input)


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A tool workspace (a folder of its own, so a sandbox can hide its parent)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique mark for a test's commands; whatever still carries it at the end is killed."""
    mark = new_marker()
    yield mark
    kill_marked(mark)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    """One fake OpenAI-compatible upstream per test module (a real HTTP server in a thread)."""
    with FakeOpenAI.in_thread() as fake:
        yield fake


@pytest.fixture
def up(upstream: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The module's fake upstream, with its script and records cleared for this test; a test
    that leaves a scripted turn unused fails."""
    upstream.reset()
    yield upstream
    assert upstream.pending == 0, "a scripted turn was never used"


@pytest.fixture(params=("bwrap", "off"))
def mode(request: pytest.FixtureRequest) -> str:
    """`tools.sandbox.mode`: the tools that run commands are tested both ways."""
    return str(request.param)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hermes")
    group.addoption(
        "--fuzz-examples",
        type=int,
        default=20,
        help="Schemathesis examples per operation in tests/e2e/test_openapi_fuzz.py "
        "(`make fuzz` runs more)",
    )
    group.addoption(
        "--fuzz-seed",
        default="1",
        help="Schemathesis seed: a number for a repeatable run, `random` for a new one",
    )
