"""Small file-system primitives: atomic writes, advisory locks, and walking a tree through
open handles (race-free against a process swapping folders for symlinks meanwhile)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` so readers see either the old or the new file, never a mix.

    The temporary file is created with `mode` from the start, so a secret is never readable by
    others, not even for an instant."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (created if missing) for the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# -- walking a tree by handles: nothing is entered by path, nothing followed -----------------


def scan(dirfd: int) -> list[os.DirEntry[str]]:
    """The entries of an open directory, sorted by name."""
    try:
        with os.scandir(dirfd) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def open_child(dirfd: int, name: str, *, directory: bool) -> int | None:
    """Open `name` in the directory `dirfd` without following a symlink (so a folder swapped
    for a link is refused, not entered); None if that fails."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    flags |= os.O_DIRECTORY if directory else 0
    try:
        return os.open(name, flags, dir_fd=dirfd)
    except OSError:
        return None


def walk(topfd: int, skip: frozenset[str]) -> Iterator[tuple[int, os.DirEntry[str], str]]:
    """(the entry's directory fd, the entry, its path relative to the top), in sorted tree
    order, not following symlinks and not entering folders named in `skip`. A folder is
    entered through its handle, never by path. The fds stay open only while their directory
    is being walked."""
    stack: list[tuple[int, Iterator[os.DirEntry[str]], str]] = [(topfd, iter(scan(topfd)), "")]
    try:
        while stack:
            dirfd, entries, prefix = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                if dirfd != topfd:
                    os.close(dirfd)
                continue
            if entry.name in skip:
                continue
            rel = prefix + entry.name
            yield dirfd, entry, rel
            if entry.is_dir(follow_symlinks=False):
                child = open_child(dirfd, entry.name, directory=True)
                if child is not None:
                    stack.append((child, iter(scan(child)), rel + "/"))
    finally:
        for dirfd, _, _ in stack:
            if dirfd != topfd:
                os.close(dirfd)
