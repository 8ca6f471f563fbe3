"""Model providers: one module per wire format, chosen by the profile's `model` config.

`model.provider` is a provider type (or an OpenAI-compatible preset), or the `name` of an entry
of `providers:`; `model.fallbacks` names further entries, tried in order when one fails before
its first token."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hermes.config.schema import Config, ProviderEntry
from hermes.errors import ConfigError
from hermes.providers.base import ModelParams, Provider

# Provider types that speak OpenAI's Chat Completions, and their default base URLs.
OPENAI_COMPATIBLE: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "siliconflow": "https://api.siliconflow.cn/v1",
    "minimax": "https://api.minimax.chat/v1",
    "glm": "https://open.bigmodel.cn/api/paas/v4",
    "vllm": "http://127.0.0.1:8000/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
}
NATIVE = ("anthropic", "gemini", "ollama", "local")
DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "siliconflow": "SILICONFLOW_API_KEY",
    "minimax": "MINIMAX_API_KEY",
    "glm": "GLM_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
# Servers that run without a key.
KEYLESS = frozenset({"vllm", "lmstudio", "llamacpp", "ollama", "local"})
# Models that only chat: too small to follow the agent's prompt or to call tools (the bundled
# 270M base model), so a gateway gives them a compact prompt and no tools.
CHAT_ONLY = frozenset({"local"})
# The shared local model server (see hermes.model_server) listens here unless told otherwise.
LOCAL_MODEL_PORT = 8639
LOCAL_MODEL_NAME = "gemma-3-270m"
LOCAL_CONTEXT = 4096  # tokens: the model server's window (the model could take more; CPU can't)
# Ollama's own default window is small and it silently drops the start of a longer prompt (the
# system prompt first): hermes sends `num_ctx` and keeps conversations within it.
OLLAMA_CONTEXT = 8192
DEFAULT_CONTEXT = 128_000
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
    kind = choices(config)[0].kind
    return {"local": LOCAL_CONTEXT, "ollama": OLLAMA_CONTEXT}.get(kind, DEFAULT_CONTEXT)


def chat_only(config: Config) -> bool:
    """Whether the profile's primary provider is a chat-only model (see CHAT_ONLY)."""
    return choices(config)[0].kind in CHAT_ONLY


def known_kinds() -> list[str]:
    return sorted([*OPENAI_COMPATIBLE, *NATIVE])


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


def _key(choice: Choice, env: Mapping[str, str], profile: str) -> str | None:
    key_env = choice.api_key_env or DEFAULT_KEY_ENV.get(choice.kind)
    if key_env and key_env.upper().startswith(NOT_PROVIDER_KEYS):
        raise ConfigError(
            f"profile {profile!r}: provider {choice.label!r} names {key_env} as its api_key_env; "
            "the gateway's own keys are never sent to a provider: name the provider's key",
            param="model.api_key_env",
        )
    key = env.get(key_env) if key_env else None
    if choice.kind == "gemini" and not key:
        key = env.get("GOOGLE_API_KEY")
    needs_key = choice.kind not in KEYLESS and not (
        choice.kind in OPENAI_COMPATIBLE and choice.base_url  # a custom server may be keyless
    )
    if not key and needs_key:
        raise ConfigError(
            f"profile {profile!r} uses provider {choice.label!r} ({choice.kind}) but "
            f"{key_env} is not set: set it with `hermes -p {profile} config set {key_env} …`",
            param=key_env,
        )
    return key or None


def _build(
    choice: Choice, config: Config, env: Mapping[str, str], profile: str, connections: int
) -> Provider:
    key = _key(choice, env, profile)
    defaults = ModelParams(max_tokens=config.model.max_tokens, temperature=config.model.temperature)
    # model.timeout and model.request_timeout hold as set, for every provider (no floor).
    timeout = float(config.model.timeout)
    request_timeout = float(config.model.request_timeout)
    name = choice.label
    if choice.kind == "anthropic":
        from hermes.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            model=choice.model,
            base_url=choice.base_url,
            api_key=key or "",
            timeout=timeout,
            request_timeout=request_timeout,
            defaults=defaults,
            name=name,
            connections=connections,
        )
    if choice.kind == "gemini":
        from hermes.providers.gemini import GeminiProvider

        return GeminiProvider(
            model=choice.model,
            base_url=choice.base_url,
            api_key=key or "",
            timeout=timeout,
            request_timeout=request_timeout,
            defaults=defaults,
            name=name,
            connections=connections,
        )
    if choice.kind == "ollama":
        from hermes.providers.ollama import OllamaProvider

        return OllamaProvider(
            model=choice.model,
            base_url=choice.base_url,
            timeout=timeout,
            request_timeout=request_timeout,
            defaults=defaults,
            name=name,
            connections=connections,
            num_ctx=context_length(config),
        )
    from hermes.providers.openai import OpenAIProvider

    if choice.kind == "local":
        port = int(
            env.get("HERMES_MODEL_PORT") or os.environ.get("HERMES_MODEL_PORT") or LOCAL_MODEL_PORT
        )
        base_url = choice.base_url or f"http://127.0.0.1:{port}/v1"
        # One model server, one model: the name is only what logs and headers show.
        return OpenAIProvider(
            model=LOCAL_MODEL_NAME,
            base_url=base_url,
            api_key=None,
            timeout=timeout,
            request_timeout=request_timeout,
            defaults=defaults,
            name=name,
            connections=connections,
        )
    return OpenAIProvider(
        model=choice.model,
        base_url=choice.base_url or OPENAI_COMPATIBLE[choice.kind],
        api_key=key,
        timeout=timeout,
        request_timeout=request_timeout,
        defaults=defaults,
        name=name,
        connections=connections,
    )


__all__ = [
    "Choice",
    "ModelParams",
    "Provider",
    "build_provider",
    "chat_only",
    "choices",
    "context_length",
    "known_kinds",
]
