"""Reasoning written into the answer text: `<think>…</think>` at the start of what a local or
OpenAI-compatible model says (Qwen, DeepSeek-R1 and their kin, served by llama.cpp, vLLM, LM
Studio or Ollama without a reasoning parser), split off as reasoning. Pure, no I/O.

Only a block that opens the text counts (white space before it aside): the tag appearing later is
the answer talking about tags, and is left as written. The text arrives in arbitrary pieces, so a
tag may be cut anywhere; `ThinkSplitter` holds back just enough to decide."""

from __future__ import annotations

import re
from typing import Final

from hermes.messages import ReasoningDelta, TextDelta

__all__ = ["ThinkSplitter", "split_think", "strip_reasoning"]

OPEN: Final = "<think>"
CLOSE: Final = "</think>"

# What chat clients put back into an assistant message's content when they send a conversation
# again: Open WebUI's collapsible reasoning block, or the raw tags of a model shown as is.
_DETAILS: Final = re.compile(r'<details\s+type="reasoning"[^>]*>.*?</details>\s*', re.DOTALL)
_LEADING_THINK: Final = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)

Piece = TextDelta | ReasoningDelta


class ThinkSplitter:
    """Feed the text deltas of one model answer; get back text and reasoning deltas. Joined, the
    text is the input without the leading think block (and the white space around it); the
    reasoning is that block's inside, stripped of white space at its ends."""

    def __init__(self) -> None:
        self._state = "start"  # start, think, after, text
        self._buf = ""
        self._thought = False  # some reasoning has gone out (later white space is kept)

    def feed(self, text: str) -> list[Piece]:
        if self._state == "text":
            return [TextDelta(text)] if text else []
        self._buf += text
        return self._advance()

    def flush(self) -> list[Piece]:
        """The answer ended: whatever was held back goes out as what it was."""
        rest, self._buf = self._buf, ""
        if self._state == "start" and rest:
            return [TextDelta(rest)]
        if self._state == "think" and rest.strip():
            return [ReasoningDelta(rest.strip() if not self._thought else rest.rstrip())]
        return []

    def _advance(self) -> list[Piece]:
        if self._state == "start":
            head = self._buf.lstrip()
            if not head or (len(head) < len(OPEN) and OPEN.startswith(head)):
                return []  # white space or a tag still arriving: cannot tell yet
            if not head.startswith(OPEN):
                self._state, rest, self._buf = "text", self._buf, ""
                return [TextDelta(rest)]
            self._state, self._buf = "think", head[len(OPEN) :]
        if self._state == "think":
            return self._thinking()
        return self._after()

    def _thinking(self) -> list[Piece]:
        end = self._buf.find(CLOSE)
        if end >= 0:
            inside, self._buf = self._buf[:end], self._buf[end + len(CLOSE) :]
            self._state = "after"
            return self._reasoning(inside.rstrip()) + self._after()
        # Hold back a possible start of the closing tag, and trailing white space (the block's
        # inside is stripped, and white space may yet turn out to be its end).
        keep = next((n for n in range(len(CLOSE) - 1, 0, -1) if self._buf.endswith(CLOSE[:n])), 0)
        sure = self._buf[: len(self._buf) - keep].rstrip()
        self._buf = self._buf[len(sure) :]
        return self._reasoning(sure)

    def _reasoning(self, text: str) -> list[Piece]:
        if not self._thought:
            text = text.lstrip()
        if not text:
            return []
        self._thought = True
        return [ReasoningDelta(text)]

    def _after(self) -> list[Piece]:
        rest = self._buf.lstrip()
        self._buf = ""
        if not rest:
            return []
        self._state = "text"
        return [TextDelta(rest)]


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole answer."""
    splitter = ThinkSplitter()
    pieces = splitter.feed(text) + splitter.flush()
    reasoning = "".join(p.text for p in pieces if isinstance(p, ReasoningDelta))
    return reasoning, "".join(p.text for p in pieces if isinstance(p, TextDelta))


def strip_reasoning(content: str) -> str:
    """An assistant message's content as a client sent it back, without the reasoning it shows
    in it: reasoning is never sent to a model as answer text."""
    if "<" not in content:
        return content
    return _LEADING_THINK.sub("", _DETAILS.sub("", content))
