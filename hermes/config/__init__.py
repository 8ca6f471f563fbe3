"""Typed profile configuration: config.yaml (schema-validated) and .env (secrets, API_SERVER_*).

Names are resolved lazily so that importing a light submodule (envfile, secrets) does not pay
for PyYAML and the schema; `from hermes.config import load_config` still works."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "hermes.config.loader",
    "read_yaml": "hermes.config.loader",
    "Config": "hermes.config.schema",
    "ApiServerConfig": "hermes.config.schema",
    "ModelConfig": "hermes.config.schema",
    "ProviderEntry": "hermes.config.schema",
    "is_secret_name": "hermes.config.secrets",
    "mask": "hermes.config.secrets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hermes.config' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
