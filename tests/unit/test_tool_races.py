"""The file tools against a workspace that changes under them: a thread (standing in for the
model's own commands, which run in the same workspace) swaps a folder with a symlink to the
profile directory as fast as it can, while the tools read, write, patch, list and search
through that folder. Nothing outside the workspace is ever read or written, and a FIFO swapped
in never blocks a tool."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes.config.schema import ToolsConfig
from hermes.tools import ToolContext, ToolError
from hermes.tools.files import _patch, _read, _write
from hermes.tools.filesearch import _list, _search
from tests.races import swapping

CANARY = "CANARY-secret-outside-the-workspace"
ROUNDS = 400


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    root = tmp_path / "profile"
    (root / "workspace" / "d").mkdir(parents=True)
    (root / ".env").write_text(f"KEY={CANARY}\n")
    (root / "workspace" / "d" / ".env").write_text("KEY=decoy\n")
    (root / "workspace" / "e").symlink_to("..")  # leads to the profile directory
    return root


@pytest.fixture
def flipping(profile: Path) -> Iterator[None]:
    """Swap workspace/d and workspace/e (the link to ..) until the test ends."""
    with swapping(profile / "workspace" / "d", profile / "workspace" / "e"):
        yield


def ctx(profile: Path) -> ToolContext:
    return ToolContext(profile / "workspace", ToolsConfig(), "alice", frozenset(), {})


def attempt(fn: object, *args: object) -> str:
    try:
        return str(fn(*args))  # type: ignore[operator]
    except ToolError as exc:
        return exc.message


@pytest.mark.usefixtures("flipping")
def test_reads_and_searches_never_see_outside(profile: Path) -> None:
    c = ctx(profile)
    seen = []
    for _ in range(ROUNDS):
        seen.append(attempt(_read, c, "d/.env", 1, 10))
        seen.append(attempt(_search, c, __import__("re").compile("KEY"), None))
        seen.append(attempt(_list, c, "d", None))
    assert not [s for s in seen if CANARY in s]
    assert any("decoy" in s for s in seen), "the race never let a read through at all"


@pytest.mark.usefixtures("flipping")
def test_writes_and_patches_never_land_outside(profile: Path) -> None:
    c = ctx(profile)
    before = sorted(p.name for p in profile.iterdir())
    for i in range(ROUNDS):
        attempt(_write, c, f"d/new-{i % 5}.txt", "x")
        attempt(_write, c, "d/sub/deeper.txt", "y")
        attempt(_patch, c, "d/.env", "decoy", "decoy")
    assert sorted(p.name for p in profile.iterdir()) == before
    assert (profile / ".env").read_text() == f"KEY={CANARY}\n"
    assert not list(profile.glob(".*.tmp")) and not (profile / "sub").exists()


def test_a_fifo_never_blocks_a_read(profile: Path) -> None:
    os.mkfifo(profile / "workspace" / "pipe")
    start = time.monotonic()
    with pytest.raises(ToolError, match="not a regular file"):
        _read(ctx(profile), "pipe", 1, 10)
    out = _search(ctx(profile), __import__("re").compile("x"), None)
    assert "no matches" in out and time.monotonic() - start < 2
