"""Locate the profile templates: shipped in the wheel as hermes/templates/profiles, and in a
source checkout (editable install) as the repository's top-level profiles/ folder."""

from __future__ import annotations

from pathlib import Path

from hermes.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def templates_root() -> Path:
    for candidate in (PACKAGE_DIR / "templates" / "profiles", PACKAGE_DIR.parent / "profiles"):
        if (candidate / "default" / "config.yaml").is_file():
            return candidate
    raise ConfigError("the profile templates are missing from this installation; reinstall hermes")


def template_dir(name: str = "default") -> Path:
    return templates_root() / name
