"""The web tools: web_search (find pages) and web_fetch (read one, never an internal address)."""

from __future__ import annotations

from hermes.tools.base import Tool
from hermes.tools.web_fetch import fetch_url, web_fetch
from hermes.tools.web_search import search, web_search

WEB_TOOLS: list[Tool] = [web_search, web_fetch]

__all__ = ["WEB_TOOLS", "fetch_url", "search", "web_fetch", "web_search"]
