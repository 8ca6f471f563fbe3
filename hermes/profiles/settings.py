"""Reading and changing one profile's settings by key, the way `hermes config` does.

UPPER_SNAKE keys live in .env (secrets, API_SERVER_*); dotted lower-case keys in config.yaml,
validated against the schema. Every change holds the profile's lock around read-modify-write, so
concurrent writers never lose an update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hermes.config import envfile
from hermes.config.api_env import field_of, parse_env_value
from hermes.config.loader import load_config, read_yaml
from hermes.config.schema import Config
from hermes.config.secrets import is_secret_env, is_secret_name, mask
from hermes.config.validate import SchemaError, field_hint, to_plain
from hermes.errors import ConfigError, NotFound
from hermes.fsutil import locked
from hermes.profiles.paths import Profile
from hermes.profiles.store import ProfileStore

PORT_KEYS = ("API_SERVER_PORT", "api_server.port")


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any
    source: str  # "config.yaml", ".env", "default"
    secret: bool

    def shown(self, reveal: bool) -> Any:
        if self.secret and not reveal and isinstance(self.value, str):
            return mask(self.value)
        return self.value


def is_env_key(key: str) -> bool:
    return envfile.is_key(key)


def set_value(store: ProfileStore, profile: Profile, key: str, raw: str) -> list[str]:
    """Set `key` to the CLI string `raw`; returns notes worth telling the user."""
    notes: list[str] = []
    if is_env_key(key):
        envfile.validate_key(key)
        envfile.validate_value(key, raw)
        if field_of(key) is not None:
            try:
                value = parse_env_value(key, raw)
            except SchemaError as exc:
                raise ConfigError(str(exc), param=key) from None
            if key == "API_SERVER_PORT":
                store.check_port(int(value), exclude=profile.name)
        with locked(profile.lock_path):
            envfile.update(profile.env_path, {key: raw})
        return notes
    from hermes.config.editing import parse_cli_value, set_yaml_key

    value = parse_cli_value(key, raw)
    if key == "api_server.port":
        store.check_port(int(value), exclude=profile.name)
    with locked(profile.lock_path):
        set_yaml_key(profile.config_path, key, value)
    shadow = _env_shadow(key)
    if shadow and shadow in envfile.read(profile.env_path):
        notes.append(f"{shadow} in .env overrides {key}; unset it there for this to take effect")
    return notes


def unset_value(profile: Profile, key: str) -> bool:
    """Remove `key` (back to its default); True if it was set."""
    if is_env_key(key):
        envfile.validate_key(key)
        with locked(profile.lock_path):
            present = key in envfile.read(profile.env_path)
            if present:
                envfile.update(profile.env_path, {key: None})
        return present
    from hermes.config.editing import unset_yaml_key

    _check_key(key)
    with locked(profile.lock_path):
        return unset_yaml_key(profile.config_path, key)


def get_value(profile: Profile, key: str) -> Setting:
    if is_env_key(key):
        env = envfile.read(profile.env_path)
        if key not in env:
            raise NotFound(f"{key} is not set in {profile.env_path}", param=key)
        return Setting(key, env[key], ".env", is_secret_env(key))
    _check_key(key)
    config = load_config(profile.config_path)
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    source = "config.yaml" if _present(read_yaml(profile.config_path), key) else "default"
    shadow = _env_shadow(key)
    if shadow is not None:  # the value the gateway runs with: .env wins over config.yaml
        env = envfile.read(profile.env_path)
        if shadow in env:
            shown = _effective(shadow, env[shadow])
            return Setting(key, shown, f"{shadow} in .env", is_secret_name(key))
    return Setting(key, to_plain(value), source, is_secret_name(key))


def _effective(env_key: str, raw: str) -> Any:
    """An API_SERVER_* value as the gateway reads it; as written if it does not parse (the
    gateway refuses to start then, and `profile list` names the error)."""
    try:
        return to_plain(parse_env_value(env_key, raw))
    except (SchemaError, ConfigError):
        return raw


def list_values(profile: Profile) -> list[Setting]:
    """Every config.yaml key (set or default), then every .env variable."""
    config = load_config(profile.config_path)
    raw = read_yaml(profile.config_path)
    env = envfile.read(profile.env_path)
    out = []
    for key, value in _leaves(to_plain(config), ""):
        source = "config.yaml" if _present(raw, key) else "default"
        shadow = _env_shadow(key)
        if shadow is not None and shadow in env:  # shown as the gateway runs with it
            value, source = _effective(shadow, env[shadow]), f"{shadow} in .env (over {source})"
        out.append(Setting(key, value, source, is_secret_name(key)))
    out += [Setting(k, v, ".env", is_secret_env(k)) for k, v in env.items()]
    return out


def _leaves(obj: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out += _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
        return out
    return [(prefix.rstrip("."), obj)]


def _present(data: dict[str, Any], key: str) -> bool:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _check_key(key: str) -> None:
    try:
        field_hint(Config, key)
    except SchemaError as exc:
        raise ConfigError(str(exc), param=key) from None


def _env_shadow(key: str) -> str | None:
    parts = key.split(".")
    if len(parts) == 2 and parts[0] == "api_server":
        return "API_SERVER_" + parts[1].upper()
    return None


__all__ = ["Setting", "get_value", "is_env_key", "list_values", "set_value", "unset_value"]
