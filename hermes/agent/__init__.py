"""The agent: a loop around a Provider and a ToolRegistry, both injected."""

from hermes.agent.context import SUMMARY_PREFIX, Compactor, ContextPolicy, estimate_tokens
from hermes.agent.loop import Agent, AgentEvent, RunFinished, ToolFinished, ToolStarted
from hermes.agent.prompt import PromptCache, build_system_prompt, layer

__all__ = [
    "SUMMARY_PREFIX",
    "Agent",
    "AgentEvent",
    "Compactor",
    "ContextPolicy",
    "PromptCache",
    "RunFinished",
    "ToolFinished",
    "ToolStarted",
    "build_system_prompt",
    "estimate_tokens",
    "layer",
]
