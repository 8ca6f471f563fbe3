"""Tools: plain async functions whose schema comes from their signature and docstring, the context
they run in, and the registry that offers the enabled ones to the model and runs its calls."""

from __future__ import annotations

import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from hermes.config.schema import ToolsConfig
from hermes.errors import ConfigError, HermesError
from hermes.tools.errors import ToolArgumentError, ToolError
from hermes.tools.schema import describe, json_type, parameters_schema, validate_args
from hermes.wire.fastjson import loads_exact

__all__ = [
    "Tool",
    "ToolArgumentError",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "child_env",
    "shorten",
    "tool",
]

log = logging.getLogger("hermes.tools")

MARKER_WIDTH = 60
_ENV_PASS = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", "TERM", "USER", "LOGNAME", "SHELL"})
_ENV_SECRET_RE = re.compile(r"^API_SERVER_|_API_KEY$|_TOKEN$|_SECRET$", re.IGNORECASE)


@dataclass(frozen=True)
class ToolContext:
    """What every tool call may use: the profile's workspace, tool settings and environment."""

    workspace: Path
    settings: ToolsConfig
    profile_name: str
    secret_names: frozenset[str]  # .env names that must never reach a subprocess
    base_env: Mapping[str, str]  # the environment child environments are derived from
    memory_dir: Path | None = None  # the profile's memory/ (MEMORY.md, USER.md)
    skills_dir: Path | None = None  # the profile's skills/ (<name>/SKILL.md)
    hide: tuple[Path, ...] = ()  # what a sandbox covers up (HERMES_HOME); () = the profile dir


@dataclass(frozen=True)
class ToolResult:
    """What the model gets back. `ok` is False when the call itself failed."""

    output: str
    ok: bool = True


ToolFunction = Callable[..., Awaitable[str | ToolResult]]
MarkerFunction = Callable[[dict[str, Any]], str]


def shorten(text: str, width: int = MARKER_WIDTH) -> str:
    """The first line of `text`, cut to `width` characters with an ellipsis."""
    lines = text.strip().splitlines() or [""]
    line = lines[0].rstrip()
    if len(line) > width or len(lines) > 1:
        line = line[: width - 1].rstrip() + "…"
    return line


class Tool:
    """A tool: its model-facing name, description and parameters, its marker and its function."""

    def __init__(
        self, fn: ToolFunction, *, name: str | None = None, marker: MarkerFunction | None = None
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn.__name__} must be an async function")
        self.fn = fn
        self.name = name or fn.__name__
        self.description, self._params = describe(fn)
        self.parameters = parameters_schema(self._params)
        self._marker = marker

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    async def __call__(self, ctx: ToolContext, /, *args: Any, **kwargs: Any) -> str | ToolResult:
        return await self.fn(ctx, *args, **kwargs)

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the function, or ToolArgumentError saying what is wrong."""
        return validate_args(self._params, args)

    def marker(self, args: dict[str, Any]) -> str:
        """A short progress marker such as `💻 ls -la`."""
        return shorten(self._marker(args) if self._marker else self.name)

    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@overload
def tool(fn: ToolFunction, /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, marker: MarkerFunction | None = None
) -> Callable[[ToolFunction], Tool]: ...


def tool(
    fn: ToolFunction | None = None,
    /,
    *,
    name: str | None = None,
    marker: MarkerFunction | None = None,
) -> Tool | Callable[[ToolFunction], Tool]:
    """Make a Tool of `async def name(ctx: ToolContext, arg: type, ...) -> str`."""
    if fn is not None:
        return Tool(fn, name=name, marker=marker)
    return lambda f: Tool(f, name=name, marker=marker)


def child_env(ctx: ToolContext) -> dict[str, str]:
    """The environment of a tool's subprocess: an allow-list of the base environment, never a
    secret, plus HERMES_PROFILE and PWD."""
    env = {
        key: value
        for key, value in ctx.base_env.items()
        if (key in _ENV_PASS or key.startswith("LC_"))
        and key not in ctx.secret_names
        and not _ENV_SECRET_RE.search(key)
    }
    env["HERMES_PROFILE"] = ctx.profile_name
    env["PWD"] = str(ctx.workspace)
    return env


class ToolRegistry:
    """The tools a profile offers (`tools.enabled`, None = all) and the one safe way to run them:
    `call` turns every failure into an error result the model can read and act on."""

    def __init__(self, tools: Iterable[Tool], enabled: Sequence[str] | None = None) -> None:
        self._all: dict[str, Tool] = {}
        for t in tools:
            if t.name in self._all:
                raise ValueError(f"two tools are named {t.name!r}")
            self._all[t.name] = t
        if enabled is not None:
            unknown = [n for n in enabled if n not in self._all]
            if unknown:
                raise ConfigError(
                    f"tools.enabled: unknown tool(s) {', '.join(map(repr, unknown))}; "
                    f"valid tools: {', '.join(self._all) or 'none'}",
                    param="tools.enabled",
                )
        chosen = self._all.keys() if enabled is None else set(enabled)
        self._enabled = {n: t for n, t in self._all.items() if n in chosen}
        # Built once: every model call sends them, and they never change.
        self._schemas = tuple(t.schema() for t in self._enabled.values())

    def names(self) -> list[str]:
        return list(self._enabled)

    def schemas(self) -> list[dict[str, Any]]:
        """The enabled tools' schemas (shared: callers copy before changing one)."""
        return list(self._schemas)

    def marker(self, name: str, arguments_json: str) -> str:
        """The tool's progress marker; the tool's name if anything about the call is off."""
        fallback = shorten(name)
        found = self._enabled.get(name)
        if found is None:
            return fallback
        try:
            args = json.loads(arguments_json or "{}")
            return found.marker(args) if isinstance(args, dict) else fallback
        except Exception:
            return fallback

    async def call(self, name: str, arguments_json: str, ctx: ToolContext) -> ToolResult:
        """Run one call. Never raises, except asyncio.CancelledError."""
        start = time.perf_counter()
        try:
            result = await self._call(name, arguments_json, ctx)
        except BaseException as exc:
            log.info("tool %r %s after %.0f ms", name[:64], type(exc).__name__, _ms(start))
            raise
        status = "ok" if result.ok else "error"
        log.info("tool %r %s in %.0f ms", name[:64], status, _ms(start))
        return result

    async def _call(self, name: str, arguments_json: str, ctx: ToolContext) -> ToolResult:
        found = self._enabled.get(name)
        if found is None:
            available = ", ".join(self._enabled) or "none"
            return _error(f"no tool named {name!r} is available (available tools: {available})")
        try:
            args = found.validate(_parse_arguments(arguments_json))
        except ToolArgumentError as exc:
            return _error(f"invalid arguments for {name}: {exc.message}")
        try:
            output = await found.fn(ctx, **args)
        except HermesError as exc:
            return _error(exc.message)
        except Exception as exc:
            log.warning("tool %r raised %s", name, type(exc).__name__)
            return _error(f"{name} failed: {type(exc).__name__}: {exc}")
        return output if isinstance(output, ToolResult) else ToolResult(str(output))


def _parse_arguments(arguments_json: str) -> dict[str, Any]:
    if not (arguments_json or "").strip():
        return {}
    try:
        args = loads_exact(arguments_json)  # nesting a model sends cannot overflow the stack
    except ValueError as exc:
        raise ToolArgumentError(f"not valid JSON ({exc}); send a JSON object") from exc
    if not isinstance(args, dict):
        raise ToolArgumentError(f"must be a JSON object, got {json_type(args)}")
    return args


def _error(message: str) -> ToolResult:
    return ToolResult(f"error: {message}", ok=False)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
