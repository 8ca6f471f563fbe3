"""Which provider a profile's config selects, and the errors when it cannot."""

from __future__ import annotations

import pytest

from hermes.config.schema import Config, ModelConfig, ProviderEntry
from hermes.errors import ConfigError
from hermes.providers import build_provider, choices
from hermes.providers.anthropic import AnthropicProvider
from hermes.providers.fallback import FallbackProvider
from hermes.providers.gemini import GeminiProvider
from hermes.providers.kinds import KINDS
from hermes.providers.ollama import OllamaProvider
from hermes.providers.openai import OpenAIProvider


def config(**model: object) -> Config:
    entries = [
        ProviderEntry("fast", "openrouter", "meta/llama", "OR_KEY", None),
        ProviderEntry("spare", "deepseek", "deepseek-chat", None, None),
    ]
    return Config(model=ModelConfig(**model), providers=entries)  # type: ignore[arg-type]


def test_a_type_a_preset_and_a_named_entry() -> None:
    (c,) = choices(config(provider="openai", name="gpt-4.1"))
    assert (c.kind, c.model, c.base_url) == ("openai", "gpt-4.1", None)
    (c,) = choices(config(provider="fast"))
    assert (c.label, c.kind, c.model, c.api_key_env) == (
        "fast",
        "openrouter",
        "meta/llama",
        "OR_KEY",
    )
    provider = build_provider(config(provider="fast"), {"OR_KEY": "k"}, profile="p")
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "https://openrouter.ai/api/v1" and provider.api_key == "k"


def test_fallbacks_wrap_the_primary() -> None:
    provider = build_provider(
        config(provider="openai", fallbacks=["spare"]),
        {"OPENAI_API_KEY": "a", "DEEPSEEK_API_KEY": "b"},
        profile="p",
    )
    assert isinstance(provider, FallbackProvider)
    assert [p.label for p in provider.providers] == ["openai:gpt-4o-mini", "spare:deepseek-chat"]


@pytest.mark.parametrize(
    ("model", "env", "message"),
    [
        ({"provider": "nope"}, {}, "unknown model.provider 'nope'"),
        (
            {"provider": "openai", "fallbacks": ["ghost"]},
            {"OPENAI_API_KEY": "k"},
            "model.fallbacks names 'ghost'",
        ),
        ({"provider": "openai"}, {}, "hermes -p p config set OPENAI_API_KEY"),
        ({"provider": "fast"}, {}, "hermes -p p config set OR_KEY"),
        (
            {"provider": "openai", "fallbacks": ["spare"]},
            {"OPENAI_API_KEY": "k"},
            "config set DEEPSEEK_API_KEY",
        ),
    ],
)
def test_actionable_errors(model: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        build_provider(config(**model), env, profile="p")


def test_keyless_servers_need_no_key() -> None:
    for kind in ("vllm", "lmstudio", "llamacpp", "local"):
        assert build_provider(config(provider=kind), {}, profile="p")
    custom = build_provider(
        config(provider="openai", base_url="http://10.0.0.5:8000/v1"), {}, profile="p"
    )
    assert isinstance(custom, OpenAIProvider) and custom.api_key is None


async def test_the_connection_pool_is_sized_from_the_run_limit() -> None:
    """1,000 concurrent streams under a run limit of 1,100 each get a connection at once; a
    fixed pool of 100 made the rest queue for one (first tokens after 16 s at the median)."""
    env = {"OPENAI_API_KEY": "a", "DEEPSEEK_API_KEY": "b"}
    big = build_provider(
        config(provider="openai", fallbacks=["spare"]), env, profile="p", max_runs=1100
    )
    assert isinstance(big, FallbackProvider)
    for provider in big.providers:
        assert isinstance(provider, OpenAIProvider)
        session = provider._client()
        assert session.connector is not None and session.connector.limit == 1100 + 16
        await provider.close()
    small = build_provider(config(provider="openai"), env, profile="p")
    assert isinstance(small, OpenAIProvider) and small.connections == 32 + 16


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_in_the_table_builds_its_wire(name: str) -> None:
    k = KINDS[name]
    env = {k.key_env: "sk-test"} if k.key_env else {}
    provider = build_provider(config(provider=name, name="m"), env, profile="p")
    wires = {
        "openai": OpenAIProvider,
        "anthropic": AnthropicProvider,
        "gemini": GeminiProvider,
        "ollama": OllamaProvider,
    }
    assert type(provider) is wires[k.wire]
    if k.wire == "openai" and name != "local":
        assert isinstance(provider, OpenAIProvider) and provider.base_url == k.base_url
    if k.needs_key:  # and without it, an actionable error naming the variable
        with pytest.raises(ConfigError, match=str(k.key_env)):
            build_provider(config(provider=name, name="m"), {}, profile="p")
