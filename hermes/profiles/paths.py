"""Where things live: HERMES_HOME, profile names, and the layout of one profile's directory."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hermes.errors import InvalidRequest

# The one rule for a profile name, always applied with fullmatch: a `$` anchor would also match
# before a trailing newline, and "abc\n" would become a folder. A name is a folder, a model id, a
# systemd instance and a log prefix, so it stays plain: never "." or "..", no "/", no spaces.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
NAME_RULE = (
    "1-32 characters: a lower-case letter first, then lower-case letters, digits, '-' or '_'"
)
# Words that read as commands or selectors; a profile by such a name would be ambiguous.
RESERVED_NAMES = frozenset(
    {
        "hermes",
        "all",
        "run",
        "none",
        "null",
        "self",
        "current",
        "active",
        "new",
        "list",
        "profile",
        "profiles",
        "logs",
        "state",
        "supervisor",
        "gateway",
        "system",
        "root",
    }
)
DEFAULT_PROFILE = "default"
DEFAULT_MODEL_NAME = "hermes-agent"  # what existing clients of the default profile already use


def model_id(profile: str, model_name: str | None) -> str:
    """The model id a profile is advertised as (its gateway's /v1/models, the front door's
    routing): api_server.model_name, else the profile's name (`hermes-agent` for default)."""
    if model_name:
        return model_name
    return DEFAULT_MODEL_NAME if profile == DEFAULT_PROFILE else profile


def hermes_home() -> Path:
    """$HERMES_HOME, default ~/.hermes."""
    raw = os.environ.get("HERMES_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".hermes"


def is_valid_name(name: object) -> bool:
    """True if `name` fits the profile name pattern (reserved words are not checked here)."""
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def validate_name(name: str) -> str:
    """`name` if a new profile may be called that; InvalidRequest naming the rule otherwise.
    Every way a name comes in (create, clone, rename, import, -p) goes through here."""
    if not isinstance(name, str):
        raise InvalidRequest(f"a profile name must be a string, not {name!r}", param="name")
    if not name:
        raise InvalidRequest("a profile name may not be empty", param="name")
    if not is_valid_name(name):
        raise InvalidRequest(f"invalid profile name {name!r}: use {NAME_RULE}", param="name")
    if name in RESERVED_NAMES:
        raise InvalidRequest(
            f"{name!r} is a reserved word; choose another profile name", param="name"
        )
    return name


@dataclass(frozen=True)
class Profile:
    """One profile's directory. Paths only: reading them is the caller's business."""

    name: str
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def env_path(self) -> Path:
        return self.root / ".env"

    @property
    def soul_path(self) -> Path:
        return self.root / "SOUL.md"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def skills_dir(self) -> Path:
        return self.root / "skills"

    @property
    def workspace_dir(self) -> Path:
        return self.root / "workspace"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_cache_path(self) -> Path:
        """The parsed config.yaml as JSON, keyed by its stat: gateways start without PyYAML."""
        return self.state_dir / "config-cache.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def lock_path(self) -> Path:
        """Held around every read-modify-write of config.yaml or .env."""
        return self.state_dir / ".config.lock"
