"""Model providers: one module per wire format, chosen by the profile's `model` config."""

from __future__ import annotations

from collections.abc import Mapping

from hermes.config.schema import Config
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
DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "siliconflow": "SILICONFLOW_API_KEY",
    "minimax": "MINIMAX_API_KEY",
    "glm": "GLM_API_KEY",
}
# Local servers that usually run without a key.
KEYLESS = frozenset({"vllm", "lmstudio", "llamacpp"})


def build_provider(config: Config, env: Mapping[str, str], *, profile: str) -> Provider:
    """The provider the profile's config asks for. A missing key is an actionable error here,
    at gateway start, not on the first request."""
    model = config.model
    kind = model.provider
    if kind not in OPENAI_COMPATIBLE:
        known = ", ".join(sorted(OPENAI_COMPATIBLE))
        raise ConfigError(
            f"unknown model.provider {kind!r} (known: {known})", param="model.provider"
        )
    key_env = model.api_key_env or DEFAULT_KEY_ENV.get(kind)
    key = env.get(key_env) if key_env else None
    if not key and kind not in KEYLESS and model.base_url is None:
        raise ConfigError(
            f"profile {profile!r} uses provider {kind!r} but {key_env} is not set: "
            f"set it with `hermes -p {profile} config set {key_env} …`",
            param=key_env,
        )
    from hermes.providers.openai import OpenAIProvider

    return OpenAIProvider(
        model=model.name,
        base_url=model.base_url or OPENAI_COMPATIBLE[kind],
        api_key=key or None,
        timeout=float(model.timeout),
        defaults=ModelParams(max_tokens=model.max_tokens, temperature=model.temperature),
        name=kind,
    )


__all__ = ["ModelParams", "Provider", "build_provider"]
