"""The web tools against local aiohttp servers only: readable text, caps, timeouts, the SSRF
refusals (IP literals, names, every redirect hop) and the three search backends.

The redirect tests need a "public" server: it listens on 127.0.0.2 and the fetch is given an
address policy that treats exactly that address as public (`fetch_url(..., policy=...)`, the
seam web_fetch offers), so everything else on loopback stays refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from hermes.config.schema import ToolsConfig, WebFetchToolConfig, WebSearchToolConfig
from hermes.tools import ToolContext, ToolError, ToolRegistry
from hermes.tools.web import WEB_TOOLS
from hermes.tools.web_fetch import USER_AGENT, fetch_url
from hermes.tools.web_guard import (
    ALLOW_HINT,
    BlockedAddress,
    GuardedResolver,
    IPAddress,
    public_only,
)
from hermes.tools.web_search import Endpoints, choose_backend, parse_duckduckgo, search
from hermes.tools.web_text import decode, html_to_text

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerFactory = Callable[..., Awaitable[TestServer]]
PUBLIC_HOST = "127.0.0.2"


def make_ctx(
    fetch: WebFetchToolConfig | None = None,
    search_settings: WebSearchToolConfig | None = None,
    env: dict[str, str] | None = None,
) -> ToolContext:
    settings = dataclasses.replace(
        ToolsConfig(),
        web_fetch=fetch or WebFetchToolConfig(),
        web_search=search_settings or WebSearchToolConfig(),
    )
    return ToolContext(Path("/nonexistent"), settings, "alice", frozenset(), env or {})


def open_settings(**kwargs: Any) -> WebFetchToolConfig:
    return WebFetchToolConfig(allow_private=True, **kwargs)


def public_too(ip: IPAddress) -> str | None:
    """The default policy, except that 127.0.0.2 counts as a public address."""
    return None if ip == IPv4Address(PUBLIC_HOST) else public_only(ip)


@pytest.fixture
def serve(aiohttp_server: ServerFactory) -> Callable[..., Awaitable[TestServer]]:
    async def start(routes: dict[str, Handler], host: str = "127.0.0.1") -> TestServer:
        app = web.Application()
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        return await aiohttp_server(app, host=host)

    return start


def text(body: str, content_type: str = "text/plain") -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type=content_type)

    return handler


def redirect(location: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


PAGE = """<!doctype html><html><head><title> The  Test Page </title>
<style>body { color: red }</style><script>var secret = "SCRIPT-TEXT";</script></head>
<body><header><a href="/">SITE-HEADER</a></header><nav><ul><li>NAV-LINK</li></ul></nav>
<main><h1>Big heading</h1><p>First   paragraph with <b>bold</b> text.</p>
<ul><li>one</li><li>two</li></ul><div hidden>HIDDEN-TEXT</div>
<pre>  indented
    code</pre></main>
<aside>SIDEBAR</aside><footer>FOOTER-TEXT</footer><noscript>NOSCRIPT</noscript></body></html>"""


# --- web_fetch: content -----------------------------------------------------------------------


async def test_html_page_becomes_readable_text(serve: Any) -> None:
    seen: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        seen["ua"] = request.headers.get("User-Agent", "")
        return web.Response(text=PAGE, content_type="text/html")

    server = await serve({"/": page})
    out = await fetch_url(str(server.make_url("/")), open_settings())
    assert "Title: The Test Page" in out
    assert "# Big heading" in out
    assert "First paragraph with bold text." in out
    assert "- one\n- two" in out
    assert "  indented\n    code" in out
    for junk in ("SCRIPT-TEXT", "color: red", "NAV-LINK", "SITE-HEADER", "HIDDEN-TEXT", "SIDEBAR"):
        assert junk not in out
    assert "FOOTER-TEXT" not in out and "NOSCRIPT" not in out
    assert seen["ua"] == USER_AGENT


async def test_plain_text_and_json_are_returned_as_is(serve: Any) -> None:
    doc = '{"a": [1, 2], "b": "<x>"}'
    server = await serve({"/t": text("line 1\n  line 2\n"), "/j": text(doc, "application/json")})
    out = await fetch_url(str(server.make_url("/t")), open_settings())
    assert out.endswith("\n\nline 1\n  line 2")
    assert (await fetch_url(str(server.make_url("/j")), open_settings())).endswith(doc)


async def test_other_content_is_reported_by_type_and_size(serve: Any) -> None:
    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF" + b"\x00" * 1230, content_type="application/pdf")

    server = await serve({"/doc.pdf": pdf})
    out = await fetch_url(str(server.make_url("/doc.pdf")), open_settings())
    assert "Content-Type: application/pdf" in out
    assert "Size: 1234 bytes" in out
    assert "%PDF" not in out


async def test_download_stops_at_max_bytes_and_says_so(serve: Any) -> None:
    sent: list[int] = []

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"x" * 1000)
            sent.append(1000)
        return resp

    server = await serve({"/big": big})
    out = await fetch_url(str(server.make_url("/big")), open_settings(max_bytes=5000))
    assert "larger than 5000 bytes: only the first 5000 read" in out
    assert out.count("x") == 5000


async def test_text_is_cut_at_max_chars_with_a_note(serve: Any) -> None:
    server = await serve({"/": text("y" * 500)})
    out = await fetch_url(str(server.make_url("/")), open_settings(max_chars=100))
    assert out.count("y") == 100
    assert "[text cut at 100 of 500 characters]" in out


async def test_a_slow_server_times_out(serve: Any) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    server = await serve({"/": stall})
    try:
        with pytest.raises(ToolError, match="timed out after 1 s"):
            await fetch_url(str(server.make_url("/")), open_settings(timeout=1))
    finally:
        release.set()


async def test_http_error_status_is_a_tool_error(serve: Any) -> None:
    server = await serve({"/": text("x")})
    with pytest.raises(ToolError, match="HTTP 404 Not Found"):
        await fetch_url(str(server.make_url("/missing")), open_settings())


# --- web_fetch: SSRF ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback address"),
        ("http://localhost:9/x", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("http://10.1.2.3/", "private address"),
        ("https://192.168.0.1/", "private address"),
        ("http://[::1]:8080/", "loopback address"),
        ("http://[fe80::1]/", "link-local address"),
        ("http://100.64.0.1/", "carrier-grade NAT address"),
        ("http://0.0.0.0/", "unspecified address"),
        ("http://2130706433/", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ],
)
async def test_private_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ToolError) as info:
        await fetch_url(url, WebFetchToolConfig())
    assert f": {reason}; {ALLOW_HINT}" in info.value.message
    assert info.value.message.startswith("refusing to fetch ")


async def test_refusal_reaches_the_model_as_a_clear_error() -> None:
    registry = ToolRegistry(WEB_TOOLS)
    result = await registry.call("web_fetch", json.dumps({"url": "http://127.0.0.1/"}), make_ctx())
    assert not result.ok
    assert result.output == (
        "error: refusing to fetch http://127.0.0.1/: loopback address; "
        "set tools.web_fetch.allow_private: true to allow"
    )


async def test_allow_private_lets_loopback_through(serve: Any) -> None:
    server = await serve({"/": text("hello from loopback")})
    url = str(server.make_url("/"))
    with pytest.raises(ToolError, match="loopback"):
        await fetch_url(url, WebFetchToolConfig())
    ctx = make_ctx(fetch=open_settings())
    result = await ToolRegistry(WEB_TOOLS).call("web_fetch", json.dumps({"url": url}), ctx)
    assert result.ok and result.output.endswith("hello from loopback")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "example.org/page"])
async def test_other_schemes_are_refused(url: str) -> None:
    for settings in (WebFetchToolConfig(), open_settings()):
        with pytest.raises(ToolError, match=r"only http:// and https:// URLs can be fetched"):
            await fetch_url(url, settings)


async def test_every_redirect_hop_is_checked(serve: Any) -> None:
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="internal secret")

    private = await serve({"/secret": secret})
    target = str(private.make_url("/secret"))
    public = await serve({"/go": redirect(target), "/ok": text("public page")}, host=PUBLIC_HOST)
    start = str(public.make_url("/go"))

    # The seam works: the "public" server is reachable under the strict settings.
    out = await fetch_url(str(public.make_url("/ok")), WebFetchToolConfig(), policy=public_too)
    assert out.endswith("public page")

    with pytest.raises(ToolError) as info:
        await fetch_url(start, WebFetchToolConfig(), policy=public_too)
    assert info.value.message == (
        f"refusing to fetch {target} (redirected from {start}): loopback address; {ALLOW_HINT}"
    )
    assert hits == []


async def test_redirects_are_followed_up_to_five(serve: Any) -> None:
    routes = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(7)}
    server = await serve({**routes, "/r5": text("arrived"), "/loop": redirect("/loop")})
    out = await fetch_url(str(server.make_url("/r0")), open_settings())
    assert out.startswith(f"URL: {server.make_url('/r5')}\nRedirected from: ")
    assert out.endswith("arrived")
    with pytest.raises(ToolError, match="too many redirects"):
        await fetch_url(str(server.make_url("/loop")), open_settings())


async def test_a_redirect_to_another_scheme_is_refused(serve: Any) -> None:
    server = await serve({"/": redirect("file:///etc/passwd")})
    with pytest.raises(ToolError, match="refusing to fetch a redirect to file:///etc/passwd"):
        await fetch_url(str(server.make_url("/")), open_settings())


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=0, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_a_name_is_refused_if_any_address_is_private() -> None:
    mixed = GuardedResolver(public_only, FixedResolver("93.184.215.14", "10.0.0.5"))
    with pytest.raises(BlockedAddress, match=r"evil\.test resolves to 10\.0\.0\.5"):
        await mixed.resolve("evil.test", 80)
    fine = GuardedResolver(public_only, FixedResolver("93.184.215.14", "2606:2800::1"))
    assert [r["host"] for r in await fine.resolve("ok.test", 443)] == [
        "93.184.215.14",
        "2606:2800::1",
    ]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("::ffff:127.0.0.1", "loopback address"),
        ("::ffff:169.254.169.254", "cloud metadata address"),
        ("2002:0a00:0001::1", "private address"),  # 6to4 for 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata address"),  # NAT64 for 169.254.169.254
        ("fd12::1", "private address"),
        ("224.0.0.1", "multicast address"),
        ("ff02::1", "multicast address"),
        ("240.0.0.1", "reserved address"),
        ("::", "unspecified address"),
        ("172.16.5.4", "private address"),
    ],
)
def test_public_only_policy(address: str, reason: str | None) -> None:
    assert public_only(ip_address(address)) == reason


# --- HTML text -------------------------------------------------------------------------------


def test_main_content_is_preferred_when_substantial() -> None:
    body = "<p>" + "Article text. " * 50 + "</p>"
    html = f"<body><div>BOILERPLATE</div><article>{body}</article></body>"
    title, out = html_to_text(html)
    assert title == "" and "BOILERPLATE" not in out and out.startswith("Article text.")
    _, teaser = html_to_text("<body><p>" + "Long body. " * 100 + "</p><article>x</article>")
    assert teaser.startswith("Long body.")


def test_charset_from_header_meta_or_utf8() -> None:
    latin = "<meta charset='iso-8859-1'><p>caf\xe9</p>".encode("latin-1")
    assert "café" in decode(latin, None, html=True)
    assert decode("naïve".encode(), None, html=False) == "naïve"
    assert decode("naïve".encode("cp1252"), "cp1252", html=False) == "naïve"
    assert decode(b"ok", "no-such-charset", html=False) == "ok"


# --- web_search ------------------------------------------------------------------------------


async def test_searxng_backend(serve: Any) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.query)
        results = [
            {"title": f"Result {i}", "url": f"https://e.org/{i}", "content": f"About  {i}"}
            for i in range(1, 5)
        ]
        return web.json_response({"query": request.query["q"], "results": results})

    server = await serve({"/search": handler})
    settings = WebSearchToolConfig(searxng_url=str(server.make_url("/")))
    ctx = make_ctx(search_settings=settings)
    args = json.dumps({"query": "hermes  agents", "max_results": 2})
    result = await ToolRegistry(WEB_TOOLS).call("web_search", args, ctx)
    assert seen == {"q": "hermes agents", "format": "json"}
    assert result.ok
    assert result.output == (
        "1. Result 1\n   https://e.org/1\n   About 1\n2. Result 2\n   https://e.org/2\n   About 2"
    )


async def test_searxng_http_error_reports_the_status(serve: Any) -> None:
    async def forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text="nope")

    server = await serve({"/search": forbidden})
    settings = WebSearchToolConfig(searxng_url=str(server.make_url("")))
    with pytest.raises(ToolError, match="SearxNG search failed: HTTP 403 Forbidden"):
        await search("q", settings, {}, profile="alice")


async def test_brave_backend_sends_the_key(serve: Any) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("X-Subscription-Token") != "brave-key":
            return web.Response(status=401, text="bad token")
        seen.update(request.query)
        item = {
            "title": "Hermes &amp; co",
            "url": "https://h.org",
            "description": "<strong>fast</strong> gateway",
        }
        return web.json_response({"web": {"results": [item]}})

    server = await serve({"/res/v1/web/search": handler})
    endpoints = Endpoints(brave=str(server.make_url("/res/v1/web/search")))
    env = {"BRAVE_API_KEY": "brave-key"}
    out = await search("hermes", WebSearchToolConfig(), env, profile="alice", endpoints=endpoints)
    assert out == "1. Hermes & co\n   https://h.org\n   fast gateway"
    assert seen == {"q": "hermes", "count": "5"}
    wrong = {"BRAVE_API_KEY": "wrong"}
    with pytest.raises(ToolError, match=r"HTTP 401 Unauthorized \(check BRAVE_API_KEY\)"):
        await search("x", WebSearchToolConfig(), wrong, profile="alice", endpoints=endpoints)


DDG_PAGE = """<html><body>
<div class="result results_links result--ad"><a class="result__a"
  href="https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x">Sponsored</a>
  <a class="result__snippet" href="#">Buy now</a></div>
<div class="result results_links"><h2 class="result__title"><a rel="nofollow" class="result__a"
  href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fdocs.python.org%2F3%2Fa%3Fb%3D1&amp;rut=abc">The
  <b>Python</b> docs</a></h2>
  <a class="result__snippet" href="//duckduckgo.com/l/?uddg=x">Official <b>documentation</b>.</a>
</div>
<div class="result"><a class="result__a" href="https://plain.example/">Plain link</a>
  <div class="result__snippet">Snippet <span>two</span></div></div>
</body></html>"""


async def test_duckduckgo_backend_parses_results(serve: Any) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(await request.post())  # type: ignore[arg-type]
        return web.Response(text=DDG_PAGE, content_type="text/html")

    server = await serve({"/html/": handler})
    endpoints = Endpoints(duckduckgo=str(server.make_url("/html/")))
    out = await search("python", WebSearchToolConfig(), {}, profile="alice", endpoints=endpoints)
    assert seen == {"q": "python"}
    assert out == (
        "1. The Python docs\n   https://docs.python.org/3/a?b=1\n   Official documentation.\n"
        "2. Plain link\n   https://plain.example/\n   Snippet two"
    )


def test_duckduckgo_page_without_results() -> None:
    assert (
        parse_duckduckgo("<html><body><div class='no-results'>No results.</div></body></html>")
        == []
    )


async def test_no_backend_configured_says_how_to_configure_one() -> None:
    off = make_ctx(search_settings=WebSearchToolConfig(backend="none"))
    result = await ToolRegistry(WEB_TOOLS).call("web_search", '{"query": "x"}', off)
    assert not result.ok
    assert "web search is switched off" in result.output
    assert "hermes -p alice config set tools.web_search.searxng_url https://" in result.output
    assert "BRAVE_API_KEY" in result.output
    for backend in ("searxng", "brave"):
        settings = WebSearchToolConfig(backend=backend)
        with pytest.raises(ToolError, match="hermes -p alice config set"):
            await search("x", settings, {}, profile="alice")


async def test_unreachable_duckduckgo_says_how_to_configure_a_backend() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoints = Endpoints(duckduckgo=f"http://127.0.0.1:{port}/html/")
    with pytest.raises(ToolError) as info:
        await search("x", WebSearchToolConfig(), {}, profile="bob", endpoints=endpoints)
    assert info.value.message.startswith("could not reach DuckDuckGo")
    assert "hermes -p bob config set tools.web_search.searxng_url" in info.value.message


def test_auto_backend_choice() -> None:
    auto = WebSearchToolConfig()
    assert choose_backend(auto, {}) == "duckduckgo"
    assert choose_backend(auto, {"BRAVE_API_KEY": "k"}) == "brave"
    with_searx = WebSearchToolConfig(searxng_url="http://10.0.0.2:8888")
    assert choose_backend(with_searx, {"BRAVE_API_KEY": "k"}) == "searxng"
    assert choose_backend(WebSearchToolConfig(backend="none"), {"BRAVE_API_KEY": "k"}) is None


def test_markers() -> None:
    tools = {t.name: t for t in WEB_TOOLS}
    url = "https://docs.python.org/3/library/"
    assert tools["web_fetch"].marker({"url": url}) == "🌐 docs.python.org"
    assert tools["web_search"].marker({"query": "aiohttp resolver"}) == "🔍 aiohttp resolver"
