"""The file tools: read, write and patch files in the profile's workspace (listing and searching
live in hermes.tools.filesearch). Every path is checked by hermes.tools.paths, then opened by
the kernel beneath the workspace (hermes.tools.beneath), so a command swapping folders for
symlinks meanwhile cannot lead a tool outside; blocking file work runs in a thread so a big
file never stalls the gateway's event loop."""

from __future__ import annotations

import asyncio
import difflib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from hermes.tools.base import Tool, ToolContext, tool
from hermes.tools.beneath import Tree
from hermes.tools.errors import ToolError
from hermes.tools.filesearch import list_files, search_files
from hermes.tools.paths import display, resolve_in_workspace, workspace_root

__all__ = ["FILE_TOOLS", "list_files", "patch", "read_file", "search_files", "write_file"]

DEFAULT_LIMIT = 2000
SNIFF_BYTES = 8192  # a NUL byte this early means binary, as git and grep decide it
COUNT_LINES_MAX = 64_000_000  # past this size a truncated read does not count the total lines
HINT_LINES_MAX = 50_000  # past this many lines a failed patch gives no closest-line hint


def _path_marker(icon: str) -> Any:
    return lambda args: f"{icon} {args.get('path', '')}"


@tool(marker=_path_marker("📖"))
async def read_file(
    ctx: ToolContext, path: str, offset: int = 1, limit: int = DEFAULT_LIMIT
) -> str:
    """Read a text file of the workspace, its lines numbered like `cat -n`. Long files come in
    parts, ending with a note of the lines shown, the total and the offset to read on from;
    binary files are not shown.

    Args:
        path: the file, relative to the workspace (e.g. `src/app.py`)
        offset: the first line to show, counting from 1
        limit: how many lines to show at most
    """
    if offset < 1 or limit < 1:
        raise ToolError("offset and limit must be 1 or more")
    return await asyncio.to_thread(_read, ctx, path, offset, limit)


@tool(marker=_path_marker("✍️"))
async def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create a file, or overwrite it, with the given content; missing parent folders are made.
    To change part of an existing file, prefer `patch`.

    Args:
        path: the file, relative to the workspace
        content: the whole new text of the file
    """
    return await asyncio.to_thread(_write, ctx, path, content)


@tool(marker=_path_marker("🩹"))
async def patch(ctx: ToolContext, path: str, old: str, new: str) -> str:
    """Edit a file by replacing one exact piece of its text with another. `old` must occur
    exactly once in the file, whitespace and indentation included: copy it from `read_file`
    output (without the line numbers) and add surrounding lines if it is not unique.

    Args:
        path: the file, relative to the workspace
        old: the exact text to replace
        new: the text to put in its place
    """
    if not old:
        raise ToolError("`old` is empty: give the exact text to replace (or use write_file)")
    return await asyncio.to_thread(_patch, ctx, path, old, new)


FILE_TOOLS: list[Tool] = [read_file, write_file, patch, list_files, search_files]


def _read(ctx: ToolContext, path: str, offset: int, limit: int) -> str:
    root = workspace_root(ctx.workspace)
    target = resolve_in_workspace(ctx.workspace, path, must_exist=True)
    name = display(root, target)
    cap = max(1, ctx.settings.files.max_read_bytes)
    try:
        with Tree(root) as tree:
            info = tree.stat(target)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{name} is a directory; list_files shows what it holds")
            fd = tree.open_regular(target)  # never blocks on a FIFO swapped in meanwhile
        with os.fdopen(fd, "rb") as fh:
            size = _regular_size(fh, name)
            if b"\0" in fh.read(SNIFF_BYTES):
                return f"binary file, {size:,} bytes; not shown"
            fh.seek(0)
            return _numbered(fh, name, size, offset, limit, cap)
    except OSError as exc:
        raise ToolError(f"cannot read {name}: {exc.strerror or exc}") from exc


def _numbered(fh: BinaryIO, name: str, size: int, offset: int, limit: int, cap: int) -> str:
    shown: list[str] = []
    used, last, seen, why = 0, offset - 1, 0, ""
    for number, raw in enumerate(_lines(fh, cap + 1), 1):
        seen = number
        if number < offset:
            continue
        if len(shown) == limit:
            why = "limit"
            break
        if used + len(raw) > cap:
            if shown:
                why = "cap"
                break
            why, raw = "long", raw[:cap]  # one line longer than the cap: show its start
        text = _decode(raw, cut=why == "long")
        if text is None:
            return f"binary file (not UTF-8 text), {size:,} bytes; not shown"
        shown.append(f"{number:6}\t{text}")
        used, last = used + len(raw) + 1, number
        if why:
            break
    else:
        if not shown and size:
            raise ToolError(f"offset {offset} is past the end of {name} ({seen:,} lines)")
    if not shown:
        return f"{name} is empty"
    body = "\n".join(shown)
    total = last if not why else _count_lines(fh, size)
    return body + _footer(why, offset, last, total, size, cap)


def _footer(why: str, first: int, last: int, total: int | None, size: int, cap: int) -> str:
    of = f"of {total:,}" if total is not None else f"of a {size:,}-byte file"
    more = f"; read on with offset={last + 1}"
    if why == "limit":
        return f"\n[lines {first}-{last} {of}{more}]"
    if why == "cap":
        return f"\n[stopped at the {cap:,}-byte read limit: lines {first}-{last} {of}{more}]"
    if why == "long":
        note = f"line {last} is longer than the {cap:,}-byte read limit; only its start is shown"
        return f"\n[{note}{more if total is None or last < total else ''}]"
    return f"\n[lines {first}-{last} of {last:,}]" if first > 1 else ""


def _lines(fh: BinaryIO, max_len: int) -> Iterator[bytes]:
    """Each line without its line end, cut to `max_len` bytes (the rest of it is skipped), so
    memory stays bounded even for a file that is one huge line."""
    while chunk := fh.readline(max_len):
        if chunk.endswith(b"\n"):
            yield chunk[:-1].removesuffix(b"\r")
            continue
        while (rest := fh.readline(max_len)) and not rest.endswith(b"\n"):
            pass
        yield chunk


def _decode(raw: bytes, *, cut: bool) -> str | None:
    # A cut line may end inside a multi-byte character: drop up to three bytes of it.
    for trim in range(4 if cut else 1):
        try:
            return raw[: len(raw) - trim].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _count_lines(fh: BinaryIO, size: int) -> int | None:
    if size > COUNT_LINES_MAX:
        return None
    fh.seek(0)
    count, last = 0, b"\n"
    while block := fh.read(1 << 20):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


def _write(ctx: ToolContext, path: str, content: str) -> str:
    data = _encode(content, "content")
    limit = ctx.settings.files.max_write_bytes
    if len(data) > limit:
        raise ToolError(
            f"refusing to write {len(data):,} bytes to {path!r}: over the {limit:,}-byte limit "
            "(tools.files.max_write_bytes)"
        )
    root = workspace_root(ctx.workspace)
    target = resolve_in_workspace(ctx.workspace, path)
    name = display(root, target)
    try:
        with Tree(root) as tree:
            mode = _existing_mode(tree, target, name)
            tree.make_dirs(target.parent)
            tree.write_atomic(target, data, mode)
    except OSError as exc:
        raise ToolError(f"cannot write {name}: {exc.strerror or exc}") from exc
    return f"wrote {len(data)} bytes to {name}"


def _patch(ctx: ToolContext, path: str, old: str, new: str) -> str:
    root = workspace_root(ctx.workspace)
    target = resolve_in_workspace(ctx.workspace, path, must_exist=True)
    name = display(root, target)
    limit = ctx.settings.files.max_write_bytes
    try:
        with Tree(root) as tree:
            mode = _existing_mode(tree, target, name)
            fd = tree.open_regular(target)
        with os.fdopen(fd, "rb") as fh:
            if _regular_size(fh, name) > limit:
                raise ToolError(f"{name} is over the {limit:,}-byte write limit; cannot patch it")
            raw = fh.read()
    except OSError as exc:
        raise ToolError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if b"\0" in raw[:SNIFF_BYTES]:
        raise ToolError(f"{name} is a binary file; patch edits text files only")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{name} is not UTF-8 text; patch edits text files only") from exc
    starts = _occurrences(text, old)
    if not starts:
        raise ToolError(_no_match(name, text, old))
    if len(starts) > 1:
        lines = ", ".join(str(text.count("\n", 0, i) + 1) for i in starts[:10])
        raise ToolError(
            f"`old` matches {len(starts)} times in {name} (at lines {lines}); include more "
            "surrounding lines in `old` so that it matches exactly once"
        )
    start = starts[0]
    data = _encode(text[:start] + new + text[start + len(old) :], "new")
    if len(data) > limit:
        raise ToolError(f"the patched {name} would be over the {limit:,}-byte write limit")
    try:
        with Tree(root) as tree:
            tree.write_atomic(target, data, mode)
    except OSError as exc:
        raise ToolError(f"cannot write {name}: {exc.strerror or exc}") from exc
    line = text.count("\n", 0, start) + 1
    return f"patched {name}: replaced 1 occurrence at line {line}"


def _encode(text: str, what: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise ToolError(f"`{what}` is not valid Unicode text: {exc.reason}") from exc


def _occurrences(text: str, old: str, most: int = 1000) -> list[int]:
    """Where `old` starts in `text`, overlapping matches included: "aa" occurs twice in "aaa",
    and replacing "the" one of them would be a guess."""
    found: list[int] = []
    i = text.find(old)
    while i >= 0 and len(found) < most:
        found.append(i)
        i = text.find(old, i + 1)
    return found


def _no_match(name: str, text: str, old: str) -> str:
    message = f"`old` was not found in {name}"
    if old.strip() and old.strip() in text:
        message += "; it does match with its leading/trailing whitespace removed"
    elif "\r\n" in text and old.replace("\r\n", "\n").replace("\n", "\r\n") in text:
        message += "; the file has CRLF line ends"
    else:
        key = next((line.strip() for line in old.splitlines() if line.strip()), "")
        lines = text.split("\n")
        if key and len(lines) <= HINT_LINES_MAX:
            stripped = [line.strip() for line in lines]
            close = difflib.get_close_matches(key, stripped, n=1, cutoff=0.6)
            if close:
                index = stripped.index(close[0])
                closest = lines[index].rstrip()[:200]
                message += f"; the closest line is {index + 1}: {closest!r}"
    return message + ". Read the file again and copy the exact text, whitespace included."


def _regular_size(fh: BinaryIO, name: str) -> int:
    info = os.fstat(fh.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{name} is not a regular file")
    return info.st_size


def _existing_mode(tree: Tree, target: Path, name: str) -> int:
    """The mode to write with: the file's own, so a rewrite keeps a script executable."""
    info = tree.stat(target)
    if info is None:
        return 0o644
    if stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{name} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{name} is not a regular file")
    return stat.S_IMODE(info.st_mode)
