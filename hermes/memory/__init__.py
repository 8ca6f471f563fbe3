"""The profile's memory: memory/MEMORY.md (what the agent chose to remember) and memory/USER.md
(what it knows about its user; in a profile shared by several users, each has their own,
memory/users/<id>/USER.md: see memory/users.py). Both are part of every system prompt, bounded
in size.

MEMORY.md is a short header followed by one entry per line, each line starting with "- ". The
memory tool edits it through the functions here: every change is made under memory/.lock and
written atomically, so concurrent calls lose nothing and readers never see half a file. Lines
that are not entries (the header, anything written by hand) are kept as they are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hermes.errors import Conflict, InvalidRequest, NotFound
from hermes.fsutil import atomic_write, locked
from hermes.memory.users import USER_FILE, user_file

MEMORY_FILE = "MEMORY.md"
LOCK_FILE = ".lock"
ENTRY_PREFIX = "- "
MEMORY_HEADER = (
    "# Memory\n\n"
    "Facts this agent has chosen to remember across conversations, one entry per line.\n"
)
USER_HEADER = "# About the user\n\nWhat this agent knows about its user, one entry per line.\n"


class MemoryFull(Conflict):
    """Adding the entry would push MEMORY.md past its size cap."""

    code = "memory_full"


@dataclass(frozen=True, slots=True)
class Entry:
    index: int  # 1-based, as the model sees it in `list` and `search`
    text: str


@dataclass(frozen=True, slots=True)
class Added:
    """The outcome of add_entry: the entry, whether it was new, and the file's size after."""

    entry: Entry
    added: bool  # False: an equal entry was already there and nothing was written
    size: int


def read_bounded(path: Path, max_chars: int) -> str:
    """The file's text, or its last `max_chars` characters (the newest entries) if longer."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, IsADirectoryError):
        return ""
    if len(text) <= max_chars:
        return text
    return "[… older entries omitted …]\n" + text[-max_chars:]


def memory_sections(
    memory_dir: Path, max_chars: int, user: str | None = None
) -> list[tuple[str, str]]:
    """(title, text) of the non-empty memory files, for the system prompt: the shared MEMORY.md
    and the USER.md of `user` (a users.user_key; None: the profile's own USER.md)."""
    out = []
    for title, path in (
        ("Memory", memory_dir / MEMORY_FILE),
        ("About the user", user_file(memory_dir, user)),
    ):
        text = read_bounded(path, max_chars)
        if text:
            out.append((title, text))
    return out


def normalize_entry(text: str) -> str:
    """One line of text: whitespace runs (newlines included) folded to single spaces, and a
    leading "- " the model may have added dropped (the file adds its own)."""
    line = " ".join(text.split())
    while line.startswith(("- ", "* ")):
        line = line[2:].lstrip()
    return line


def entries(memory_dir: Path, name: str = MEMORY_FILE) -> list[Entry]:
    """The entries of MEMORY.md (or `name` in `memory_dir`) in file order, numbered from 1."""
    return _entries(_read(memory_dir / name).splitlines())


def memory_size(memory_dir: Path, name: str = MEMORY_FILE) -> int:
    """MEMORY.md's (or `name`'s) length in characters (0 if it does not exist)."""
    return len(_read(memory_dir / name))


def add_entry(memory_dir: Path, text: str, max_chars: int, *, name: str = MEMORY_FILE) -> Added:
    """Append `text` as one entry of MEMORY.md (or `name`, e.g. a user's USER.md). An entry
    equal to an existing one (ignoring case and spacing) is not added again. InvalidRequest if
    `text` is empty, MemoryFull past `max_chars`."""
    line = normalize_entry(text)
    if not line:
        raise InvalidRequest("the entry is empty; give the fact to remember", param="content")
    path = memory_dir / name
    memory_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a user's folder, on first use
    with locked(memory_dir / LOCK_FILE):
        current = _read(path)
        if not current.strip():
            current = USER_HEADER if name == USER_FILE else MEMORY_HEADER
        existing = _entries(current.splitlines())
        for entry in existing:
            if _key(entry.text) == _key(line):
                return Added(entry, added=False, size=len(current))
        if current and not current.endswith("\n"):
            current += "\n"
        new = f"{current}{ENTRY_PREFIX}{line}\n"
        if len(new) > max_chars:
            raise MemoryFull(
                f"memory is full: this entry would make {name} {len(new)} characters, over "
                f"its limit of {max_chars} ({len(current)} used). Remove entries that are no "
                "longer useful or consolidate several into one first, then add again.",
                param="content",
            )
        _write(path, new)
    return Added(Entry(len(existing) + 1, line), added=True, size=len(new))


def search_entries(memory_dir: Path, query: str, name: str = MEMORY_FILE) -> list[Entry]:
    """The entries containing `query`, case-insensitively, with their indexes."""
    needle = query.strip().casefold()
    return [e for e in entries(memory_dir, name) if needle in e.text.casefold()]


def remove_entry(
    memory_dir: Path,
    *,
    query: str | None = None,
    text: str | None = None,
    name: str = MEMORY_FILE,
) -> Entry:
    """Remove exactly one entry: the one equal to `text` (ignoring case and spacing) or else the
    one containing `query` (case-insensitive). NotFound if none matches; Conflict, listing the
    candidates, if several different entries do."""
    exact = normalize_entry(text or "")
    needle = (query or "").strip()
    if not exact and not needle:
        raise InvalidRequest(
            "say which entry to remove: `query` (text it contains) or `content` (its exact text)",
            param="query",
        )
    path = memory_dir / name
    if not path.exists():
        raise NotFound(f"no memory entry {_what(exact, needle)} (0 entries in memory)")
    with locked(memory_dir / LOCK_FILE):
        lines = _read(path).splitlines()
        found = _entries(lines)
        if exact:
            matches = [e for e in found if _key(e.text) == _key(exact)]
        else:
            matches = [e for e in found if needle.casefold() in e.text.casefold()]
        what = _what(exact, needle)
        if not matches:
            raise NotFound(f"no memory entry {what} ({len(found)} entries in memory)")
        if len({_key(m.text) for m in matches}) > 1:
            listed = "\n".join(f"{m.index}. {m.text}" for m in matches)
            raise Conflict(
                f"{len(matches)} memory entries match {what}; nothing was removed. Use a "
                f"longer query that matches only one, or its exact text as `content`:\n{listed}",
                param="query",
            )
        target = matches[0]
        _write(path, _without_entry(lines, target.index))
    return target


def _what(exact: str, needle: str) -> str:
    return repr(exact) if exact else f"containing {needle!r}"


def _entries(lines: list[str]) -> list[Entry]:
    texts = [ln[len(ENTRY_PREFIX) :].strip() for ln in lines if ln.startswith(ENTRY_PREFIX)]
    return [Entry(i, t) for i, t in enumerate((t for t in texts if t), start=1)]


def _without_entry(lines: list[str], index: int) -> str:
    """The file text with the `index`-th entry line (1-based, as _entries counts) dropped."""
    seen = 0
    kept = []
    for ln in lines:
        if ln.startswith(ENTRY_PREFIX) and ln[len(ENTRY_PREFIX) :].strip():
            seen += 1
            if seen == index:
                continue
        kept.append(ln)
    return "\n".join(kept) + "\n"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _write(path: Path, text: str) -> None:
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600  # memory is the profile's private business
    atomic_write(path, text, mode=mode)
