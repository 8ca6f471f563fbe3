"""Managing native sessions: create one, list a username's, read one back, delete one. Every
call names its username, and a session is only ever visible to the username that owns it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hermes.errors import InvalidRequest
from hermes.gateway.identity import username_for
from hermes.gateway.middleware import json_response
from hermes.gateway.requests import read_json
from hermes.gateway.runtime import RUNTIME
from hermes.messages import message_to_dict
from hermes.stores.sessions import check_session_id, iso_time, new_session_id

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# (page - 1) * page_size is an SQLite OFFSET, a 64-bit integer; no username has this many pages.
MAX_PAGE = 1_000_000


async def new_session(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    username = username_for(request, body.get("username"))
    raw_id = body.get("session_id")
    session_id = check_session_id(raw_id) if raw_id is not None else new_session_id()
    session = await request.app[RUNTIME].sessions.open_session(username, session_id)
    return json_response({"session_id": session.info.session_id})


async def list_sessions(request: web.Request) -> web.Response:
    username = username_for(request, request.query.get("username"))
    page = _positive(request, "page", 1, MAX_PAGE)
    page_size = _positive(request, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    infos, total = await request.app[RUNTIME].sessions.list_for(username, page, page_size)
    return json_response(
        {
            "sessions": [info.to_json() for info in infos],
            "page": page,
            "page_size": page_size,
            "total": total,
        }
    )


async def get_session(request: web.Request) -> web.Response:
    username = username_for(request, request.query.get("username"))
    session_id = check_session_id(request.match_info["id"])
    rt = request.app[RUNTIME]
    session = await rt.sessions.get(username, session_id)
    messages: list[dict[str, Any]] = []
    for at, message in await rt.sessions.messages(username, session_id):
        shown = message_to_dict(message)
        # The reasoning's text, if shown at all; who produced it and its signatures are the
        # gateway's business (what it may send back to which provider).
        reasoning = shown.pop("reasoning", None)
        if reasoning and reasoning["text"] and rt.settings.show_reasoning:
            shown["reasoning"] = reasoning["text"]
        messages.append({**shown, "created_at": iso_time(at)})
    return json_response({**session.info.to_json(), "messages": messages})


async def delete_session(request: web.Request) -> web.Response:
    username = username_for(request, request.query.get("username"))
    session_id = check_session_id(request.match_info["id"])
    await request.app[RUNTIME].sessions.delete(username, session_id)
    return json_response({"session_id": session_id, "deleted": True})


def _positive(request: web.Request, name: str, default: int, most: int) -> int:
    """A query parameter that is a whole number from 1 to `most`, in ASCII digits (int() would
    also take "٣", " 3", "1_0" and numbers too large for SQLite)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(most))
    value = int(raw) if digits else 0
    if not 1 <= value <= most:
        raise InvalidRequest(f"`{name}` must be a whole number, 1 to {most}", param=name)
    return value
