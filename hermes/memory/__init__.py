"""The profile's memory: memory/MEMORY.md (what the agent chose to remember) and memory/USER.md
(what it knows about its user). Both are part of every system prompt, bounded in size."""

from __future__ import annotations

from pathlib import Path


def read_bounded(path: Path, max_chars: int) -> str:
    """The file's text, or its last `max_chars` characters (the newest entries) if longer."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, IsADirectoryError):
        return ""
    if len(text) <= max_chars:
        return text
    return "[… older entries omitted …]\n" + text[-max_chars:]


def memory_sections(memory_dir: Path, max_chars: int) -> list[tuple[str, str]]:
    """(title, text) of the non-empty memory files, for the system prompt."""
    out = []
    for title, name in (("Memory", "MEMORY.md"), ("About the user", "USER.md")):
        text = read_bounded(memory_dir / name, max_chars)
        if text:
            out.append((title, text))
    return out
