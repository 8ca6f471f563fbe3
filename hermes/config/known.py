"""Names config.yaml may use that layers above config define: provider types and presets
(hermes.providers) and the built-in tools (hermes.tools).

They are written out here because config sits below both and `hermes config set` must not
import them (the tools alone take ~0.3 s to import); tests/unit/test_config_checks.py fails when
a list falls out of step with its source."""

from __future__ import annotations

# hermes.providers.known_kinds(): the native providers, then the OpenAI-compatible presets.
PROVIDER_TYPES = (
    "anthropic",
    "gemini",
    "local",
    "ollama",
    "openai",
    "deepseek",
    "glm",
    "llamacpp",
    "lmstudio",
    "minimax",
    "openrouter",
    "siliconflow",
    "vllm",
)

# hermes.tools.default_tools(), in the order the registry offers them.
TOOL_NAMES = (
    "terminal",
    "read_file",
    "write_file",
    "patch",
    "list_files",
    "search_files",
    "execute_code",
    "memory",
    "skills_list",
    "skill_view",
    "skill_create",
    "web_search",
    "web_fetch",
)
