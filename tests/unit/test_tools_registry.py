"""Tool schemas from signatures and docstrings, argument checks, and the registry's promise that a
call never raises: every failure becomes an error result the model can read."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Literal

import pytest

from hermes.config.schema import ToolsConfig
from hermes.errors import ConfigError
from hermes.tools import (
    Tool,
    ToolArgumentError,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolResult,
    child_env,
    default_tools,
    tool,
)


@tool(marker=lambda args: f"🔎 {args['query']}")
async def search(
    ctx: ToolContext,
    query: str,
    limit: int = 5,
    mode: Literal["fast", "deep"] = "fast",
    tags: list[str] | None = None,
    ratio: float | None = None,
    verbose: bool = False,
) -> str:
    """Search the notes
    of the profile.

    More detail that is not part of the description.

    Args:
        query: what to look for
        limit: how many results
            to return at most
        mode (str): how hard to look
        tags: only notes with all of these tags
        ratio: a weight

    Returns:
        JSON.
    """
    return json.dumps(
        {"query": query, "limit": limit, "mode": mode, "tags": tags, "ratio": ratio, "v": verbose}
    )


@tool
async def boom(ctx: ToolContext, kind: str) -> str:
    """Fail on purpose."""
    if kind == "tool":
        raise ToolError("the disk is full")
    if kind == "cancel":
        raise asyncio.CancelledError
    raise RuntimeError("kaput")


@tool(name="flag")
async def flagged(ctx: ToolContext) -> ToolResult:
    """Report a failure through the result."""
    return ToolResult("not found", ok=False)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(tmp_path, ToolsConfig(), "alice", frozenset(), {"PATH": "/usr/bin:/bin"})


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([search, boom, flagged])


def test_schema_comes_from_signature_and_docstring() -> None:
    assert search.schema() == {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the notes of the profile.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to look for"},
                    "limit": {
                        "type": "integer",
                        "description": "how many results to return at most",
                    },
                    "mode": {
                        "type": "string",
                        "enum": ["fast", "deep"],
                        "description": "how hard to look",
                    },
                    "tags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "only notes with all of these tags",
                    },
                    "ratio": {"type": "number", "description": "a weight"},
                    "verbose": {"type": "boolean"},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    }
    assert flagged.name == "flag" and flagged.parameters["properties"] == {}


def test_decorator_rejects_what_it_cannot_describe() -> None:
    def sync(ctx: ToolContext, x: str) -> str:
        return x

    async def star(ctx: ToolContext, *names: str) -> str:
        return ""

    async def odd(ctx: ToolContext, x: dict[str, int]) -> str:
        return ""

    async def bare(ctx, x) -> str:  # type: ignore[no-untyped-def]
        return ""

    fns: list[Any] = [sync, star, odd, bare]
    for fn in fns:
        with pytest.raises(TypeError):
            tool(fn)


def test_validate_converts_and_defaults() -> None:
    assert search.validate({"query": "q", "ratio": 1, "limit": 3.0, "tags": None}) == {
        "query": "q",
        "ratio": 1.0,
        "limit": 3,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "missing required argument 'query'"),
        ({"query": None}, "missing required argument 'query'"),
        ({"query": "q", "colour": "red"}, "unknown argument 'colour'"),
        ({"query": 3}, "argument 'query' must be a string, got integer"),
        ({"query": "q", "limit": True}, "argument 'limit' must be an integer, got boolean"),
        ({"query": "q", "limit": 2.5}, "argument 'limit' must be an integer, got number"),
        ({"query": "q", "ratio": "1"}, "argument 'ratio' must be a number, got string"),
        ({"query": "q", "verbose": 1}, "argument 'verbose' must be a boolean, got integer"),
        ({"query": "q", "mode": "slow"}, "argument 'mode' must be one of 'fast', 'deep'"),
        ({"query": "q", "tags": "a"}, "argument 'tags' must be an array, got string"),
        ({"query": "q", "tags": ["a", 1]}, "argument 'tags[1]' must be a string, got integer"),
    ],
)
def test_validate_errors(args: dict[str, object], message: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        search.validate(args)
    assert message in info.value.message


async def test_call_runs_the_tool(registry: ToolRegistry, ctx: ToolContext) -> None:
    result = await registry.call("search", '{"query": "cats", "tags": ["x"]}', ctx)
    assert result.ok
    assert json.loads(result.output) == {
        "query": "cats",
        "limit": 5,
        "mode": "fast",
        "tags": ["x"],
        "ratio": None,
        "v": False,
    }
    assert await registry.call("flag", "", ctx) == ToolResult("not found", ok=False)


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("nope", "{}", "error: no tool named 'nope' is available (available tools: search,"),
        ("search", "{query", "error: invalid arguments for search: not valid JSON"),
        ("search", "[" * 5000, "error: invalid arguments for search: not valid JSON"),
        ("search", "[1]", "error: invalid arguments for search: must be a JSON object, got array"),
        ("search", '{"limit": "x"}', "missing required argument 'query'; argument 'limit' must"),
        ("boom", '{"kind": "tool"}', "error: the disk is full"),
        ("boom", '{"kind": "other"}', "error: boom failed: RuntimeError: kaput"),
    ],
)
async def test_failures_become_error_results(
    registry: ToolRegistry, ctx: ToolContext, name: str, arguments: str, expected: str
) -> None:
    result = await registry.call(name, arguments, ctx)
    assert not result.ok
    assert result.output.startswith("error: ")
    assert expected in result.output


async def test_cancellation_propagates(registry: ToolRegistry, ctx: ToolContext) -> None:
    with pytest.raises(asyncio.CancelledError):
        await registry.call("boom", '{"kind": "cancel"}', ctx)


def test_disabled_tool_is_neither_offered_nor_marked(ctx: ToolContext) -> None:
    registry = ToolRegistry([search, boom], enabled=["search"])
    assert registry.names() == ["search"]
    assert [s["function"]["name"] for s in registry.schemas()] == ["search"]
    assert registry.marker("boom", '{"kind": "x"}') == "boom"


async def test_disabled_tool_cannot_run(ctx: ToolContext) -> None:
    registry = ToolRegistry([search, boom], enabled=["search"])
    result = await registry.call("boom", '{"kind": "other"}', ctx)
    assert not result.ok and "available tools: search)" in result.output


def test_unknown_enabled_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        ToolRegistry([search, boom], enabled=["search", "serch"])
    assert "'serch'" in info.value.message and "valid tools: search, boom" in info.value.message
    with pytest.raises(ValueError):
        ToolRegistry([search, search])


def test_markers_never_raise(registry: ToolRegistry) -> None:
    assert registry.marker("search", '{"query": "cats"}') == "🔎 cats"
    long = registry.marker("search", json.dumps({"query": "x" * 200}))
    assert len(long) == 60 and long.endswith("…")
    assert registry.marker("search", '{"query": "a\\nb"}') == "🔎 a…"
    assert registry.marker("search", "{}") == "search"  # the marker's KeyError
    assert registry.marker("search", "not json") == "search"
    assert registry.marker("missing", "{}") == "missing"
    assert registry.marker("boom", "{}") == "boom"


async def test_calls_are_logged_without_arguments_or_output(
    registry: ToolRegistry, ctx: ToolContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hermes.tools")
    await registry.call("search", '{"query": "s3cr3t-query"}', ctx)
    await registry.call("boom", '{"kind": "s3cr3t-kind"}', ctx)
    text = caplog.text
    assert "'search' ok in" in text and "'boom' error in" in text and "RuntimeError" in text
    assert "s3cr3t" not in text and "kaput" not in text


def test_default_tools_include_terminal() -> None:
    assert "terminal" in ToolRegistry(default_tools()).names()


def test_child_env_keeps_only_safe_names(tmp_path: Path) -> None:
    base = {
        "PATH": "/bin",
        "HOME": "/home/a",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "LC_PRIVATE": "hidden",
        "TERM": "xterm",
        "OPENAI_API_KEY": "sk-1",
        "API_SERVER_KEY": "k",
        "GITHUB_TOKEN": "t",
        "PYTHONPATH": "/x",
        "PWD": "/elsewhere",
    }
    ctx = ToolContext(tmp_path, ToolsConfig(), "bob", frozenset({"LC_PRIVATE"}), base)
    assert child_env(ctx) == {
        "PATH": "/bin",
        "HOME": "/home/a",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TERM": "xterm",
        "HERMES_PROFILE": "bob",
        "PWD": str(tmp_path),
    }


async def test_tool_is_still_callable_directly(ctx: ToolContext) -> None:
    out = await search(ctx, "q")
    assert isinstance(out, str) and json.loads(out)["query"] == "q"
    assert isinstance(search, Tool)
