"""Typed profile configuration: config.yaml (schema-validated) and .env (secrets, API_SERVER_*)."""

from hermes.config.loader import load_config, read_yaml
from hermes.config.schema import ApiServerConfig, Config, ModelConfig, ProviderEntry
from hermes.config.secrets import is_secret_name, mask

__all__ = [
    "ApiServerConfig",
    "Config",
    "ModelConfig",
    "ProviderEntry",
    "is_secret_name",
    "load_config",
    "mask",
    "read_yaml",
]
