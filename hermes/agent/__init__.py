"""The agent: a loop around a Provider and a ToolRegistry, both injected."""

from hermes.agent.loop import Agent, AgentEvent, RunFinished, ToolFinished, ToolStarted
from hermes.agent.prompt import PromptCache, build_system_prompt, layer

__all__ = [
    "Agent",
    "AgentEvent",
    "PromptCache",
    "RunFinished",
    "ToolFinished",
    "ToolStarted",
    "build_system_prompt",
    "layer",
]
