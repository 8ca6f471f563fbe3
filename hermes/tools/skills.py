"""The skills tools: list, read and save procedures kept as skills/<name>/SKILL.md."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hermes.skills import create_skill, list_skills, read_skill
from hermes.tools.base import Tool, ToolContext, tool
from hermes.tools.errors import ToolError


def _skills_dir(ctx: ToolContext) -> Path:
    if ctx.skills_dir is None:
        raise ToolError("skills are not available: this profile has no skills folder")
    return ctx.skills_dir


@tool(marker=lambda args: "📚 skills")
async def skills_list(ctx: ToolContext) -> str:
    """List your saved skills (procedures you wrote down for later) by name and description."""
    skills = list_skills(_skills_dir(ctx))
    if not skills:
        return (
            "No skills yet. When you work out a procedure worth repeating, save it with "
            "skill_create(name, description, content)."
        )
    lines = "\n".join(f"- {s.name}: {s.description}".rstrip(": ") for s in skills)
    return f"{len(skills)} skills (read one with skill_view(name)):\n{lines}"


def _view_marker(args: dict[str, Any]) -> str:
    return f"📚 {args.get('name', '')}"


@tool(marker=_view_marker)
async def skill_view(ctx: ToolContext, name: str) -> str:
    """Read a skill's full instructions (its SKILL.md).

    Args:
        name: the skill's name, as in the skills index or skills_list
    """
    return read_skill(_skills_dir(ctx), name)


def _create_marker(args: dict[str, Any]) -> str:
    return f"📚 new skill {args.get('name', '')}"


@tool(marker=_create_marker)
async def skill_create(
    ctx: ToolContext, name: str, description: str, content: str, overwrite: bool = False
) -> str:
    """Save a reusable procedure as a skill, so future conversations can follow it. Its name and
    description appear in every system prompt; the content is read on demand with skill_view.

    Args:
        name: lower-case letters, digits and '-', e.g. `deploy-website` (at most 64 characters)
        description: one line (at most 300 characters) saying when the skill is useful
        content: the instructions in Markdown: steps, commands, pitfalls (at most 100 KB)
        overwrite: replace an existing skill of the same name (default false)
    """
    folder = _skills_dir(ctx)
    path = await asyncio.to_thread(
        create_skill, folder, name, description, content, overwrite=overwrite
    )
    return f"Saved skill {name!r} to {path}."


SKILL_TOOLS: list[Tool] = [skills_list, skill_view, skill_create]
