"""The memory tool: the agent's own notes in MEMORY.md, and what it knows about the user it is
talking with in USER.md (that user's own file in a shared profile); both are part of every
system prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal, get_args

from hermes.memory import (
    MEMORY_FILE,
    Entry,
    add_entry,
    entries,
    memory_size,
    remove_entry,
    search_entries,
)
from hermes.memory.users import USER_FILE, current_user, user_dir
from hermes.tools.base import Tool, ToolContext, tool
from hermes.tools.errors import ToolError

Action = Literal["add", "list", "search", "remove"]
ACTIONS: tuple[str, ...] = get_args(Action)
Scope = Literal["memory", "user"]


def _marker(args: dict[str, Any]) -> str:
    return f"🧠 memory {args.get('action', '')}".rstrip()


@tool(marker=_marker)
async def memory(
    ctx: ToolContext,
    action: Action,
    content: str | None = None,
    query: str | None = None,
    file: Scope = "memory",
) -> str:
    """Your long-term memory: short facts kept across conversations in MEMORY.md, which is shown
    to you at the start of every conversation. Save what will matter later (the user's
    preferences, decisions, facts about their setup), one fact per entry; not what is only
    useful now.

    Args:
        action: `add` saves `content` as a new entry; `list` shows every entry, numbered;
            `search` shows the entries containing `query`; `remove` deletes the one entry
            containing `query` (or equal to `content`)
        content: for `add`, the fact to remember, one line; for `remove`, an entry's exact text
        query: for `search` and `remove`, text the entry contains (case-insensitive)
        file: `memory` (MEMORY.md, shared by all your conversations) or `user` (USER.md: facts
            about the person you are talking with, seen only in conversations with them)
    """
    folder, name = _where(ctx, file)
    max_chars = ctx.settings.memory.max_chars
    if action == "add":
        return await asyncio.to_thread(_add, folder, name, content or "", max_chars)
    if action == "list":
        return _list(folder, name, max_chars)
    if action == "search":
        return _search(folder, name, _required(query, "query", action))
    if action == "remove":
        if not (content or "").strip():
            _required(query, "query", action)
        removed = await asyncio.to_thread(
            remove_entry, folder, query=query, text=content, name=name
        )
        return f"Removed entry {removed.index}: {removed.text}"
    raise ToolError(f"unknown action {action!r}; valid actions: {', '.join(ACTIONS)}")


def _where(ctx: ToolContext, file: str) -> tuple[Path, str]:
    """The folder and file `file` names: MEMORY.md, or the current user's USER.md."""
    if ctx.memory_dir is None:
        raise ToolError("memory is not available: this profile has no memory folder")
    if file == "memory":
        return ctx.memory_dir, MEMORY_FILE
    if file != "user":
        raise ToolError(f"unknown file {file!r}; valid files: memory, user")
    user = current_user.get()
    return (ctx.memory_dir if user is None else user_dir(ctx.memory_dir, user)), USER_FILE


def _required(value: str | None, name: str, action: str) -> str:
    if not (value or "").strip():
        raise ToolError(f"action {action!r} needs `{name}`")
    return value or ""


def _add(folder: Path, name: str, content: str, max_chars: int) -> str:
    result = add_entry(folder, content, max_chars, name=name)
    if not result.added:
        return (
            f"Already remembered as entry {result.entry.index}: {result.entry.text} "
            "(nothing added)."
        )
    return f"Remembered as entry {result.entry.index} ({result.size}/{max_chars} characters used)."


def _list(folder: Path, name: str, max_chars: int) -> str:
    found = entries(folder, name)
    if not found:
        return f"{name} is empty. Save a fact with action `add`."
    used = memory_size(folder, name)
    return f"{len(found)} entries ({used}/{max_chars} characters used):\n{_numbered(found)}"


def _search(folder: Path, name: str, query: str) -> str:
    found = search_entries(folder, query, name)
    total = len(entries(folder, name))
    if not found:
        return f"No entry contains {query.strip()!r} ({total} entries in memory)."
    return f"{len(found)} of {total} entries contain {query.strip()!r}:\n{_numbered(found)}"


def _numbered(found: list[Entry]) -> str:
    return "\n".join(f"{e.index}. {e.text}" for e in found)


MEMORY_TOOLS: list[Tool] = [memory]
