"""What the front door's GET /v1/models says of one profile: its advertised model id, and what
clients read to set themselves up (context length; whether it takes images, tools, reasoning),
as far as the profile's own config knows."""

from __future__ import annotations

import re
from typing import Any

from hermes.config import envfile
from hermes.config.api_env import apply_env
from hermes.config.loader import load_config
from hermes.profiles import Profile, ProfileStore
from hermes.profiles.paths import model_id

# Model families known to reason before answering (by the provider's model id): a guess from
# the name, for provider types that may reason at all (providers/kinds.py). Whether a model takes
# images is the gateway's own answer (model.vision and its table, providers/vision.py).
_REASONING = re.compile(
    r"\bo[134](-|$)|gpt-5|deepseek-r1|reason|think|qwq|claude-(3-7|sonnet-4|opus-4)|gemini-(2\.5|3)",
    re.I,
)


def describe_profile(store: ProfileStore, profile: Profile) -> tuple[dict[str, Any], str]:
    """(its /v1/models entry, its model id). ConfigError when its files are broken."""
    from hermes.providers import chat_only, choices, context_length
    from hermes.providers.kinds import kind
    from hermes.providers.vision import vision_of

    config = load_config(profile.config_path, cache=profile.config_cache_path)
    api, problems = apply_env(config.api_server, envfile.read(profile.env_path))
    if problems:
        from hermes.errors import ConfigError

        raise ConfigError("; ".join(problems))
    model = model_id(profile.name, api.model_name)
    primary = choices(config)[0]
    tools = not chat_only(config) and config.tools.enabled != []
    images = vision_of(config).images
    reasoning = kind(primary.kind).reasoning and bool(_REASONING.search(primary.model))
    card: dict[str, Any] = {
        "id": model,
        "object": "model",
        "created": _created(profile),
        "owned_by": "hermes",
        "context_length": context_length(config),
        "capabilities": {
            "images": images,
            "tools": tools,
            "reasoning": reasoning,
        },
        "profile": profile.name,
        "description": config.description or None,
        "architecture": {"input_modalities": ["text", "image"] if images else ["text"]},
    }
    return card, model


def _created(profile: Profile) -> int:
    try:
        return int(profile.config_path.stat().st_mtime)
    except OSError:
        return 0
