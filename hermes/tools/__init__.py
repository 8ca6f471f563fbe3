"""The agent's tools: one family per module, all offered and run through a ToolRegistry."""

from __future__ import annotations

from hermes.tools.base import (
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    child_env,
    tool,
)
from hermes.tools.errors import ToolArgumentError, ToolError
from hermes.tools.terminal import terminal


def default_tools() -> list[Tool]:
    """Every built-in tool; `tools.enabled` picks among them."""
    return [terminal]


__all__ = [
    "Tool",
    "ToolArgumentError",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "child_env",
    "default_tools",
    "tool",
]
