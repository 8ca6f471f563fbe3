"""Confinement of the file tools to the profile's workspace.

Every path a model gives a file tool goes through `resolve_in_workspace`, which answers with the
real, fully resolved path it would touch, or refuses with a ToolError the model can act on.

Why resolve and then compare, rather than inspect the string:

- A lexical check (`os.path.normpath`, looking for `..`) is wrong in both directions. It lets
  `link/../x` through, although the kernel resolves `link` first and `..` then climbs out of the
  link's *target*; and it cannot see a symlink inside the workspace that points outside it.
- `Path.resolve(strict=False)` (`os.path.realpath`) follows every symlink at every component, the
  last one included, left to right as the kernel does, and normalises `..` only after the symlink
  before it has been followed. Components that do not exist yet are kept as written, which is what
  a write that creates them needs. So the result is the file the kernel would open, and a plain
  "is it the root or below it" test on two resolved paths is the whole check.
- The workspace itself may be a symlink (a profile moved to another disk), so it is resolved too
  and both spellings of an absolute path inside it are accepted.
- Resolving the last component refuses a write *through* a symlink to outside, dangling ones
  included (`link -> /etc/new` resolves to `/etc/new`), while a symlink from inside to inside is
  simply followed: the tools then work on its target, keeping the link.
- A path the kernel could not open for a symlink loop makes `resolve` raise RuntimeError in 3.11
  (OSError from 3.13): a clear ToolError. (Non-strict `realpath` itself steps over a loop, so
  `loop/../x` resolves to `x`, still checked like any other result.)

The tools then use the resolved path, so no symlink is left in it to follow later. This check
gives the model clear refusals; the safety against a process that swaps components between
the check and the use (the model's own commands run in the same workspace) is in
hermes.tools.beneath, through which the tools open every path they were given.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from hermes.tools.errors import ToolError

__all__ = ["display", "resolve_in_workspace", "workspace_root"]


def workspace_root(workspace: Path) -> Path:
    """The workspace's real path; a ToolError if it is missing."""
    root = Path(os.path.realpath(workspace))
    if not root.is_dir():
        raise ToolError(f"the workspace {workspace} does not exist")
    return root


def resolve_in_workspace(workspace: Path, path: str | Path, *, must_exist: bool = False) -> Path:
    """The real path `path` names, relative to the workspace unless absolute, if it lies inside
    the workspace (the workspace itself included); otherwise a ToolError."""
    text = os.fspath(path)
    if "\0" in text:
        raise ToolError(f"refusing path with a NUL byte: {text!r}")
    root = workspace_root(workspace)
    candidate = Path(text or ".")
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=False)
    except (RuntimeError, OSError) as exc:
        raise ToolError(f"cannot resolve {text!r}: {_reason(exc)}") from exc
    if resolved != root and not resolved.is_relative_to(root):
        raise ToolError(
            f"refusing path outside the workspace: {text!r} (paths are relative to the "
            "workspace; absolute paths and symlinks must stay inside it)"
        )
    if must_exist and not resolved.exists():
        raise ToolError(f"no such file or directory: {text!r}")
    return resolved


def display(root: Path, resolved: Path) -> str:
    """How a resolved path inside the workspace is shown to the model: relative to the root."""
    return resolved.relative_to(root).as_posix() if resolved != root else "."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "symlink loop"
    return str(exc)
