"""Model providers: one module per wire format, chosen by the profile's `model` config.

`model.provider` is a provider type (or an OpenAI-compatible preset; every type, its wire
format, key and abilities are in the table in `kinds`), or the `name` of an entry of
`providers:`; `model.fallbacks` names further entries, tried in order when one fails before its
first token."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from hermes.config.schema import Config, ProviderEntry
from hermes.errors import ConfigError
from hermes.providers.base import ModelParams, Provider
from hermes.providers.kinds import (
    DEFAULT_CONTEXT,
    KINDS,
    LOCAL_CONTEXT,
    LOCAL_MODEL_NAME,
    LOCAL_MODEL_PORT,
    OLLAMA_CONTEXT,
    Kind,
    kind,
)

# Upstream connections beyond the run limit: for Open WebUI's title / tag / follow-up requests,
# which are answered outside it.
TASK_CONNECTIONS = 16


@dataclass(frozen=True, slots=True)
class Choice:
    """One provider as configured: its type, model, URL and key variable."""

    label: str  # the entry's name, or the provider type
    kind: str
    model: str
    base_url: str | None
    api_key_env: str | None


def context_length(config: Config) -> int:
    """`model.context_length`, or the primary provider's usual window when it is unset."""
    if config.model.context_length is not None:
        return config.model.context_length
    return kind(choices(config)[0].kind).context


def chat_only(config: Config) -> bool:
    """Whether the profile's primary provider is a chat-only model (see Kind.chat_only)."""
    return kind(choices(config)[0].kind).chat_only


def known_kinds() -> list[str]:
    return sorted(KINDS)


def choices(config: Config) -> list[Choice]:
    """The primary provider, then each fallback, resolved against `providers:`."""
    entries = {e.name: e for e in config.providers if e.name}
    model = config.model
    out: list[Choice] = []
    if model.provider in entries:
        out.append(_entry(entries[model.provider]))
    elif model.provider in known_kinds():
        out.append(
            Choice(model.provider, model.provider, model.name, model.base_url, model.api_key_env)
        )
    else:
        raise ConfigError(
            f"unknown model.provider {model.provider!r}: use a provider type "
            f"({', '.join(known_kinds())}) or the name of an entry of `providers`",
            param="model.provider",
        )
    for name in model.fallbacks:
        if name not in entries:
            raise ConfigError(
                f"model.fallbacks names {name!r}, which is not an entry of `providers`",
                param="model.fallbacks",
            )
        out.append(_entry(entries[name]))
    return out


def _entry(entry: ProviderEntry) -> Choice:
    if entry.provider not in known_kinds():
        raise ConfigError(
            f"providers entry {entry.name!r}: unknown provider type "
            f"{entry.provider!r} (known: {', '.join(known_kinds())})"
        )
    return Choice(entry.name, entry.provider, entry.model, entry.base_url, entry.api_key_env)


def build_provider(
    config: Config, env: Mapping[str, str], *, profile: str, max_runs: int | None = None
) -> Provider:
    """The provider the profile's config asks for (wrapped with its fallbacks). A missing key is
    an actionable error here, at gateway start, not on the first request. `max_runs`, the
    gateway's run limit, sizes each provider's connection pool."""
    runs = max_runs if max_runs is not None else config.api_server.max_concurrent_runs
    connections = runs + TASK_CONNECTIONS
    built = [_build(choice, config, env, profile, connections) for choice in choices(config)]
    if len(built) == 1:
        return built[0]
    from hermes.providers.fallback import FallbackProvider

    return FallbackProvider(built)


# Variables a provider may never be handed as its key: the gateway's own secrets. A config
# (an imported archive's, say) naming one would send it to whatever base_url it chose.
NOT_PROVIDER_KEYS = ("API_SERVER_", "HERMES_")


def _key(choice: Choice, k: Kind, env: Mapping[str, str], profile: str) -> str | None:
    key_env = choice.api_key_env or k.key_env
    if key_env and key_env.upper().startswith(NOT_PROVIDER_KEYS):
        raise ConfigError(
            f"profile {profile!r}: provider {choice.label!r} names {key_env} as its api_key_env; "
            "the gateway's own keys are never sent to a provider: name the provider's key",
            param="model.api_key_env",
        )
    key = env.get(key_env) if key_env else None
    if not key and k.key_env_alt:
        key = env.get(k.key_env_alt)
    # A server of one's own that speaks OpenAI's format may be keyless.
    needs_key = k.needs_key and not (k.wire == "openai" and choice.base_url)
    if not key and needs_key:
        raise ConfigError(
            f"profile {profile!r} uses provider {choice.label!r} ({choice.kind}) but "
            f"{key_env} is not set: set it with `hermes -p {profile} config set {key_env} …`",
            param=key_env,
        )
    return key or None


class _Common(TypedDict):
    """What every provider's constructor takes alike."""

    timeout: float
    request_timeout: float
    defaults: ModelParams
    name: str
    connections: int


def _build(
    choice: Choice, config: Config, env: Mapping[str, str], profile: str, connections: int
) -> Provider:
    k = kind(choice.kind)
    key = _key(choice, k, env, profile)
    common: _Common = {
        # model.timeout and model.request_timeout hold as set, for every provider (no floor).
        "timeout": float(config.model.timeout),
        "request_timeout": float(config.model.request_timeout),
        "defaults": ModelParams(
            max_tokens=config.model.max_tokens, temperature=config.model.temperature
        ),
        "name": choice.label,
        "connections": connections,
    }
    if k.wire == "anthropic":
        from hermes.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            model=choice.model, base_url=choice.base_url, api_key=key or "", **common
        )
    if k.wire == "gemini":
        from hermes.providers.gemini import GeminiProvider

        return GeminiProvider(
            model=choice.model, base_url=choice.base_url, api_key=key or "", **common
        )
    if k.wire == "ollama":
        from hermes.providers.ollama import OllamaProvider

        return OllamaProvider(
            model=choice.model,
            base_url=choice.base_url,
            num_ctx=context_length(config),
            **common,
        )
    from hermes.providers.openai import OpenAIProvider

    model, base_url = choice.model, choice.base_url or k.base_url
    if k.name == "local":
        port = env.get("HERMES_MODEL_PORT") or os.environ.get("HERMES_MODEL_PORT")
        base_url = choice.base_url or f"http://127.0.0.1:{int(port or LOCAL_MODEL_PORT)}/v1"
        model = LOCAL_MODEL_NAME  # one model server, one model: the name is what logs show
    return OpenAIProvider(model=model, base_url=base_url, api_key=key, **common)


__all__ = [
    "DEFAULT_CONTEXT",
    "KINDS",
    "LOCAL_CONTEXT",
    "LOCAL_MODEL_NAME",
    "LOCAL_MODEL_PORT",
    "OLLAMA_CONTEXT",
    "Choice",
    "Kind",
    "ModelParams",
    "Provider",
    "build_provider",
    "chat_only",
    "choices",
    "context_length",
    "known_kinds",
]
