"""Which models take images: `model.vision` (true / false), or, with `auto`, this table.

The table lists model families known to read images, per wire format; a model it does not know
is taken to be text-only (a 400 naming `model.vision` is a clearer failure than the provider's
own error, or a model that answers as if it saw nothing). Names are matched lower-cased, after
any routing prefix (`openai/gpt-4o` on OpenRouter, `models/gemini-2.0-flash`)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

from hermes.config.schema import Config
from hermes.providers import Choice, choices
from hermes.providers.kinds import KINDS

Family = tuple[tuple[str, ...], tuple[str, ...]]
# (patterns that take images, patterns among them that do not), by the family's own names.
_OPENAI: Final[Family] = (
    ("gpt-4o*", "chatgpt-4o*", "gpt-4.1*", "gpt-4-turbo*", "gpt-4-vision*", "gpt-5*", "o1",
     "o1-20*", "o3", "o3-20*", "o3-pro*", "o4*"),
    ("gpt-4o*-audio*", "gpt-4o*-transcribe*", "gpt-4o*-tts*", "gpt-4o*-search*"),
)  # fmt: skip
_CLAUDE: Final[Family] = (("claude-3*", "claude-*-4*"), ())
_GEMINI: Final[Family] = (
    ("gemini-*", "gemma-3-*"),
    ("gemini-1.0*", "gemma-3-1b*", "gemma-3-270m*"),
)
_OPEN_MODELS: Final[Family] = (
    ("llava*", "bakllava*", "llama3.2-vision*", "llama-3.2-*vision*", "llama4*", "llama-4*",
     "qwen2.5vl*", "qwen2.5-vl*", "qwen2-vl*", "qwen-vl*", "qwen3-vl*", "gemma3*", "gemma-3-*",
     "minicpm-v*", "moondream*", "pixtral*", "mistral-small3.1*", "mistral-small-3.1*",
     "granite3.2-vision*"),
    ("gemma3:270m*", "gemma3:1b*", "gemma-3-270m*", "gemma-3-1b*"),
)  # fmt: skip

# By wire format: an OpenAI-compatible server or router may serve any family.
_TABLE: Final[dict[str, tuple[Family, ...]]] = {
    "anthropic": (_CLAUDE,),
    "gemini": (_GEMINI,),
    "ollama": (_OPEN_MODELS,),
    "openai": (_OPENAI, _CLAUDE, _GEMINI, _OPEN_MODELS),
}


@dataclass(frozen=True, slots=True)
class Vision:
    """What the profile's chain of providers can be sent. `reason`: why images are refused,
    for the 400 (empty when they are taken). `inline_only`: a provider of the chain (Ollama)
    takes images only as bytes, so image URLs are refused."""

    images: bool
    reason: str = ""
    inline_only: bool = False


def takes_images(kind: str, model: str) -> bool:
    """Whether the table says `model`, served by provider type `kind`, reads images."""
    k = KINDS.get(kind)
    if k is None or not k.vision:
        return False  # the bundled Gemma 3 270M reads text only
    name = model.lower().rsplit("/", 1)[-1]
    return any(_matches(name, *family) for family in _TABLE[k.wire])


def _matches(name: str, yes: tuple[str, ...], no: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) for p in yes) and not any(fnmatchcase(name, p) for p in no)


def vision_of(config: Config) -> Vision:
    """`model.vision` for the profile's whole chain: every provider of it (primary and
    fallbacks) gets the same messages, so with `auto` each must take images."""
    chain = choices(config)
    inline_only = any(c.kind == "ollama" for c in chain)
    setting = config.model.vision
    if setting is True:
        return Vision(True, inline_only=inline_only)
    if setting is False:
        return Vision(False, "model.vision is false for this profile")
    blind = [c for c in chain if not takes_images(c.kind, c.model)]
    if not blind:
        return Vision(True, inline_only=inline_only)
    return Vision(False, _blind_reason(blind[0]))


def _blind_reason(choice: Choice) -> str:
    model = "the bundled local model" if choice.kind == "local" else repr(choice.model)
    return (
        f"{model} ({choice.label}) is not a model hermes knows to take images; if it does, "
        "set model.vision: true"
    )
