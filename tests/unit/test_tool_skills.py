"""The skills tools and hermes.skills: create, list, view, bad names, did-you-mean, overwrite
refusal, and a created skill showing up in the profile's system prompt."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hermes.agent.prompt import build_system_prompt
from hermes.config.schema import ToolsConfig
from hermes.errors import InvalidRequest
from hermes.profiles import ProfileStore
from hermes.skills import (
    MAX_SKILL_BYTES,
    create_skill,
    list_skills,
    parse_front_matter,
    read_skill,
)
from hermes.tools import ToolContext, ToolRegistry, ToolResult
from hermes.tools.skills import SKILL_TOOLS, skill_create, skill_view, skills_list


def make_ctx(skills_dir: Path | None) -> ToolContext:
    return ToolContext(
        skills_dir or Path("."), ToolsConfig(), "alice", frozenset(), {}, skills_dir=skills_dir
    )


@pytest.fixture
def skills(tmp_path: Path) -> Path:
    folder = tmp_path / "skills"
    folder.mkdir()
    return folder


async def call(ctx: ToolContext, tool_name: str, /, **args: object) -> ToolResult:
    return await ToolRegistry(SKILL_TOOLS).call(tool_name, json.dumps(args), ctx)


async def test_create_list_view_through_the_registry(skills: Path) -> None:
    ctx = make_ctx(skills)
    empty = await call(ctx, "skills_list")
    assert empty.ok and "No skills yet" in empty.output and "skill_create" in empty.output

    created = await call(
        ctx,
        "skill_create",
        name="brew-tea",
        description="Make a proper pot of tea: kettle, timing, milk",
        content="1. Boil water.\n2. Steep 4 minutes.\n",
    )
    assert created.ok and "brew-tea" in created.output
    text = (skills / "brew-tea" / "SKILL.md").read_text()
    assert text == (
        "---\nname: brew-tea\ndescription: Make a proper pot of tea: kettle, timing, milk\n"
        "---\n\n1. Boil water.\n2. Steep 4 minutes.\n"
    )
    meta, body = parse_front_matter(text)
    assert meta == {
        "name": "brew-tea",
        "description": "Make a proper pot of tea: kettle, timing, milk",
    }
    assert body.startswith("1. Boil water.")

    listed = await call(ctx, "skills_list")
    assert listed.ok and "- brew-tea: Make a proper pot of tea" in listed.output
    viewed = await call(ctx, "skill_view", name="brew-tea")
    assert viewed.ok and viewed.output == text


async def test_bad_names_and_descriptions_are_refused(skills: Path) -> None:
    ctx = make_ctx(skills)
    for name in ("../x", "A", "two words", "", "-lead", "x" * 65, "a/b", "ok\n"):
        result = await call(ctx, "skill_create", name=name, description="d", content="c")
        assert not result.ok and "invalid skill name" in result.output, name
    assert list(skills.iterdir()) == []
    assert not (skills.parent / "x").exists()

    multiline = await call(ctx, "skill_create", name="ok", description="a\nb", content="c")
    assert not multiline.ok and "single line" in multiline.output
    long = await call(ctx, "skill_create", name="ok", description="d" * 301, content="c")
    assert not long.ok and "300" in long.output
    blank = await call(ctx, "skill_create", name="ok", description="d", content="\n \n")
    assert not blank.ok and "content is empty" in blank.output
    with pytest.raises(InvalidRequest, match="bytes"):
        create_skill(skills, "big", "d", "x" * MAX_SKILL_BYTES)
    assert list_skills(skills) == []


async def test_overwrite_is_refused_unless_asked(skills: Path) -> None:
    ctx = make_ctx(skills)
    create_skill(skills, "deploy", "ship it", "v1")
    again = await call(ctx, "skill_create", name="deploy", description="ship", content="v2")
    assert not again.ok and "already exists" in again.output and "overwrite" in again.output
    assert read_skill(skills, "deploy").endswith("\nv1\n")
    replaced = await call(
        ctx, "skill_create", name="deploy", description="ship", content="v2", overwrite=True
    )
    assert replaced.ok and read_skill(skills, "deploy").endswith("\nv2\n")


async def test_unknown_skill_lists_known_ones_with_did_you_mean(skills: Path) -> None:
    ctx = make_ctx(skills)
    none = await call(ctx, "skill_view", name="anything")
    assert not none.ok and "no skills yet" in none.output
    create_skill(skills, "deploy-website", "ship the site", "steps")
    create_skill(skills, "brew-tea", "tea", "steps")
    miss = await call(ctx, "skill_view", name="deploy-websit")
    assert not miss.ok
    assert "Did you mean 'deploy-website'?" in miss.output
    assert "Known skills: brew-tea, deploy-website" in miss.output
    escape = await call(ctx, "skill_view", name="../skills/brew-tea")
    assert not escape.ok and "no skill named" in escape.output


async def test_listing_skips_invalid_folders_and_views_by_front_matter_name(skills: Path) -> None:
    (skills / ".hidden").mkdir()
    (skills / ".hidden" / "SKILL.md").write_text("---\nname: hidden\n---\n")
    (skills / "Bad Name").mkdir()
    (skills / "Bad Name" / "SKILL.md").write_text("---\nname: bad\n---\n")
    (skills / "no-file").mkdir()
    (skills / "renamed").mkdir()
    (skills / "renamed" / "SKILL.md").write_text("---\nname: pretty\ndescription: d\n---\nbody\n")
    assert [s.name for s in list_skills(skills)] == ["pretty"]
    assert read_skill(skills, "pretty").endswith("body\n")
    assert read_skill(skills, "renamed").endswith("body\n")


async def test_markers_and_missing_folder(tmp_path: Path) -> None:
    registry = ToolRegistry(SKILL_TOOLS)
    assert registry.marker("skills_list", "{}") == "📚 skills"
    assert registry.marker("skill_view", '{"name": "deploy"}') == "📚 deploy"
    assert registry.marker("skill_create", '{"name": "deploy"}') == "📚 new skill deploy"
    ctx = make_ctx(None)
    for t in (skills_list, skill_view, skill_create):
        assert t.name in registry.names()
    result = await call(ctx, "skills_list")
    assert not result.ok and "no skills folder" in result.output


async def test_created_skill_reaches_the_prompt_index(store: ProfileStore) -> None:
    alice = store.create("alice").profile
    bob = store.create("bob").profile
    ctx = dataclasses.replace(make_ctx(alice.skills_dir), workspace=alice.workspace_dir)
    created = await call(
        ctx,
        "skill_create",
        name="weekly-report",
        description="Write the Friday report",
        content="x",
    )
    assert created.ok
    prompt = build_system_prompt(alice, ["skill_view"])
    assert "- weekly-report: Write the Friday report" in prompt
    assert "workspace-hygiene: Keep the workspace tidy" in prompt  # the template's skill stays
    assert "load one with skill_view(name)" in prompt
    assert "weekly-report" not in build_system_prompt(bob, ["skill_view"])
