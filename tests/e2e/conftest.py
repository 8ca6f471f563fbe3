"""e2e fixtures: the real installed `hermes` executable, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERMES = shutil.which("hermes", path=str(Path(sys.executable).parent)) or "hermes"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def hermes_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "OPENAI_"))}
    env["HERMES_HOME"] = str(home)
    return env


@pytest.fixture
def run(hermes_env: dict[str, str]) -> Run:
    def _run(
        *args: str, input: str | None = None, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HERMES, *args],
            env=hermes_env,
            input=input,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=check,
        )

    return _run
