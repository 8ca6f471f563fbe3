"""Which user a request speaks for, inside this profile (per-user memory and sessions).

Two sources, never mixed: the front door names the user in `X-Hermes-User`, and only a request
that authenticated with the front door's own credential (stores/frontdoor_credential.py) may;
from any other caller the header is ignored. A caller that reaches the gateway directly (with
the profile's key) may name its user in the OpenAI `user` field instead; through the front door
that field is not read (the front door decided who the user is). The id becomes a folder name
only through memory.users.user_key."""

from __future__ import annotations

import dataclasses
import re

from aiohttp import web

from hermes.gateway.middleware import CALLER, FRONTDOOR, Handler
from hermes.gateway.requests import read_body
from hermes.memory.users import current_user, user_key
from hermes.stores.responses import ResponseStore, StoredResponse
from hermes.stores.sessions import check_username
from hermes.wire import fastjson

USER_HEADER = "X-Hermes-User"
# Which front-door key (a prefix of its hash): every key reaches the gateway with the front
# door's one credential, and each key's files, conversations and sessions must stay its own.
KEY_HEADER = "X-Hermes-Key"
_KEY_ID = re.compile(r"[0-9a-f]{1,64}")
# The endpoints whose body may carry the OpenAI `user` field.
USER_FIELD_PATHS = frozenset(
    {"/v1/chat/completions", "/chat/completions", "/v1/responses", "/responses"}
)
USER = web.RequestKey("user", str)  # the user id the request speaks for, as sent (if any)
FRONTDOOR_KEY = web.RequestKey("frontdoor_key", str)  # the front-door key's id, if it came so


@web.middleware
async def identity(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets memory.users.current_user for the request's whole run (its tasks inherit it)."""
    raw = await _claimed(request)
    key = user_key(raw)
    if request.get(CALLER) == FRONTDOOR:
        # Files, stored responses, idempotency replays and handed-back tool turns are kept per
        # caller: per front-door key and per user, not one pool for everyone behind the door.
        found = request.headers.get(KEY_HEADER, "")
        door_key = found if _KEY_ID.fullmatch(found) else ""
        request[FRONTDOOR_KEY] = door_key
        user = f":{key}" if raw is not None and key is not None else ""
        request[CALLER] = f"{FRONTDOOR}:{door_key}{user}"
    if raw is not None:
        request[USER] = raw
    token = current_user.set(key)
    try:
        return await handler(request)
    finally:
        current_user.reset(token)


async def _claimed(request: web.Request) -> str | None:
    if request.get(CALLER) == FRONTDOOR:
        return request.headers.get(USER_HEADER) or None
    if request.method != "POST" or request.path not in USER_FIELD_PATHS:
        return None
    raw = await read_body(request)  # cached by aiohttp: the handler reads it again for free
    if b'"user"' not in raw:
        return None  # most bodies: no second parse
    try:
        body = fastjson.loads(raw)
    except ValueError:
        return None  # the handler reports the malformed body
    user = body.get("user") if isinstance(body, dict) else None
    return user if isinstance(user, str) and user.strip() else None


def username_for(request: web.Request, given: object) -> str:
    """The session API's username: the front door's user when it named one (a client cannot
    reach another user's sessions through it), else the `username` the client gave."""
    forwarded = request.get(USER)
    return scoped_username(request, check_username(forwarded if forwarded is not None else given))


def scoped_username(request: web.Request, username: str) -> str:
    """Through the front door, the sessions of `username` under this front-door key: another
    key naming the same username (or a trusted key's user) reaches other sessions. A client
    cannot send the separator itself (usernames are printable)."""
    door_key = request.get(FRONTDOOR_KEY)
    return username if door_key is None else f"{door_key}\x1f{username}"


def with_username(request: web.Request, body: object) -> object:
    """A session API body with the front door's user as its `username`, when it named one."""
    forwarded = request.get(USER)
    if forwarded is None or not isinstance(body, dict):
        return body
    return {**body, "username": forwarded}


class UserScopedResponses(ResponseStore):
    """Named conversations (`conversation` in the Responses API) are per user when the request
    names one: alice's `chat` and bob's `chat` in one shared profile are two conversations.
    The stored name is `<user key>` + U+001F + the name; a client cannot send such a name itself
    (conversation names are printable), so no caller reaches another user's conversation."""

    async def latest(self, conversation: str) -> StoredResponse | None:
        return await super().latest(_scoped(conversation))

    async def put(self, stored: StoredResponse) -> None:
        if stored.conversation is not None:
            stored = dataclasses.replace(stored, conversation=_scoped(stored.conversation))
        await super().put(stored)


def _scoped(conversation: str) -> str:
    user = current_user.get()
    return conversation if user is None else f"{user}\x1f{conversation}"
