"""model.vision and the table `auto` reads: which models are sent images."""

from __future__ import annotations

import pytest
import yaml

from hermes.config.schema import Config
from hermes.config.validate import build
from hermes.providers.vision import takes_images, vision_of


def parse_config(text: str) -> Config:
    config: Config = build(Config, yaml.safe_load(text))
    return config


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4.1-nano"),
        ("openai", "gpt-5"),
        ("openai", "o3"),
        ("openai", "o4-mini"),
        ("openrouter", "openai/gpt-4o"),
        ("openrouter", "anthropic/claude-sonnet-4"),
        ("anthropic", "claude-3-5-sonnet-latest"),
        ("anthropic", "claude-opus-4-1"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini-2.0-flash"),
        ("gemini", "models/gemini-1.5-pro"),
        ("ollama", "llava:13b"),
        ("ollama", "llama3.2-vision"),
        ("ollama", "qwen2.5vl:7b"),
        ("ollama", "gemma3:4b"),
        ("ollama", "gemma3"),
        ("vllm", "Qwen/Qwen2.5-VL-7B-Instruct"),
    ],
)
def test_known_vision_models_take_images(kind: str, model: str) -> None:
    assert takes_images(kind, model)


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("openai", "gpt-3.5-turbo"),
        ("openai", "o3-mini"),
        ("openai", "o1-mini"),
        ("openai", "gpt-4o-audio-preview"),
        ("openai", "fake-model"),
        ("anthropic", "claude-2.1"),
        ("ollama", "gemma3:270m"),
        ("ollama", "gemma3:1b"),
        ("ollama", "llama3.1"),
        ("deepseek", "deepseek-chat"),
        ("local", "gemma-3-270m"),
        ("local", "gpt-4o"),  # the bundled model, whatever the name says
    ],
)
def test_other_models_do_not(kind: str, model: str) -> None:
    assert not takes_images(kind, model)


def test_auto_needs_every_model_of_the_chain() -> None:
    alone = parse_config("model: {provider: openai, name: gpt-4o}\n")
    assert vision_of(alone).images
    chained = parse_config(
        "model: {provider: openai, name: gpt-4o, fallbacks: [spare]}\n"
        "providers: [{name: spare, provider: deepseek, model: deepseek-chat}]\n"
    )
    v = vision_of(chained)
    assert not v.images and "deepseek-chat" in v.reason and "model.vision: true" in v.reason


def test_the_setting_beats_the_table() -> None:
    assert vision_of(parse_config("model: {provider: openai, name: x, vision: true}\n")).images
    off = vision_of(parse_config("model: {provider: openai, name: gpt-4o, vision: false}\n"))
    assert not off.images and "model.vision is false" in off.reason
    local = vision_of(parse_config("model: {provider: local}\n"))
    assert not local.images and "bundled local model" in local.reason


def test_ollama_in_the_chain_takes_images_only_inline() -> None:
    v = vision_of(parse_config("model: {provider: ollama, name: llava}\n"))
    assert v.images and v.inline_only
    assert not vision_of(parse_config("model: {provider: openai, name: gpt-4o}\n")).inline_only


def test_vision_is_validated_as_true_false_or_auto() -> None:
    with pytest.raises(Exception, match="vision"):
        parse_config("model: {vision: sometimes}\n")
