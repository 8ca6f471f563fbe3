"""A client's own function tools (`tools`, `tool_choice`, `parallel_tool_calls`) in a chat
completions or Responses body, validated into one neutral form.

The model is offered them beside the profile's tools; when it calls one, the gateway ends the
turn and the client runs it (OpenAI's semantics). The two formats differ only in shape: chat wraps
each function ({"type": "function", "function": {name, description, parameters, strict}}),
Responses does not ({"type": "function", name, ...}); likewise a named `tool_choice`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from hermes.errors import InvalidRequest
from hermes.messages import Message, ToolChoice
from hermes.wire.fastjson import MAX_DEPTH, dumps_text

__all__ = ["ClientTools", "check_tool_results", "parse_client_tools"]

Format = Literal["chat", "responses"]
# OpenAI's own rule for function names; it is also what every provider accepts.
_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TOOLS: Final = 128  # OpenAI's limit per request
MAX_DESCRIPTION: Final = 8192
_CHOICES: Final = ("none", "auto", "required")


@dataclass(frozen=True, slots=True)
class ClientTools:
    """`specs` are neutral function specs ({"name", "description", "parameters"}), what the
    providers take; `echo` is the tools as the Responses object repeats them back."""

    specs: tuple[dict[str, Any], ...] = ()
    choice: ToolChoice | None = None
    parallel: bool | None = None
    echo: tuple[dict[str, Any], ...] = ()
    names: frozenset[str] = field(default=frozenset())

    def offer(
        self, server_tools: Iterable[str], fmt: Format, clash: str = "refuse"
    ) -> tuple[dict[str, Any], ...]:
        """The specs to offer beside the profile's `server_tools`. A name both share is refused
        (`clash` "refuse": the gateway could not tell whose call the model made), or the
        profile's tool wins ("profile": the client's is left out) or the client's ("client": the
        caller leaves the profile's out, see `hermes.agent.Agent.run`)."""
        taken = frozenset(server_tools)
        specs = []
        for i, spec in enumerate(self.specs):
            if spec["name"] not in taken or clash == "client":
                specs.append(spec)
            elif clash == "refuse":
                param = f"tools[{i}].function.name" if fmt == "chat" else f"tools[{i}].name"
                raise InvalidRequest(
                    f"Tool name {spec['name']!r} clashes with a tool of this profile's agent: "
                    "rename the client tool, or set api_server.client_tool_clash to profile or "
                    "client to let one of them win.",
                    param=param,
                )
        self._check_choice(taken, fmt)
        return tuple(specs)

    def _check_choice(self, server_tools: frozenset[str], fmt: Format) -> None:
        """A named tool_choice must name a tool the model is offered (client or server)."""
        choice = self.choice
        if choice is None or choice.mode != "function":
            return
        if choice.name not in self.names and choice.name not in server_tools:
            param = "tool_choice.function.name" if fmt == "chat" else "tool_choice.name"
            raise InvalidRequest(
                f"tool_choice names the function {choice.name!r}, which is not among the tools.",
                param=param,
            )


def parse_client_tools(body: Mapping[str, Any], fmt: Format) -> ClientTools:
    """Validate `tools`, `tool_choice` and `parallel_tool_calls`; a JSON null counts as absent."""
    raw = body.get("tools")
    if raw is not None and not isinstance(raw, list):
        raise InvalidRequest("'tools' must be an array of tool objects.", param="tools")
    tools = raw or []
    if len(tools) > MAX_TOOLS:
        raise InvalidRequest(f"'tools' may hold at most {MAX_TOOLS} tools.", param="tools")
    specs: list[dict[str, Any]] = []
    echo: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        parsed = _parse_tool(tool, f"tools[{i}]", fmt)
        if parsed is None:
            continue
        spec, strict = parsed
        if spec["name"] in seen:
            raise InvalidRequest(
                f"Duplicate tool name {spec['name']!r} in 'tools'.", param=f"tools[{i}]"
            )
        seen.add(spec["name"])
        specs.append(spec)
        echo.append({"type": "function", **spec, "strict": strict})
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidRequest(
            "'parallel_tool_calls' must be a boolean.", param="parallel_tool_calls"
        )
    return ClientTools(
        tuple(specs),
        _parse_choice(body.get("tool_choice"), fmt),
        parallel,
        tuple(echo),
        frozenset(seen),
    )


def _parse_tool(tool: Any, where: str, fmt: Format) -> tuple[dict[str, Any], bool | None] | None:
    """A function tool's spec and `strict`; None for another type of tool (OpenAI's hosted
    `web_search`, `file_search`, ...), which is not offered: the profile's own tools stand in."""
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        raise InvalidRequest(
            f"'{where}' must be an object with a string 'type'.", param=f"{where}.type"
        )
    if tool["type"] != "function":
        return None
    if fmt == "chat":
        fn, at = tool.get("function"), f"{where}.function"
        if not isinstance(fn, dict):
            raise InvalidRequest(f"Missing required parameter: '{at}'.", param=at)
    else:
        fn, at = tool, where
    name = fn.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"'{at}.name' must be 1 to 64 letters, digits, '_' or '-'.", param=f"{at}.name"
        )
    spec: dict[str, Any] = {"name": name}
    description = fn.get("description")
    if description is not None:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidRequest(
                f"'{at}.description' must be a string of at most {MAX_DESCRIPTION} characters.",
                param=f"{at}.description",
            )
        spec["description"] = description
    spec["parameters"] = _parameters(fn.get("parameters"), f"{at}.parameters")
    strict = fn.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest(f"'{at}.strict' must be a boolean.", param=f"{at}.strict")
    return spec, strict


def check_tool_name(name: str, param: str) -> str:
    """A function name as every provider takes it (a call in a client's history too: a name
    no upstream accepts would come back as its 400, a 502 here)."""
    if not _NAME.fullmatch(name):
        raise InvalidRequest(f"'{param}' must be 1 to 64 letters, digits, '_' or '-'.", param=param)
    return name


def _parameters(raw: Any, param: str) -> dict[str, Any]:
    """A JSON Schema object; absent means a function of no arguments. Its top level is checked
    as far as every upstream checks it (`type`, `properties`, `required`): a schema an upstream
    refuses would come back as its 400, a 502 here."""
    if raw is None:
        return {"type": "object", "properties": {}}
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{param}' must be a JSON Schema object.", param=param)
    kind = raw.get("type")
    if kind is not None and not isinstance(kind, str | list):
        raise InvalidRequest(f"'{param}.type' must be a string or an array.", param=param)
    props = raw.get("properties")
    if props is not None and not (
        isinstance(props, dict) and all(isinstance(v, dict | bool) for v in props.values())
    ):
        raise InvalidRequest(
            f"'{param}.properties' must be an object of schemas.", param=f"{param}.properties"
        )
    need = raw.get("required")
    if need is not None and not (isinstance(need, list) and all(isinstance(n, str) for n in need)):
        raise InvalidRequest(
            f"'{param}.required' must be an array of property names.", param=f"{param}.required"
        )
    try:
        dumps_text(raw)  # the encoders would overflow the stack on deeper nesting
    except ValueError:
        raise InvalidRequest(
            f"'{param}' is nested more than {MAX_DEPTH} levels deep.", param=param
        ) from None
    return raw


def _parse_choice(raw: Any, fmt: Format) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in _CHOICES:
        return ToolChoice(cast(Literal["auto", "none", "required"], raw))
    if isinstance(raw, dict) and raw.get("type") == "function":
        fn = raw.get("function") if fmt == "chat" else raw
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and _NAME.fullmatch(name):
            return ToolChoice("function", name)
    shape = (
        '{"type": "function", "function": {"name": ...}}'
        if fmt == "chat"
        else '{"type": "function", "name": ...}'
    )
    raise InvalidRequest(
        f"'tool_choice' must be 'none', 'auto', 'required' or {shape}.", param="tool_choice"
    )


def check_tool_results(messages: Sequence[Message], where: str = "messages") -> None:
    """Every tool result answers a call made before it, and every call is answered later: a
    history that breaks either is refused by OpenAI (and by every upstream, later and as a
    502), so it is a 400 here, naming the message."""
    made: set[str] = set()
    for i, m in enumerate(messages):
        if m.role == "tool" and m.tool_call_id not in made:
            raise InvalidRequest(
                f"'{where}[{i}]' answers the tool call {m.tool_call_id!r}, which no earlier "
                "assistant message made.",
                param=f"{where}[{i}].tool_call_id",
            )
        made.update(c.id for c in m.tool_calls)
    answered = {m.tool_call_id for m in messages if m.role == "tool"}
    for i, m in enumerate(messages):
        missing = [c.id for c in m.tool_calls if c.id not in answered]
        if missing:
            raise InvalidRequest(
                f"An assistant message with 'tool_calls' must be followed by tool messages "
                f"answering each call; no answer to {', '.join(map(repr, missing[:5]))}.",
                param=f"{where}[{i}].tool_calls",
            )
