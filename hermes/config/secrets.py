"""Which values are secrets, and how they are shown when they must be shown at all."""

from __future__ import annotations

import re

_SECRET_NAME_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.I)
_NOT_SECRET = frozenset({"API_KEY_ENV"})


def is_secret_name(name: str) -> bool:
    """True for names such as OPENAI_API_KEY, API_SERVER_KEY, api_server.key, BOT_TOKEN."""
    last = name.rsplit(".", 1)[-1].upper()
    return last not in _NOT_SECRET and bool(_SECRET_NAME_RE.search(last))


def is_secret_env(name: str) -> bool:
    """True for every .env variable but the API server's plain settings (API_SERVER_PORT,
    _HOST, …): .env is where secrets live, under whatever name (DATABASE_URL, GITHUB_PAT)."""
    upper = name.upper()
    if upper.startswith("API_SERVER_") or upper.startswith("HERMES_"):
        return is_secret_name(upper)
    return True


def mask(value: str) -> str:
    """`sk-proj-abcdef…f3a9` becomes `sk-…f3a9`: a recognisable prefix and the last four
    characters, and only when the value is long enough that this reveals little."""
    if not value:
        return ""
    if len(value) < 12:
        return "…" * 3
    head = ""
    for sep in "-_":
        idx = value.find(sep)
        if 0 < idx <= 3:
            head = value[: idx + 1]
            break
    return f"{head}…{value[-4:]}"
