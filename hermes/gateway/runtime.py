"""Per-gateway state, stored on the aiohttp app under typed keys (no module globals)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hermes.agent import Agent, Compactor, ContextPolicy
from hermes.agent.prompt import PromptCache
from hermes.config.schema import Config
from hermes.gateway.background import BackgroundRuns
from hermes.gateway.hosts import HostPolicy
from hermes.gateway.idempotency import IdempotencyCache
from hermes.gateway.locks import KeyedLocks
from hermes.gateway.settings import GatewaySettings
from hermes.gateway.turns import HandedTurns
from hermes.profiles.paths import Profile
from hermes.providers.base import Provider
from hermes.stores.frontdoor_credential import FrontdoorCheck
from hermes.stores.keys import KeyStore, digest
from hermes.stores.responses import ResponseStore
from hermes.stores.sessions import SessionStore
from hermes.tools import ToolContext, ToolRegistry
from hermes.wire.client_tools import ClientTools, Format

# The caller on a gateway without keys (see gateway.middleware.CALLER).
ANONYMOUS = "anonymous"


@dataclass(slots=True)
class Runtime:
    profile: Profile
    config: Config
    settings: GatewaySettings
    provider: Provider
    registry: ToolRegistry
    tool_context: ToolContext
    prompt: PromptCache
    responses: ResponseStore
    sessions: SessionStore
    keys: KeyStore  # named API keys (`hermes keys`), checked beside API_SERVER_KEY
    hosts: HostPolicy  # the names this gateway answers to in the Host header
    frontdoor: FrontdoorCheck  # recognises the front door's own credential
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)
    conversations: KeyedLocks = field(default_factory=KeyedLocks)
    handed: HandedTurns = field(default_factory=HandedTurns)  # see gateway/turns.py
    chat_only: bool = False  # a model that takes no tools: clients' tools are not offered either
    background: BackgroundRuns = field(kw_only=True)  # Responses background runs
    started_at: int = field(default_factory=lambda: int(time.time()))
    active_runs: int = 0
    server_key_caller: str = field(init=False, default="")  # API_SERVER_KEY's caller id

    def __post_init__(self) -> None:
        # Hashed once here, not per request; the caller id must never hold the key itself.
        if self.settings.key:
            self.server_key_caller = "server-key:" + digest(self.settings.key)

    def owner(self, caller: str) -> str:
        """Whose stored responses and conversations `caller` works with: a named key its own;
        the profile's own key (API_SERVER_KEY), or anyone on a gateway without keys, all ("")."""
        return "" if caller in (self.server_key_caller, ANONYMOUS) else caller

    def client_tools(self, tools: ClientTools, fmt: Format) -> tuple[dict[str, Any], ...]:
        """The client's own tools to offer the model beside the profile's (none to a model that
        takes no tools); a name that clashes with one of the profile's is settled by
        api_server.client_tool_clash."""
        if self.chat_only:
            return ()
        return tools.offer(self.registry.names(), fmt, self.settings.client_tool_clash)

    def agent(self, *, compact: bool = False) -> Agent:
        """A fresh agent for one request, with this profile's provider, tools and limits.
        `compact`: condense older turns beyond the context budget (server-kept histories)."""
        return Agent(
            self.provider,
            self.registry,
            self.tool_context,
            max_iterations=self.config.agent.max_iterations,
            tool_concurrency=self.config.agent.tool_concurrency,
            compactor=(
                Compactor(self.provider, ContextPolicy.from_config(self.config))
                if compact
                else None
            ),
        )


RUNTIME = web.AppKey("runtime", Runtime)
