"""Who the user behind a request is, and which profiles that user may reach.

Only a key created with --trust-identity is believed: its client (Open WebUI) names the user in
X-OpenWebUI-User-Email / -Id (sent with ENABLE_FORWARD_USER_INFO_HEADERS=true), in the header
`frontdoor.identity_header` names, or in the OpenAI `user` field. On every other key these
headers are ignored, and stripped before the request goes on.

`frontdoor.users` (hermes.yaml) maps a user (email or id, compared case-insensitively) to the
profiles it may use (`*`: all; a `*` user: whoever is not listed). It narrows the key's own
profiles, never widens them. With no mapping at all, a trusted key's users reach the key's
profiles and the identity only scopes memory and sessions inside them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hermes.errors import InvalidRequest
from hermes.frontdoor.keys import ALL, Grant
from hermes.stores.sessions import MAX_USERNAME

OPENWEBUI_HEADERS = (
    "X-OpenWebUI-User-Email",
    "X-OpenWebUI-User-Id",
    "X-OpenWebUI-User-Name",
    "X-OpenWebUI-User-Role",
)
GATEWAY_USER_HEADER = "X-Hermes-User"  # what the gateway reads (gateway/identity.py)
# Which front-door key the request came with (a prefix of its hash): the gateway sees one
# credential for every key and keeps each key's files, conversations and sessions apart by it.
GATEWAY_KEY_HEADER = "X-Hermes-Key"
KEY_ID = 32  # hex characters of the SHA-256: unique enough, and no secret
MAX_USER_CHARS = MAX_USERNAME  # what the gateway's sessions take as a username


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request: its key's grant and the user it speaks for (trusted keys)."""

    grant: Grant
    user: str | None = None  # as the client named it
    allowed: frozenset[str] | None = None  # the user's mapped profiles (None: no narrowing)

    def may_use(self, profile: str) -> bool:
        if not self.grant.allows(profile):
            return False
        return self.allowed is None or ALL in self.allowed or profile in self.allowed


def identity_headers(custom: str | None) -> tuple[str, ...]:
    """Every header that names a user: stripped from requests whatever the key."""
    return (
        *OPENWEBUI_HEADERS,
        GATEWAY_USER_HEADER,
        GATEWAY_KEY_HEADER,
        *([custom] if custom else []),
    )


def claimed_ids(
    headers: Mapping[str, str], custom: str | None, user_field: str | None
) -> list[str]:
    """The ids the client names, most specific first: email, id, the custom header, `user`."""
    names = ("X-OpenWebUI-User-Email", "X-OpenWebUI-User-Id", *([custom] if custom else []))
    found = [headers.get(name, "").strip() for name in names]
    if isinstance(user_field, str):
        found.append(user_field.strip())
    out = [f for f in found if f]
    for value in out:
        if len(value) > MAX_USER_CHARS or not value.isprintable():
            raise InvalidRequest(
                f"the user id the client sent is not usable (over {MAX_USER_CHARS} characters, "
                "or control characters)",
                param="user",
            )
    return out


def caller_for(grant: Grant, ids: list[str], users: Mapping[str, Iterable[str]]) -> Caller:
    """The caller `grant` makes with the user `ids` name (ignored unless the key is trusted)."""
    if not grant.trust_identity or not ids:
        return Caller(grant)
    if not users:
        return Caller(grant, ids[0], None)
    lowered = {k.strip().lower(): v for k, v in users.items()}
    for candidate in ids:
        mapped = lowered.get(candidate.lower())
        if mapped is not None:
            return Caller(grant, candidate, frozenset(mapped))
    fallback = lowered.get(ALL)
    return Caller(grant, ids[0], frozenset(fallback or ()))
