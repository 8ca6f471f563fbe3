"""Who the conversation is with, inside one profile: per-user memory.

A profile shared by many people (a team's research agent behind the front door) keeps one
shared MEMORY.md and, per user, `memory/users/<id>/USER.md`: what it knows about that person,
shown only in that person's conversations.

The user of the request being served is a context variable, set by the gateway once per request
(gateway/identity.py) and read here by the prompt builder and the memory tool: every task the
request starts (tool calls, a stream's producer) inherits it, and the handlers in between need
not pass it along. None: no user is known, and USER.md is the profile's own."""

from __future__ import annotations

import contextvars
import hashlib
import re
import unicodedata
from pathlib import Path

USER_FILE = "USER.md"
USERS_DIR = "users"
MAX_PLAIN = 64
# Names kept as they are (lower-cased) as a folder: what an email or a UUID looks like. The first
# character is a letter or digit, so a hashed name (`~…`) and `.`/`..` can never be one.
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")

current_user: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hermes_user", default=None
)


def user_key(raw: str | None) -> str | None:
    """The folder name for user id `raw`: the id itself, lower-cased, when it is a plain one
    (an email, a UUID); else `~` and a SHA-256 of it, so `../bob`, a NUL, a path of a thousand
    characters or a name in another script are all safe, and still one folder per user."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).strip()
    if not text:
        return None
    lowered = text.lower()
    if _PLAIN.fullmatch(lowered) and ".." not in lowered:
        return lowered
    return "~" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def user_dir(memory_dir: Path, key: str) -> Path:
    """`memory/users/<key>`; `key` comes from user_key (never a path of its own)."""
    return memory_dir / USERS_DIR / key


def user_file(memory_dir: Path, key: str | None) -> Path:
    """The USER.md of `key`, or the profile's own when no user is known."""
    return memory_dir / USER_FILE if key is None else user_dir(memory_dir, key) / USER_FILE
