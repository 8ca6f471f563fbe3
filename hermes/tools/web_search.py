"""The web_search tool: a numbered list of results from the backend the profile configures.

Backends: a SearxNG instance (`tools.web_search.searxng_url`), the Brave Search API
(`BRAVE_API_KEY` in the profile's .env) or DuckDuckGo's HTML page. "auto" picks them in that
order. `search` takes the public backends' URLs as `endpoints`: the seam tests use to point them at
local fakes.

Search requests are not subject to web_fetch's private-address refusal: their URLs come from the
profile's configuration, never from the model, and a self-hosted SearxNG usually lives on a
private network.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import hdrs

from hermes.config.schema import WebSearchToolConfig
from hermes.tools.base import ToolContext, tool
from hermes.tools.errors import ToolError
from hermes.tools.web_fetch import USER_AGENT

BRAVE_API_URL = "https://api.search.brave.com/res/v1/web/search"
DUCKDUCKGO_HTML_URL = "https://html.duckduckgo.com/html/"
BRAVE_KEY = "BRAVE_API_KEY"
MAX_RESULTS_LIMIT = 20
SNIPPET_CHARS = 400

_NAMES = {"searxng": "SearxNG", "brave": "Brave Search", "duckduckgo": "DuckDuckGo"}
_TAG = re.compile(r"<[^>]+>")
_STATUS_HINTS = {
    ("searxng", 403): " (does the instance allow the json format? see `search: formats:` in its "
    "settings.yml)",
    ("brave", 401): f" (check {BRAVE_KEY})",
    ("brave", 403): f" (check {BRAVE_KEY} and its plan)",
    ("brave", 422): f" (check {BRAVE_KEY})",
}


@dataclass(frozen=True)
class Endpoints:
    """Where the public backends live."""

    brave: str = BRAVE_API_URL
    duckduckgo: str = DUCKDUCKGO_HTML_URL


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""


def choose_backend(settings: WebSearchToolConfig, env: Mapping[str, str]) -> str | None:
    """The backend to ask, or None when search is switched off."""
    if settings.backend == "none":
        return None
    if settings.backend != "auto":
        return settings.backend
    if settings.searxng_url:
        return "searxng"
    return "brave" if env.get(BRAVE_KEY) else "duckduckgo"


def how_to_configure(profile: str) -> str:
    searxng = (
        f"hermes -p {profile} config set tools.web_search.searxng_url https://searx.example.org"
    )
    brave = f"hermes -p {profile} config set {BRAVE_KEY} <key>"
    return (
        f"To use web search, configure a backend for this profile: a SearxNG instance (`{searxng}`)"
        f" or a Brave Search API key (`{brave}`), then restart the profile's gateway."
    )


def _plain(text: Any) -> str:
    """Text without markup (Brave highlights matches with <strong>) and runs of white space."""
    flat = " ".join(html.unescape(_TAG.sub("", str(text or ""))).split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


def _result(title: Any, url: Any, snippet: Any) -> SearchResult:
    return SearchResult(_plain(title), str(url or ""), _plain(snippet))


def format_results(query: str, results: list[SearchResult]) -> str:
    if not results:
        return f"No results for {query!r}."
    blocks = []
    for number, r in enumerate(results, 1):
        lines = [f"{number}. {r.title or r.url}", f"   {r.url}"]
        if r.snippet:
            lines.append(f"   {r.snippet}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


async def _fetch(
    session: aiohttp.ClientSession, backend: str, method: str, url: str, **kwargs: Any
) -> tuple[int, str]:
    async with session.request(method, url, **kwargs) as resp:
        if resp.status >= 400:
            status = f"{resp.status} {resp.reason}" if resp.reason else str(resp.status)
            hint = _STATUS_HINTS.get((backend, resp.status), "")
            raise ToolError(f"{_NAMES[backend]} search failed: HTTP {status}{hint}")
        return resp.status, await resp.text(errors="replace")


async def _json(session: aiohttp.ClientSession, backend: str, url: str, **kwargs: Any) -> Any:
    _, body = await _fetch(session, backend, "GET", url, **kwargs)
    try:
        return json.loads(body)
    except ValueError:
        raise ToolError(f"{_NAMES[backend]} answered with something that is not JSON") from None


async def _searxng(
    session: aiohttp.ClientSession, base_url: str, query: str, count: int
) -> list[SearchResult]:
    url = base_url.rstrip("/") + "/search"
    data = await _json(session, "searxng", url, params={"q": query, "format": "json"})
    items = data.get("results", []) if isinstance(data, dict) else []
    return [_result(i.get("title"), i.get("url"), i.get("content")) for i in items][:count]


async def _brave(
    session: aiohttp.ClientSession, url: str, key: str, query: str, count: int
) -> list[SearchResult]:
    headers = {"X-Subscription-Token": key, hdrs.ACCEPT: "application/json"}
    data = await _json(session, "brave", url, params={"q": query, "count": count}, headers=headers)
    web = data.get("web", {}) if isinstance(data, dict) else {}
    items = web.get("results", []) if isinstance(web, dict) else []
    return [_result(i.get("title"), i.get("url"), i.get("description")) for i in items][:count]


def _duckduckgo_target(href: str) -> str:
    """The result's own URL: DuckDuckGo links through `//duckduckgo.com/l/?uddg=<url>`."""
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    if parts.path.startswith("/l/"):
        target = parse_qs(parts.query).get("uddg")
        if target:
            return target[0]
    return href


def parse_duckduckgo(page: str) -> list[SearchResult]:
    from hermes.tools.web_text import DuckDuckGoPage  # html.parser: only when searching

    parser = DuckDuckGoPage()
    parser.feed(page)
    parser.close()
    results = [_result(t, _duckduckgo_target(h), s) for t, h, s in parser.found]
    # Ads link back into duckduckgo.com (y.js); real results never do.
    return [r for r in results if not (urlsplit(r.url).hostname or "").endswith("duckduckgo.com")]


async def _duckduckgo(
    session: aiohttp.ClientSession, url: str, query: str, count: int
) -> list[SearchResult]:
    status, page = await _fetch(session, "duckduckgo", "POST", url, data={"q": query})
    results = parse_duckduckgo(page)
    if not results and (status == 202 or "anomaly" in page):
        raise ToolError("DuckDuckGo refused the request (rate limit or bot check).")
    return results[:count]


async def _ask(
    backend: str,
    query: str,
    count: int,
    settings: WebSearchToolConfig,
    env: Mapping[str, str],
    endpoints: Endpoints,
) -> list[SearchResult]:
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    async with aiohttp.ClientSession(timeout=timeout, headers={hdrs.USER_AGENT: USER_AGENT}) as s:
        if backend == "searxng":
            return await _searxng(s, settings.searxng_url or "", query, count)
        if backend == "brave":
            return await _brave(s, endpoints.brave, env.get(BRAVE_KEY, ""), query, count)
        return await _duckduckgo(s, endpoints.duckduckgo, query, count)


async def search(
    query: str,
    settings: WebSearchToolConfig,
    env: Mapping[str, str],
    *,
    profile: str,
    max_results: int | None = None,
    endpoints: Endpoints = Endpoints(),
) -> str:
    """The formatted results of `query`. `env` is the profile's environment (for BRAVE_API_KEY)."""
    query = " ".join(query.split())
    if not query:
        raise ToolError("the search query is empty")
    backend = choose_backend(settings, env)
    if backend is None:
        off = "web search is switched off (tools.web_search.backend: none)."
        raise ToolError(f"{off} {how_to_configure(profile)}")
    if backend == "searxng" and not settings.searxng_url:
        raise ToolError(f"tools.web_search.searxng_url is not set. {how_to_configure(profile)}")
    if backend == "brave" and not env.get(BRAVE_KEY):
        raise ToolError(f"{BRAVE_KEY} is not set. {how_to_configure(profile)}")
    count = max(1, min(max_results or settings.max_results, MAX_RESULTS_LIMIT))
    name = _NAMES[backend]
    try:
        results = await _ask(backend, query, count, settings, env, endpoints)
    except TimeoutError:  # aiohttp's own timeouts are TimeoutErrors too
        raise ToolError(f"{name} did not answer within {settings.timeout} s") from None
    except aiohttp.ClientError as exc:
        detail = f"could not reach {name}: {type(exc).__name__}: {exc}"
        raise ToolError(f"{detail}. {how_to_configure(profile)}") from None
    except ToolError as exc:
        if backend != "duckduckgo":
            raise
        raise ToolError(f"{exc.message} {how_to_configure(profile)}") from None
    return format_results(query, results)


def _marker(args: dict[str, Any]) -> str:
    return f"🔍 {args.get('query', '')}"


@tool(marker=_marker)
async def web_search(ctx: ToolContext, query: str, max_results: int | None = None) -> str:
    """Search the web. Returns a numbered list of results, each with its title, URL and a
    snippet; read a result with web_fetch.

    Args:
        query: what to search for, as you would type it into a search engine
        max_results: how many results to return (default set by the profile, at most 20)
    """
    return await search(
        query,
        ctx.settings.web_search,
        ctx.base_env,
        profile=ctx.profile_name,
        max_results=max_results,
    )
