"""The memory tool and hermes.memory: add/list/search/remove, the size cap, duplicates,
ambiguous removals, concurrent adds, the header, and the system prompt of one profile only."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from hermes.agent.prompt import build_system_prompt
from hermes.config.schema import MemoryToolConfig, ToolsConfig
from hermes.errors import Conflict, InvalidRequest, NotFound
from hermes.memory import MEMORY_HEADER, MemoryFull, add_entry, entries, remove_entry
from hermes.profiles import Profile, ProfileStore
from hermes.tools import ToolContext, ToolError, ToolRegistry, ToolResult
from hermes.tools.memory import MEMORY_TOOLS, memory

TEMPLATE_MEMORY = Path(__file__).parents[2] / "profiles" / "default" / "memory" / "MEMORY.md"


def make_ctx(memory_dir: Path | None, max_chars: int = 8000) -> ToolContext:
    settings = dataclasses.replace(ToolsConfig(), memory=MemoryToolConfig(max_chars=max_chars))
    return ToolContext(
        memory_dir or Path("."), settings, "alice", frozenset(), {}, memory_dir=memory_dir
    )


@pytest.fixture
def mem(tmp_path: Path) -> Path:
    folder = tmp_path / "memory"
    folder.mkdir()
    (folder / "MEMORY.md").write_text(TEMPLATE_MEMORY.read_text())
    return folder


async def call(ctx: ToolContext, **args: object) -> ToolResult:
    return await ToolRegistry(MEMORY_TOOLS).call("memory", json.dumps(args), ctx)


async def test_add_list_search_remove_through_the_registry(mem: Path) -> None:
    ctx = make_ctx(mem)
    for fact in ("The user's cat is called Ada", "Prefers tea\nover coffee", "Deploys on Fridays"):
        result = await call(ctx, action="add", content=fact)
        assert result.ok and "Remembered as entry" in result.output

    listed = await call(ctx, action="list")
    assert listed.ok
    assert "1. The user's cat is called Ada" in listed.output
    assert "2. Prefers tea over coffee" in listed.output  # newline folded
    assert "3. Deploys on Fridays" in listed.output

    found = await call(ctx, action="search", query="FRIDAY")
    assert found.ok and "3. Deploys on Fridays" in found.output and "Ada" not in found.output
    none = await call(ctx, action="search", query="dog")
    assert none.ok and "No entry contains 'dog'" in none.output

    removed = await call(ctx, action="remove", query="tea")
    assert removed.ok and "Prefers tea over coffee" in removed.output
    assert [e.text for e in entries(mem)] == ["The user's cat is called Ada", "Deploys on Fridays"]
    assert (mem / "MEMORY.md").read_text() == (
        MEMORY_HEADER + "- The user's cat is called Ada\n- Deploys on Fridays\n"
    )


async def test_header_is_kept_and_written_when_missing(tmp_path: Path, mem: Path) -> None:
    add_entry(mem, "first", 8000)
    text = (mem / "MEMORY.md").read_text()
    assert text.startswith("# Memory\n\nFacts this agent") and text.endswith("\n- first\n")
    remove_entry(mem, query="first")
    assert (mem / "MEMORY.md").read_text() == TEMPLATE_MEMORY.read_text()

    fresh = tmp_path / "fresh"
    add_entry(fresh, "- made from nothing", 8000)
    assert (fresh / "MEMORY.md").read_text() == MEMORY_HEADER + "- made from nothing\n"


async def test_empty_and_invalid_calls_are_clear_errors(mem: Path) -> None:
    ctx = make_ctx(mem)
    empty = await call(ctx, action="add", content=" \n ")
    assert not empty.ok and "empty" in empty.output
    missing = await call(ctx, action="add")
    assert not missing.ok and "empty" in missing.output
    bad = await call(ctx, action="forget")
    assert not bad.ok and "'add', 'list', 'search', 'remove'" in bad.output
    no_query = await call(ctx, action="search")
    assert not no_query.ok and "needs `query`" in no_query.output
    with pytest.raises(ToolError, match="valid actions: add, list, search, remove"):
        await memory(ctx, "forget")
    nowhere = await call(make_ctx(None), action="list")
    assert not nowhere.ok and "no memory folder" in nowhere.output
    with pytest.raises(InvalidRequest):
        remove_entry(mem)


async def test_size_cap_refuses_and_points_to_consolidation(mem: Path) -> None:
    cap = len(MEMORY_HEADER) + 30
    ctx = make_ctx(mem, max_chars=cap)
    assert (await call(ctx, action="add", content="short fact")).ok  # 13 chars with "- " and \n
    before = (mem / "MEMORY.md").read_text()
    full = await call(ctx, action="add", content="a much longer fact that does not fit")
    assert not full.ok and "memory is full" in full.output and "consolidate" in full.output
    assert (mem / "MEMORY.md").read_text() == before
    with pytest.raises(MemoryFull):
        add_entry(mem, "x" * 100, cap)
    assert len((mem / "MEMORY.md").read_text()) <= cap


async def test_duplicates_are_not_added_twice(mem: Path) -> None:
    ctx = make_ctx(mem)
    await call(ctx, action="add", content="Likes tea")
    again = await call(ctx, action="add", content="  likes   TEA ")
    assert again.ok and "Already remembered as entry 1" in again.output
    assert [e.text for e in entries(mem)] == ["Likes tea"]


async def test_remove_needs_exactly_one_match(mem: Path) -> None:
    ctx = make_ctx(mem)
    for fact in ("tea in the morning", "tea in the evening", "coffee never"):
        add_entry(mem, fact, 8000)
    ambiguous = await call(ctx, action="remove", query="TEA")
    assert not ambiguous.ok and "2 memory entries match" in ambiguous.output
    assert (
        "1. tea in the morning" in ambiguous.output and "2. tea in the evening" in ambiguous.output
    )
    assert len(entries(mem)) == 3
    nothing = await call(ctx, action="remove", query="juice")
    assert not nothing.ok and "no memory entry containing 'juice'" in nothing.output
    exact = await call(ctx, action="remove", content="Tea in the evening")
    assert exact.ok and "Removed entry 2: tea in the evening" in exact.output
    with pytest.raises(NotFound):
        remove_entry(mem, text="tea in the")  # `content` must be an entry's whole text
    add_entry(mem, "tea at noon", 8000)
    with pytest.raises(Conflict):
        remove_entry(mem, query="tea")


async def test_concurrent_adds_lose_nothing(mem: Path) -> None:
    ctx = make_ctx(mem)
    results = await asyncio.gather(
        *(call(ctx, action="add", content=f"fact number {i}") for i in range(20))
    )
    assert all(r.ok for r in results)
    texts = [e.text for e in entries(mem)]
    assert sorted(texts) == sorted(f"fact number {i}" for i in range(20))
    assert (mem / "MEMORY.md").read_text().startswith(MEMORY_HEADER)


async def test_marker() -> None:
    registry = ToolRegistry(MEMORY_TOOLS)
    assert registry.marker("memory", '{"action": "add", "content": "x"}') == "🧠 memory add"
    assert registry.marker("memory", '{"action": "list"}') == "🧠 memory list"


def profile_ctx(profile: Profile) -> ToolContext:
    return dataclasses.replace(make_ctx(profile.memory_dir), workspace=profile.workspace_dir)


async def test_added_entry_reaches_this_profiles_prompt_only(store: ProfileStore) -> None:
    alice = store.create("alice").profile
    bob = store.create("bob").profile
    result = await call(profile_ctx(alice), action="add", content="Alice's dog is called Rex")
    assert result.ok
    assert "Alice's dog is called Rex" in build_system_prompt(alice, ["memory"])
    assert "called Rex" not in build_system_prompt(bob, ["memory"])
    assert "## Memory" in build_system_prompt(alice, [])
