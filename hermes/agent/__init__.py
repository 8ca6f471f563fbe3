"""The agent: a loop around a Provider and a ToolRegistry, both injected."""

from hermes.agent.loop import Agent, AgentEvent, RunFinished, ToolFinished, ToolStarted
from hermes.agent.prompt import build_system_prompt, layer

__all__ = [
    "Agent",
    "AgentEvent",
    "RunFinished",
    "ToolFinished",
    "ToolStarted",
    "build_system_prompt",
    "layer",
]
