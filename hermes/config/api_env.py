"""API_SERVER_* environment variables: each mirrors a key of `api_server` in config.yaml and wins
over it. Lists are comma-separated (API_SERVER_CORS_ORIGINS=https://a.example,https://b.example)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, get_origin

from hermes.config.schema import ApiServerConfig
from hermes.config.validate import SchemaError, check_value, coerce, hints, metadata_of, takes_text

PREFIX = "API_SERVER_"


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def field_of(env_key: str) -> str | None:
    """The api_server field an API_SERVER_* variable sets, or None if it sets none."""
    if not env_key.startswith(PREFIX):
        return None
    name = env_key[len(PREFIX) :].lower()
    return name if name in hints(ApiServerConfig) else None


def parse_env_value(env_key: str, raw: str) -> Any:
    """The typed value of API_SERVER_<X>=raw; SchemaError if it does not fit the type or the
    range of its `api_server` key."""
    name = field_of(env_key)
    if name is None:
        raise SchemaError((env_key,), "not an API server setting")
    hint = hints(ApiServerConfig)[name]
    value: Any
    if get_origin(hint) is list:
        value = [part.strip() for part in raw.split(",") if part.strip()]
    elif takes_text(hint):
        value = raw
    else:
        value = _scalar(raw)
    typed = coerce(value, hint, (env_key,))
    check_value(typed, metadata_of(ApiServerConfig)[name], (env_key,))
    return typed


_INT = re.compile(r"[-+]?[0-9]+")
_BOOLS = {"true": True, "false": False}


def _scalar(raw: str) -> Any:
    """A number or boolean as YAML reads it; the common spellings without importing PyYAML
    (every gateway start reads API_SERVER_PORT and API_SERVER_ENABLED)."""
    text = raw.strip()
    if not text:
        return None
    if _INT.fullmatch(text):
        return int(text)
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_env(api: ApiServerConfig, env: Mapping[str, str]) -> tuple[ApiServerConfig, list[str]]:
    """`api` with every valid API_SERVER_* value of `env` applied; also the problems found."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(ApiServerConfig):
        key = env_name(field.name)
        if key in env:
            try:
                changes[field.name] = parse_env_value(key, env[key])
            except SchemaError as exc:
                problems.append(str(exc))
    return dataclasses.replace(api, **changes), problems
