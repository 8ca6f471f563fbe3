"""Front-door keys (`hermes frontdoor keys …`): the named keys of stores/keys.py (hashed, shown
once, revocation counted from the next request), in $HERMES_HOME/frontdoor/keys.sqlite3, each
with a scope: the profiles it reaches (or all) and whether its client's word on who the user is
may be trusted (--trust-identity)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hermes.errors import InvalidRequest
from hermes.profiles.paths import validate_name
from hermes.stores.keys import ApiKey, KeyStore

KEY_PREFIX = "hfk_"
ALL = "*"
# The key store is read on the event loop per request: never wait long for a CLI's write lock.
BUSY_TIMEOUT_MS = 50


@dataclass(frozen=True, slots=True)
class Grant:
    """What one key may do: `profiles` None means every profile."""

    label: str
    key_hash: str
    profiles: frozenset[str] | None
    trust_identity: bool

    def allows(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


def store_path(home: Path) -> Path:
    return home / "frontdoor" / "keys.sqlite3"


def key_store(
    home: Path, *, clock: Callable[[], float] = time.time, busy_timeout_ms: int = 5000
) -> KeyStore:
    path = store_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return KeyStore(path, clock=clock, busy_timeout_ms=busy_timeout_ms, key_prefix=KEY_PREFIX)


def scope_of(profiles: Sequence[str] | None, *, trust_identity: bool) -> str:
    """The JSON a key's scope is stored as; `profiles` None: all. Names are checked here (a
    profile that does not exist yet is allowed: it may be created later)."""
    if profiles is not None:
        if not profiles:
            raise InvalidRequest("name at least one profile (--profiles a,b) or use --all")
        for name in profiles:
            validate_name(name)
    chosen = ALL if profiles is None else sorted(set(profiles))
    return json.dumps({"profiles": chosen, "trust_identity": trust_identity})


@functools.lru_cache(maxsize=1024)  # per request: a key's scope is parsed once, not each time
def grant_of(record: ApiKey) -> Grant:
    """A stored key's grant. A key without a readable scope reaches nothing (never everything)."""
    try:
        scope = json.loads(record.scope or "")
    except ValueError:
        scope = None
    if not isinstance(scope, dict):
        return Grant(record.label, record.key_hash, frozenset(), False)
    raw = scope.get("profiles")
    profiles = None if raw == ALL else frozenset(p for p in raw or () if isinstance(p, str))
    return Grant(record.label, record.key_hash, profiles, scope.get("trust_identity") is True)


def describe(grant: Grant) -> str:
    """The profiles of a grant as a listing shows them."""
    return "all" if grant.profiles is None else ",".join(sorted(grant.profiles)) or "-"
