"""The web_fetch tool: one web page as readable text, never an internal address.

The URL comes from the model, so it is untrusted: unless `tools.web_fetch.allow_private` is set,
every hop (the URL and each redirect, followed here one by one) must reach a public address, checked
after DNS resolution by web_guard. `fetch_url` takes the address policy as an argument; that is
the seam for tests and the only one (no flag changes behaviour under tests).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import hdrs
from yarl import URL

from hermes import __version__
from hermes.config.schema import WebFetchToolConfig
from hermes.tools.base import ToolContext, tool
from hermes.tools.errors import ToolError
from hermes.tools.web_guard import (
    ALLOW_HINT,
    AddressPolicy,
    BlockedAddress,
    GuardedResolver,
    check_host,
    public_only,
)

MAX_REDIRECTS = 5
USER_AGENT = f"Mozilla/5.0 (compatible; hermes/{__version__}; AI agent web_fetch tool)"
HEADERS = {
    hdrs.USER_AGENT: USER_AGENT,
    hdrs.ACCEPT: "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.8",
    hdrs.ACCEPT_LANGUAGE: "en;q=0.9, *;q=0.5",
}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXT = frozenset(
    {
        "application/json", "application/xml", "application/javascript", "application/x-yaml",
        "application/yaml", "application/toml", "application/x-ndjson", "image/svg+xml",
    }
)  # fmt: skip
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Page:
    url: URL
    content_type: str  # "" when the server sent none
    charset: str | None
    body: bytes
    truncated: bool  # the body is larger than `body`
    declared_size: int | None  # Content-Length


def _is_text(content_type: str) -> bool:
    return (
        content_type.startswith("text/")
        or content_type in _TEXT
        or content_type.endswith(("+json", "+xml"))
    )


def _sniff(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if b"\x00" in body[:4096]:
        return "application/octet-stream"
    return "text/plain"


def _refusal(url: URL, reason: str, via: URL | None) -> ToolError:
    redirected = f" (redirected from {via})" if via is not None else ""
    return ToolError(f"refusing to fetch {url}{redirected}: {reason}; {ALLOW_HINT}")


def _check_url(url: URL, policy: AddressPolicy | None, via: URL | None) -> None:
    if url.scheme not in ("http", "https"):
        where = f"a redirect to {url}" if via is not None else str(url)
        raise ToolError(f"refusing to fetch {where}: only http:// and https:// URLs can be fetched")
    if not url.host:
        raise ToolError(f"not a valid URL: {url}")
    if policy is not None:
        try:
            check_host(url.host, policy)
        except BlockedAddress as exc:
            raise _refusal(url, exc.detail, via) from None


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    """At most `max_bytes` of the (decompressed) body, and whether there was more."""
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        buf += chunk
        if len(buf) > max_bytes:
            return bytes(buf[:max_bytes]), True
    return bytes(buf), False


async def _read(resp: aiohttp.ClientResponse, max_bytes: int) -> _Page:
    content_type = resp.content_type if hdrs.CONTENT_TYPE in resp.headers else ""
    declared = resp.content_length
    if content_type and not _is_text(content_type) and declared is not None:
        body, truncated = b"", False  # reported by type and size: no need to download it
    else:
        body, truncated = await _read_capped(resp, max_bytes)
    return _Page(resp.url, content_type, resp.charset, body, truncated, declared)


def _redirect_target(current: URL, location: str) -> URL:
    try:
        return current.join(URL(location))
    except ValueError as exc:
        raise ToolError(f"{current} redirects to an invalid URL {location!r} ({exc})") from None


async def _follow(
    session: aiohttp.ClientSession, url: URL, max_bytes: int, policy: AddressPolicy | None
) -> _Page:
    current, via = url, None
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(current, policy, via)
        try:
            async with session.get(current, allow_redirects=False) as resp:
                location = resp.headers.get(hdrs.LOCATION)
                if resp.status in _REDIRECTS and location:
                    current, via = _redirect_target(current, location), current
                    continue
                if resp.status >= 400:
                    status = f"{resp.status} {resp.reason}" if resp.reason else str(resp.status)
                    raise ToolError(f"HTTP {status} from {current}")
                return await _read(resp, max_bytes)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                raise _refusal(current, exc.os_error.detail, via) from None
            reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
            raise ToolError(f"could not connect to {current.host}: {reason}") from None
        except aiohttp.ClientError as exc:
            raise ToolError(f"fetching {current} failed: {type(exc).__name__}: {exc}") from None
    raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}) fetching {url}")


async def _download(url: URL, max_bytes: int, policy: AddressPolicy | None) -> _Page:
    resolver = GuardedResolver(policy) if policy is not None else None
    # trust_env stays False: a proxy from the environment would resolve and connect for us,
    # past the address checks.
    connector = aiohttp.TCPConnector(resolver=resolver, limit=4)
    try:
        async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
            return await _follow(session, url, max_bytes, policy)
    finally:
        if resolver is not None:
            await resolver.close()


def _render(requested: URL, page: _Page, max_bytes: int, max_chars: int) -> str:
    content_type = page.content_type or _sniff(page.body)
    head = [f"URL: {page.url}"]
    if page.url != requested:
        head.append(f"Redirected from: {requested}")
    if not _is_text(content_type):
        size = page.declared_size if page.declared_size is not None else len(page.body)
        more = "more than " if page.truncated else ""
        head += [f"Content-Type: {content_type}", f"Size: {more}{size} bytes"]
        return "\n".join([*head, "[not a text document: its content is not shown]"])
    from hermes.tools.web_text import decode, html_to_text  # html.parser: only when fetching

    is_html = content_type in _HTML
    text = decode(page.body, page.charset, html=is_html)
    if is_html:
        title, text = html_to_text(text)
        if title:
            head.append(f"Title: {title}")
    if page.truncated:
        head.append(f"[the page is larger than {max_bytes} bytes: only the first {max_bytes} read]")
    text = text.strip("\r\n") if text.strip() else "(no readable text)"
    if len(text) > max_chars:
        text = f"{text[:max_chars]}\n\n[text cut at {max_chars} of {len(text)} characters]"
    return "\n".join(head) + "\n\n" + text


async def fetch_url(
    url: str, settings: WebFetchToolConfig, *, policy: AddressPolicy = public_only
) -> str:
    """The page at `url` as text for the model. `policy` decides which addresses are refused
    (ignored when `settings.allow_private` is true)."""
    try:
        start = URL(url.strip())
    except ValueError as exc:
        raise ToolError(f"not a valid URL: {url!r} ({exc})") from None
    guard = None if settings.allow_private else policy
    try:
        async with asyncio.timeout(settings.timeout):
            page = await _download(start, settings.max_bytes, guard)
    except TimeoutError:
        raise ToolError(f"timed out after {settings.timeout} s fetching {start}") from None
    return _render(start, page, settings.max_bytes, settings.max_chars)


def _marker(args: dict[str, Any]) -> str:
    url = str(args.get("url", ""))
    return f"🌐 {urlsplit(url).hostname or url}"


@tool(marker=_marker)
async def web_fetch(ctx: ToolContext, url: str) -> str:
    """Fetch a public http(s) web page and return its readable text: the title and main text of
    an HTML page, plain text and JSON as they are, other content (PDF, images, ...) by type and
    size only. Long pages are cut.

    Args:
        url: the full address to fetch, e.g. `https://example.org/page`
    """
    return await fetch_url(url, ctx.settings.web_fetch)
