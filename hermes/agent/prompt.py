"""The profile's core system prompt: SOUL.md, memory, the skills index and tool guidance.

It always comes first; system messages from a client are kept after it as further instructions,
never replacing it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence

from hermes.memory import memory_sections
from hermes.messages import Message
from hermes.profiles.paths import Profile
from hermes.skills import list_skills

FALLBACK_SOUL = "You are Hermes, a helpful assistant with tools."


def build_system_prompt(
    profile: Profile, tool_names: Iterable[str], *, memory_chars: int = 8000
) -> str:
    try:
        soul = profile.soul_path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        soul = ""
    parts = [soul or FALLBACK_SOUL]
    for title, text in memory_sections(profile.memory_dir, memory_chars):
        parts.append(f"## {title}\n\n{text}")
    names = sorted(tool_names)
    skills = list_skills(profile.skills_dir)
    if skills:
        how = (
            "load one with skill_view(name)"
            if "skill_view" in names
            else "each is skills/<name>/SKILL.md in your profile"
        )
        lines = "\n".join(f"- {s.name}: {s.description}".rstrip(": ") for s in skills)
        parts.append(f"## Skills\n\nProcedures you have saved ({how}):\n{lines}")
    if names:
        parts.append(
            "## Tools\n\n"
            f"Available: {', '.join(names)}. Your working directory is {profile.workspace_dir}; "
            "terminal and file tools act there. Use a tool when it gets a better answer than "
            "guessing; report what you ran and what it showed."
        )
    return "\n\n".join(parts)


class PromptCache:
    """The core prompt, rebuilt only when a file it reads changed: one stat() per input file per
    request instead of reading them all (a hand edit or the memory tool shows up at once)."""

    def __init__(self, profile: Profile, tool_names: Iterable[str], *, memory_chars: int) -> None:
        self.profile = profile
        self.tool_names = tuple(sorted(tool_names))
        self.memory_chars = memory_chars
        self._signature: tuple[object, ...] | None = None
        self._prompt = ""

    def get(self) -> str:
        signature = self._stat_all()
        if signature != self._signature:
            self._prompt = build_system_prompt(
                self.profile, self.tool_names, memory_chars=self.memory_chars
            )
            self._signature = signature
        return self._prompt

    def _stat_all(self) -> tuple[object, ...]:
        p = self.profile
        paths = [p.soul_path, p.memory_dir / "MEMORY.md", p.memory_dir / "USER.md", p.skills_dir]
        with contextlib.suppress(OSError):
            paths += [p.skills_dir / name / "SKILL.md" for name in os.listdir(p.skills_dir)]
        return tuple(_stat(path) for path in paths)


def _stat(path: os.PathLike[str]) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def layer(core: str, messages: Sequence[Message]) -> list[Message]:
    """The conversation the model sees: the core prompt first, then the client's messages (its
    system messages included, as further instructions)."""
    return [Message("system", core), *messages]
