"""Tool progress markers in the content stream (`💻 pwd`), and their removal from assistant
messages that clients send back, so markers never reach the model as history."""

from __future__ import annotations

import re

# Every marker a hermes tool emits starts with one of these (see each tool's `marker`).
MARKER_EMOJIS = ("💻", "📖", "✍️", "🐍", "🧠", "📚", "🔍", "🌐", "🔧", "📂", "🩹")
_MARKER_LINE = re.compile(
    "(?m)^`(?:" + "|".join(map(re.escape, MARKER_EMOJIS)) + r")[^`\n]*`[ \t]*(?:\n+|$)"
)


def inline_marker(marker: str, after_text: bool) -> str:
    """The marker as its own line of inline code, separated from text written before it."""
    safe = marker.replace("`", "'").replace("\n", " ")
    return ("\n\n" if after_text else "") + f"`{safe}`\n\n"


def strip_markers(text: str) -> str:
    if "`" not in text:
        return text
    return _MARKER_LINE.sub("", text).strip("\n") if _MARKER_LINE.search(text) else text
