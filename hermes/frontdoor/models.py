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

# Model families known to read images, and to reason before answering (by the provider's model
# id). A guess from the name, and said to be one: a profile may set what it knows instead.
_IMAGES = re.compile(
    r"gpt-4o|gpt-4\.1|gpt-5|o[134](-|$)|claude-(3|sonnet|opus|haiku)|gemini|llava|pixtral|"
    r"-vl\b|vision|gemma-3-(4|12|27)b|llama-?4|mistral-(medium|small)-3",
    re.I,
)
_REASONING = re.compile(
    r"\bo[134](-|$)|gpt-5|deepseek-r1|reason|think|qwq|claude-(3-7|sonnet-4|opus-4)|gemini-(2\.5|3)",
    re.I,
)


def describe_profile(store: ProfileStore, profile: Profile) -> tuple[dict[str, Any], str]:
    """(its /v1/models entry, its model id). ConfigError when its files are broken."""
    from hermes.providers import chat_only, choices, context_length

    config = load_config(profile.config_path, cache=profile.config_cache_path)
    api, problems = apply_env(config.api_server, envfile.read(profile.env_path))
    if problems:
        from hermes.errors import ConfigError

        raise ConfigError("; ".join(problems))
    model = model_id(profile.name, api.model_name)
    upstream = choices(config)[0].model
    tools = not chat_only(config) and config.tools.enabled != []
    images = bool(_IMAGES.search(upstream))
    card: dict[str, Any] = {
        "id": model,
        "object": "model",
        "created": _created(profile),
        "owned_by": "hermes",
        "context_length": context_length(config),
        "capabilities": {
            "images": images,
            "tools": tools,
            "reasoning": bool(_REASONING.search(upstream)),
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
