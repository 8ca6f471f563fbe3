"""The profile's `.env`: KEY=VALUE lines, read simply and edited in place.

Edits keep every other line (comments, blank lines, order) as the user wrote them. The file is
always written with mode 0600 because it holds secrets.

Lines end at "\n" only (a "\r" before it is white space): str.splitlines() would also break a
line at U+2028, \x0b, \x1c or \x85, characters a value may hold, and the next edit would split
that value into a stray line. A value with anything but plain characters is written in double
quotes, so every value `validate_value` accepts reads back exactly as it was written."""

from __future__ import annotations

import re
from pathlib import Path

from hermes.config import textfile
from hermes.errors import ConfigError
from hermes.fsutil import atomic_write

# Matched whole (fullmatch): with a `$` anchor, "FOO\n" passed and became two lines.
ENV_KEY_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
ENV_MODE = 0o600


def parse_value(raw: str) -> str:
    """Unquote a value: "double" (with \\ escapes), 'single' (literal), or bare (# starts a
    comment when preceded by white space)."""
    if raw[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(raw):
            ch = raw[i]
            if ch == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                i += 2
                continue
            if ch == '"':
                break
            out.append(ch)
            i += 1
        return "".join(out)
    if raw[:1] == "'":
        end = raw.find("'", 1)
        return raw[1:end] if end != -1 else raw[1:]
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def format_value(value: str) -> str:
    """Quote a value only when a reader would otherwise misread it."""
    if value and re.fullmatch(r"[A-Za-z0-9_./:@+,=-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def lines_of(text: str) -> list[str]:
    """The lines of a .env text, split at "\n" only."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def parse(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in lines_of(text):
        m = _LINE_RE.match(line)
        if m and not line.lstrip().startswith("#"):
            values[m.group(1)] = parse_value(m.group(2))
    return values


def read(path: Path) -> dict[str, str]:
    """The values of a .env file; a missing file is empty; ConfigError if it is not UTF-8."""
    return parse(textfile.read(path) or "")


def is_key(key: str) -> bool:
    """True for an UPPER_SNAKE variable name, the keys that live in .env."""
    return ENV_KEY_RE.fullmatch(key) is not None


def validate_key(key: str) -> None:
    if not is_key(key):
        raise ConfigError(f"invalid variable name {key!r}: use UPPER_SNAKE_CASE", param=key)


def validate_value(key: str, value: str) -> None:
    if "\n" in value or "\r" in value or "\x00" in value:
        raise ConfigError(f"the value of {key} may not contain a newline or NUL byte", param=key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 in argv come as lone surrogates
        raise ConfigError(f"the value of {key} is not valid UTF-8 text", param=key) from None


def update(path: Path, changes: dict[str, str | None]) -> None:
    """Set (or, for None, remove) keys, keeping every other line. Callers hold the profile lock."""
    for key, value in changes.items():
        validate_key(key)
        if value is not None:
            validate_value(key, value)
    lines = lines_of(textfile.read(path) or "")
    pending = dict(changes)
    out: list[str] = []
    for line in lines:
        m = _LINE_RE.match(line)
        name = m.group(1) if m and not line.lstrip().startswith("#") else None
        if name is None or name not in changes:
            out.append(line)
            continue
        if name in pending:  # first occurrence: replace in place; later duplicates are dropped
            new = pending.pop(name)
            if new is not None:
                out.append(f"{name}={format_value(new)}")
    out.extend(f"{k}={format_value(v)}" for k, v in pending.items() if v is not None)
    atomic_write(path, "\n".join(out) + "\n", mode=ENV_MODE)
