"""The gateway's aiohttp application: create_app(profile, …) wires settings, provider, tools and
routes; everything it holds lives on the app under typed keys."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from hermes import __version__
from hermes.agent.prompt import PromptCache
from hermes.config.envfile import read as read_env
from hermes.config.schema import Config
from hermes.gateway import files
from hermes.gateway.attachments import FILES, Files
from hermes.gateway.background import BackgroundRuns
from hermes.gateway.chat import chat_completions
from hermes.gateway.chat_kept import get_completion
from hermes.gateway.hosts import HostPolicy
from hermes.gateway.identity import UserScopedResponses, identity
from hermes.gateway.middleware import MIDDLEWARES, json_response
from hermes.gateway.responses import create_response, delete_response, get_response
from hermes.gateway.responses_background import cancel_response
from hermes.gateway.runtime import RUNTIME, Runtime
from hermes.gateway.session_chat import acp_chat, chat
from hermes.gateway.sessions import delete_session, get_session, list_sessions, new_session
from hermes.gateway.settings import GatewaySettings
from hermes.profiles.paths import Profile
from hermes.providers import chat_only
from hermes.providers.base import Provider
from hermes.providers.vision import vision_of
from hermes.stores.files import FileStore
from hermes.stores.frontdoor_credential import FrontdoorCheck
from hermes.stores.keys import KeyStore
from hermes.stores.runs import RunStore
from hermes.stores.sessions import SessionStore
from hermes.tools import ToolContext, ToolRegistry, default_tools
from hermes.wire.openai_chat import models_response

# The key store is read on the event loop per request: never wait long for a CLI's write lock
# (WAL readers do not wait at all; only the throttled last-used write can).
KEYS_BUSY_TIMEOUT_MS = 50


def create_app(
    profile: Profile,
    config: Config,
    settings: GatewaySettings,
    *,
    provider: Provider,
    registry: ToolRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[*MIDDLEWARES, identity], client_max_size=settings.max_request_bytes
    )
    small = chat_only(config)  # the bundled local model: a compact prompt and no tools
    tools = registry or ToolRegistry(default_tools(), [] if small else config.tools.enabled)
    secret_names = frozenset(read_env(profile.env_path))
    context = ToolContext(
        workspace=profile.workspace_dir,
        settings=config.tools,
        profile_name=profile.name,
        secret_names=secret_names,
        base_env=dict(os.environ if environ is None else environ),
        memory_dir=profile.memory_dir,
        skills_dir=profile.skills_dir,
        hide=(profile.root.parent.parent,),  # HERMES_HOME: a command sees only its workspace
    )
    prompt = PromptCache(
        profile, tools.names(), memory_chars=config.tools.memory.max_chars, compact=small
    )
    store = UserScopedResponses(
        profile.state_dir / "responses.sqlite3",
        max_responses=config.api_server.max_stored_responses,
    )
    sessions = SessionStore(profile.state_dir / "sessions.sqlite3")
    keys = KeyStore.for_profile(profile, busy_timeout_ms=KEYS_BUSY_TIMEOUT_MS)
    app[RUNTIME] = Runtime(
        profile,
        config,
        settings,
        provider,
        tools,
        context,
        prompt,
        store,
        sessions,
        keys=keys,
        hosts=HostPolicy.for_settings(settings),
        frontdoor=FrontdoorCheck(profile),
        chat_only=small,
        background=BackgroundRuns(
            RunStore(profile.state_dir / "runs.sqlite3"), config.api_server.max_background_runs
        ),
    )
    app[FILES] = Files(
        FileStore(
            profile.state_dir / "files.sqlite3",
            profile.state_dir / "files",
            max_files=settings.files.max_stored_files,
        ),
        settings.files,
        vision_of(config),
        profile.workspace_dir,
    )
    app.cleanup_ctx.append(_provider_lifetime)
    app.cleanup_ctx.append(_files_lifetime)
    app.cleanup_ctx.append(_keys_lifetime)
    app.cleanup_ctx.append(_store_lifetime)
    add_routes(app)
    return app


async def _provider_lifetime(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[RUNTIME].provider.close()


async def _files_lifetime(app: web.Application) -> AsyncIterator[None]:
    store = app[FILES].store
    await store.open()
    yield
    await store.close()


async def _keys_lifetime(app: web.Application) -> AsyncIterator[None]:
    keys = app[RUNTIME].keys
    keys.open()  # creates the file if need be, so the CLI and this gateway share one from now on
    yield
    keys.close()


async def _store_lifetime(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    await rt.responses.open()
    try:
        await rt.sessions.open()
        try:
            async with _background(rt):
                yield
        finally:
            await rt.sessions.close()
    finally:
        await rt.responses.close()


@contextlib.asynccontextmanager
async def _background(rt: Runtime) -> AsyncIterator[None]:
    """The run store open; runs a previous process left unfinished failed, old ones forgotten;
    at the end, the runs still going cancelled (each records that it was)."""
    runs = rt.background
    await runs.store.open()
    try:
        await runs.recover()
        await runs.store.forget_older_than(3600 * rt.config.api_server.background_retention_hours)
        yield
        await runs.stop()
    finally:
        await runs.store.close()


def add_routes(app: web.Application) -> None:
    for prefix in ("/v1", ""):
        app.router.add_get(f"{prefix}/health", health)
        app.router.add_get(f"{prefix}/models", models)
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_post(f"{prefix}/responses", create_response)
        app.router.add_get(f"{prefix}/responses/{{id}}", get_response)
        app.router.add_delete(f"{prefix}/responses/{{id}}", delete_response)
        app.router.add_post(f"{prefix}/responses/{{id}}/cancel", cancel_response)
        app.router.add_get(f"{prefix}/chat/completions/{{id}}", get_completion)
        files.routes(app, prefix)
    app.router.add_post("/api/v1/chat", chat)
    app.router.add_post("/api/v1/chat/new_session", new_session)
    app.router.add_get("/api/v1/chat/sessions", list_sessions)
    app.router.add_get("/api/v1/chat/sessions/{id}", get_session)
    app.router.add_delete("/api/v1/chat/sessions/{id}", delete_session)
    app.router.add_post("/api/v1/acp", acp_chat)
    app.router.add_get("/openapi.json", openapi_json)


async def openapi_json(request: web.Request) -> web.StreamResponse:
    """Imported on first use: the description is built from every schema, once."""
    from hermes.gateway import openapi

    return await openapi.openapi_json(request)


async def health(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response(
        {
            "status": "ok",
            "profile": rt.profile.name,
            "model": rt.settings.model_name,
            "version": __version__,
        }
    )


async def models(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response(
        models_response([rt.settings.model_name], created=rt.started_at, owned_by="hermes")
    )
