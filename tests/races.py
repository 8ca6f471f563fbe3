"""A workspace that changes under the code reading it: a thread swaps two names (a folder and
a symlink) as fast as it can, with renameat2(RENAME_EXCHANGE), as a model's command could."""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


@contextmanager
def swapping(first: Path, second: Path) -> Iterator[None]:
    stop = threading.Event()
    a, b = str(first).encode(), str(second).encode()

    def swap() -> None:
        while not stop.is_set():
            _libc.renameat2(-100, a, -100, b, RENAME_EXCHANGE)

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
