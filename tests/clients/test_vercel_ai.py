"""The Vercel AI SDK (npm `ai` + `@ai-sdk/openai`, pinned in tests/clients/js/package-lock.json)
against a real gateway: each scenario is a Node script in tests/clients/js that prints one JSON
result, run here with `node`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients import scenarios
from tests.e2e.gateway_process import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

JS = Path(__file__).parent / "js"
NODE = shutil.which("node") or "node"
APIS = ("responses", "chat")


def node(script: str, api: str, gw: Gateway, prompt: str) -> dict[str, Any]:
    """Run tests/clients/js/`script` against the gateway; its JSON result."""
    if not (JS / "node_modules" / "ai").is_dir():
        pytest.fail("tests/clients/js/node_modules is missing: run `make test-clients`")
    env = {"PATH": str(Path(NODE).parent), "HERMES_BASE_URL": gw.base_url}
    env |= {"HERMES_API_KEY": gw.key, "HERMES_PROMPT": prompt}
    done = subprocess.run(
        [NODE, script, api], cwd=JS, env=env, capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing (exit {done.returncode}): {done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0 and "error" not in result, f"{script} {api}: {result}"
    return result


def server_calls(api: str) -> list[dict[str, Any]]:
    """What the SDK saw of hermes' own tool: a provider-run `mcp.read_file` call in Responses
    (the SDK shows it and runs nothing), nothing at all in chat completions."""
    if api == "responses":
        return [{"toolName": "mcp.read_file", "providerExecuted": True}]
    return []


@pytest.mark.parametrize("api", APIS)
def test_server_tool_turn(api: str, gw: Gateway, up: FakeOpenAI) -> None:
    scenarios.script_server_tool(up)
    result = node("server_tool.mjs", api, gw, scenarios.SERVER_QUESTION)
    assert result["text"] == scenarios.SERVER_ANSWER
    assert result["steps"] == 1  # the SDK ran no tool round of its own
    assert result["toolCalls"] == server_calls(api)
    scenarios.check_server_turn(up)


@pytest.mark.parametrize("api", APIS)
def test_streamed_turn_with_progress_events(api: str, gw: Gateway, up: FakeOpenAI) -> None:
    scenarios.script_server_tool(up)
    result = node("stream.mjs", api, gw, scenarios.SERVER_QUESTION)
    assert result["errors"] == []
    assert result["text"] == result["deltas"] == scenarios.SERVER_ANSWER
    assert result["steps"] == 1 and result["toolCalls"] == server_calls(api)
    scenarios.check_server_turn(up)


@pytest.mark.client_tools
@pytest.mark.parametrize("api", APIS)
def test_client_tool_turn(api: str, gw: Gateway, up: FakeOpenAI) -> None:
    scenarios.script_client_tool(up)
    result = node("client_tool.mjs", api, gw, scenarios.WEATHER_QUESTION)
    assert result["ran"] == [scenarios.WEATHER_CITY]
    assert result["text"] == scenarios.CLIENT_ANSWER
    tool = {"toolName": scenarios.WEATHER_TOOL, "providerExecuted": False}
    assert result["steps"] == 2 and result["toolCalls"] == [tool]
    scenarios.check_client_turn(up)
