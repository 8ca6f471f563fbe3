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


def default_tools() -> list[Tool]:
    """Every built-in tool; `tools.enabled` picks among them. Imported here, when a gateway
    builds its registry, so importing hermes.tools stays cheap."""
    from hermes.tools.code import execute_code
    from hermes.tools.files import FILE_TOOLS
    from hermes.tools.memory import MEMORY_TOOLS
    from hermes.tools.skills import SKILL_TOOLS
    from hermes.tools.terminal import terminal
    from hermes.tools.web import WEB_TOOLS

    return [terminal, *FILE_TOOLS, execute_code, *MEMORY_TOOLS, *SKILL_TOOLS, *WEB_TOOLS]


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
