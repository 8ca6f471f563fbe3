"""Errors a tool call can end in. The registry turns both into an error result for the model."""

from __future__ import annotations

from hermes.errors import HermesError, InvalidRequest


class ToolArgumentError(InvalidRequest):
    """The model's arguments do not match the tool's schema."""

    code = "invalid_tool_arguments"


class ToolError(HermesError):
    """A tool failed in a way the model should hear about; the message is shown to it as is."""

    code = "tool_error"
