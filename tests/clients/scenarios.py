"""What every client in this suite is put through, scripted on the fake upstream.

The fake model's final answer is computed from the last tool result it was sent, so a client
shows the expected answer only if the tool really ran where it should (hermes for a profile
tool, the client for its own) and its output reached the model."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.openai_upstream import FakeOpenAI

# A profile tool: `read_file` of a note placed in the profile's workspace.
NOTE_PATH = "notes.txt"
NOTE_TEXT = "The launch code is 4711.\n"
SERVER_QUESTION = "What is the launch code in notes.txt?"
SERVER_ANSWER = "The code is 4711."

# A client tool: the client defines and runs it; hermes never has it.
WEATHER_TOOL = "get_weather"
WEATHER_CITY = "Paris"
WEATHER_QUESTION = "What is the weather in Paris?"
CLIENT_ANSWER = "In Paris it is sunny-21C."


def weather(city: str) -> str:
    """What the clients' own `get_weather` returns (each client wraps it in its tool type)."""
    return f"{city}: sunny-21C" if city == WEATHER_CITY else f"{city}: unknown"


def tool_results(body: dict[str, Any]) -> list[str]:
    """The text of each tool message in an upstream chat request, in order."""
    texts = []
    for message in body.get("messages") or []:
        if message.get("role") != "tool":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
        texts.append(str(content))
    return texts


def _server_answer(body: dict[str, Any]) -> str:
    found = re.search(r"launch code is (\w+)", (tool_results(body) or [""])[-1])
    return f"The code is {found.group(1)}." if found else "I could not read the note."


def _client_answer(body: dict[str, Any]) -> str:
    found = re.search(r"sunny-\d+C", (tool_results(body) or [""])[-1])
    return f"In Paris it is {found.group(0)}." if found else "I have no weather."


def script_server_tool(up: FakeOpenAI) -> None:
    """The model calls `read_file`, then answers from what hermes' tool returned."""
    up.queue_tool_call("read_file", {"path": NOTE_PATH})
    up.responder = _server_answer


def script_client_tool(up: FakeOpenAI) -> None:
    """The model calls the client's `get_weather`, then answers from the client's result."""
    up.queue_tool_call(WEATHER_TOOL, {"city": WEATHER_CITY})
    up.responder = _client_answer


def offered_tools(up: FakeOpenAI, request: int = 0) -> set[str]:
    """The tool names hermes offered the model in upstream request `request`."""
    return {t["function"]["name"] for t in up.requests[request][0].get("tools") or []}


def check_server_turn(up: FakeOpenAI) -> None:
    """hermes ran its tool and the model saw the note: two upstream calls, the note in the
    second."""
    assert len(up.requests) == 2, f"{len(up.requests)} upstream requests"
    assert NOTE_TEXT.strip() in tool_results(up.requests[1][0])[-1]


def check_client_turn(up: FakeOpenAI) -> None:
    """The model was offered the client's tool beside the profile's, and got the client's
    result back."""
    assert {WEATHER_TOOL, "read_file"} <= offered_tools(up)
    assert len(up.requests) == 2, f"{len(up.requests)} upstream requests"
    assert weather(WEATHER_CITY) in tool_results(up.requests[1][0])[-1]
