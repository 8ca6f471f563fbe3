"""The front door's aiohttp application: its own /health and /v1/models, and every other path
passed on to the profile the request names (`model`, or the X-Hermes-Profile header; for a
stored response, the profile that made it)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from hermes import __version__
from hermes.errors import HermesError, InvalidRequest, NotFound, PayloadTooLarge, Unauthorized
from hermes.frontdoor.identity import KEY_ID, Caller, caller_for, claimed_ids
from hermes.frontdoor.keys import BUSY_TIMEOUT_MS, grant_of, key_store
from hermes.frontdoor.ledger import IdSniffer, Ledger
from hermes.frontdoor.proxy import forward_headers, relay
from hermes.frontdoor.routes import Route, Router
from hermes.frontdoor.settings import SettingsWatch
from hermes.frontdoor.upstream import Pool
from hermes.stores.keys import KeyStore
from hermes.wire import fastjson

log = logging.getLogger("hermes.frontdoor")
MAX_BODY = 64 * 1024 * 1024  # each gateway enforces its own, smaller, limit
RESPONSE_PATH = re.compile(r"(?:/v1)?/responses/([^/]+)(/.*)?")
MAKES_RESPONSES = frozenset({"/v1/responses", "/responses"})


class ModelNotFound(NotFound):
    code = "model_not_found"


class ResponseNotFound(NotFound):
    code = "response_not_found"


@dataclass
class State:
    home: Path
    keys: KeyStore
    router: Router
    ledger: Ledger
    settings: SettingsWatch
    pool: Pool = field(default_factory=Pool)  # keep-alive connections to the gateways
    session: aiohttp.ClientSession | None = None  # for /health probes only
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


STATE = web.AppKey("frontdoor", State)


def create_app(state: State) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=MAX_BODY)
    app[STATE] = state
    app.cleanup_ctx.append(_lifetime)
    for prefix in ("/v1", ""):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/models", models)
        app.router.add_get(f"{prefix}/models/{{model}}", model)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.keys.open()
    state.ledger.open()
    state.session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    await state.router.refresh()
    state.tasks.append(asyncio.create_task(_refresh_loop(state)))
    yield
    for task in state.tasks:
        task.cancel()
    await state.session.close()
    state.pool.close()
    state.ledger.close()
    state.keys.close()


async def _refresh_loop(state: State) -> None:
    from hermes.frontdoor.routes import REFRESH

    while True:
        await asyncio.sleep(REFRESH)
        state.settings.refresh()
        await state.router.refresh()


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure in the OpenAI error shape; a traceback only reaches the log."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except HermesError as exc:
        return _error(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error(PayloadTooLarge(f"request body over {MAX_BODY} bytes"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        failure = HermesError(exc.reason or "error")
        body = failure.to_openai()
        body["error"]["type"] = "invalid_request_error"
        return web.Response(body=fastjson.dumps(body), status=exc.status, content_type=JSON)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(HermesError("internal error; see the front door's log"))


JSON = "application/json"


def _error(exc: HermesError) -> web.Response:
    return web.Response(body=fastjson.dumps(exc.to_openai()), status=exc.status, content_type=JSON)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=fastjson.dumps(data), status=status, content_type=JSON)


async def health(request: web.Request) -> web.Response:
    table = request.app[STATE].router.table
    return _json({"status": "ok", "frontdoor": True, "version": __version__,
                  "profiles": len(table.routes), "pid": os.getpid()})  # fmt: skip


def authenticate(request: web.Request, user_field: object = None) -> Caller:
    """The caller a front-door key makes (Unauthorized otherwise), with the user its trusted
    client names, mapped through frontdoor.users."""
    state = request.app[STATE]
    presented = _presented_key(request)
    record = state.keys.check(presented) if presented and presented.isascii() else None
    if record is None:
        raise Unauthorized(
            "missing or invalid front-door key: send `Authorization: Bearer <key>` "
            "(create one with `hermes frontdoor keys create`)"
        )
    grant = grant_of(record)
    settings = state.settings.current
    if not grant.trust_identity:
        return Caller(grant)  # what its client says about users is not even read
    field_user = user_field if isinstance(user_field, str) else None
    ids = claimed_ids(request.headers, settings.identity_header, field_user)
    return caller_for(grant, ids, settings.users)


def _presented_key(request: web.Request) -> str | None:
    presented = request.headers.get("X-API-Key")
    if presented is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
    return presented


async def models(request: web.Request) -> web.Response:
    caller = authenticate(request)
    cards = [r.card for r in request.app[STATE].router.table.routes if caller.may_use(r.profile)]
    return _json({"object": "list", "data": sorted(cards, key=lambda c: str(c["id"]))})


async def model(request: web.Request) -> web.Response:
    caller = authenticate(request)
    name = request.match_info["model"]
    return _json(_permitted(request, caller, name).card)


def _permitted(request: web.Request, caller: Caller, name: str) -> Route:
    """The route `name` names if this caller may use it; the same 404 whether it does not
    exist or belongs to others, so a key learns nothing of the profiles it cannot reach."""
    route = request.app[STATE].router.table.find(name)
    if route is None or not caller.may_use(route.profile):
        raise ModelNotFound(
            f"the model {_shown(name)} does not exist or you do not have access to it",
            param="model",
        )
    return route


def _shown(name: str) -> str:
    return repr(name if len(name) <= 80 and name.isprintable() else name[:77] + "...")


async def proxy(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await request.read() if request.body_exists else None
    parsed = _parsed(body)
    caller = authenticate(request, parsed.get("user") if parsed is not None else None)
    if body and parsed is None and "X-Hermes-Profile" not in request.headers:
        # Nothing to route by: say what is wrong with the body, as the gateway would.
        raise InvalidRequest(
            "the request body is not a JSON object (malformed JSON, or another value), so it "
            "names no model: send a JSON object with `model`, or an X-Hermes-Profile header",
            param="model",
        )
    route = _route_for(request, caller, parsed)
    sniffer = IdSniffer() if request.method == "POST" and request.path in MAKES_RESPONSES else None
    strip = state.settings.current.strip
    headers = forward_headers(request, route, strip, caller.user, caller.grant.key_hash[:KEY_ID])
    response = await relay(request, state.pool, route, headers, body, sniffer)
    if sniffer is not None and sniffer.found and response.status < 300:
        state.ledger.record(sniffer.found, route.profile, caller.grant.key_hash, caller.user)
    stored = RESPONSE_PATH.fullmatch(request.path)
    if stored and request.method == "DELETE" and not stored.group(2) and response.status < 300:
        state.ledger.forget(stored.group(1))
    return response


def _parsed(body: bytes | None) -> dict[str, Any] | None:
    """The body as a JSON object, if it is one (the gateway judges every other body)."""
    if not body or body[:1] not in (b"{", b" ", b"\n", b"\t", b"\r"):
        return None
    try:
        value = fastjson.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _route_for(request: web.Request, caller: Caller, body: dict[str, Any] | None) -> Route:
    stored = RESPONSE_PATH.fullmatch(request.path)
    cancel = request.method == "POST" and stored is not None and stored.group(2) == "/cancel"
    if stored is not None and (request.method in ("GET", "DELETE") or cancel):
        return _made(request, caller, stored.group(1), param=None)
    previous = body.get("previous_response_id") if body is not None else None
    if isinstance(previous, str) and request.path in MAKES_RESPONSES:
        return _made(request, caller, previous, param="previous_response_id")
    name = request.headers.get("X-Hermes-Profile") or (body or {}).get("model")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            "say which model this is for: `model` in the body, or an X-Hermes-Profile header",
            param="model",
        )
    return _permitted(request, caller, name)


def _made(request: web.Request, caller: Caller, response_id: str, param: str | None) -> Route:
    """The route of the profile that made `response_id` for this key and user."""
    state = request.app[STATE]
    profile = state.ledger.profile_of(response_id, caller.grant.key_hash, caller.user)
    route = state.router.table.profile(profile) if profile is not None else None
    if route is None or not caller.may_use(route.profile):
        raise ResponseNotFound(f"no response with id {_shown(response_id)}", param=param)
    return route


def new_state(home: Path, router: Router) -> State:
    keys = key_store(home, busy_timeout_ms=BUSY_TIMEOUT_MS)
    ledger = Ledger(home / "frontdoor" / "responses.sqlite3")
    return State(home, keys, router, ledger, SettingsWatch(home))
