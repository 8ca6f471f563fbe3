"""The finding tools: list a workspace folder (recursively by glob) and search file contents by
regex. Walks go folder by folder through open handles (hermes.tools.beneath), never follow
symlinks and skip tool noise (.git, node_modules, caches), and every result is capped so a huge
tree cannot flood the model's context."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hermes.fsutil import open_child, scan, walk
from hermes.tools.base import ToolContext, tool
from hermes.tools.beneath import Tree
from hermes.tools.errors import ToolError
from hermes.tools.paths import display, resolve_in_workspace, workspace_root

__all__ = ["glob_matcher", "list_files", "search_files"]

LIST_LIMIT = 500
MATCH_LIMIT = 200
LINE_CHARS = 300
SCAN_LIMIT = 50_000  # entries a walk visits before it gives up
SEARCH_MAX_FILE_BYTES = 2_000_000  # bigger files are skipped by search_files
SNIFF_BYTES = 8192
NOISE = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".venv",
    }
)

Walk = Iterator[tuple[int, os.DirEntry[str], str]]


def _list_marker(args: dict[str, Any]) -> str:
    parts = [str(args[key]) for key in ("path", "pattern") if args.get(key)]
    return f"📂 {' '.join(parts) or '.'}"


@tool(marker=_list_marker)
async def list_files(ctx: ToolContext, path: str | None = None, pattern: str | None = None) -> str:
    """List the entries of a workspace folder: folders end with `/`, files show their size.
    Without `pattern` only the folder's own entries are listed; with it the whole tree below is
    searched (skipping .git, node_modules and caches) for paths matching the glob.

    Args:
        path: the folder, relative to the workspace (default: the workspace itself)
        pattern: a glob such as `**/*.py`, `src/*.ts` or `*.md`; one without `/` matches file
            names at any depth
    """
    return await asyncio.to_thread(_list, ctx, path, pattern)


@tool(marker=lambda args: f"🔍 {args.get('pattern', '')}")
async def search_files(ctx: ToolContext, pattern: str, path: str | None = None) -> str:
    """Search the text files of the workspace for lines matching a regular expression; results
    are `file:line: text`. Binary and very large files are skipped.

    Args:
        pattern: a Python regular expression, e.g. `def \\w+_handler` or `TODO|FIXME`
        path: a folder or file to search, relative to the workspace (default: everything)
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid regex {pattern!r}: {exc} (Python `re` syntax)") from exc
    return await asyncio.to_thread(_search, ctx, regex, path)


def _list(ctx: ToolContext, path: str | None, pattern: str | None) -> str:
    root = workspace_root(ctx.workspace)
    base = resolve_in_workspace(ctx.workspace, path or ".", must_exist=True)
    name = display(root, base)
    prefix = "" if name == "." else name + "/"
    matches = glob_matcher(pattern) if pattern else None
    with Tree(root) as tree:
        topfd = _open_folder(tree, base, name, "read_file reads a file")
        try:
            return _listing(topfd, name, prefix, pattern, matches)
        finally:
            os.close(topfd)


def _listing(
    topfd: int,
    name: str,
    prefix: str,
    pattern: str | None,
    matches: Callable[[str, str], bool] | None,
) -> str:
    entries: Walk = walk(topfd, NOISE) if matches else ((topfd, e, e.name) for e in scan(topfd))
    lines: list[str] = []
    note = ""
    for scanned, (dirfd, entry, rel) in enumerate(entries, 1):
        if scanned > SCAN_LIMIT:
            note = f"[stopped after scanning {SCAN_LIMIT:,} entries; narrow the path or pattern]"
            break
        if matches and not matches(rel, entry.name):
            continue
        if len(lines) == LIST_LIMIT:
            note = f"[only the first {LIST_LIMIT} entries are shown; narrow the path or pattern]"
            break
        lines.append(_describe(dirfd, entry, prefix + rel))
    if not lines:
        return f"nothing under {name} matches {pattern!r}" if pattern else f"{name} is empty"
    return "\n".join([*lines, note] if note else lines)


def _open_folder(tree: Tree, base: Path, name: str, hint: str) -> int:
    info = tree.stat(base)
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{name} is not a folder; {hint}")
    try:
        return tree.open(base, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ToolError(f"cannot open {name}: {exc.strerror or exc}") from exc


def _describe(dirfd: int, entry: os.DirEntry[str], shown: str) -> str:
    try:
        if entry.is_symlink():
            return f"{shown} -> {os.readlink(entry.name, dir_fd=dirfd)}"
        if entry.is_dir(follow_symlinks=False):
            return shown + "/"
        if entry.is_file(follow_symlinks=False):
            return f"{shown}  ({entry.stat(follow_symlinks=False).st_size:,} bytes)"
    except OSError:
        pass
    return shown


def _search(ctx: ToolContext, regex: re.Pattern[str], path: str | None) -> str:
    root = workspace_root(ctx.workspace)
    base = resolve_in_workspace(ctx.workspace, path or ".", must_exist=True)
    name = display(root, base)
    results: list[str] = []
    searched = skipped = 0
    with Tree(root) as tree:
        for text, shown in _texts(tree, base, name):
            if text is None:
                skipped += 1
                continue
            searched += 1
            for number, line in enumerate(text.split("\n"), 1):
                if not regex.search(line):
                    continue
                if len(results) == MATCH_LIMIT:
                    note = f"[stopped at {MATCH_LIMIT} matches; narrow the pattern or the path]"
                    return "\n".join([*results, note])
                results.append(f"{shown}:{number}: {_clip(line.rstrip())}")
    if results:
        return "\n".join(results)
    extra = f", {skipped} binary or large files skipped" if skipped else ""
    return f"no matches for {regex.pattern!r} under {name} ({searched} files searched{extra})"


def _texts(tree: Tree, base: Path, name: str) -> Iterator[tuple[str | None, str]]:
    """(text or None, shown path) of each file under `base` (or of `base`, a file)."""
    info = tree.stat(base)
    if info is None or not stat.S_ISDIR(info.st_mode):
        try:
            fd = tree.open_regular(base)
        except (OSError, ToolError):
            yield None, name
            return
        yield _text(fd), name
        return
    topfd = _open_folder(tree, base, name, "")
    prefix = "" if name == "." else name + "/"
    try:
        for scanned, (dirfd, entry, rel) in enumerate(walk(topfd, NOISE), 1):
            if scanned > SCAN_LIMIT:
                return
            if entry.is_file(follow_symlinks=False):
                child = open_child(dirfd, entry.name, directory=False)
                yield (_text(child) if child is not None else None), prefix + rel
    finally:
        os.close(topfd)


def _text(fd: int) -> str | None:
    """The text of the open file `fd` (closed here), or None for a binary, too large or
    unreadable one."""
    with os.fdopen(fd, "rb") as fh:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > SEARCH_MAX_FILE_BYTES:
                return None
            os.set_blocking(fd, True)
            raw = fh.read(SEARCH_MAX_FILE_BYTES + 1)
        except OSError:
            return None
    if b"\0" in raw[:SNIFF_BYTES]:
        return None
    return raw.decode("utf-8", errors="replace")


def _clip(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def glob_matcher(pattern: str) -> Callable[[str, str], bool]:
    """A test of (relative path, name) against a glob: `**` spans folders, `*` and `?` stay
    within one, `[...]` is a class; a pattern without `/` is matched against the name only."""
    pattern = pattern.removeprefix("./")
    try:
        regex = re.compile(_glob_regex(pattern), re.DOTALL)
    except re.error as exc:
        raise ToolError(f"invalid glob {pattern!r}: {exc}") from exc
    if "/" in pattern:
        return lambda rel, name: regex.fullmatch(rel) is not None
    return lambda rel, name: regex.fullmatch(name) is not None


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] in "*?":
            out.append("[^/]*" if pattern[i] == "*" else "[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
