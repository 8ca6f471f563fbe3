"""The start-up promises the README makes, checked in the real processes: a gateway started by
the supervisor imports neither PyYAML (it reads the plan's JSON cache) nor Typer or Rich; the
supervisor imports no HTTP library (aiohttp); `hermes profile list` imports no PyYAML.

Each process reports what it imported as it exits, through a `sitecustomize` module put on its
PYTHONPATH (Python imports it at start; it adds an exit hook writing one line to stderr)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.supervisor_process import (
    add_profile,
    by_profile,
    disable_default,
    hermes,
    supervisor,
    wait_for,
)

WATCHED = ("yaml", "typer", "rich", "aiohttp", "ruamel")
SITECUSTOMIZE = f"""
import atexit, os, sys

def _report():
    loaded = [m for m in {WATCHED!r} if m in sys.modules]
    line = "LOADED " + " ".join(sys.argv[:4]) + " :: " + ",".join(loaded) + "\\n"
    os.write(2, line.encode())

atexit.register(_report)
"""


def reports(text: str, command: str) -> list[set[str]]:
    found = re.findall(r"^LOADED (.*) :: (.*)$", text, re.MULTILINE)
    return [set(filter(None, mods.split(","))) for argv, mods in found if command in argv]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": str(site)}


def test_gateways_load_no_yaml_typer_or_rich_and_the_supervisor_no_aiohttp(
    home: Path, env: dict[str, str]
) -> None:
    add_profile(home, "alice")
    disable_default(home)  # no bundled model server on its fixed port
    with supervisor(home, env=env):
        assert wait_for(lambda: by_profile(home)["alice"]["state"] == "running")
    supervisor_log = (home / "supervisor-test.log").read_text(errors="replace")
    gateway_log = (home / "profiles" / "alice" / "logs" / "gateway.log").read_text()
    (gateway,) = reports(gateway_log, "--profile alice")
    assert "aiohttp" in gateway  # the report works
    assert gateway.isdisjoint({"yaml", "typer", "rich", "ruamel"}), gateway
    ups = reports(supervisor_log, " up")
    assert ups and all("aiohttp" not in up for up in ups), ups


def test_profile_list_loads_no_yaml(home: Path, env: dict[str, str]) -> None:
    add_profile(home, "alice")
    hermes(home, "profile", "list", env=env)  # the first run builds the index
    listed = hermes(home, "profile", "list", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout.strip() or "[]") is not None
    (loaded,) = reports(listed.stderr, "profile")
    assert "yaml" not in loaded and "ruamel" not in loaded, loaded
