"""Settings for the whole HERMES_HOME, not one profile: `$HERMES_HOME/hermes.yaml`, changed with
`hermes config set --global KEY VALUE` and shown by `hermes config list --global`.

Today it holds the front door's settings (`frontdoor.*`). The same schema machinery as a
profile's config.yaml validates it (schema.doc / bounded, validate.build), and the same
round-trip editor keeps a user's comments when a key is set."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermes.config.loader import read_yaml
from hermes.config.schema import bounded, doc
from hermes.config.validate import SchemaError, build, dotted, field_hint, to_plain
from hermes.errors import ConfigError
from hermes.fsutil import locked

FILE_NAME = "hermes.yaml"
FRONTDOOR_PORT = 8640
# An HTTP header name (RFC 9110 token characters): anything else could never be sent.
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
# A name or an IPv4/IPv6 address; an empty host would bind every interface.
HOST = re.compile(r"[A-Za-z0-9.:%_-]{1,253}")


@dataclass(frozen=True)
class FrontdoorConfig:
    enabled: bool = field(
        default=False,
        metadata=doc("run the front door (one URL and key for every profile) under `hermes up`"),
    )
    host: str = field(
        default="127.0.0.1",
        metadata={
            "doc": "the front door's bind address",
            "pattern": HOST,
            "pattern_doc": "a host name or address (127.0.0.1, 0.0.0.0, ::1)",
        },
    )
    port: int = field(
        default=FRONTDOOR_PORT, metadata=bounded("the front door's port", least=1, most=65535)
    )
    identity_header: str | None = field(
        default=None,
        metadata={
            "doc": "a header a trusted client (a --trust-identity key) names its user in, "
            "besides Open WebUI's X-OpenWebUI-User-* and the OpenAI `user` field",
            "pattern": HEADER_NAME,
            "pattern_doc": "an HTTP header name (letters, digits, '-', at most 64)",
        },
    )
    users: dict[str, list[str]] = field(
        default_factory=dict,
        metadata=doc(
            "a trusted client's users (email or id) → the profiles each may use (`*`: all); "
            "a user not listed reaches none"
        ),
    )


@dataclass(frozen=True)
class HomeConfig:
    frontdoor: FrontdoorConfig = field(default_factory=FrontdoorConfig)


def path_of(home: Path) -> Path:
    return home / FILE_NAME


def load_home(home: Path) -> HomeConfig:
    """The typed hermes.yaml (defaults when it does not exist); ConfigError naming the key."""
    path = path_of(home)
    try:
        config: HomeConfig = build(HomeConfig, read_yaml(path))
    except SchemaError as exc:
        raise ConfigError(f"{path}: {exc}", param=dotted(exc.keypath) or None) from None
    return config


def set_home_value(home: Path, key: str, raw: str) -> Any:
    """Set dotted `key` to the CLI string `raw` (typed the YAML way); returns the value set."""
    from hermes.config.editing import parse_cli_value, set_yaml_key

    value = parse_cli_value(key, raw, schema=HomeConfig)
    home.mkdir(parents=True, exist_ok=True)
    with locked(_lock(home)):
        set_yaml_key(path_of(home), key, value, schema=HomeConfig)
    return value


def unset_home_value(home: Path, key: str) -> bool:
    from hermes.config.editing import unset_yaml_key

    _check_key(key)
    if not path_of(home).exists():
        return False
    with locked(_lock(home)):
        return unset_yaml_key(path_of(home), key, schema=HomeConfig)


def home_values(home: Path) -> list[tuple[str, Any, str]]:
    """Every key of hermes.yaml (key, value, source): set in the file, or its default."""
    config = to_plain(load_home(home))
    raw = read_yaml(path_of(home))
    out = []
    for section, values in config.items():
        for name, value in values.items():
            given = isinstance(raw.get(section), dict) and name in raw[section]
            out.append((f"{section}.{name}", value, FILE_NAME if given else "default"))
    return out


def home_value(home: Path, key: str) -> Any:
    _check_key(key)
    value: Any = load_home(home)
    for part in key.split("."):
        value = getattr(value, part)
    return to_plain(value)


def _check_key(key: str) -> None:
    try:
        field_hint(HomeConfig, key)
    except SchemaError as exc:
        raise ConfigError(str(exc), param=key) from None


def _lock(home: Path) -> Path:
    return home / "run" / ".hermes-yaml.lock"
