"""The system as a sandbox sees it, as bubblewrap arguments: /usr and /etc read-only, the
top-level links of a merged-/usr system recreated, the Python that runs hermes, and in /etc
nothing an unprivileged user could not read (shadow, private keys are covered up).

Computed once per process and cached: walking /etc costs a few milliseconds."""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/etc")
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# A sandbox's PATH: the Python that runs hermes first (so `python3` and `pip` are the ones
# hermes knows work), then the usual system directories.
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def python_dirs() -> tuple[Path, ...]:
    """The interpreter's installation(s): a virtualenv and the Python it was made from."""
    found = {Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}}
    return tuple(sorted(found))


def python_bin() -> Path:
    """The base interpreter's bin directory: its `pip` installs to ~/.local when its own
    site-packages is read-only, which is what a sandbox wants."""
    return Path(sys.base_prefix).resolve() / "bin"


def sandbox_path(home: Path) -> str:
    return ":".join([str(home / ".local" / "bin"), str(python_bin()), *SYSTEM_PATH])


@functools.cache
def system_args() -> tuple[str, ...]:
    """bwrap arguments for the read-only system, the same for every sandbox of this process."""
    args: list[str] = []
    for top in TOP_LEVEL:
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for directory in SYSTEM_DIRS:
        if Path(directory).is_dir():
            args += ["--ro-bind", directory, directory]
    args += list(_etc_hidden(Path("/etc")))
    args += list(_etc_link_targets(Path("/etc")))
    return tuple(args)


def read_only_args(paths: Iterable[Path], *, covered: Sequence[str] = SYSTEM_DIRS) -> list[str]:
    """--ro-bind for each existing path not already under a system directory."""
    args: list[str] = []
    for path in paths:
        text = str(path)
        if any(text == c or text.startswith(c + "/") for c in covered) or not path.exists():
            continue
        args += ["--ro-bind", text, text]
    return args


def _etc_hidden(root: Path) -> Iterator[str]:
    """Cover what only privileged users may read (/etc/shadow, /etc/ssl/private, …): inside a
    sandbox the command may run as uid 0 without capabilities, and an owner still reads a 0600
    file. Files become /dev/null, directories an empty tmpfs."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames):
            path = os.path.join(dirpath, name)
            mode = _lstat_mode(path)
            if mode is not None and stat.S_ISDIR(mode) and mode & 0o005 != 0o005:
                dirnames.remove(name)
                yield from ("--tmpfs", path, "--remount-ro", path)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            mode = _lstat_mode(path)
            if mode is not None and stat.S_ISREG(mode) and not mode & 0o004:
                yield from ("--ro-bind", "/dev/null", path)


def _etc_link_targets(root: Path) -> Iterator[str]:
    """/etc/resolv.conf and friends are often links into /run (systemd-resolved): bind what
    they point to, read-only, or name resolution breaks inside."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.is_symlink():
            continue
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        text = str(target)
        inside = any(text == d or text.startswith(d + "/") for d in (*SYSTEM_DIRS, "/proc"))
        mode = _lstat_mode(text)
        if not inside and mode is not None and mode & 0o004:
            yield from ("--ro-bind", text, text)


def _lstat_mode(path: str) -> int | None:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None
