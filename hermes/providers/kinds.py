"""Every provider type hermes knows, in one table: the wire format it speaks, where it lives by
default, which key it needs, and what it can do (tools, reasoning, images, its usual context
window).

Readers ask this table rather than keep lists of their own: building a provider, the context
budget, whether a profile is chat-only, whether a key is needed, and what a profile's model card
says. A model's own abilities that vary within a type (which OpenAI models see images) are the
model's business, not the type's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Wire = Literal["openai", "anthropic", "gemini", "ollama"]

# The shared local model server (see hermes.model_server) listens here unless told otherwise.
LOCAL_MODEL_PORT: Final = 8639  # 8640 is the front door's
LOCAL_MODEL_NAME: Final = "gemma-3-270m"
LOCAL_CONTEXT: Final = (
    4096  # tokens: the model server's window (the model could take more; CPU can't)
)
# Ollama's own default window is small and it silently drops the start of a longer prompt (the
# system prompt first): hermes sends `num_ctx` and keeps conversations within it.
OLLAMA_CONTEXT: Final = 8192
DEFAULT_CONTEXT: Final = 128_000


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    wire: Wire
    base_url: str | None = None  # None: the wire module's own default (the vendor's API)
    key_env: str | None = None  # the variable its key is read from by default
    key_env_alt: str | None = None  # read when key_env is unset (Google's own name for it)
    needs_key: bool = True  # False: a server that runs without one
    # A model too small to follow the agent's prompt or to call tools (the bundled 270M base
    # model): a gateway gives it a compact prompt and no tools, the profile's or a client's.
    chat_only: bool = False
    context: int = DEFAULT_CONTEXT
    reasoning: bool = True  # may return reasoning (models vary; a type that never does says so)
    # May take images; which of its models do is providers/vision.py's table (model.vision).
    vision: bool = True

    @property
    def tools(self) -> bool:
        return not self.chat_only


def _compatible(name: str, base_url: str, key_env: str | None = None) -> Kind:
    """A server that speaks OpenAI's Chat Completions; keyless when it names no key."""
    return Kind(name, "openai", base_url, key_env, needs_key=key_env is not None)


KINDS: Final[dict[str, Kind]] = {
    k.name: k
    for k in (
        Kind("anthropic", "anthropic", key_env="ANTHROPIC_API_KEY"),
        Kind("gemini", "gemini", key_env="GEMINI_API_KEY", key_env_alt="GOOGLE_API_KEY"),
        Kind(
            "local",
            "openai",
            needs_key=False,
            chat_only=True,
            context=LOCAL_CONTEXT,
            reasoning=False,
            vision=False,
        ),
        Kind("ollama", "ollama", needs_key=False, context=OLLAMA_CONTEXT),
        _compatible("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        _compatible("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
        _compatible("glm", "https://open.bigmodel.cn/api/paas/v4", "GLM_API_KEY"),
        _compatible("llamacpp", "http://127.0.0.1:8080/v1"),
        _compatible("lmstudio", "http://127.0.0.1:1234/v1"),
        _compatible("minimax", "https://api.minimax.chat/v1", "MINIMAX_API_KEY"),
        _compatible("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        _compatible("siliconflow", "https://api.siliconflow.cn/v1", "SILICONFLOW_API_KEY"),
        _compatible("vllm", "http://127.0.0.1:8000/v1"),
    )
}


def kind(name: str) -> Kind:
    """The type `name`; KeyError for one the table does not hold (config validation refuses
    those first, naming the known ones)."""
    return KINDS[name]
