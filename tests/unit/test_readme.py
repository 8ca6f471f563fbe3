"""The README's promises stay true: it starts with the two commands and documents every key."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make run" in head and "make test" in head


def test_readme_config_table_matches_the_schema() -> None:
    table = runpy.run_path(str(ROOT / "scripts" / "config_table.py"))
    readme = (ROOT / "README.md").read_text()
    for key, kind, default, doc in table["rows"](table["Config"]):
        row = f"| `{key}` | {kind} | `{default}` | {doc} |"
        assert row in readme, f"README config table is stale for {key}: run scripts/config_table.py"
    for key, kind, default, doc in table["rows"](table["HomeConfig"]):
        row = f"| `{key}` | {kind} | `{default}` | {doc} |"
        assert row in readme, f"hermes.yaml table is stale for {key}: config_table.py --global"
