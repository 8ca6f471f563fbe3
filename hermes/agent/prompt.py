"""The profile's core system prompt: SOUL.md, memory, the skills index and tool guidance.

It always comes first; system messages from a client are kept after it as further instructions,
never replacing it. A small chat-only model (the bundled `local` one) gets a compact prompt
instead: a line of persona from SOUL.md and a request for short answers, nothing it cannot use."""

from __future__ import annotations

import contextlib
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hermes.memory import memory_sections
from hermes.memory.users import current_user, user_file
from hermes.messages import Message
from hermes.profiles.paths import Profile
from hermes.skills import list_skills

FALLBACK_SOUL = "You are Hermes, a helpful assistant with tools."
COMPACT_PERSONA = "You are Hermes, a helpful assistant."
COMPACT_STYLE = "You answer in one or two short sentences."
COMPACT_PERSONA_CHARS = 200  # a longer first sentence is not a persona line: use the default


def build_system_prompt(
    profile: Profile,
    tool_names: Iterable[str],
    *,
    memory_chars: int = 8000,
    user: str | None = None,
) -> str:
    try:
        soul = profile.soul_path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        soul = ""
    parts = [soul or FALLBACK_SOUL]
    for title, text in memory_sections(profile.memory_dir, memory_chars, user):
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


def build_compact_prompt(profile: Profile) -> str:
    """Two sentences: who is talking (SOUL.md's first sentence, when it is a short one) and how
    it answers. A 270M base model keeps to a short persona line; it cannot act on SOUL.md's
    instructions about tools, memory and skills, nor on the tool guidance."""
    try:
        soul = profile.soul_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        soul = ""
    return f"{_first_sentence(soul) or COMPACT_PERSONA} {COMPACT_STYLE}"


def _first_sentence(text: str) -> str:
    """The first sentence of the first prose paragraph (headings, lists and quotes skipped)."""
    for paragraph in text.split("\n\n"):
        lines = [line for line in paragraph.splitlines() if line.strip()[:1] not in _MARKUP]
        prose = " ".join(" ".join(lines).split())
        if prose:
            sentence = re.split(r"(?<=[.!?])\s", prose, maxsplit=1)[0]
            return sentence if len(sentence) <= COMPACT_PERSONA_CHARS else ""
    return ""


_MARKUP = tuple("#-*>|`")
MAX_CACHED_USERS = 256  # prompts kept for this many users; beyond, the least recent is rebuilt


@dataclass(slots=True)
class _Built:
    watched: tuple[str, ...]
    signature: tuple[object, ...] | None = None
    prompt: str = ""


class PromptCache:
    """The core prompt, rebuilt only when a file it reads changed: a handful of stat() calls per
    request instead of reading every file (a hand edit or the memory tool shows up at once).

    Watched: SOUL.md, MEMORY.md, USER.md (the current user's, memory/users.py), the skills
    folder (its mtime changes when a skill is added or removed) and each SKILL.md seen at the
    last build. One prompt is kept per user. Paths are plain strings: pathlib costs more than
    the stat() calls themselves on this hot path."""

    def __init__(
        self,
        profile: Profile,
        tool_names: Iterable[str],
        *,
        memory_chars: int,
        compact: bool = False,
    ) -> None:
        self.profile = profile
        self.tool_names = tuple(sorted(tool_names))
        self.memory_chars = memory_chars
        self.compact = compact  # build_compact_prompt: for a small chat-only model
        self._skills_dir = str(profile.skills_dir)
        self._built: OrderedDict[str | None, _Built] = OrderedDict()

    def get(self) -> str:
        user = None if self.compact else current_user.get()
        built = self._built.get(user)
        if built is None:
            built = self._built[user] = _Built(self._base(user))
            while len(self._built) > MAX_CACHED_USERS:
                self._built.popitem(last=False)
        elif user is not None:
            self._built.move_to_end(user)
        if tuple(map(_stat, built.watched)) != built.signature:
            self._rebuild(built, user)
        return built.prompt

    def _base(self, user: str | None) -> tuple[str, ...]:
        profile = self.profile
        return (
            str(profile.soul_path),
            str(profile.memory_dir / "MEMORY.md"),
            str(user_file(profile.memory_dir, user)),
            self._skills_dir,
        )

    def _rebuild(self, built: _Built, user: str | None) -> None:
        skills: list[str] = []
        with contextlib.suppress(OSError):
            skills = [f"{self._skills_dir}/{n}/SKILL.md" for n in os.listdir(self._skills_dir)]
        built.watched = (*self._base(user), *skills)
        built.signature = tuple(map(_stat, built.watched))  # before reading: a racing edit
        built.prompt = (  # makes the next get() rebuild again
            build_compact_prompt(self.profile)
            if self.compact
            else build_system_prompt(
                self.profile, self.tool_names, memory_chars=self.memory_chars, user=user
            )
        )


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def layer(core: str, messages: Sequence[Message]) -> list[Message]:
    """The conversation the model sees: the core prompt first, then the client's messages (its
    system messages included, as further instructions)."""
    return [Message("system", core), *messages]
