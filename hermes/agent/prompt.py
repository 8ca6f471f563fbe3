"""The profile's core system prompt: SOUL.md, memory, the skills index and tool guidance.

It always comes first; system messages from a client are kept after it as further instructions,
never replacing it."""

from __future__ import annotations

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


def layer(core: str, messages: Sequence[Message]) -> list[Message]:
    """The conversation the model sees: the core prompt first, then the client's messages (its
    system messages included, as further instructions)."""
    return [Message("system", core), *messages]
