"""Gateway output on disk: the size-rotated log the supervisor writes from each gateway's pipe, and
the readers `hermes logs` uses (tail, follow).

Layout: `gateway.log` is the live file, `gateway.log.1` the newest backup … `gateway.log.N` the
oldest. Rotation renames files and never copies or truncates, so a reader holding the old file open
can finish it, and a follower notices the new inode at the path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator
from pathlib import Path
from typing import BinaryIO

GATEWAY_LOG = "gateway.log"
SUPERVISOR_LOG = "supervisor.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
CHUNK = 65536
# on_line gets an endless line in pieces of this size, so an unterminated stream cannot grow memory.
MAX_LINE = 65536

_logger = logging.getLogger(__name__)


def backup_path(path: Path, index: int) -> Path:
    """`gateway.log` → `gateway.log.<index>`."""
    return path.with_name(f"{path.name}.{index}")


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")


class RotatingLog:
    """Appends bytes to `path` (mode 0600), rotating before a write would take it past `max_bytes`.

    The size is tracked from our own writes (one fstat when the file is opened), so a write costs
    no system call beyond the buffered write itself. Rotation prefers line boundaries: a file ends
    at a newline whenever the data allows it. Data is never held back: a line longer than
    `max_bytes` goes into a file of its own, and output without newlines is split at the limit."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be >= 1 and backups >= 0")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: BinaryIO | None = None
        self._size = 0
        self._at_line_start = True

    @property
    def size(self) -> int:
        """Bytes in the live file as far as this writer knows (0 before the first write)."""
        return self._size

    def write(self, data: bytes) -> None:
        file = self._open()
        while data:
            room = self.max_bytes - self._size
            if len(data) <= room:
                self._put(file, data)
                return
            cut = data.rfind(b"\n", 0, max(room, 0)) + 1  # the most whole lines that still fit
            if not cut:
                line_end = data.find(b"\n") + 1
                if self._size == 0:  # a line longer than max_bytes: written anyway, in its own file
                    cut = line_end or len(data)
                elif not self._at_line_start:  # finish the file's last line, so it ends at "\n"
                    cut = line_end
            if cut:
                self._put(file, data[:cut])
                data = data[cut:]
            if data:
                self.rotate()
                file = self._open()

    def rotate(self) -> None:
        """gateway.log → .1 → … → .<backups>; the oldest is dropped. The next write starts a
        new file."""
        self.close()
        if self.backups == 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        else:
            for index in range(self.backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(backup_path(self.path, index), backup_path(self.path, index + 1))
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path, backup_path(self.path, 1))
        self._size = 0
        self._at_line_start = True

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close; a later write reopens the file."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def __enter__(self) -> RotatingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _put(self, file: BinaryIO, data: bytes) -> None:
        file.write(data)
        self._size += len(data)
        self._at_line_start = data.endswith(b"\n")

    def _open(self) -> BinaryIO:
        if self._file is not None:
            return self._file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file that already existed keeps its old mode otherwise
            size = os.fstat(fd).st_size
            self._at_line_start = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
            self._file = open(fd, "ab")  # noqa: SIM115 (kept open across writes; close() closes it)
        except BaseException:
            os.close(fd)
            raise
        self._size = size
        return self._file


async def chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A pipe's bytes as they arrive, until EOF."""
    while chunk := await reader.read(CHUNK):
        yield chunk


async def capture(
    output: AsyncIterable[bytes],
    log: RotatingLog,
    *,
    on_line: Callable[[bytes], None] | None = None,
) -> None:
    """Copy a subprocess's output (its pipe's `chunks`) into `log` until EOF, flushing after
    every chunk so followers see output promptly. `on_line` gets each complete line with its
    b"\\n" (a last unterminated line at EOF too). The log is left open: a restarted gateway
    appends to it.

    A failing disk never stops the copy: the pipe must keep draining, or the gateway would block
    on a full pipe. Output is dropped (and the failure logged once) until writes work again."""
    pending = b""
    failing = False
    async for chunk in output:
        try:
            log.write(chunk)
            log.flush()
        except OSError as exc:
            if not failing:
                _logger.error("cannot write %s (dropping output until it works): %s", log.path, exc)
            failing = True
        else:
            if failing:
                _logger.warning("writing %s again", log.path)
            failing = False
        if on_line is not None:
            pending = _emit_lines(pending + chunk, on_line)
    if on_line is not None and pending:
        on_line(pending)


def _emit_lines(data: bytes, on_line: Callable[[bytes], None]) -> bytes:
    """Calls on_line for each complete line of `data`; returns the unterminated rest."""
    start = 0
    while (end := data.find(b"\n", start)) != -1:
        on_line(data[start : end + 1])
        start = end + 1
    while len(data) - start > MAX_LINE:
        on_line(data[start : start + MAX_LINE])
        start += MAX_LINE
    return data[start:]


class LastLines:
    """The last `n` lines seen, decoded (UTF-8, errors replaced) and without their newline."""

    def __init__(self, n: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=n)

    def add(self, line: bytes) -> None:
        self._lines.append(_decode(line))

    def lines(self) -> list[str]:
        return list(self._lines)

    def __len__(self) -> int:
        return len(self._lines)


def tail(path: Path, n: int) -> list[str]:
    """The last `n` lines of `path`, continued into `path.1` when `path` holds fewer. Reads
    backwards in chunks: the cost follows `n`, not the size of the file."""
    fd = _open_or_none(path)
    if fd is None:
        return _tail_backup(path, n, [])
    try:
        return _tail_open(fd, os.fstat(fd).st_size, path, n)
    finally:
        os.close(fd)


def _tail_open(fd: int, end: int, path: Path, n: int) -> list[str]:
    return _tail_backup(path, n, _last_lines(fd, end, n))


def _tail_backup(path: Path, n: int, newer: list[str]) -> list[str]:
    if len(newer) >= n:
        return newer
    fd = _open_or_none(backup_path(path, 1))
    if fd is None:
        return newer
    try:
        return _last_lines(fd, os.fstat(fd).st_size, n - len(newer)) + newer
    finally:
        os.close(fd)


def _last_lines(fd: int, end: int, n: int) -> list[str]:
    """The last `n` lines of the first `end` bytes of `fd`."""
    if n <= 0 or end <= 0:
        return []
    blocks: list[bytes] = []
    pos, newlines = end, 0
    # n lines need n + 1 newlines before the end: the one ending the file and one before each line.
    while pos > 0 and newlines <= n:
        size = min(CHUNK, pos)
        pos -= size
        block = os.pread(fd, size, pos)
        blocks.append(block)
        newlines += block.count(b"\n")
    pieces = b"".join(reversed(blocks)).removesuffix(b"\n").split(b"\n")
    if pos > 0:  # stopped early: the first piece may be the end of a longer line
        pieces = pieces[1:]
    return [_decode(p) for p in pieces[-n:]]


def follow(
    path: Path,
    *,
    lines: int = 0,
    poll: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[str, None, None]:
    """Yield the last `lines` lines of `path` (see `tail`), then each line appended to it, forever.

    A blocking generator, polling every `poll` seconds when idle (`sleep` is the seam tests use).
    The tail and the follow share one open file, so no line is lost or shown twice between them.
    Survives rotation (a new inode at `path`: the old file is read to its end first, then the new
    one from its start), truncation (read again from the start) and `path` not existing yet (it is
    read from its start once it appears). A line is yielded once its newline arrives."""
    fd = _open_or_none(path)
    pos = 0
    pending = b""
    try:
        if fd is not None:
            pos = os.fstat(fd).st_size
        if lines > 0:
            yield from (_tail_open(fd, pos, path, lines) if fd is not None else tail(path, lines))
        while True:
            if fd is None:
                fd, pos = _open_or_none(path), 0
            if fd is not None:
                data = os.pread(fd, CHUNK, pos)
                if data:
                    pos += len(data)
                    complete, pending = _split(pending + data)
                    yield from complete
                    continue
                change = _change(path, fd, pos)
                if change == "rotated":
                    rest = _read_rest(fd, pos)
                    complete, pending = _split(pending + rest)
                    yield from complete
                    if pending:  # the old file ended mid-line: what there is, is all there will be
                        yield _decode(pending)
                    os.close(fd)
                    fd, pending = None, b""
                    continue
                if change == "truncated":
                    pos, pending = 0, b""
                    continue
            sleep(poll)
    finally:
        if fd is not None:
            os.close(fd)


def _open_or_none(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _change(path: Path, fd: int, pos: int) -> str | None:
    """ "rotated" when another file is now at `path`, "truncated" when ours shrank below `pos`."""
    try:
        now = os.stat(path)
    except FileNotFoundError:  # renamed away, the new file not created yet: keep reading ours
        return None
    ours = os.fstat(fd)
    if (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev):
        return "rotated"
    return "truncated" if ours.st_size < pos else None


def _read_rest(fd: int, pos: int) -> bytes:
    parts: list[bytes] = []
    while data := os.pread(fd, CHUNK, pos):
        parts.append(data)
        pos += len(data)
    return b"".join(parts)


def _split(data: bytes) -> tuple[list[str], bytes]:
    *complete, rest = data.split(b"\n")
    return [_decode(line) for line in complete], rest
