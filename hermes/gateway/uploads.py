"""Files from requests, saved in the profile's workspace under `uploads/` so the agent's tools
can open them.

The name comes from the client, so it is neutralised: only its last path component, only
letters, digits, `.`, `-`, `_` and spaces, no leading dot (no `..`, no hidden file), at most
100 characters. Nothing is ever overwritten: a name that is taken by another file gets `-2`,
`-3`, … before its extension, while a file already there with the same bytes is reused (a chat
client sends the whole conversation, its files included, on every turn). The workspace is the
agent's to change, so nothing is followed: `uploads` and every file in it are opened without
following symlinks, and a new file is published by a hard link, which fails rather than
replace anything."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Final

from hermes.errors import HermesError

UPLOADS: Final = "uploads"
MAX_NAME: Final = 100
MAX_TRIES: Final = 100
_UNSAFE: Final = re.compile(r"[^\w.\- ]+")
_NOFOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC


def safe_name(filename: str | None, default: str = "file") -> str:
    """A file name that is safe to create in one folder, from whatever the client sent."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if c.isprintable())
    name = _UNSAFE.sub("_", name).strip(" .")
    name = name.lstrip(".-_ ") or default
    if len(name) > MAX_NAME:
        _, dot, ext = name.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 10 else ""
        name = name[: MAX_NAME - len(ext) - 1].rstrip(" .") + ("." + ext if ext else "")
    return name


def candidates(name: str) -> list[str]:
    """`name`, then `stem-2.ext`, `stem-3.ext`, …"""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = "." + ext if ext else ""
    return [name] + [f"{stem}-{n}{suffix}" for n in range(2, MAX_TRIES + 1)]


def save(workspace: Path, filename: str | None, data: bytes) -> str:
    """Save `data` under workspace/uploads; the path written (or reused), relative to the
    workspace, e.g. `uploads/report.pdf`. Blocking: run it off the event loop."""
    name = safe_name(filename)
    top = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        folder = _uploads_dir(top)
        try:
            return f"{UPLOADS}/{_place(folder, name, data)}"
        finally:
            os.close(folder)
    finally:
        os.close(top)


def _uploads_dir(top: int) -> int:
    with contextlib.suppress(FileExistsError):
        os.mkdir(UPLOADS, 0o700, dir_fd=top)
    try:
        return os.open(UPLOADS, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=top)
    except OSError as exc:  # a symlink or a file where the folder should be
        raise HermesError(f"cannot save the upload: workspace/{UPLOADS} is not a folder") from exc


def _place(folder: int, name: str, data: bytes) -> str:
    tmp = f".upload-{os.urandom(8).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        for candidate in candidates(name):
            if _same(folder, candidate, data):
                return candidate
            try:
                os.link(tmp, candidate, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
            except FileExistsError:
                continue
            return candidate
        raise HermesError(f"cannot save the upload: {MAX_TRIES} files named like {name!r} exist")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=folder)


def _same(folder: int, name: str, data: bytes) -> bool:
    """Whether `name` is a regular file (not a link) holding exactly `data`."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=folder)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.EACCES, errno.ENXIO):
            raise
        return False
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)  # O_NONBLOCK above: a FIFO planted here must not hang the gateway
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        return fh.read(len(data) + 1) == data
