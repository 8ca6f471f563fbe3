"""What a profile archive may not decide: how the imported profile is exposed and trusted.

An archive comes from someone else. Whoever made it must not be able to choose where the new
profile listens, who may call it, what its key is, what its tools may reach or how much it may
take on; all of that comes back to the defaults (`profile create` gives the profile its own port
and a fresh key). Kept: the profile's character (model, prompts, tools list, agent limits) and
the API server's display settings below. `profile export` leaves the same settings out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.config import envfile
from hermes.config.api_env import PREFIX, env_name, field_of, parse_env_value
from hermes.config.secrets import is_secret_env, is_secret_name, mask
from hermes.config.validate import SchemaError
from hermes.errors import ConfigError

# api_server settings an archive may carry: whether the profile is served (the new profile is
# served anyway unless this says false), and how tool progress, reasoning and keep-alives are
# shown.
ARCHIVE_API_FIELDS = ("enabled", "tool_progress", "show_reasoning", "keepalive_seconds")
ARCHIVE_ENV = tuple(env_name(name) for name in ARCHIVE_API_FIELDS)
# Whole subtrees of config.yaml an archive may not set. `tools.sandbox` may be unknown to this
# version's schema (a newer hermes's section) and is dropped all the same.
TRUST_KEYS = ("tools.web_fetch.allow_private", "tools.sandbox")

EXPOSURE = "exposure settings are never imported"
TRUST = "trust settings are never imported"
LIMITS = "limits are never imported"
_API_REASONS = {
    "host": EXPOSURE,
    "port": EXPOSURE,
    "cors_origins": EXPOSURE,
    "allowed_hosts": EXPOSURE,
    "key": "keys are never imported; the profile gets a fresh one",
    "model_name": "the profile's name is its model id",
    "max_concurrent_runs": LIMITS,
    "max_request_bytes": LIMITS,
    "max_stored_responses": LIMITS,
}
OTHER_API = "API server settings are never imported"
OTHER_ENV = "secrets and other .env values are never imported"
SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class Dropped:
    """One setting the archive had and the imported profile does not: `value` is as shown to
    the user (secrets masked, control characters escaped, long values cut)."""

    key: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value} ({self.reason})"


def vet_env(env: Mapping[str, str]) -> tuple[dict[str, str], list[Dropped]]:
    """The manifest's .env values the new profile takes, and those it does not."""
    kept: dict[str, str] = {}
    dropped: list[Dropped] = []
    for key, value in env.items():
        reason = _env_reason(key, value)
        if reason is None:
            kept[key] = value
        else:
            dropped.append(_dropped(key, value, reason))
    return kept, dropped


def _env_reason(key: str, value: str) -> str | None:
    if not key.startswith(PREFIX):
        return OTHER_ENV
    if key not in ARCHIVE_ENV:
        name = field_of(key)
        return _API_REASONS.get(name, OTHER_API) if name else OTHER_API
    try:
        envfile.validate_value(key, value)
        parse_env_value(key, value)
    except (ConfigError, SchemaError) as exc:
        return f"not a valid value: {exc.message}"
    return None


def vet_config(path: Path) -> list[Dropped]:
    """Remove from the config.yaml at `path` every setting an archive may not make (comments
    and the rest kept); what was removed, leaf by leaf."""
    from hermes.config.editing import drop_yaml_keys
    from hermes.config.loader import read_yaml

    found = untrusted_keys(read_yaml(path))
    if not found:
        return []
    drop_yaml_keys(path, [key for key, _ in found])
    left = untrusted_keys(read_yaml(path))
    if left:  # e.g. set through a YAML merge key, which the round-trip editor cannot remove
        raise ConfigError(
            f"{path}: {left[0][0]} is set in a way that cannot be removed; refusing to import"
        )
    dropped: list[Dropped] = []
    for key, value in found:
        reason = _config_reason(key)
        dropped += [_dropped(leaf, leaf_value, reason) for leaf, leaf_value in _leaves(key, value)]
    return dropped


def untrusted_keys(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(dotted key, value) of each setting in config data that an archive may not make."""
    found: list[tuple[str, Any]] = []
    api = data.get("api_server")
    if isinstance(api, dict):
        found += [(f"api_server.{k}", v) for k, v in api.items() if k not in ARCHIVE_API_FIELDS]
    for key in TRUST_KEYS:
        node: Any = data
        for part in key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is not _MISSING:
            found.append((key, node))
    return found


_MISSING = object()


def _config_reason(key: str) -> str:
    if key in TRUST_KEYS:
        return TRUST
    return _API_REASONS.get(key.removeprefix("api_server."), OTHER_API)


def _leaves(key: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(f"{key}.{k}", v)]
    return [(key, value)]


def _dropped(key: str, value: Any, reason: str) -> Dropped:
    secret = is_secret_name(key) or (key.upper() == key and is_secret_env(key))
    if secret and isinstance(value, str):
        return Dropped(_printable(key), mask(value), reason)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return Dropped(_printable(key), _printable(text), reason)


def _printable(text: str) -> str:
    """Archive text as it may reach a terminal: escape sequences and newlines escaped."""
    shown = text if text.isprintable() else json.dumps(text)
    return shown if len(shown) <= SHOWN_CHARS else shown[: SHOWN_CHARS - 1] + "…"


def endpoints(path: Path) -> list[Dropped]:
    """Where the imported profile will send requests, and with which key variable: kept (they
    are the profile's character), but shown, since a provider key set after the import goes
    there. `reason` is what the user should check."""
    from hermes.config.loader import read_yaml

    data = read_yaml(path) if path.is_file() else {}
    entries: list[tuple[str, Any]] = [("model", data.get("model"))]
    providers = data.get("providers")
    if isinstance(providers, list):
        entries += [(f"providers.{i}", p) for i, p in enumerate(providers)]
    tools = data.get("tools")
    if isinstance(tools, dict):
        entries.append(("tools.web_search", tools.get("web_search")))
    found: list[Dropped] = []
    for prefix, entry in entries:
        if not isinstance(entry, dict):
            continue
        for field, why in _ENDPOINT_FIELDS:
            value = entry.get(field)
            if isinstance(value, str) and value:
                found.append(_dropped(f"{prefix}.{field}", value, why))
    return found


SENT_THERE = "the provider key you set for it is sent there"
KEY_SENT = "this variable's value is sent to the provider"
SEARCHES = "the agent's web searches go there"
_ENDPOINT_FIELDS = (("base_url", SENT_THERE), ("api_key_env", KEY_SENT), ("searxng_url", SEARCHES))
