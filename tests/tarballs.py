"""Profile archives as someone else could make them: tar members written byte by byte, so a test
can declare a size its data does not have, or give a manifest that is not what export writes."""

from __future__ import annotations

import gzip
import json
import tarfile
from dataclasses import dataclass
from typing import Any

BLOCK = 512


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    size: int | None = None  # the size the header declares (default: len(data))


def tar_bytes(members: list[Member], *, end: bool = True) -> bytes:
    """An uncompressed tar of `members`; `end=False` leaves out the two zero blocks."""
    out = bytearray()
    for m in members:
        info = tarfile.TarInfo(m.name)
        info.type = m.kind
        info.size = len(m.data) if m.size is None else m.size
        out += info.tobuf(format=tarfile.GNU_FORMAT)
        out += m.data + b"\0" * (-len(m.data) % BLOCK)
    if end:
        out += b"\0" * (2 * BLOCK)
    return bytes(out)


def archive_bytes(members: list[Member], *, end: bool = True) -> bytes:
    return gzip.compress(tar_bytes(members, end=end), mtime=0)


def manifest(value: Any, top: str = "evil") -> Member:
    """The manifest member holding `value` as JSON (bytes are taken as they are)."""
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Member(f"{top}/hermes-profile.json", data)
