"""Race-free access beneath a directory: every path is resolved by the kernel, relative to an
open handle of the directory, with openat2(RESOLVE_BENEATH): symlinks inside it are followed,
any resolution that would leave it fails (EXDEV), however the tree changes meanwhile.

Why the file tools need it: the model's own commands run in the same workspace and can swap a
folder for a symlink to `..` between the moment a path is checked and the moment it is
opened; the file tools run in the gateway, whose view holds the profile's .env and state.
Checking a resolved path (paths.py) gives good error messages; this makes the use safe.
Linux 5.6+ (openat2); directories are walked with O_NOFOLLOW opens relative to their parent."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from pathlib import Path, PurePosixPath

from hermes.tools.errors import ToolError

SYS_OPENAT2 = 437  # the same number on every architecture (the unified syscall table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0) -> int:
    """An fd for `path` beneath `dirfd`; OSError as open(2) would raise it (EXDEV: outside)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(SYS_OPENAT2, dirfd, path.encode(), ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


class Tree:
    """An open directory and the paths beneath it. Use as a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def rel(self, path: Path) -> str:
        """`path` (absolute, inside the root) relative to the root, "." for the root itself."""
        return "." if path == self.root else path.relative_to(self.root).as_posix()

    def open(self, path: Path, flags: int, mode: int = 0) -> int:
        try:
            return openat2(self.fd, self.rel(path), flags, mode)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise ToolError(
                    f"refusing {self.rel(path)!r}: it leads outside the workspace"
                ) from None
            raise

    def open_regular(self, path: Path) -> int:
        """A read fd for a regular file: never blocks on a FIFO, refuses anything else."""
        fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ToolError(f"{self.rel(path)} is {kind}")
        os.set_blocking(fd, True)
        return fd

    def stat(self, path: Path) -> os.stat_result | None:
        """What `path` is (symlinks inside followed), or None if nothing is there."""
        try:
            fd = self.open(path, os.O_PATH)
        except FileNotFoundError:
            return None
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def make_dirs(self, folder: Path) -> None:
        """`folder` and its missing parents, each made relative to its parent's handle."""
        parts = PurePosixPath(self.rel(folder)).parts
        current = self.root
        for part in parts:
            if part == ".":
                continue
            parent, current = current, current / part
            with contextlib.suppress(FileExistsError):
                dirfd = self.open(parent, os.O_PATH | os.O_DIRECTORY)
                try:
                    os.mkdir(part, dir_fd=dirfd)
                finally:
                    os.close(dirfd)

    def write_atomic(self, path: Path, data: bytes, mode: int) -> None:
        """Replace `path` with `data` through a temporary file in its folder, renamed over it
        relative to the folder's handle: readers see the old or the new file, never a mix."""
        dirfd = self.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        tmp = f".{path.name}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dirfd
            )
            try:
                os.fchmod(fd, mode)
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path.name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dirfd)
            raise
        finally:
            os.close(dirfd)
