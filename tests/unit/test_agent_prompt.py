"""The core prompt: its parts, and the cache that must never serve a stale prompt."""

from __future__ import annotations

import time

from hermes.agent.prompt import PromptCache, build_system_prompt
from hermes.profiles import ProfileStore


def test_prompt_has_soul_memory_skills_and_tools(store: ProfileStore) -> None:
    profile = store.get("default")
    (profile.memory_dir / "MEMORY.md").write_text("- the user's cat is called Ada\n")
    prompt = build_system_prompt(profile, ["terminal"])
    assert prompt.startswith("# Who you are")
    assert "## Memory" in prompt and "called Ada" in prompt
    assert "workspace-hygiene: Keep the workspace tidy" in prompt
    assert "Available: terminal" in prompt and str(profile.workspace_dir) in prompt


def test_memory_is_bounded_keeping_the_newest(store: ProfileStore) -> None:
    profile = store.get("default")
    (profile.memory_dir / "MEMORY.md").write_text("old fact\n" + "x" * 500 + "\nnewest fact\n")
    prompt = build_system_prompt(profile, [], memory_chars=100)
    assert "newest fact" in prompt and "old fact" not in prompt and "omitted" in prompt


def test_cache_follows_every_edit(store: ProfileStore) -> None:
    profile = store.get("default")
    cache = PromptCache(profile, ["terminal"], memory_chars=8000)
    first = cache.get()
    assert cache.get() is first  # unchanged files: the same string, no rebuild

    def later() -> None:
        time.sleep(0.01)  # mtime granularity

    later()
    (profile.memory_dir / "MEMORY.md").write_text("- remembers tea\n")
    assert "remembers tea" in cache.get()
    later()
    profile.soul_path.write_text("You are Zed.\n")
    assert cache.get().startswith("You are Zed.")
    later()
    (profile.skills_dir / "brew").mkdir()
    (profile.skills_dir / "brew" / "SKILL.md").write_text(
        "---\nname: brew\ndescription: make tea\n---\nboil water\n"
    )
    assert "brew: make tea" in cache.get()
    later()
    (profile.skills_dir / "brew" / "SKILL.md").write_text(
        "---\nname: brew\ndescription: make coffee\n---\n"
    )
    assert "brew: make coffee" in cache.get()
