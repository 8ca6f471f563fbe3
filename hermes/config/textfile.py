"""A profile's own text files (.env, config.yaml) are UTF-8: anything else is a ConfigError that
names the file and where the first bad byte is, never a UnicodeDecodeError."""

from __future__ import annotations

from pathlib import Path

from hermes.errors import ConfigError


def decode(data: bytes, path: Path) -> str:
    """`data` (the contents of `path`) as text; ConfigError at `path:line:column` if it is not
    UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}:{column}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None


def read(path: Path) -> str | None:
    """The text of `path`, or None if there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return decode(data, path)
